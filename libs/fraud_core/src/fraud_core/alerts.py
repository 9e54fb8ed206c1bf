"""The cards a review team opens each morning: the day's alerts at the review budget, and why.

Alerts are CARDS (customers), not transactions. A card's score is the max of its transactions'
scores that day; the ``alert_budget`` cards with the highest scores are alerted, ranked by score
descending, then ``customer_id`` ascending, so ties are deterministic. A card's top transaction is
its highest-scored one (ties: the smallest ``transaction_id``): its reason codes are the alert's
reasons. What :func:`build_alerts` returns is the ``FRAUD_ALERTS`` table of the day, the one that
case-management tools read and the daily report shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionDtype

from fraud_core.columns import (
    ALERT_RANK,
    CUSTOMER_ID,
    EXPECTED_FRAUD_AMOUNT,
    FRAUD_SCORE,
    MAX_SCORE,
    MODEL_VERSION,
    N_TRANSACTIONS,
    REASON_COLUMNS,
    REASON_COUNT,
    TOP_TRANSACTION_ID,
    TOTAL_AMOUNT,
    TRANSACTION_ID,
    TX_AMOUNT,
    reason_contribution,
    reason_value,
)
from fraud_core.scores import as_day, scores_between

__all__ = [
    "ALERT_CARRY",
    "ALERT_COLUMNS",
    "CARD_COLUMNS",
    "build_alerts",
    "card_ranking",
    "rank_alerts",
    "with_reason_columns",
]

CARD_COLUMNS: tuple[str, ...] = (
    CUSTOMER_ID,
    MAX_SCORE,
    N_TRANSACTIONS,
    TOTAL_AMOUNT,
    EXPECTED_FRAUD_AMOUNT,
    TOP_TRANSACTION_ID,
)
"""The columns of :func:`card_ranking`: one row per card of a day."""

ALERT_CARRY: tuple[str, ...] = (*REASON_COLUMNS, MODEL_VERSION)
"""What an alert takes from its card's top transaction."""
ALERT_COLUMNS: tuple[str, ...] = (ALERT_RANK, *CARD_COLUMNS, *ALERT_CARRY)
"""The columns of the alerts table, in order (the warehouse adds ``partition_date``)."""

_NUMBER_REASONS = frozenset(
    column(rank)
    for rank in range(1, REASON_COUNT + 1)
    for column in (reason_value, reason_contribution)
)
_TEXT = pd.StringDtype()
_NUMBER = pd.Float64Dtype()


def _reason_dtype(column: str) -> ExtensionDtype:
    return _NUMBER if column in _NUMBER_REASONS else _TEXT


def with_reason_columns(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with the reason columns typed, NULL where ``scores`` has none (older scores)."""
    out = scores.copy()
    for column in REASON_COLUMNS:
        dtype = _reason_dtype(column)
        if column in out.columns:
            out[column] = out[column].astype(dtype)
        else:
            out[column] = pd.Series(pd.NA, index=out.index, dtype=dtype)
    return out


def _top_transactions(rows: pd.DataFrame) -> pd.DataFrame:
    """Each card's highest-scored row (ties: the smallest transaction id), indexed by card."""
    ordered = rows.sort_values(
        [FRAUD_SCORE, TRANSACTION_ID], ascending=[False, True], kind="mergesort"
    )
    return ordered.drop_duplicates(CUSTOMER_ID, keep="first").set_index(CUSTOMER_ID)


def card_ranking(rows: pd.DataFrame, carry: Sequence[str] = ()) -> pd.DataFrame:
    """One row per card of ``rows`` (one day's scores), ranked: max score desc, then customer_id.

    Columns :data:`CARD_COLUMNS`, then those of ``carry`` that ``rows`` has, from each card's top
    transaction.
    """
    carried = [column for column in carry if column in rows.columns]
    cards = (
        rows.assign(_efa=rows[FRAUD_SCORE] * rows[TX_AMOUNT])
        .groupby(CUSTOMER_ID, dropna=False, sort=False)
        .agg(
            **{
                MAX_SCORE: (FRAUD_SCORE, "max"),
                N_TRANSACTIONS: (FRAUD_SCORE, "size"),
                TOTAL_AMOUNT: (TX_AMOUNT, "sum"),
                EXPECTED_FRAUD_AMOUNT: ("_efa", "sum"),
            }
        )
    )
    cards[N_TRANSACTIONS] = cards[N_TRANSACTIONS].astype("int64")
    top = _top_transactions(rows).reindex(cards.index)
    cards[TOP_TRANSACTION_ID] = top[TRANSACTION_ID]
    for column in carried:
        cards[column] = top[column]
    ranked = cards.reset_index().sort_values(
        [MAX_SCORE, CUSTOMER_ID], ascending=[False, True], kind="mergesort"
    )
    return ranked.reset_index(drop=True)[[*CARD_COLUMNS, *carried]]


def rank_alerts(cards: pd.DataFrame, alert_budget: int) -> pd.DataFrame:
    """The first ``alert_budget`` cards of a :func:`card_ranking` (carrying :data:`ALERT_CARRY`)
    as alerts: :data:`ALERT_COLUMNS`, ranked from 1, reasons NULL where the scores had none."""
    if alert_budget < 0:
        raise ValueError(f"alert_budget must be >= 0, got {alert_budget}")
    alerts = with_reason_columns(cards.head(alert_budget).reset_index(drop=True))
    alerts.insert(0, ALERT_RANK, np.arange(1, len(alerts) + 1, dtype="int64"))
    alerts[MODEL_VERSION] = alerts[MODEL_VERSION].astype(_TEXT)
    return alerts[list(ALERT_COLUMNS)]


def build_alerts(scores: pd.DataFrame, day: date, alert_budget: int) -> pd.DataFrame:
    """The cards alerted on UTC ``day`` at the review budget, ranked, with their reasons."""
    start = as_day(day)
    rows = scores_between(scores, start, start + timedelta(days=1), "scores", REASON_COLUMNS)
    return rank_alerts(card_ranking(rows, carry=ALERT_CARRY), alert_budget)
