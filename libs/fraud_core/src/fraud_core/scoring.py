"""Scoring a day's transactions with a trained model, and bringing late labels up to date.

Importing this module does not import CatBoost: a model is only used through its ``predict``, and
the reason codes (:mod:`fraud_core.model.reasons`) are imported when a model is there to explain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fraud_core.columns import (
    CUSTOMER_ID,
    FRAUD_SCORE,
    MODEL_VERSION,
    REASON_COLUMNS,
    SCORE_KEY_COLUMNS,
    TRANSACTION_ID,
    TX_FRAUD,
)
from fraud_core.ids import comparable_ids, normalise_ids

if TYPE_CHECKING:
    from fraud_core.model import FraudModel

__all__ = [
    "REASONS_MIN_SCORE",
    "SCORE_COLUMNS",
    "reasons_floor",
    "refresh_labels",
    "score_transactions",
]

SCORE_COLUMNS: tuple[str, ...] = (
    *SCORE_KEY_COLUMNS,
    TX_FRAUD,
    FRAUD_SCORE,
    MODEL_VERSION,
    *REASON_COLUMNS,
)
"""The columns of a scores frame, in order (the reason columns NULL where none was computed)."""

REASONS_MIN_SCORE = 0.05
"""Default lowest score that gets reason codes. SHAP for every row makes scoring ~75x slower
(``benchmarks/RESULTS.md``, section 8); above 0.05, about 1% of the rows, it costs ~1.5-2x and
covers every alert at the 0.5 threshold with a tenfold margin."""


def score_transactions(
    model: FraudModel,
    features: pd.DataFrame,
    *,
    model_version: str,
    reasons_min_score: float | None = REASONS_MIN_SCORE,
    reasons_top_cards: int = 0,
    thread_count: int = -1,
) -> pd.DataFrame:
    """One row per transaction: its keys, current label, fraud probability, model version, reasons.

    ``model_version`` is the version the model store loaded and verified (not a name read from
    the model's own metadata), so every score names the exact stored model that produced it.
    Reason codes (:data:`~fraud_core.columns.REASON_COLUMNS`) are computed for the transactions
    scoring at least ``reasons_min_score`` (None: none) and, with ``reasons_top_cards`` (the review
    budget), at least the max score of that many top cards (:func:`reasons_floor`); NULL elsewhere.
    """
    scores = features[[*SCORE_KEY_COLUMNS, TX_FRAUD]].copy()
    scores[FRAUD_SCORE] = model.predict(features, thread_count=thread_count)
    scores[MODEL_VERSION] = model_version
    from fraud_core.model.reasons import reason_codes  # CatBoost: only with a model to explain

    floor = reasons_floor(scores, reasons_min_score, reasons_top_cards)
    reasons = reason_codes(
        model, features, scores=scores[FRAUD_SCORE], min_score=floor, thread_count=thread_count
    )
    parts = [part.reset_index(drop=True) for part in (scores, reasons)]
    return pd.concat(parts, axis=1)


def reasons_floor(scores: pd.DataFrame, min_score: float | None, top_cards: int) -> float | None:
    """The lowest score that gets reasons: ``min_score``, lowered so the top cards get theirs.

    With ``top_cards`` > 0 the floor is at most the max score of the ``top_cards``-th card (by max
    ``fraud_score`` per ``customer_id``), so the top transaction of every card alerted at that
    review budget has reasons. None: no transaction gets reasons.
    """
    if top_cards < 0:
        raise ValueError(f"top_cards must be >= 0, got {top_cards}")
    if top_cards == 0 or len(scores) == 0:
        return min_score
    card_max = scores.groupby(CUSTOMER_ID, sort=False)[FRAUD_SCORE].max().to_numpy(np.float64)
    card_floor = float(np.sort(card_max)[-min(top_cards, len(card_max))])
    return card_floor if min_score is None else min(min_score, card_floor)


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
