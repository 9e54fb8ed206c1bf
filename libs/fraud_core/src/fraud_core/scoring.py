"""Scoring a day's transactions with a trained model, and bringing late labels up to date.

Importing this module does not import CatBoost: a model is only used through its ``predict``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from fraud_core.columns import (
    FRAUD_SCORE,
    MODEL_VERSION,
    SCORE_KEY_COLUMNS,
    TRANSACTION_ID,
    TX_FRAUD,
)

if TYPE_CHECKING:
    from fraud_core.model import FraudModel

__all__ = ["SCORE_COLUMNS", "refresh_labels", "score_transactions"]

SCORE_COLUMNS: tuple[str, ...] = (*SCORE_KEY_COLUMNS, TX_FRAUD, FRAUD_SCORE, MODEL_VERSION)
"""The columns of a scores frame, in order."""


def score_transactions(model: FraudModel, features: pd.DataFrame) -> pd.DataFrame:
    """One row per transaction: its keys, current label, fraud probability and the model version."""
    scores = features[[*SCORE_KEY_COLUMNS, TX_FRAUD]].copy()
    scores[FRAUD_SCORE] = model.predict(features)
    scores[MODEL_VERSION] = model.metadata.model_id
    return scores.reset_index(drop=True)


def refresh_labels(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """``features`` with ``tx_fraud`` replaced by the latest known labels, keyed on transaction_id.

    Labels arrive days after the transaction, so a feature row stored on day D usually carries NULL.
    Rows absent from ``labels``, and labels other than 0/1, become NULL: unknown, never genuine.
    """
    latest = labels.drop_duplicates(TRANSACTION_ID, keep="last").set_index(TRANSACTION_ID)
    values = pd.to_numeric(latest[TX_FRAUD], errors="coerce")
    values = values.where(values.isin([0, 1])).astype("Int8")
    out = features.copy()
    out[TX_FRAUD] = (
        out[TRANSACTION_ID].map(values).astype("Int8") if len(out) else pd.Series(dtype="Int8")
    )
    return out
