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
from fraud_core.ids import comparable_ids, normalise_ids

if TYPE_CHECKING:
    from fraud_core.model import FraudModel

__all__ = ["SCORE_COLUMNS", "refresh_labels", "score_transactions"]

SCORE_COLUMNS: tuple[str, ...] = (*SCORE_KEY_COLUMNS, TX_FRAUD, FRAUD_SCORE, MODEL_VERSION)
"""The columns of a scores frame, in order."""


def score_transactions(
    model: FraudModel, features: pd.DataFrame, *, model_version: str
) -> pd.DataFrame:
    """One row per transaction: its keys, current label, fraud probability and the model version.

    ``model_version`` is the version the model store loaded and verified (not a name read from
    the model's own metadata), so every score names the exact stored model that produced it.
    """
    scores = features[[*SCORE_KEY_COLUMNS, TX_FRAUD]].copy()
    scores[FRAUD_SCORE] = model.predict(features)
    scores[MODEL_VERSION] = model_version
    return scores.reset_index(drop=True)


def refresh_labels(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """``features`` with ``tx_fraud`` replaced by the latest known labels, keyed on transaction_id.

    Labels arrive days after the transaction, so a feature row stored on day D usually carries NULL.
    Rows absent from ``labels``, and labels other than 0/1, become NULL: unknown, never genuine.
    Ids on both sides are compared in the form validation stores (:mod:`fraud_core.ids`): a source
    id ``" 7 "`` labels the validated transaction ``"7"`` (or ``7``).
    """
    keys, label_ids = comparable_ids(
        normalise_ids(features[TRANSACTION_ID]), normalise_ids(labels[TRANSACTION_ID])
    )
    values = pd.to_numeric(labels[TX_FRAUD], errors="coerce")
    values = values.where(values.isin([0, 1])).astype("Int8")
    known = label_ids.notna().to_numpy()
    latest = pd.Series(values.array[known], index=pd.Index(label_ids.array[known]))
    latest = latest[~latest.index.duplicated(keep="last")]
    out = features.copy()
    out[TX_FRAUD] = keys.map(latest).astype("Int8") if len(out) else pd.Series(dtype="Int8")
    return out
