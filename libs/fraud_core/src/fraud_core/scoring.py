"""Scoring a day's transactions with a trained model, and bringing late labels up to date."""

from __future__ import annotations

import pandas as pd

from fraud_core.model import FraudModel

KEY_COLUMNS = ["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount"]
SCORE_COLUMNS = [*KEY_COLUMNS, "tx_fraud", "fraud_score", "model_version"]


def score_transactions(model: FraudModel, features: pd.DataFrame) -> pd.DataFrame:
    """One row per transaction: its keys, current label, fraud probability and the model version."""
    scores = features[[*KEY_COLUMNS, "tx_fraud"]].copy()
    scores["fraud_score"] = model.predict(features)
    scores["model_version"] = model.metadata.model_id
    return scores.reset_index(drop=True)


def refresh_labels(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """``features`` with ``tx_fraud`` replaced by the latest known labels, keyed on transaction_id.

    Labels arrive days after the transaction, so a feature row stored on day D usually carries NULL.
    Rows absent from ``labels``, and labels other than 0/1, become NULL: unknown, never genuine.
    """
    latest = labels.drop_duplicates("transaction_id", keep="last").set_index("transaction_id")
    values = pd.to_numeric(latest["tx_fraud"], errors="coerce")
    values = values.where(values.isin([0, 1])).astype("Int8")
    out = features.copy()
    out["tx_fraud"] = (
        out["transaction_id"].map(values).astype("Int8") if len(out) else pd.Series(dtype="Int8")
    )
    return out
