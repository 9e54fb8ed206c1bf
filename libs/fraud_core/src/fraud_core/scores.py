"""The scores frame (what ``fraud_scores`` holds): its required columns, and one day's rows of it.

Read by the alerts (:mod:`fraud_core.alerts`) and the daily report (:mod:`fraud_core.report`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import numpy as np
import pandas as pd

from fraud_core.columns import (
    CUSTOMER_ID,
    FRAUD_SCORE,
    MODEL_VERSION,
    TERMINAL_ID,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
)

__all__ = ["DAY_COLUMN", "REQUIRED_COLUMNS", "as_day", "scores_between"]

REQUIRED_COLUMNS: tuple[str, ...] = (
    TRANSACTION_ID,
    TX_DATETIME,
    CUSTOMER_ID,
    TERMINAL_ID,
    TX_AMOUNT,
    TX_FRAUD,
    FRAUD_SCORE,
    MODEL_VERSION,
)
DAY_COLUMN = "_day"
"""The UTC calendar day of a row, added by :func:`scores_between`."""


def as_day(day: date) -> date:
    """The calendar day of ``day`` (a datetime is truncated to its date)."""
    return day.date() if isinstance(day, datetime) else day


def _utc_times(values: pd.Series) -> pd.Series:
    ts = values if isinstance(values.dtype, pd.DatetimeTZDtype) else pd.to_datetime(values)
    if ts.dt.tz is None:
        return ts.dt.tz_localize("UTC")
    return ts.dt.tz_convert("UTC")


def _validate(rows: pd.DataFrame, name: str) -> None:
    scores = rows[FRAUD_SCORE].to_numpy()
    if np.isnan(scores).any() or (scores < 0).any() or (scores > 1).any():
        raise ValueError(f"{name}: {FRAUD_SCORE} must be a probability in [0, 1] with no NaN")
    if np.isnan(rows[TX_AMOUNT].to_numpy()).any():
        raise ValueError(f"{name}: {TX_AMOUNT} has NaN values")
    labels = rows[TX_FRAUD].dropna()
    if not labels.isin([0, 1]).all():
        raise ValueError(f"{name}: {TX_FRAUD} must be 0, 1 or <NA>")


def scores_between(
    frame: pd.DataFrame, start: date, end: date, name: str, optional: Sequence[str] = ()
) -> pd.DataFrame:
    """Rows of ``frame`` with UTC tx_datetime in [start, end), normalised dtypes, validated.

    The result holds the required columns, then those of ``optional`` that ``frame`` has.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing required columns: {missing}")
    kept = [*REQUIRED_COLUMNS, *(c for c in optional if c in frame.columns)]
    ts = _utc_times(frame[TX_DATETIME])
    lo = pd.Timestamp(start).tz_localize("UTC")
    hi = pd.Timestamp(end).tz_localize("UTC")
    mask = ((ts >= lo) & (ts < hi)).to_numpy()
    out = frame.loc[mask, kept].copy()
    out[TX_DATETIME] = ts[mask]
    out[TX_AMOUNT] = out[TX_AMOUNT].astype("float64")
    out[FRAUD_SCORE] = out[FRAUD_SCORE].astype("float64")
    out[TX_FRAUD] = out[TX_FRAUD].astype("Int8")
    out[MODEL_VERSION] = out[MODEL_VERSION].astype(str)
    _validate(out, name)
    out[DAY_COLUMN] = out[TX_DATETIME].dt.date
    return out.reset_index(drop=True)
