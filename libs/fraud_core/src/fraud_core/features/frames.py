"""Shared array machinery of the feature kernels: times, orders, calendar features, output frames.

Internal to :mod:`fraud_core.features`; nothing here knows about individual features.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from fraud_core.columns import KEY_COLUMNS, TRANSACTION_ID, TX_DATETIME, TX_FRAUD, TX_FRAUD_SCENARIO
from fraud_core.features.config import FeatureConfig
from fraud_core.features.registry import (
    TX_DURING_NIGHT,
    TX_DURING_WEEKEND,
    TX_HOUR,
    feature_dtypes,
)

NS_PER_SECOND = 1_000_000_000
NS_PER_HOUR = 3600 * NS_PER_SECOND
NS_PER_DAY = 86_400 * NS_PER_SECOND
AVG_FLOOR = 1.0  # currency units: floor of the mean in amount-to-mean
VAR_PRIOR = 1.0  # squared currency units added to the variance in the z-score
MAX_INT32_ROWS = 2**31 - 1  # up to this many rows, row positions and counts fit in int32


def to_utc_ns(value: pd.Timestamp | datetime) -> int:
    """Epoch nanoseconds of ``value`` in UTC (naive values are taken as UTC)."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


def time_ns(col: pd.Series, *, copy: bool = True) -> np.ndarray:
    """The column as int64 nanoseconds since the epoch (tz-aware: UTC; naive: read as UTC).

    A new array by default. With ``copy=False``, a read-only view of the column's memory when
    it already holds nanoseconds (the usual case): no copy of the input's time column.
    """
    if not pd.api.types.is_datetime64_any_dtype(col.dtype):
        raise ValueError(f"{TX_DATETIME} must be a datetime column, got dtype {col.dtype}")
    idx = pd.DatetimeIndex(col)  # shares the column's memory
    if idx.unit != "ns":
        idx = idx.as_unit("ns")  # a converted copy
    if idx.hasnans:
        raise ValueError(f"{TX_DATETIME} has missing values")
    t = np.asarray(idx.asi8, dtype=np.int64)  # type: ignore[attr-defined]  # not in the stubs
    if copy:
        return t.copy()
    t = t.view()
    t.flags.writeable = False  # may be the caller's data
    return t


def entity_codes(col: pd.Series, name: str) -> tuple[np.ndarray, int]:
    """Integer codes >= 0 per entity value (dense enough for a counting sort)."""
    n = len(col)
    if pd.api.types.is_integer_dtype(col.dtype) and not isinstance(
        col.dtype, pd.api.extensions.ExtensionDtype
    ):
        values = col.to_numpy()
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < max(n // 2, 1 << 16):  # dense enough: the values are the codes
            return values.astype(np.int64) - lo, hi - lo + 1
    codes, uniques = pd.factorize(col)
    if (codes < 0).any():
        raise ValueError(f"{name} has missing values")
    return codes.astype(np.int64, copy=False), len(uniques)


try:  # pandas' stable counting sort (O(n)); fall back to numpy's stable sort.
    from pandas._libs.algos import groupsort_indexer as _groupsort_indexer
except ImportError:  # depends on the pandas build
    _groupsort_indexer = None


def group_order(codes: np.ndarray, ngroups: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable permutation grouping equal codes (order kept within a group), and sorted codes."""
    if _groupsort_indexer is not None:
        order, counts = _groupsort_indexer(codes.astype(np.intp, copy=False), ngroups)
        counts = counts[1:]  # counts[0] is the number of missing (-1) codes: none here
    else:
        order = np.argsort(codes, kind="stable")
        counts = np.bincount(codes, minlength=ngroups)
    # the codes in grouped order, without a random-access gather
    sorted_codes = np.repeat(np.arange(ngroups, dtype=np.int64), counts)
    return order.astype(np.int64, copy=False), sorted_codes


def time_order(transactions: pd.DataFrame, t: np.ndarray) -> np.ndarray | None:
    """Permutation sorting by (time, transaction_id), or None when already in that order."""
    ids = transactions[TRANSACTION_ID]
    if len(t) < 2:
        return None
    dt = np.diff(t)
    if (dt >= 0).all():
        ties = np.flatnonzero(dt == 0)
        if ties.size == 0:
            return None
        left = ids.iloc[ties].to_numpy()
        right = ids.iloc[ties + 1].to_numpy()
        if (right > left).all():
            return None
    if pd.api.types.is_numeric_dtype(ids.dtype):
        id_key = ids.to_numpy()
    else:
        id_key, _ = pd.factorize(ids, sort=True)
    return np.lexsort((id_key, t))


def prefix_sums(values: np.ndarray, dtype: type) -> np.ndarray:
    """Prefix sums with a leading 0: the sum of ``values[i:j]`` is ``out[j] - out[i]``."""
    out: np.ndarray = np.empty(len(values) + 1, dtype=dtype)
    out[0] = 0
    np.cumsum(values, out=out[1:])
    return out


def calendar_features(t_out: np.ndarray, out: dict[str, np.ndarray]) -> None:
    """Write the weekend, night and hour features of the UTC epoch-ns times ``t_out``."""
    day = t_out // NS_PER_DAY
    out[TX_DURING_WEEKEND.name][:] = (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday
    hour = out[TX_HOUR.name]
    hour[:] = (t_out - day * NS_PER_DAY) // NS_PER_HOUR
    del day
    out[TX_DURING_NIGHT.name][:] = hour <= 6


def empty_output(transactions: pd.DataFrame, config: FeatureConfig) -> pd.DataFrame:
    """The zero-row feature frame: key columns of ``transactions`` plus typed features."""
    keys = [*KEY_COLUMNS, *([TX_FRAUD_SCENARIO] if TX_FRAUD_SCENARIO in transactions else [])]
    out = transactions[keys].iloc[0:0].reset_index(drop=True)
    out[TX_FRAUD] = out[TX_FRAUD].astype("Int8")
    for col, dtype in feature_dtypes(config).items():
        out[col] = np.empty(0, dtype=dtype)
    return out


def copy_on_write_active() -> bool:
    """Whether pandas Copy-on-Write is in force (always from pandas 3.0; opt-in on 2.x)."""
    if int(pd.__version__.split(".", 1)[0]) >= 3:
        return True
    return pd.get_option("mode.copy_on_write") is True  # "warn" only warns: no CoW


def output_frame(
    transactions: pd.DataFrame,
    order: np.ndarray | None,
    a: int,
    b: int,
    features: dict[str, np.ndarray],
    config: FeatureConfig,
) -> pd.DataFrame:
    """The key columns of rows [a, b) of the (time, id) order plus ``features`` (consumed).

    When the input is already in (time, id) order and pandas Copy-on-Write is active, the key
    columns share their memory with ``transactions`` (no copy): CoW copies a shared column on
    the first write to either frame, so neither can change the other. Without CoW they are
    copied, and when the input had to be sorted they are gathered into new arrays either way.
    """
    key_cols = [*KEY_COLUMNS, *([TX_FRAUD_SCENARIO] if TX_FRAUD_SCENARIO in transactions else [])]
    share = order is None and copy_on_write_active()
    index = pd.RangeIndex(b - a)
    data: dict[str, object] = {}
    for name in key_cols:
        if share:
            # a Series view: pandas tracks the reference, which is what makes sharing safe
            values = transactions[name].iloc[a:b].set_axis(index)
        else:
            values = transactions[name].array
            if order is not None:
                values = values.take(order[a:b])
            elif a == 0 and b == len(transactions):
                values = values.copy()
            else:
                values = values[a:b].copy()
        if name == TX_FRAUD and values.dtype != "Int8":
            values = pd.array(values, dtype="Int8")  # type: ignore[call-overload]  # copies
        data[name] = values
    for name in feature_dtypes(config):
        data[name] = features.pop(name)
    return pd.DataFrame(data, index=index, copy=False)


def as_day(value: date | datetime | pd.Timestamp | str) -> date:
    """The UTC calendar day of ``value``."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC")
    return ts.date()


def day_ns(day: date) -> int:
    """Epoch nanoseconds of ``day`` 00:00 UTC."""
    return int(pd.Timestamp(day, tz="UTC").as_unit("ns").value)


def factorize(values: pd.Series, name: str) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of ``values`` and the distinct values (no missing value allowed)."""
    codes, uniques = pd.factorize(values)
    if (codes < 0).any():
        raise ValueError(f"{name} has missing values")
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    """Raise ValueError naming the ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"transactions lack required columns: {missing}")


def require_within_day(t: np.ndarray, day: date, what: str) -> None:
    """Raise ValueError unless every epoch-ns time of ``t`` lies in the UTC ``day``."""
    lo = day_ns(day)
    if len(t) and (t.min() < lo or t.max() >= lo + NS_PER_DAY):
        raise ValueError(f"{what} must all lie in the UTC day {day}")
