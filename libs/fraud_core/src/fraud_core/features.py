"""Point-in-time, label-delay-aware transaction features.

Input: canonical transactions (``transaction_id``, ``tx_datetime`` UTC, ``customer_id``,
``terminal_id``, ``tx_amount``, ``tx_fraud`` as nullable ``Int8`` where ``<NA>`` means "label not
known yet", optional ``tx_fraud_scenario``). Output: one row per transaction in ``[start, end)``,
the key columns plus the features below, sorted by ``(tx_datetime, transaction_id)``.

Ordering and ties
    Transactions are ordered by ``(tx_datetime, transaction_id)``. "Earlier" always means earlier
    in that order, so two transactions of the same customer at the same instant are ordered by
    ``transaction_id``: the smaller id is seen by the larger one's windows, never the reverse.
    This is exactly what the handbook's per-customer ``rolling("nd")`` gives on data sorted by
    time then id. ``transaction_id`` is expected to be unique (the schema validates it).

Calendar features are computed in UTC (the canonical time zone). ``n`` is each window of
``FeatureConfig.windows_days``, ``W`` the largest window, ``d`` the label delay and
``L = W + d`` the lookback (``lookback_days``). Windows are in exact nanoseconds, ``(a, b]``
meaning ``a < tx_datetime <= b``.

Handbook baseline (same names and semantics as the handbook's chapter 3):

* ``tx_during_weekend``: 1 if the transaction is on a Saturday or Sunday (int8).
* ``tx_during_night``: 1 if its hour of day is <= 6 (int8).
* ``customer_id_nb_tx_{n}day_window``: number of the customer's transactions in ``(t - n, t]``,
  the current one included, later same-instant ones (larger id) excluded (int32).
* ``customer_id_avg_amount_{n}day_window``: mean ``tx_amount`` of those transactions (float64).
* ``terminal_id_nb_tx_{n}day_window``: number of the terminal's transactions in
  ``(t - n - d, t - d]`` (all of them, labelled or not; int32).
* ``terminal_id_risk_{n}day_window``: frauds / labelled transactions in that same window;
  transactions with an unknown label count neither as fraud nor as genuine; 0 when no
  transaction of the window is labelled (float64).
  With ``d = 0`` the window stops before the current transaction (its own label and those of
  later same-instant transactions are never used); with ``d > 0`` that is automatic.

Added features (all use only the past, in the order above):

* ``tx_hour``: hour of day, 0..23 (int8).
* ``customer_id_seconds_since_prev_tx``: seconds since the customer's previous transaction,
  capped at ``L`` days (the cap is also the value when there is none within ``L`` days).
* ``customer_id_amount_to_avg_{W}day_window``: ``tx_amount`` divided by the mean amount of the
  customer's earlier transactions in ``(t - W, t]`` (the current one excluded; the mean floored
  at 1.0 currency unit); 1.0 when there is none. Targets amount anomalies such as a stolen
  card's inflated spending.
* ``customer_id_amount_zscore_{W}day_window``: ``(tx_amount - mean) / sqrt(var + 1)`` over the
  same earlier transactions (sample variance, 0 with fewer than two; the ``+ 1`` keeps constant
  histories finite); 0 when there is none.
* ``customer_terminal_first_use``: 1 if the customer has no earlier transaction at this
  terminal within the last ``L`` days, ``(t - L, t]`` (int8).

History and incremental use
    Every feature of a transaction at ``t`` depends only on earlier transactions with
    ``tx_datetime > t - L days`` (``lookback_days``); the terminal risks additionally only on
    labels of transactions at or before ``t - d``. So the features of a partition ``[start, end)``
    computed from the transactions in ``[start - L days, end)`` are identical to those computed
    on the whole table (the capped "since" and the bounded "first use" features are defined so
    that this holds). Rows outside ``[start, end)`` are used as history only.

Implementation (vectorised numpy, no per-entity Python loop): one sort by
``(tx_datetime, transaction_id)`` (skipped when the input is already in that order); per entity a
stable counting sort of the time-ordered rows, window bounds by ``np.searchsorted`` on a sorted
``entity * span + time`` int64 key (``entity * n + time rank`` when that would overflow) and
prefix sums: amounts and their squares centred per entity (precise sums and a stable variance
at any table size), label counts in integers (exact counts and risks). Output rows are
processed in cache-sized chunks so that the temporaries stay small.

Memory: a feature column takes memory only once written, so the stages are ordered to keep few
whole-table temporaries alive beside written columns, each freed after its last use: the time
column is read in place when it holds nanoseconds, row positions are int32 (up to 2**31 - 1
rows), and the first-use sort runs before the terminal windows. At the peak, in the terminal
windows, the temporaries take about 20 bytes a row (the terminals' order, search key and two
label prefix sums), plus the sort permutation and a sorted copy of the time when the input was
not in (time, id) order. Under pandas Copy-on-Write (the default from pandas 3.0) the output's
key columns share the input's memory when the input is already in (time, id) order, so
only the features are new memory; otherwise they are copied, after the temporaries are freed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from fraud_core.schema import (
    CUSTOMER_ID,
    REQUIRED_COLUMNS,
    TERMINAL_ID,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
)

__all__ = [
    "KEY_COLUMNS",
    "FeatureConfig",
    "build_features",
    "feature_columns",
    "lookback_days",
]

# The key columns carried into the feature table (the required transaction columns).
KEY_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS

_NS_PER_SECOND = 1_000_000_000
_NS_PER_HOUR = 3600 * _NS_PER_SECOND
_NS_PER_DAY = 86_400 * _NS_PER_SECOND
_AVG_FLOOR = 1.0  # currency units: floor of the mean in amount_to_avg
_VAR_PRIOR = 1.0  # squared currency units added to the variance in the z-score


@dataclass(frozen=True)
class FeatureConfig:
    """Feature windows (days, sorted ascending) and the label delay (days)."""

    windows_days: tuple[int, ...] = (1, 7, 30)
    label_delay_days: int = 7

    def __post_init__(self) -> None:
        try:
            windows = tuple(self.windows_days)
        except TypeError:
            raise ValueError(
                f"windows_days must be a sequence of whole days, got {self.windows_days!r}"
            ) from None
        if not windows:
            raise ValueError("windows_days must not be empty")
        for w in windows:
            if isinstance(w, bool) or not isinstance(w, int | np.integer):
                raise ValueError(f"windows_days must be whole days (int), got {w!r}")
            if w <= 0:
                raise ValueError(f"windows_days must be positive, got {w!r}")
        if len(set(windows)) != len(windows):
            raise ValueError(f"windows_days must be unique, got {windows!r}")
        delay = self.label_delay_days
        if isinstance(delay, bool) or not isinstance(delay, int | np.integer):
            raise ValueError(f"label_delay_days must be whole days (int), got {delay!r}")
        if delay < 0:
            raise ValueError(f"label_delay_days must be >= 0, got {delay!r}")
        object.__setattr__(self, "windows_days", tuple(sorted(int(w) for w in windows)))
        object.__setattr__(self, "label_delay_days", int(delay))


def lookback_days(config: FeatureConfig) -> int:
    """Return the days of history before a transaction that its features depend on."""
    return max(config.windows_days) + config.label_delay_days


def _customer_window_columns(n: int) -> list[str]:
    return [f"customer_id_nb_tx_{n}day_window", f"customer_id_avg_amount_{n}day_window"]


def _terminal_window_columns(n: int) -> list[str]:
    return [f"terminal_id_nb_tx_{n}day_window", f"terminal_id_risk_{n}day_window"]


def feature_columns(config: FeatureConfig = FeatureConfig()) -> list[str]:
    """Return the model's feature column names for ``config``, in a stable order."""
    return [TX_AMOUNT, *_engineered_columns(config)]


def _engineered_columns(config: FeatureConfig) -> list[str]:
    """The columns ``build_features`` computes (the raw amount is a key column already)."""
    w = max(config.windows_days)
    cols = ["tx_during_weekend", "tx_during_night"]
    for n in config.windows_days:
        cols += _customer_window_columns(n)
    for n in config.windows_days:
        cols += _terminal_window_columns(n)
    cols += [
        "tx_hour",
        "customer_id_seconds_since_prev_tx",
        f"customer_id_amount_to_avg_{w}day_window",
        f"customer_id_amount_zscore_{w}day_window",
        "customer_terminal_first_use",
    ]
    return cols


def _feature_dtypes(config: FeatureConfig) -> dict[str, np.dtype]:
    dtypes: dict[str, np.dtype] = {}
    for col in _engineered_columns(config):
        if col in (
            "tx_during_weekend",
            "tx_during_night",
            "tx_hour",
            "customer_terminal_first_use",
        ):
            dtypes[col] = np.dtype(np.int8)
        elif "_nb_tx_" in col:
            dtypes[col] = np.dtype(np.int32)
        else:
            dtypes[col] = np.dtype(np.float64)
    return dtypes


# --------------------------------------------------------------------------------------------
# input handling


def _to_utc_ns(value: pd.Timestamp | datetime) -> int:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


def _time_ns(col: pd.Series, *, copy: bool = True) -> np.ndarray:
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
    t = np.asarray(idx.asi8, dtype=np.int64)
    if copy:
        return t.copy()
    t = t.view()
    t.flags.writeable = False  # may be the caller's data
    return t


def _entity_codes(col: pd.Series, name: str) -> tuple[np.ndarray, int]:
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


def _group_order(codes: np.ndarray, ngroups: int) -> tuple[np.ndarray, np.ndarray]:
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


def _time_order(transactions: pd.DataFrame, t: np.ndarray) -> np.ndarray | None:
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


# window machinery

_CHUNK = 1 << 16  # query rows per vectorised step: keeps temporaries small and cache-resident


class _Timeline:
    """Transactions in (time, id) order and the output slice [a, b) of that order."""

    def __init__(self, t: np.ndarray, a: int, b: int, max_offset_ns: int) -> None:
        self.t = t
        self.n = len(t)
        self.a = a
        self.b = b
        self.full = a == 0 and b == self.n
        self.t0 = int(t[0])
        unit = 1
        for candidate in (_NS_PER_SECOND, 1_000_000, 1_000):
            if not ((t - self.t0) % candidate).any():
                unit = candidate
                break
        self.unit = unit
        # key span per entity: every time plus the largest window offset fits below it
        self.span_units = (int(t[-1]) - self.t0) // unit + max_offset_ns // unit + 1

    def time_key_fits(self, ngroups: int) -> bool:
        """Whether entity * span + time fits in int64 (else ranks replace times in the key)."""
        return ngroups * self.span_units < 2**62


_MAX_INT32_ROWS = 2**31 - 1  # up to this many rows, row positions and counts fit in int32


def _narrow_positions(positions: np.ndarray, n_rows: int) -> np.ndarray:
    """Positions of rows of an ``n_rows`` table as int32 when they fit (half int64's memory)."""
    return positions.astype(np.int32) if n_rows <= _MAX_INT32_ROWS else positions


class _Entity:
    """One entity's rows in (entity, time, id) order, with window bounds for the output rows.

    ``order`` and ``codes_s`` are ``_group_order``'s result. The sorted codes are kept only when
    needed: by the caller (``keep_codes``) or by the window searches (rank keys); a time key
    alone answers ``after`` (8 bytes a row less while the windows run).
    """

    def __init__(
        self,
        tl: _Timeline,
        order: np.ndarray,
        codes_s: np.ndarray,
        ngroups: int,
        *,
        keep_codes: bool = True,
    ) -> None:
        self.tl = tl
        order = _narrow_positions(order, tl.n)
        self.order = order
        self.ks = None if tl.full else np.flatnonzero((order >= tl.a) & (order < tl.b))
        self.by_time = tl.time_key_fits(ngroups)
        if self.by_time:  # key = entity * span + time (in units): one sorted int64 array
            key = tl.t[order]
            key -= tl.t0
            key //= tl.unit
            key += codes_s * tl.span_units
        else:  # key = entity * n + rank in time order
            key = codes_s * tl.n
            key += order
        self.key = key
        self.codes_s = codes_s if keep_codes or not self.by_time else None

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (positions in entity order, positions in the output) of the output rows."""
        n_query = self.tl.n if self.ks is None else len(self.ks)
        for s in range(0, n_query, _CHUNK):
            e = min(s + _CHUNK, n_query)
            if self.ks is None:
                ks, dest = np.arange(s, e), self.order[s:e]
            else:
                ks = self.ks[s:e]
                dest = self.order[ks] - self.tl.a
            yield ks, dest.astype(np.intp)  # it indexes several columns: convert once

    def after(self, ks: np.ndarray, offset_ns: int) -> np.ndarray:
        """Per row: the first position (entity order) of its entity with time > t - offset."""
        tl = self.tl
        if self.by_time:
            # queries ascend with ks: search only the key range between the extreme answers
            q = self.key[ks] - offset_ns // tl.unit
            lo = int(np.searchsorted(self.key, q[0], side="right"))
            hi = int(np.searchsorted(self.key, q[-1], side="right"))
            pos = np.searchsorted(self.key[lo:hi], q, side="right")
            pos += lo
            return pos
        # g = number of rows (all entities) with time <= t - offset; the key holds those ranks
        g = np.searchsorted(tl.t, tl.t[self.order[ks]] - offset_ns, side="right")
        return np.searchsorted(self.key, self.codes_s[ks] * tl.n + g, side="left")

    def previous_gap_ns(self, ks: np.ndarray, cap_ns: int) -> np.ndarray:
        """Per row: ns since the entity's previous row, capped at cap_ns (also when none)."""
        prev = ks - 1  # -1 wraps around; masked below
        if self.by_time:
            gap = self.key[ks] - self.key[prev]
            gap *= self.tl.unit
        else:
            gap = self.tl.t[self.order[ks]] - self.tl.t[self.order[prev]]
        gap[(ks == 0) | (self.codes_s[prev] != self.codes_s[ks])] = cap_ns
        np.minimum(gap, cap_ns, out=gap)
        return gap


def _prefix(values: np.ndarray, dtype: type) -> np.ndarray:
    out = np.empty(len(values) + 1, dtype=dtype)
    out[0] = 0
    np.cumsum(values, out=out[1:])
    return out


# --------------------------------------------------------------------------------------------
# feature blocks (each writes its columns into `out`, indexed by output position)


def _customer_features(
    tl: _Timeline,
    codes: np.ndarray,
    ngroups: int,
    amount: np.ndarray,
    config: FeatureConfig,
    out: dict[str, np.ndarray],
) -> None:
    ent = _Entity(tl, *_group_order(codes, ngroups), ngroups)
    # centre amounts per customer, and their squares too: every prefix sum returns to ~0 at
    # the end of each customer, so it stays small (precise window sums, stable variance)
    counts = np.maximum(np.bincount(codes, minlength=ngroups), 1)
    centre = np.bincount(codes, weights=amount, minlength=ngroups)
    centre /= counts
    y = amount[ent.order]
    y -= centre[ent.codes_s]
    cs1 = _prefix(y, np.float64)
    y *= y
    sq_centre = np.bincount(ent.codes_s, weights=y, minlength=ngroups)
    sq_centre /= counts
    y -= sq_centre[ent.codes_s]
    cs2 = _prefix(y, np.float64)
    del y, counts
    windows = config.windows_days
    w = windows[-1]
    cap_ns = lookback_days(config) * _NS_PER_DAY
    nb_out = [out[f"customer_id_nb_tx_{n}day_window"] for n in windows]
    avg_out = [out[f"customer_id_avg_amount_{n}day_window"] for n in windows]
    ratio_out = out[f"customer_id_amount_to_avg_{w}day_window"]
    zscore_out = out[f"customer_id_amount_zscore_{w}day_window"]
    since_out = out["customer_id_seconds_since_prev_tx"]
    for ks, dest in ent.chunks():
        centre_q = centre[ent.codes_s[ks]]
        end = ks + 1
        cs1_end = cs1[end]
        start = end
        for n, nb, avg in zip(windows, nb_out, avg_out, strict=True):
            start = ent.after(ks, n * _NS_PER_DAY)  # window [start, end): (t - n days, t]
            count = end - start
            nb[dest] = count
            avg[dest] = centre_q + (cs1_end - cs1[start]) / count
        # the earlier transactions of the largest window: [start, ks)
        n_prev = ks - start
        has_prev = n_prev > 0
        s1 = cs1[ks] - cs1[start]
        mean_c = s1 / np.maximum(n_prev, 1)  # centred mean
        var = (cs2[ks] - cs2[start]) + n_prev * sq_centre[ent.codes_s[ks]] - s1 * mean_c
        var /= np.maximum(n_prev - 1, 1)
        var[n_prev < 2] = 0.0
        np.maximum(var, 0.0, out=var)
        amount_q = amount[ent.order[ks]]
        zscore_out[dest] = np.where(
            has_prev, (amount_q - centre_q - mean_c) / np.sqrt(var + _VAR_PRIOR), 0.0
        )
        ratio_out[dest] = np.where(
            has_prev, amount_q / np.maximum(mean_c + centre_q, _AVG_FLOOR), 1.0
        )
        since_out[dest] = ent.previous_gap_ns(ks, cap_ns) / _NS_PER_SECOND


def _first_use_feature(
    tl: _Timeline,
    customer_codes: np.ndarray,
    customer_ngroups: int,
    terminal_order: np.ndarray,
    terminal_codes_s: np.ndarray,
    config: FeatureConfig,
    out: dict[str, np.ndarray],
) -> None:
    """``customer_terminal_first_use``, from the terminals' ``_group_order`` (time order kept)."""
    # (customer, terminal, time, id) order: stable customer sort of the terminal order
    by_terminal = customer_codes[terminal_order]
    inner, cust_sorted = _group_order(by_terminal, customer_ngroups)
    del by_terminal
    first_out = out["customer_terminal_first_use"]
    lookback_ns = lookback_days(config) * _NS_PER_DAY
    for s in range(0, tl.n, _CHUNK):
        lo = max(s - 1, 0)  # with the previous row for comparison
        chunk = inner[lo : s + _CHUNK]  # positions in the terminal order
        rows = terminal_order[chunk]
        cust = cust_sorted[lo : s + _CHUNK]
        term = terminal_codes_s[chunk]
        t = tl.t[rows]
        seen = (cust[1:] == cust[:-1]) & (term[1:] == term[:-1]) & (t[1:] - t[:-1] < lookback_ns)
        first = np.ones(len(rows), dtype=np.int8)
        first[1:][seen] = 0
        if s > 0:  # the first row was only there for comparison
            rows, first = rows[1:], first[1:]
        if tl.full:
            first_out[rows] = first
        else:
            sel = (rows >= tl.a) & (rows < tl.b)
            first_out[rows[sel] - tl.a] = first[sel]


def _label_prefix_sums(labels: pd.Series, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums, in ``order``, of the labelled and of the fraudulent transactions.

    ``labels`` is ``tx_fraud`` in time order (``<NA>``: not labelled). int32 when every count
    fits; the boolean masks are freed on return.
    """
    known = labels.notna().to_numpy()
    fraud = (labels.fillna(0).to_numpy() != 0) & known
    count_dtype = np.int32 if len(order) <= _MAX_INT32_ROWS else np.int64
    return _prefix(known[order], count_dtype), _prefix(fraud[order], count_dtype)


def _terminal_features(
    ent: _Entity,
    labels: pd.Series,
    config: FeatureConfig,
    out: dict[str, np.ndarray],
) -> None:
    cs_known, cs_fraud = _label_prefix_sums(labels, ent.order)
    d = config.label_delay_days
    windows = config.windows_days
    nb_out = [out[f"terminal_id_nb_tx_{n}day_window"] for n in windows]
    risk_out = [out[f"terminal_id_risk_{n}day_window"] for n in windows]
    for ks, dest in ent.chunks():
        hi = ent.after(ks, d * _NS_PER_DAY)  # window [lo, hi): (t - n - d days, t - d days]
        np.minimum(hi, ks, out=hi)  # never the current transaction nor later same-instant ones
        known_hi = cs_known[hi]
        fraud_hi = cs_fraud[hi]
        for n, nb, risk in zip(windows, nb_out, risk_out, strict=True):
            lo = ent.after(ks, (n + d) * _NS_PER_DAY)
            nb[dest] = hi - lo
            n_known = known_hi - cs_known[lo]
            n_fraud = fraud_hi - cs_fraud[lo]
            risk[dest] = np.divide(n_fraud, n_known, out=np.zeros(len(ks)), where=n_known > 0)


def _calendar_features(t_out: np.ndarray, out: dict[str, np.ndarray]) -> None:
    day = t_out // _NS_PER_DAY
    out["tx_during_weekend"][:] = (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday
    hour = out["tx_hour"]
    hour[:] = (t_out - day * _NS_PER_DAY) // _NS_PER_HOUR
    del day
    out["tx_during_night"][:] = hour <= 6


# --------------------------------------------------------------------------------------------
# public entry point


def _empty_output(transactions: pd.DataFrame, config: FeatureConfig) -> pd.DataFrame:
    keys = [*KEY_COLUMNS, *([TX_FRAUD_SCENARIO] if TX_FRAUD_SCENARIO in transactions else [])]
    out = transactions[keys].iloc[0:0].reset_index(drop=True)
    out[TX_FRAUD] = out[TX_FRAUD].astype("Int8")
    for col, dtype in _feature_dtypes(config).items():
        out[col] = np.empty(0, dtype=dtype)
    return out


def build_features(
    transactions: pd.DataFrame,
    config: FeatureConfig = FeatureConfig(),
    *,
    start: pd.Timestamp | datetime | None = None,
    end: pd.Timestamp | datetime | None = None,
) -> pd.DataFrame:
    """Return key columns plus point-in-time features for the transactions in [start, end)."""
    missing = [c for c in KEY_COLUMNS if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack required columns: {missing}")
    start_ns = None if start is None else _to_utc_ns(start)
    end_ns = None if end is None else _to_utc_ns(end)
    if start_ns is not None and end_ns is not None and end_ns < start_ns:
        raise ValueError(f"end ({end}) is before start ({start})")
    if len(transactions) == 0:
        return _empty_output(transactions, config)

    t = _time_ns(transactions[TX_DATETIME], copy=False)
    order = _time_order(transactions, t)
    if order is not None:
        t = t[order]
    a = 0 if start_ns is None else int(np.searchsorted(t, start_ns, side="left"))
    b = len(t) if end_ns is None else int(np.searchsorted(t, end_ns, side="left"))
    if b <= a:
        return _empty_output(transactions, config)

    def column(name: str) -> pd.Series:
        col = transactions[name]
        return col if order is None else col.take(order)

    amount = column(TX_AMOUNT).to_numpy(dtype=np.float64)
    if not np.isfinite(amount).all():
        raise ValueError(f"{TX_AMOUNT} has missing or infinite values")

    tl = _Timeline(t, a, b, lookback_days(config) * _NS_PER_DAY)
    out_len = b - a
    features = {name: np.empty(out_len, dtype=dt) for name, dt in _feature_dtypes(config).items()}

    # stage order and the dels bound peak memory (module docstring): first use before the
    # terminal windows, each whole-table temporary freed after its last use
    _calendar_features(t[a:b], features)

    cust_codes, cust_n = _entity_codes(column(CUSTOMER_ID), CUSTOMER_ID)
    _customer_features(tl, cust_codes, cust_n, amount, config, features)
    del amount

    term_codes, term_n = _entity_codes(column(TERMINAL_ID), TERMINAL_ID)
    term_order, term_codes_s = _group_order(term_codes, term_n)
    del term_codes
    _first_use_feature(tl, cust_codes, cust_n, term_order, term_codes_s, config, features)
    del cust_codes

    terminals = _Entity(tl, term_order, term_codes_s, term_n, keep_codes=False)
    del term_order, term_codes_s  # the entity holds what the windows need
    _terminal_features(terminals, column(TX_FRAUD), config, features)
    del terminals, tl, t

    return _output_frame(transactions, order, a, b, features, config)


def _copy_on_write_active() -> bool:
    """Whether pandas Copy-on-Write is in force (always from pandas 3.0; opt-in on 2.x)."""
    if int(pd.__version__.split(".", 1)[0]) >= 3:
        return True
    return pd.get_option("mode.copy_on_write") is True  # "warn" only warns: no CoW


def _output_frame(
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
    share = order is None and _copy_on_write_active()
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
            values = pd.array(values, dtype="Int8")  # a conversion: copies
        data[name] = values
    for name in _engineered_columns(config):
        data[name] = features.pop(name)
    return pd.DataFrame(data, index=index, copy=False)
