"""One day's features at a cost bounded by the day, not by the window length.

``build_features(history, start=day, end=day + 1)`` needs the ``L = max(window) + delay`` days
before the day (``lookback_days``) as raw rows, and re-sorts all of them for every day. This module
computes the *same* output for one UTC day ``D`` from

* the day's own transactions;
* the raw rows of the **boundary days** only (:func:`boundary_days`): for each window ``n`` the day
  ``D - n`` where a customer window starts part-way through a day, ``D - n - d`` for the delayed
  terminal windows, and ``D - d`` (label delay ``d > 0``) where they end part-way through a day:
  at most ``2 * len(windows) + 1`` days, whatever the window lengths;
* a :class:`WindowState` as of the start of ``D``: per customer and per terminal the totals over
  the *whole* days strictly inside each window (count, amount sum, sum of squares; count,
  labelled count, fraud count), the time each customer was last seen, and the time each
  (customer, terminal) pair was last seen within ``L`` days.

Window decomposition, for a transaction at ``t`` in day ``D`` (whole days ``n`` and ``d``):

* customer window ``(t - n, t]`` = rows of day ``D - n`` with time ``> t - n`` (boundary rows)
  + whole days ``D - n + 1 .. D - 1`` (state) + the day's rows up to this one in
  ``(tx_datetime, transaction_id)`` order;
* terminal window ``(t - n - d, t - d]``, ``d > 0`` = rows of day ``D - n - d`` with time
  ``> t - n - d`` + whole days ``D - n - d + 1 .. D - d - 1`` (state) + rows of day ``D - d``
  with time ``<= t - d``; with ``d = 0`` the last part is the day's rows *before* this one;
* seconds since the previous transaction: the day's previous row of the customer, else the
  customer's last-seen time (state), capped at ``L`` days;
* first use of a terminal: an earlier row of the pair in the day, else the pair's last-seen time
  ``> t - L`` (state).

Every count is an exact integer, so the integer features and the terminal risks are identical to
``build_features``; amount means, ratios and z-scores agree to float64 rounding (the tests use
the features tests' rule: exact for integer columns, ``rtol=1e-9`` for floats).

Keeping the state current (see :func:`advance_state`): the state for ``D + 1`` is the state for
``D`` plus the :class:`DailyAggregates` of the day entering each window minus those of the day
leaving it, so a daily step reads one aggregate day per window edge, never the whole window. The
pair table is the one part whose size grows with ``L`` (the distinct pairs seen in ``L`` days); it
is a sorted int64 array, looked up by binary search and merged once a day. :func:`build_state`
builds a state from scratch out of the aggregates of the ``L`` days before a day (independent
days, e.g. for a parallel backfill). Labels arriving late for a day already inside the terminal
windows are applied with :func:`apply_late_labels`; the boundary rows are read with current labels.

Amount totals are float64 sums; the rolling add-and-subtract leaves rounding residue of order
``1e-16`` relative per step, reset to exactly 0 whenever a window of an entity empties
(:func:`build_state` resets it completely).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from fraud_core.features import (
    _AVG_FLOOR,
    _NS_PER_DAY,
    _NS_PER_SECOND,
    _VAR_PRIOR,
    FeatureConfig,
    _calendar_features,
    _empty_output,
    _feature_dtypes,
    _group_order,
    _output_frame,
    _time_ns,
    _time_order,
    lookback_days,
)
from fraud_core.schema import (
    CUSTOMER_ID,
    REQUIRED_COLUMNS,
    TERMINAL_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
)

__all__ = [
    "DailyAggregates",
    "WindowState",
    "advance_state",
    "aggregate_days_for_advance",
    "aggregate_days_for_state",
    "apply_late_labels",
    "boundary_days",
    "build_day_features",
    "build_state",
    "daily_aggregates",
    "labels_due_days",
    "labels_due_on",
    "state_from_totals",
    "state_windows",
    "terminal_label_totals",
]

LAST_TX_NS = "last_tx_ns"


# --------------------------------------------------------------------------------------------
# days


def _day(value: date | datetime | pd.Timestamp | str) -> date:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC")
    return ts.date()


def _day_ns(day: date) -> int:
    return int(pd.Timestamp(day, tz="UTC").as_unit("ns").value)


def _state_windows(config: FeatureConfig) -> list[int]:
    """Windows with whole days strictly inside them (a 1-day window has none)."""
    return [n for n in config.windows_days if n >= 2]


def boundary_days(day: date, config: FeatureConfig) -> list[date]:
    """Return the days whose raw rows ``build_day_features`` needs besides ``day`` itself."""
    day = _day(day)
    d = config.label_delay_days
    offsets = {n for n in config.windows_days} | {n + d for n in config.windows_days}
    if d > 0:
        offsets.add(d)
    return sorted(day - timedelta(days=k) for k in offsets)


def labels_due_on(day: date, config: FeatureConfig) -> date:
    """Return the day whose features first count the labels of ``day`` as a whole day.

    That is ``day + d + 1``: the terminal windows of day ``D`` cover the whole days up to
    ``D - d - 1``; the labels of ``day`` are due (label delay ``d``) by then.
    """
    return _day(day) + timedelta(days=config.label_delay_days + 1)


def labels_due_days(day: date, config: FeatureConfig) -> list[date]:
    """Return the due days (:func:`labels_due_on`) of every whole day the state of ``day`` counts."""
    windows = state_windows(day, config)
    if not windows.terminal_windows:
        return []
    first = labels_due_on(min(windows.terminal_windows.values()), config)
    return [first + timedelta(days=i) for i in range((_day(day) - first).days + 1)]


def aggregate_days_for_state(day: date, config: FeatureConfig) -> list[date]:
    """Return the days whose aggregates ``build_state`` needs for the state of ``day``."""
    day = _day(day)
    return [day - timedelta(days=k) for k in range(lookback_days(config), 0, -1)]


def aggregate_days_for_advance(day: date, config: FeatureConfig) -> list[date]:
    """Return the days whose aggregates advance the state of ``day`` to ``day + 1``."""
    day = _day(day)
    d = config.label_delay_days
    offsets = {0, d}
    for n in _state_windows(config):
        offsets |= {n - 1, n + d - 1}
    return sorted(day - timedelta(days=k) for k in offsets)


# --------------------------------------------------------------------------------------------
# daily aggregates


@dataclass(frozen=True)
class DailyAggregates:
    """Per-entity totals of one UTC day of transactions: what a day adds to the window state.

    ``customers`` (index ``customer_id``): ``nb_tx``, ``amount_sum``, ``amount_sq_sum``,
    ``last_tx_ns``; ``terminals`` (index ``terminal_id``): ``nb_tx``, ``nb_labelled``,
    ``nb_fraud`` (labels as known when aggregated); ``pairs``: ``customer_id``, ``terminal_id``,
    ``last_tx_ns``, one row per pair.
    """

    day: date
    customers: pd.DataFrame
    terminals: pd.DataFrame
    pairs: pd.DataFrame


def daily_aggregates(transactions: pd.DataFrame, day: date) -> DailyAggregates:
    """Return the per-customer, per-terminal and per-pair totals of one day's transactions."""
    day = _day(day)
    _require_columns(transactions, (TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_FRAUD))
    t = _time_ns(transactions[TX_DATETIME]) if len(transactions) else np.zeros(0, np.int64)
    _require_within_day(t, day, "transactions")
    amount = transactions[TX_AMOUNT].to_numpy(dtype=np.float64)
    if not np.isfinite(amount).all():
        raise ValueError(f"{TX_AMOUNT} has missing or infinite values")
    labels = transactions[TX_FRAUD]
    known = labels.notna().to_numpy()
    fraud = (labels.fillna(0).to_numpy() != 0) & known

    c_codes, c_ids = _factorize(transactions[CUSTOMER_ID], CUSTOMER_ID)
    nc = len(c_ids)
    last = np.full(nc, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, c_codes, t)
    customers = pd.DataFrame(
        {
            "nb_tx": np.bincount(c_codes, minlength=nc).astype(np.int64),
            "amount_sum": np.bincount(c_codes, weights=amount, minlength=nc),
            "amount_sq_sum": np.bincount(c_codes, weights=amount * amount, minlength=nc),
            LAST_TX_NS: last,
        },
        index=c_ids.rename(CUSTOMER_ID),
    )
    m_codes, m_ids = _factorize(transactions[TERMINAL_ID], TERMINAL_ID)
    nm = len(m_ids)
    terminals = _terminal_counts(m_codes, m_ids, known, fraud)
    pair = c_codes * max(nm, 1) + m_codes
    order = np.argsort(pair, kind="stable")
    pair_s = pair[order]
    first = np.flatnonzero(np.r_[True, pair_s[1:] != pair_s[:-1]]) if len(pair_s) else pair_s
    pair_last = np.maximum.reduceat(t[order], first) if len(first) else t[:0]
    pairs = pd.DataFrame(
        {
            CUSTOMER_ID: c_ids.take(pair_s[first] // max(nm, 1)),
            TERMINAL_ID: m_ids.take(pair_s[first] % max(nm, 1)),
            LAST_TX_NS: pair_last,
        }
    )
    return DailyAggregates(day, customers, terminals, pairs)


def _terminal_counts(
    codes: np.ndarray, ids: pd.Index, known: np.ndarray, fraud: np.ndarray
) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "nb_tx": np.bincount(codes, minlength=n).astype(np.int64),
            "nb_labelled": np.bincount(codes, weights=known, minlength=n).astype(np.int64),
            "nb_fraud": np.bincount(codes, weights=fraud, minlength=n).astype(np.int64),
        },
        index=ids.rename(TERMINAL_ID),
    )


def terminal_label_totals(transactions: pd.DataFrame, day: date) -> pd.DataFrame:
    """Return per terminal of one day's transactions its transaction, labelled and fraud counts.

    Columns ``terminal_id``, ``nb_tx``, ``nb_labelled``, ``nb_fraud`` (labels as
    ``transactions`` holds them): what the day adds to the terminal windows, as the
    ``DailyAggregates.terminals`` of the day.
    """
    day = _day(day)
    _require_columns(transactions, (TX_DATETIME, TERMINAL_ID, TX_FRAUD))
    t = _time_ns(transactions[TX_DATETIME]) if len(transactions) else np.zeros(0, np.int64)
    _require_within_day(t, day, "transactions")
    labels = transactions[TX_FRAUD]
    known = labels.notna().to_numpy()
    fraud = (labels.fillna(0).to_numpy() != 0) & known
    codes, ids = _factorize(transactions[TERMINAL_ID], TERMINAL_ID)
    return _terminal_counts(codes, ids, known, fraud).reset_index()


# --------------------------------------------------------------------------------------------
# state


@dataclass(frozen=True)
class WindowState:
    """Per-entity totals of the whole days inside each window, as of the start of ``day``.

    ``customers`` (index ``customer_id``): for each window ``n >= 2`` the columns
    ``nb_tx_{n}d``, ``amount_sum_{n}d``, ``amount_sq_sum_{n}d`` over days ``day - n + 1 ..
    day - 1``, and ``last_tx_ns`` (the customer's latest transaction before ``day``);
    ``terminals`` (index ``terminal_id``): ``nb_tx_{n}d``, ``nb_labelled_{n}d``, ``nb_fraud_{n}d``
    over days ``day - n - d + 1 .. day - d - 1``; ``pairs``: when each (customer, terminal) pair
    was last seen since ``day - L``.
    """

    day: date
    config: FeatureConfig
    customers: pd.DataFrame
    terminals: pd.DataFrame
    pairs: PairTable

    def pairs_frame(self) -> pd.DataFrame:
        """Return the live pairs as ``customer_id``, ``terminal_id``, ``last_tx_ns`` columns."""
        keys, last = self.pairs.merged(_state_cutoff(self.day, self.config))
        customer, terminal = _unpack_pair_keys(keys)
        return pd.DataFrame({CUSTOMER_ID: customer, TERMINAL_ID: terminal, LAST_TX_NS: last})

    def nbytes(self) -> int:
        """Return the state's memory footprint in bytes."""
        frames = self.customers.memory_usage(deep=True).sum()
        frames += self.terminals.memory_usage(deep=True).sum()
        return int(frames + self.pairs.nbytes())


def _state_cutoff(day: date, config: FeatureConfig) -> int:
    """Times before this (ns) never matter to the features of ``day`` or later."""
    return _day_ns(day) - lookback_days(config) * _NS_PER_DAY


class PairTable:
    """When each (customer, terminal) pair was last seen: a small log-structured sorted table.

    Runs of (sorted unique pair keys, last-seen ns), oldest first; a day's pairs are appended as a
    new run and adjacent runs of similar size are merged (a linear merge of two sorted runs that
    also drops expired pairs), so each pair is rewritten O(log(pairs / day's pairs)) times and a
    lookup is a binary search in O(log) runs: the daily cost does not grow with the table.
    """

    def __init__(self, runs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.runs = runs

    @classmethod
    def from_pairs(cls, keys: np.ndarray, last: np.ndarray) -> PairTable:
        """A table of one run from unsorted keys (duplicates keep their latest time)."""
        if len(keys) == 0:
            return cls([])
        if keys.dtype.kind != "O":
            order = np.lexsort((last, keys))
        else:
            order = np.array(sorted(range(len(keys)), key=lambda i: (keys[i], last[i])), int)
        keys, last = keys[order], last[order]
        is_last = np.r_[keys[1:] != keys[:-1], True]
        return cls([(keys[is_last], last[is_last])])

    @property
    def key_dtype(self) -> np.dtype:
        """The dtype of the keys (int64 packed ids, or object tuples)."""
        return self.runs[-1][0].dtype if self.runs else np.dtype(np.int64)

    def __len__(self) -> int:
        return sum(len(k) for k, _ in self.runs)

    def nbytes(self) -> int:
        """Memory of the runs in bytes (object keys counted at 100 bytes)."""
        per_key = 100 if self.key_dtype.kind == "O" else 8
        return sum(per_key * len(k) + last.nbytes for k, last in self.runs)

    def as_object_keys(self) -> PairTable:
        """The same table with tuple keys (when new ids cannot be packed)."""
        if self.key_dtype.kind == "O":
            return self
        return PairTable([(_as_object_keys(k), last) for k, last in self.runs])

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Per key: when the pair was last seen (int64 min when never)."""
        out = np.full(len(keys), np.iinfo(np.int64).min, dtype=np.int64)
        for run_keys, run_last in self.runs:
            if len(run_keys) == 0 or len(keys) == 0:
                continue
            pos = np.searchsorted(run_keys, keys)
            np.minimum(pos, len(run_keys) - 1, out=pos)
            found = run_keys[pos] == keys
            out[found] = np.maximum(out[found], run_last[pos[found]])
        return out

    def add(self, keys: np.ndarray, last: np.ndarray, cutoff: int) -> PairTable:
        """A new table with a day's (unique) pairs added and pairs last seen before cutoff dropped."""
        runs = [r for r in self.runs if len(r[1]) and r[1].max() >= cutoff]
        order = np.argsort(keys, kind="stable")
        runs.append((keys[order], last[order]))
        while len(runs) >= 2 and len(runs[-2][0]) <= 2 * len(runs[-1][0]):
            newer = runs.pop()
            runs[-1] = _merge_runs(runs[-1], newer, cutoff)
        return PairTable(runs)

    def merged(self, cutoff: int) -> tuple[np.ndarray, np.ndarray]:
        """All live pairs as one sorted run (keys, last-seen ns)."""
        merged: tuple[np.ndarray, np.ndarray] = (np.zeros(0, self.key_dtype), np.zeros(0, np.int64))
        for run in self.runs:
            merged = _merge_runs(merged, run, cutoff)
        return merged


def _merge_runs(
    older: tuple[np.ndarray, np.ndarray], newer: tuple[np.ndarray, np.ndarray], cutoff: int
) -> tuple[np.ndarray, np.ndarray]:
    """One sorted run from two (a pair in both keeps the newer time); expired pairs dropped."""
    keys = np.concatenate([older[0], newer[0]])
    last = np.concatenate([older[1], newer[1]])
    order = np.argsort(keys, kind="stable")  # timsort: a linear merge of the two runs
    keys, last = keys[order], last[order]
    keep = np.r_[keys[1:] != keys[:-1], True] if len(keys) else np.zeros(0, bool)
    keep &= last >= cutoff
    return keys[keep], last[keep]


def _customer_columns(n: int) -> tuple[str, str, str]:
    return f"nb_tx_{n}d", f"amount_sum_{n}d", f"amount_sq_sum_{n}d"


def _terminal_columns(n: int) -> tuple[str, str, str]:
    return f"nb_tx_{n}d", f"nb_labelled_{n}d", f"nb_fraud_{n}d"


def _get(aggregates: Mapping[date, DailyAggregates], day: date) -> DailyAggregates:
    try:
        agg = aggregates[day]
    except KeyError:
        raise KeyError(
            f"aggregates of {day} are missing (a day without transactions needs "
            "daily_aggregates of an empty frame)"
        ) from None
    if agg.day != day:
        raise ValueError(f"aggregates under {day} are of {agg.day}")
    return agg


def build_state(
    aggregates: Mapping[date, DailyAggregates], day: date, config: FeatureConfig
) -> WindowState:
    """Return the state as of the start of ``day`` from the aggregates of the L days before it."""
    day = _day(day)
    days = aggregate_days_for_state(day, config)
    aggs = {k: _get(aggregates, k) for k in days}
    d = config.label_delay_days

    def stacked(part: str, first: date, last: date) -> pd.DataFrame:
        frames = [
            getattr(aggs[k], part).assign(_day=k)
            for k in days
            if first <= k <= last and len(getattr(aggs[k], part))
        ]
        return pd.concat(frames) if frames else None

    customer_cols: dict[str, pd.Series] = {}
    terminal_cols: dict[str, pd.Series] = {}
    all_customers = stacked("customers", days[0], days[-1])
    for n in _state_windows(config):
        nb, s1, s2 = _customer_columns(n)
        if all_customers is not None:
            part = all_customers[all_customers["_day"] >= day - timedelta(days=n - 1)]
            grouped = part.groupby(level=0, sort=False)[["nb_tx", "amount_sum", "amount_sq_sum"]]
            totals = grouped.sum()
            customer_cols[nb], customer_cols[s1], customer_cols[s2] = (
                totals["nb_tx"],
                totals["amount_sum"],
                totals["amount_sq_sum"],
            )
        last_day = day - timedelta(days=d + 1)
        part = stacked("terminals", day - timedelta(days=n + d - 1), last_day)
        if part is not None:
            totals = part.groupby(level=0, sort=False)[["nb_tx", "nb_labelled", "nb_fraud"]].sum()
            for col, src in zip(_terminal_columns(n), totals.columns, strict=True):
                terminal_cols[col] = totals[src]
    if all_customers is not None:
        customer_cols[LAST_TX_NS] = all_customers.groupby(level=0, sort=False)[LAST_TX_NS].max()
    customers = _state_frame(customer_cols, _customer_state_columns(config), CUSTOMER_ID)
    terminals = _state_frame(terminal_cols, _terminal_state_columns(config), TERMINAL_ID)

    pair_frames = [aggs[k].pairs for k in days if len(aggs[k].pairs)]
    if pair_frames:
        pairs = pd.concat(pair_frames, ignore_index=True)
        keys = _pair_keys(pairs[CUSTOMER_ID], pairs[TERMINAL_ID])
        table = PairTable.from_pairs(keys, pairs[LAST_TX_NS].to_numpy())
    else:
        table = PairTable([])
    return WindowState(day, config, customers, terminals, table)


@dataclass(frozen=True)
class StateWindows:
    """The whole-day ranges the state of ``day`` totals, named by column suffix (``"7d"``).

    Customer window ``s`` covers days ``customer_windows[s] .. day - 1``; terminal window ``s``
    covers ``terminal_windows[s] .. terminal_end - 1`` (``terminal_end = day - d``); last-seen
    times of customers and pairs cover ``lookback_start .. day - 1``. The field names are those
    of ``fraud_storage``'s ``WindowTotalsRequest``, which computes the totals in a warehouse.
    """

    day: date
    lookback_start: date
    customer_windows: dict[str, date]
    terminal_windows: dict[str, date]
    terminal_end: date


def state_windows(day: date, config: FeatureConfig) -> StateWindows:
    """Return the whole-day ranges whose per-entity totals make the state of ``day``."""
    day = _day(day)
    d = config.label_delay_days
    return StateWindows(
        day=day,
        lookback_start=day - timedelta(days=lookback_days(config)),
        customer_windows={f"{n}d": day - timedelta(days=n - 1) for n in _state_windows(config)},
        terminal_windows={f"{n}d": day - timedelta(days=n + d - 1) for n in _state_windows(config)},
        terminal_end=day - timedelta(days=d),
    )


def _instant_ns(values: pd.Series) -> np.ndarray:
    """Timestamps (naive ones being UTC) as int64 nanoseconds since the epoch."""
    ts = pd.to_datetime(values, utc=True)
    return ts.dt.as_unit("ns").astype(np.int64).to_numpy() if len(ts) else np.zeros(0, np.int64)


def state_from_totals(
    day: date,
    config: FeatureConfig,
    customers: pd.DataFrame,
    terminals: pd.DataFrame,
    pairs: pd.DataFrame,
) -> WindowState:
    """Return the state of ``day`` from per-entity totals over its :func:`state_windows`.

    ``customers``: ``customer_id``, per window ``nb_tx_<s>``, ``amount_sum_<s>``,
    ``amount_sq_sum_<s>`` and ``last_tx_datetime``; ``terminals``: ``terminal_id``, per window
    ``nb_tx_<s>``, ``nb_labelled_<s>``, ``nb_fraud_<s>``; ``pairs``: ``customer_id``,
    ``terminal_id``, ``last_tx_datetime``. Entities without history are simply absent.
    """
    day = _day(day)
    last_seen = "last_tx_datetime"
    frames = {
        "customers": (customers, CUSTOMER_ID, _customer_state_columns(config)),
        "terminals": (terminals, TERMINAL_ID, _terminal_state_columns(config)),
    }
    built = {}
    for kind, (frame, key, dtypes) in frames.items():
        wanted = [key, *(c for c in dtypes if c != LAST_TX_NS)]
        if LAST_TX_NS in dtypes:
            wanted.append(last_seen)
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise ValueError(f"{kind} totals lack columns {missing}; found {list(frame.columns)}")
        if frame[key].isna().any() or frame[key].duplicated().any():
            raise ValueError(f"{kind} totals must have one row per non-null {key}")
        index = pd.Index(frame[key].to_numpy(), name=key)
        columns = {c: pd.Series(frame[c].to_numpy(), index) for c in dtypes if c != LAST_TX_NS}
        if LAST_TX_NS in dtypes:
            columns[LAST_TX_NS] = pd.Series(_instant_ns(frame[last_seen]), index)
        built[kind] = _state_frame(columns, dtypes, key)
    for col in (CUSTOMER_ID, TERMINAL_ID, last_seen):
        if col not in pairs.columns:
            raise ValueError(f"pair totals lack column {col}; found {list(pairs.columns)}")
    keys = _pair_keys(pairs[CUSTOMER_ID], pairs[TERMINAL_ID])
    table = PairTable.from_pairs(keys, _instant_ns(pairs[last_seen]))
    return WindowState(day, config, built["customers"], built["terminals"], table)


def _customer_state_columns(config: FeatureConfig) -> dict[str, type]:
    cols: dict[str, type] = {}
    for n in _state_windows(config):
        nb, s1, s2 = _customer_columns(n)
        cols |= {nb: np.int64, s1: np.float64, s2: np.float64}
    cols[LAST_TX_NS] = np.int64
    return cols


def _terminal_state_columns(config: FeatureConfig) -> dict[str, type]:
    cols: dict[str, type] = {}
    for n in _state_windows(config):
        cols |= {c: np.int64 for c in _terminal_columns(n)}
    return cols


def _state_frame(
    columns: dict[str, pd.Series], dtypes: dict[str, type], index_name: str
) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    frame.index.name = index_name
    for col, dtype in dtypes.items():
        frame[col] = (
            frame[col].fillna(0).astype(dtype)
            if col in frame
            else np.zeros(len(frame), dtype=dtype)
        )
    return frame[list(dtypes)]


def advance_state(state: WindowState, aggregates: Mapping[date, DailyAggregates]) -> WindowState:
    """Return the state of the next day: add the days entering each window, remove those leaving."""
    config, day = state.config, state.day
    d = config.label_delay_days
    ago = {k: day - timedelta(days=k) for k in range(0, lookback_days(config) + 1)}
    entering = _get(aggregates, day)
    cutoff = _state_cutoff(day + timedelta(days=1), config)

    # customers: windows gain day D, lose day D - n + 1; last seen
    cust = _with_rows(state.customers, entering.customers.index)
    arrays = {c: cust[c].to_numpy(copy=True) for c in cust.columns}
    pos = cust.index.get_indexer(entering.customers.index)
    for n in _state_windows(config):
        leaving = _get(aggregates, ago[n - 1]).customers
        pos_out = cust.index.get_indexer(leaving.index)
        for col, src in zip(
            _customer_columns(n), ("nb_tx", "amount_sum", "amount_sq_sum"), strict=True
        ):
            arrays[col][pos] += entering.customers[src].to_numpy()
            arrays[col][pos_out] -= leaving[src].to_numpy()
        _reset_empty(arrays, *_customer_columns(n))
    last = arrays[LAST_TX_NS]
    last[pos] = np.maximum(last[pos], entering.customers[LAST_TX_NS].to_numpy())
    keep = last >= cutoff
    for n in _state_windows(config):
        keep |= arrays[_customer_columns(n)[0]] > 0
    customers = pd.DataFrame(arrays, index=cust.index)[keep]

    # terminals: windows gain day D - d, lose day D - n - d + 1
    term_in = _get(aggregates, ago[d]).terminals
    term = _with_rows(state.terminals, term_in.index)
    arrays = {c: term[c].to_numpy(copy=True) for c in term.columns}
    pos = term.index.get_indexer(term_in.index)
    keep = np.zeros(len(term), dtype=bool)
    for n in _state_windows(config):
        leaving = _get(aggregates, ago[n + d - 1]).terminals
        pos_out = term.index.get_indexer(leaving.index)
        for col, src in zip(
            _terminal_columns(n), ("nb_tx", "nb_labelled", "nb_fraud"), strict=True
        ):
            arrays[col][pos] += term_in[src].to_numpy()
            arrays[col][pos_out] -= leaving[src].to_numpy()
        keep |= arrays[_terminal_columns(n)[0]] > 0
    terminals = pd.DataFrame(arrays, index=term.index)[keep]

    table = state.pairs
    keys = _pair_keys(entering.pairs[CUSTOMER_ID], entering.pairs[TERMINAL_ID], like=table)
    if keys.dtype.kind == "O":
        table = table.as_object_keys()
    table = table.add(keys, entering.pairs[LAST_TX_NS].to_numpy(), cutoff)
    return WindowState(day + timedelta(days=1), config, customers, terminals, table)


def _with_rows(frame: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """``frame`` with zero rows added for the ids it lacks."""
    new = ids[frame.index.get_indexer(ids) < 0]
    if len(new) == 0:
        return frame
    extra = pd.DataFrame(
        {c: np.zeros(len(new), dtype=frame[c].dtype) for c in frame.columns}, index=new
    )
    out = pd.concat([frame, extra])
    out.index.name = frame.index.name
    return out


def _reset_empty(arrays: dict[str, np.ndarray], nb: str, *sums: str) -> None:
    """Float totals of an emptied window are exactly 0 (no rounding residue carried on)."""
    empty = arrays[nb] == 0
    for col in sums:
        arrays[col][empty] = 0.0


def apply_late_labels(
    state: WindowState, old: DailyAggregates, new: DailyAggregates
) -> WindowState:
    """Return the state with a day's terminal label counts replaced by newer ones."""
    if old.day != new.day:
        raise ValueError(f"old aggregates are of {old.day}, new ones of {new.day}")
    config, day = state.config, state.day
    d = config.label_delay_days
    delta = new.terminals[["nb_labelled", "nb_fraud"]].sub(
        old.terminals[["nb_labelled", "nb_fraud"]], fill_value=0
    )
    counts = new.terminals["nb_tx"].sub(old.terminals["nb_tx"], fill_value=0)
    if (counts != 0).any():
        raise ValueError(f"aggregates of {old.day} differ in more than labels")
    delta = delta[(delta != 0).any(axis=1)].astype(np.int64)
    if len(delta) == 0:
        return state
    terminals = state.terminals.copy()
    pos = terminals.index.get_indexer(delta.index)
    for n in _state_windows(config):
        first, last = day - timedelta(days=n + d - 1), day - timedelta(days=d + 1)
        if not first <= old.day <= last:
            continue
        if (pos < 0).any():
            raise ValueError(f"terminals relabelled on {old.day} are not in the state")
        _, labelled, fraud = _terminal_columns(n)
        for col, src in ((labelled, "nb_labelled"), (fraud, "nb_fraud")):
            values = terminals[col].to_numpy(copy=True)
            values[pos] += delta[src].to_numpy()
            terminals[col] = values
    return replace(state, terminals=terminals)


# --------------------------------------------------------------------------------------------
# pair keys


def _pair_keys(
    customer: pd.Series, terminal: pd.Series, like: PairTable | None = None
) -> np.ndarray:
    """Sortable keys of (customer, terminal): packed int64 when both ids fit, else tuples."""
    c, m = customer.to_numpy(), terminal.to_numpy()
    packable = like is None or like.key_dtype.kind != "O"
    if packable and c.dtype.kind in "iu" and m.dtype.kind in "iu":
        if len(c) == 0:
            return np.zeros(0, dtype=np.int64)
        if c.min() >= 0 and m.min() >= 0 and c.max() < 2**31 and m.max() < 2**32:
            return (c.astype(np.int64) << 32) | m.astype(np.int64)
    out = np.empty(len(c), dtype=object)
    out[:] = list(zip(c.tolist(), m.tolist(), strict=True))
    return out


def _as_object_keys(keys: np.ndarray) -> np.ndarray:
    c, m = _unpack_pair_keys(keys)
    out = np.empty(len(keys), dtype=object)
    out[:] = list(zip(c.tolist(), m.tolist(), strict=True))
    return out


def _unpack_pair_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if keys.dtype != object:
        return keys >> 32, keys & 0xFFFFFFFF
    c = np.empty(len(keys), dtype=object)
    m = np.empty(len(keys), dtype=object)
    c[:] = [k[0] for k in keys]
    m[:] = [k[1] for k in keys]
    return c, m


# --------------------------------------------------------------------------------------------
# one day's features


class _Groups:
    """Rows in time order grouped by entity code: positions, group bounds, precise partial sums."""

    def __init__(self, codes: np.ndarray, n_groups: int, t: np.ndarray) -> None:
        self.n = len(codes)
        self.t = t  # ascending
        self.order, self.codes_s = _group_order(codes, n_groups)
        self.start = np.zeros(n_groups + 1, dtype=np.int64)
        np.cumsum(np.bincount(codes, minlength=n_groups), out=self.start[1:])
        # key = code * n + rank in time order: ascending in group order
        self.key = self.codes_s * max(self.n, 1) + self.order

    def upto(self, codes: np.ndarray, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per query: the position (group order) after its group's rows with time <= x[rows].

        ``x`` is ascending (the feature day's times shifted by whole days, in time order) and
        ``rows`` maps the queries (in entity order) to it: both searches run on sorted queries.
        """
        g = np.searchsorted(self.t, x, side="right")[rows]
        g += codes * max(self.n, 1)
        return np.searchsorted(self.key, g, side="left")

    def float_sums(self, values: np.ndarray) -> _PartialSums:
        """Partial sums of ``values`` (time order) over ranges of a group."""
        return _PartialSums(values[self.order], self.codes_s, len(self.start) - 1)

    def int_prefix(self, values: np.ndarray) -> np.ndarray:
        """Prefix sums (group order) of integer ``values`` (time order)."""
        out = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(values[self.order], out=out[1:])
        return out


class _PartialSums:
    """Sums over [i, j) within a group, from prefix sums of values centred per group."""

    def __init__(self, values: np.ndarray, codes_s: np.ndarray, n_groups: int) -> None:
        counts = np.bincount(codes_s, minlength=n_groups)
        totals = np.bincount(codes_s, weights=values, minlength=n_groups).astype(np.float64)
        self.centre = totals / np.maximum(counts, 1)
        y = values - self.centre[codes_s]
        self.prefix = np.zeros(len(values) + 1)
        np.cumsum(y, out=self.prefix[1:])

    def between(self, i: np.ndarray, j: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Per query: the sum of its group's values at positions [i, j)."""
        return (self.prefix[j] - self.prefix[i]) + (j - i) * self.centre[codes]


def _factorize(values: pd.Series, name: str) -> tuple[np.ndarray, pd.Index]:
    codes, uniques = pd.factorize(values)
    if (codes < 0).any():
        raise ValueError(f"{name} has missing values")
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"transactions lack required columns: {missing}")


def _require_within_day(t: np.ndarray, day: date, what: str) -> None:
    lo = _day_ns(day)
    if len(t) and (t.min() < lo or t.max() >= lo + _NS_PER_DAY):
        raise ValueError(f"{what} must all lie in the UTC day {day}")


@dataclass(frozen=True)
class _DayRows:
    """The columns of one boundary day that the features use, in time order."""

    t: np.ndarray
    customer: np.ndarray
    terminal: np.ndarray
    amount: np.ndarray
    known: np.ndarray
    fraud: np.ndarray

    def __getitem__(self, sel: slice | np.ndarray) -> _DayRows:
        return _DayRows(*(getattr(self, f)[sel] for f in self.__dataclass_fields__))


class _Boundary:
    """One boundary day's rows of the entities active on the feature day, grouped by entity."""

    def __init__(self, rows: _DayRows, ids: np.ndarray, active: pd.Index) -> None:
        codes = active.get_indexer(ids)
        self._mine = codes >= 0
        self._rows = rows
        self.groups = _Groups(codes[self._mine], len(active), rows.t[self._mine])

    def column(self, name: str) -> np.ndarray:
        """A column of the kept rows, in time order."""
        return getattr(self._rows, name)[self._mine]


def _split_days(boundary: pd.DataFrame, days: list[date]) -> dict[date, _DayRows]:
    """Rows of each needed day, in time order."""
    _require_columns(boundary, (TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_FRAUD))
    t = _time_ns(boundary[TX_DATETIME]) if len(boundary) else np.zeros(0, np.int64)
    labels = boundary[TX_FRAUD]
    known = labels.notna().to_numpy()
    rows = _DayRows(
        t,
        boundary[CUSTOMER_ID].to_numpy(),
        boundary[TERMINAL_ID].to_numpy(),
        boundary[TX_AMOUNT].to_numpy(dtype=np.float64),
        known,
        (labels.fillna(0).to_numpy() != 0) & known,
    )
    if len(t) > 1 and (t[1:] < t[:-1]).any():
        rows = rows[np.argsort(t, kind="stable")]
    out = {}
    for k in days:
        lo = _day_ns(k)
        a, b = np.searchsorted(rows.t, [lo, lo + _NS_PER_DAY], side="left")
        out[k] = rows[a:b]
    return out


def build_day_features(
    day_transactions: pd.DataFrame, state: WindowState, boundary: pd.DataFrame
) -> pd.DataFrame:
    """Return ``build_features``' output for the state's day from the day, state and boundary rows."""
    config, day = state.config, state.day
    _require_columns(day_transactions, REQUIRED_COLUMNS)
    if len(day_transactions) == 0:
        return _empty_output(day_transactions, config)
    t_all = _time_ns(day_transactions[TX_DATETIME])
    _require_within_day(t_all, day, "day_transactions")
    order = _time_order(day_transactions, t_all)
    t = t_all if order is None else t_all[order]

    def column(name: str) -> pd.Series:
        col = day_transactions[name]
        return col if order is None else col.take(order)

    q = len(t)
    amount = column(TX_AMOUNT).to_numpy(dtype=np.float64)
    if not np.isfinite(amount).all():
        raise ValueError(f"{TX_AMOUNT} has missing or infinite values")
    labels = column(TX_FRAUD)
    known = labels.notna().to_numpy()
    fraud = (labels.fillna(0).to_numpy() != 0) & known
    out = {name: np.empty(q, dtype=dt) for name, dt in _feature_dtypes(config).items()}
    _calendar_features(t, out)

    by_day = _split_days(boundary, boundary_days(day, config))
    cust_codes, customers = _factorize(column(CUSTOMER_ID), CUSTOMER_ID)
    term_codes, terminals = _factorize(column(TERMINAL_ID), TERMINAL_ID)
    _day_customer_features(config, day, t, cust_codes, customers, amount, state, by_day, out)
    _day_terminal_features(config, day, t, term_codes, terminals, known, fraud, state, by_day, out)
    _day_first_use(config, t, column(CUSTOMER_ID), column(TERMINAL_ID), state, out)
    return _output_frame(day_transactions, order, 0, q, out, config)


def _lookup(frame: pd.DataFrame, pos: np.ndarray, column: str) -> np.ndarray:
    """``column`` of ``frame`` at positions ``pos`` (0 where ``pos`` is -1: not in the state)."""
    values = frame[column].to_numpy()
    out = np.zeros(len(pos), dtype=values.dtype)
    found = pos >= 0
    out[found] = values[pos[found]]
    return out


def _day_customer_features(
    config: FeatureConfig,
    day: date,
    t: np.ndarray,
    codes: np.ndarray,
    customers: pd.Index,
    amount: np.ndarray,
    state: WindowState,
    by_day: dict[date, _DayRows],
    out: dict[str, np.ndarray],
) -> None:
    cur = _Groups(codes, len(customers), t)
    ks = np.arange(cur.n)  # the day's rows in (customer, time, id) order
    rows = cur.order  # their positions in time order: the output positions
    c = cur.codes_s
    t_q = t[rows]
    amount_q = amount[rows]
    start = cur.start[c]
    # the customer's earlier rows of the day: [start, ks) in customer order
    day_n = ks - start
    day_s1 = cur.float_sums(amount).between(start, ks, c)
    day_s2 = cur.float_sums(amount * amount).between(start, ks, c)
    in_state = state.customers.index.get_indexer(customers)
    w = config.windows_days[-1]
    for n in config.windows_days:
        # earlier rows of the window (t - n days, t): boundary day part + whole days + the day's
        rows_b = by_day[day - timedelta(days=n)]
        bnd = _Boundary(rows_b, rows_b.customer, customers)
        g = bnd.groups
        lo = g.upto(c, t - n * _NS_PER_DAY, rows)  # boundary rows with time > t - n days: [lo, hi)
        hi = g.start[c + 1]
        b_amount = bnd.column("amount")
        e_n = day_n + (hi - lo)
        e_s1 = day_s1 + g.float_sums(b_amount).between(lo, hi, c)
        e_s2 = day_s2 + g.float_sums(b_amount * b_amount).between(lo, hi, c) if n == w else None
        if n >= 2:
            nb_col, s1_col, s2_col = _customer_columns(n)
            e_n = e_n + _lookup(state.customers, in_state, nb_col)[c]
            e_s1 = e_s1 + _lookup(state.customers, in_state, s1_col)[c]
            if n == w:
                e_s2 = e_s2 + _lookup(state.customers, in_state, s2_col)[c]
        nb = e_n + 1
        out[f"customer_id_nb_tx_{n}day_window"][rows] = nb
        out[f"customer_id_avg_amount_{n}day_window"][rows] = (e_s1 + amount_q) / nb
        if n == w:  # amount vs the earlier transactions of the largest window
            has_prev = e_n > 0
            mean = e_s1 / np.maximum(e_n, 1)
            var = (e_s2 - e_s1 * mean) / np.maximum(e_n - 1, 1)
            var[e_n < 2] = 0.0
            np.maximum(var, 0.0, out=var)
            out[f"customer_id_amount_zscore_{w}day_window"][rows] = np.where(
                has_prev, (amount_q - mean) / np.sqrt(var + _VAR_PRIOR), 0.0
            )
            out[f"customer_id_amount_to_avg_{w}day_window"][rows] = np.where(
                has_prev, amount_q / np.maximum(mean, _AVG_FLOOR), 1.0
            )
    # seconds since the previous transaction: the day's previous row, else the last seen time
    cap = lookback_days(config) * _NS_PER_DAY
    prev_t = np.roll(t_q, 1)
    first_today = day_n == 0
    last_seen = _lookup(state.customers, in_state, LAST_TX_NS)[c]
    prev_t[first_today] = last_seen[first_today]
    gap = t_q - prev_t
    gap[first_today & (in_state[c] < 0)] = cap  # never seen within the lookback
    np.minimum(gap, cap, out=gap)
    out["customer_id_seconds_since_prev_tx"][rows] = gap / _NS_PER_SECOND


def _day_terminal_features(
    config: FeatureConfig,
    day: date,
    t: np.ndarray,
    codes: np.ndarray,
    terminals: pd.Index,
    known: np.ndarray,
    fraud: np.ndarray,
    state: WindowState,
    by_day: dict[date, _DayRows],
    out: dict[str, np.ndarray],
) -> None:
    d = config.label_delay_days
    cur = _Groups(codes, len(terminals), t)
    ks = np.arange(cur.n)
    rows = cur.order
    c = cur.codes_s
    in_state = state.terminals.index.get_indexer(terminals)

    # the near edge of every window: rows up to t - d days
    if d == 0:  # the day's rows before this one: [start, ks)
        near_n = ks - cur.start[c]
        cs_known, cs_fraud = cur.int_prefix(known), cur.int_prefix(fraud)
        near_known = cs_known[ks] - cs_known[cur.start[c]]
        near_fraud = cs_fraud[ks] - cs_fraud[cur.start[c]]
    else:  # rows of day D - d with time <= t - d days
        rows_b = by_day[day - timedelta(days=d)]
        bnd = _Boundary(rows_b, rows_b.terminal, terminals)
        g = bnd.groups
        first, upto = g.start[c], g.upto(c, t - d * _NS_PER_DAY, rows)
        cs_known, cs_fraud = g.int_prefix(bnd.column("known")), g.int_prefix(bnd.column("fraud"))
        near_n = upto - first
        near_known = cs_known[upto] - cs_known[first]
        near_fraud = cs_fraud[upto] - cs_fraud[first]
    for n in config.windows_days:
        # the far edge: rows of day D - n - d with time > t - n - d days
        rows_b = by_day[day - timedelta(days=n + d)]
        bnd = _Boundary(rows_b, rows_b.terminal, terminals)
        g = bnd.groups
        lo, hi = g.upto(c, t - (n + d) * _NS_PER_DAY, rows), g.start[c + 1]
        cs_known, cs_fraud = g.int_prefix(bnd.column("known")), g.int_prefix(bnd.column("fraud"))
        nb = near_n + (hi - lo)
        n_known = near_known + (cs_known[hi] - cs_known[lo])
        n_fraud = near_fraud + (cs_fraud[hi] - cs_fraud[lo])
        if n >= 2:  # the whole days in between
            nb_col, known_col, fraud_col = _terminal_columns(n)
            nb = nb + _lookup(state.terminals, in_state, nb_col)[c]
            n_known = n_known + _lookup(state.terminals, in_state, known_col)[c]
            n_fraud = n_fraud + _lookup(state.terminals, in_state, fraud_col)[c]
        out[f"terminal_id_nb_tx_{n}day_window"][rows] = nb
        out[f"terminal_id_risk_{n}day_window"][rows] = np.divide(
            n_fraud, n_known, out=np.zeros(len(ks)), where=n_known > 0
        )


def _day_first_use(
    config: FeatureConfig,
    t: np.ndarray,
    customer: pd.Series,
    terminal: pd.Series,
    state: WindowState,
    out: dict[str, np.ndarray],
) -> None:
    table = state.pairs
    keys = _pair_keys(customer, terminal, like=table)
    if keys.dtype.kind == "O":
        table = table.as_object_keys()
    # (pair, time, id) order: a stable sort of the time-ordered rows by pair key
    order = np.argsort(keys, kind="stable")
    keys_s = keys[order]
    seen = np.r_[False, keys_s[1:] == keys_s[:-1]]  # an earlier row of the pair today
    rest = np.flatnonzero(~seen)
    lookback_ns = lookback_days(config) * _NS_PER_DAY
    seen[rest] = table.lookup(keys_s[rest]) > t[order[rest]] - lookback_ns
    out["customer_terminal_first_use"][order] = ~seen
