"""One day's features at a cost bounded by the day, not by the window length.

``build_features(history, start=day, end=day + 1)`` needs the ``L = max(window) + delay`` days
before the day as raw rows, and re-sorts all of them for every day. :func:`build_day_features`
computes the *same* output for one UTC day ``D`` from

* the day's own transactions;
* the raw rows of the **boundary days** only (:func:`fraud_core.features.boundary_days`);
* a :class:`fraud_core.features.WindowState` as of the start of ``D``: per entity the totals of
  each window group's measures over the *whole* days strictly inside each window, when each card
  was last seen, and when each (card, terminal) pair was last seen within ``L`` days.

Window decomposition, for a transaction at ``t`` in day ``D`` (whole days ``n`` and ``d``):

* CURRENT window ``(t - n, t]`` = rows of day ``D - n`` with time ``> t - n`` (boundary rows)
  + whole days ``D - n + 1 .. D - 1`` (state) + the day's rows up to this one in
  ``(tx_datetime, transaction_id)`` order;
* DELAYED window ``(t - n - d, t - d]``, ``d > 0`` = rows of day ``D - n - d`` with time
  ``> t - n - d`` + whole days ``D - n - d + 1 .. D - d - 1`` (state) + rows of day ``D - d``
  with time ``<= t - d``; with ``d = 0`` the last part is the day's rows *before* this one;
* seconds since the previous transaction: the day's previous row of the card, else the card's
  last-seen time (state), capped at ``L`` days;
* first use of a terminal: an earlier row of the pair in the day, else the pair's last-seen time
  ``> t - L`` (state).

Every count is an exact integer, so the integer features and the fraud rates are identical to
``build_features``; amount means, ratios and z-scores agree to float64 rounding (integer columns
exact, ``rtol=1e-9`` for floats). Every window group of the registry is evaluated by the same two
functions (CURRENT and DELAYED), whatever its entity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from fraud_core.columns import (
    CUSTOMER_ID,
    REQUIRED_COLUMNS,
    TERMINAL_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
)
from fraud_core.features.config import FeatureConfig, lookback_days
from fraud_core.features.frames import (
    AVG_FLOOR,
    NS_PER_DAY,
    NS_PER_SECOND,
    VAR_PRIOR,
    calendar_features,
    day_ns,
    empty_output,
    factorize,
    group_order,
    output_frame,
    require_columns,
    require_within_day,
    time_ns,
    time_order,
)
from fraud_core.features.registry import (
    AMOUNT_SQ_SUM,
    AMOUNT_SUM,
    FIRST_USE,
    LAST_TX_NS,
    NB_FRAUD,
    NB_LABELLED,
    NB_TX,
    SECONDS_SINCE_PREV_TX,
    Alignment,
    Measure,
    RowValues,
    Statistic,
    WindowGroup,
    feature_dtypes,
    label_values,
    state_column,
    window_groups,
)
from fraud_core.features.state import WindowState, boundary_days, pair_keys

__all__ = ["build_day_features"]


class _Groups:
    """Rows in time order grouped by entity code: positions, group bounds, precise partial sums."""

    def __init__(self, codes: np.ndarray, n_groups: int, t: np.ndarray) -> None:
        self.n = len(codes)
        self.t = t  # ascending
        self.order, self.codes_s = group_order(codes, n_groups)
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

    def entity(self, name: str) -> np.ndarray:
        """The ids of ``name`` (card or terminal) of the rows."""
        return self.customer if name == CUSTOMER_ID else self.terminal


class _Boundary:
    """One boundary day's rows of the entities active on the feature day, grouped by entity."""

    def __init__(self, rows: _DayRows, ids: np.ndarray, active: pd.Index) -> None:
        codes = active.get_indexer(pd.Index(ids, copy=False))
        self._mine = codes >= 0
        self._rows = rows
        self.groups = _Groups(codes[self._mine], len(active), rows.t[self._mine])

    def values(self, measure: Measure) -> np.ndarray:
        """A measure's values of the kept rows, in time order."""
        rows = self._rows
        kept = RowValues(rows.amount[self._mine], rows.known[self._mine], rows.fraud[self._mine])
        return measure.values(kept)


def _split_days(boundary: pd.DataFrame, days: list[date]) -> dict[date, _DayRows]:
    """Rows of each needed day, in time order."""
    require_columns(boundary, (TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_FRAUD))
    t = time_ns(boundary[TX_DATETIME]) if len(boundary) else np.zeros(0, np.int64)
    known, fraud = label_values(boundary[TX_FRAUD])
    rows = _DayRows(
        t,
        boundary[CUSTOMER_ID].to_numpy(),
        boundary[TERMINAL_ID].to_numpy(),
        boundary[TX_AMOUNT].to_numpy(dtype=np.float64),
        known,
        fraud,
    )
    if len(t) > 1 and (t[1:] < t[:-1]).any():
        rows = rows[np.argsort(t, kind="stable")]
    out = {}
    for k in days:
        lo = day_ns(k)
        a, b = np.searchsorted(rows.t, [lo, lo + NS_PER_DAY], side="left")
        out[k] = rows[a:b]
    return out


def _lookup(frame: pd.DataFrame, pos: np.ndarray, column: str) -> np.ndarray:
    """``column`` of ``frame`` at positions ``pos`` (0 where ``pos`` is -1: not in the state)."""
    values = frame[column].to_numpy()
    out = np.zeros(len(pos), dtype=values.dtype)
    found = pos >= 0
    out[found] = values[pos[found]]
    return out


def build_day_features(
    day_transactions: pd.DataFrame, state: WindowState, boundary: pd.DataFrame
) -> pd.DataFrame:
    """Return ``build_features``' output for the state's day from the day, state and boundary rows."""
    config, day = state.config, state.day
    require_columns(day_transactions, REQUIRED_COLUMNS)
    if len(day_transactions) == 0:
        return empty_output(day_transactions, config)
    t_all = time_ns(day_transactions[TX_DATETIME])
    require_within_day(t_all, day, "day_transactions")
    order = time_order(day_transactions, t_all)
    t = t_all if order is None else t_all[order]

    def column(name: str) -> pd.Series:
        col = day_transactions[name]
        return col if order is None else col.take(order)

    amount = column(TX_AMOUNT).to_numpy(dtype=np.float64)
    if not np.isfinite(amount).all():
        raise ValueError(f"{TX_AMOUNT} has missing or infinite values")
    rows = RowValues(amount, *label_values(column(TX_FRAUD)))
    out = {name: np.empty(len(t), dtype=dt) for name, dt in feature_dtypes(config).items()}
    calendar_features(t, out)

    by_day = _split_days(boundary, boundary_days(day, config))
    for entity in (CUSTOMER_ID, TERMINAL_ID):
        codes, ids = factorize(column(entity), entity)
        day_rows = _DayEntity(config, day, t, _Groups(codes, len(ids), t), ids, rows, by_day)
        for group in window_groups(config):
            if group.entity == entity:
                day_rows.group_features(group, state.group(group), out)
        if entity == CUSTOMER_ID:
            day_rows.seconds_since_previous(state, out)
    _day_first_use(config, t, column(CUSTOMER_ID), column(TERMINAL_ID), state, out)
    return output_frame(day_transactions, order, 0, len(t), out, config)


class _DayEntity:
    """The day's rows of one entity in (entity, time, id) order, and its boundary days."""

    def __init__(
        self,
        config: FeatureConfig,
        day: date,
        t: np.ndarray,
        cur: _Groups,
        ids: pd.Index,
        rows: RowValues,
        by_day: dict[date, _DayRows],
    ) -> None:
        self.config, self.day, self.t, self.cur, self.ids = config, day, t, cur, ids
        self.rows, self.by_day = rows, by_day
        self.ks = np.arange(cur.n)  # the day's rows in (entity, time, id) order
        self.dest = cur.order  # their positions in time order: the output positions
        self.c = cur.codes_s
        self.start = cur.start[self.c]
        self.amount_q = rows.amount[self.dest]

    def _boundary(self, days_back: int, entity: str) -> tuple[_Boundary, _Groups]:
        rows_b = self.by_day[self.day - timedelta(days=days_back)]
        bnd = _Boundary(rows_b, rows_b.entity(entity), self.ids)
        return bnd, bnd.groups

    def _sums(
        self, groups: _Groups, values: np.ndarray, lo: np.ndarray, hi: np.ndarray, float_: bool
    ) -> np.ndarray:
        """Per row: the sum of ``values`` (time order) over positions [lo, hi) of its entity."""
        if float_:
            return groups.float_sums(values).between(lo, hi, self.c)
        prefix = groups.int_prefix(values)
        return prefix[hi] - prefix[lo]

    def _add_state(self, totals: dict[Measure, np.ndarray], frame: pd.DataFrame, n: int) -> None:
        """Add the whole days inside window ``n`` (state) to ``totals``."""
        in_state = frame.index.get_indexer(self.ids)
        for m in totals:
            totals[m] = totals[m] + _lookup(frame, in_state, state_column(m, n))[self.c]

    def group_features(
        self, group: WindowGroup, frame: pd.DataFrame, out: dict[str, np.ndarray]
    ) -> None:
        """Write the features of one window group of this entity."""
        if group.alignment is Alignment.CURRENT:
            self._current(group, frame, out)
        else:
            self._delayed(group, frame, out)

    def _current(self, group: WindowGroup, frame: pd.DataFrame, out: dict[str, np.ndarray]) -> None:
        config, ks, start = self.config, self.ks, self.start
        all_measures = {m for n in group.windows(config) for m in group.measures(n, config)}
        # the entity's earlier rows of the day: [start, ks)
        earlier = {
            m: self._sums(self.cur, m.values(self.rows), start, ks, m.is_float)
            for m in sorted(all_measures, key=_MEASURES.index)
            if m is not NB_TX
        }
        earlier[NB_TX] = ks - start
        for n in group.windows(config):
            bnd, g = self._boundary(n, group.entity)
            lo = g.upto(self.c, self.t - n * NS_PER_DAY, self.dest)  # rows with time > t - n days
            hi = g.start[self.c + 1]
            totals = {NB_TX: earlier[NB_TX] + (hi - lo)}
            for m in group.measures(n, config):
                if m is not NB_TX:
                    totals[m] = earlier[m] + self._sums(g, bnd.values(m), lo, hi, m.is_float)
            if n >= 2:
                self._add_state(totals, frame, n)
            for name, feature in group.features(n, config):
                out[name][self.dest] = _current_statistic(feature.statistic, totals, self.amount_q)

    def _delayed(self, group: WindowGroup, frame: pd.DataFrame, out: dict[str, np.ndarray]) -> None:
        config, ks, d = self.config, self.ks, self.config.label_delay_days
        all_measures = {m for n in group.windows(config) for m in group.measures(n, config)}
        measures = [m for m in _MEASURES if m in all_measures and m is not NB_TX]
        # the near edge of every window: rows up to t - d days
        if d == 0:  # the day's rows before this one: [start, ks)
            near = {
                m: self._sums(self.cur, m.values(self.rows), self.start, ks, m.is_float)
                for m in measures
            }
            near[NB_TX] = ks - self.start
        else:  # rows of day D - d with time <= t - d days
            bnd, g = self._boundary(d, group.entity)
            first, upto = g.start[self.c], g.upto(self.c, self.t - d * NS_PER_DAY, self.dest)
            near = {m: self._sums(g, bnd.values(m), first, upto, m.is_float) for m in measures}
            near[NB_TX] = upto - first
        for n in group.windows(config):
            # the far edge: rows of day D - n - d with time > t - n - d days
            bnd, g = self._boundary(n + d, group.entity)
            lo, hi = g.upto(self.c, self.t - (n + d) * NS_PER_DAY, self.dest), g.start[self.c + 1]
            totals = {NB_TX: near[NB_TX] + (hi - lo)}
            for m in group.measures(n, config):
                if m is not NB_TX:
                    totals[m] = near[m] + self._sums(g, bnd.values(m), lo, hi, m.is_float)
            if n >= 2:  # the whole days in between
                self._add_state(totals, frame, n)
            for name, feature in group.features(n, config):
                out[name][self.dest] = _delayed_statistic(feature.statistic, totals)

    def seconds_since_previous(self, state: WindowState, out: dict[str, np.ndarray]) -> None:
        """``customer_id_seconds_since_prev_tx``: the day's previous row, else the last seen."""
        groups = [g for g in window_groups(self.config) if g.keeps_last_seen]
        frame = state.group(groups[0])
        in_state = frame.index.get_indexer(self.ids)
        cap = lookback_days(self.config) * NS_PER_DAY
        t_q = self.t[self.dest]
        prev_t = np.roll(t_q, 1)
        first_today = self.ks == self.start
        last_seen = _lookup(frame, in_state, LAST_TX_NS)[self.c]
        prev_t[first_today] = last_seen[first_today]
        gap = t_q - prev_t
        gap[first_today & (in_state[self.c] < 0)] = cap  # never seen within the lookback
        np.minimum(gap, cap, out=gap)
        out[SECONDS_SINCE_PREV_TX.name][self.dest] = gap / NS_PER_SECOND


_MEASURES = (NB_TX, AMOUNT_SUM, AMOUNT_SQ_SUM, NB_LABELLED, NB_FRAUD)


def _current_statistic(
    statistic: Statistic, totals: dict[Measure, np.ndarray], amount: np.ndarray
) -> np.ndarray:
    """A statistic of CURRENT windows from the totals of the EARLIER rows and the row's amount."""
    e_n = totals[NB_TX]
    if statistic is Statistic.COUNT:
        return e_n + 1
    e_s1 = totals[AMOUNT_SUM]
    if statistic is Statistic.MEAN_AMOUNT:
        return (e_s1 + amount) / (e_n + 1)
    has_prev = e_n > 0
    mean = e_s1 / np.maximum(e_n, 1)
    if statistic is Statistic.AMOUNT_TO_MEAN:
        return np.where(has_prev, amount / np.maximum(mean, AVG_FLOOR), 1.0)
    assert statistic is Statistic.AMOUNT_ZSCORE
    var = (totals[AMOUNT_SQ_SUM] - e_s1 * mean) / np.maximum(e_n - 1, 1)
    var[e_n < 2] = 0.0
    np.maximum(var, 0.0, out=var)
    return np.where(has_prev, (amount - mean) / np.sqrt(var + VAR_PRIOR), 0.0)


def _delayed_statistic(statistic: Statistic, totals: dict[Measure, np.ndarray]) -> np.ndarray:
    """A statistic of DELAYED windows from the window's totals."""
    if statistic is Statistic.COUNT:
        return totals[NB_TX]
    assert statistic is Statistic.FRAUD_RATE
    n_known, n_fraud = totals[NB_LABELLED], totals[NB_FRAUD]
    return np.divide(n_fraud, n_known, out=np.zeros(len(n_known)), where=n_known > 0)


def _day_first_use(
    config: FeatureConfig,
    t: np.ndarray,
    customer: pd.Series,
    terminal: pd.Series,
    state: WindowState,
    out: dict[str, np.ndarray],
) -> None:
    """``customer_terminal_first_use`` of the day's rows (time order) from the pair table."""
    table = state.pairs
    keys = pair_keys(customer, terminal, like=table)
    if keys.dtype.kind == "O":
        table = table.as_object_keys()
    # (pair, time, id) order: a stable sort of the time-ordered rows by pair key
    order = np.argsort(keys, kind="stable")
    keys_s = keys[order]
    seen = np.r_[False, keys_s[1:] == keys_s[:-1]]  # an earlier row of the pair today
    rest = np.flatnonzero(~seen)
    lookback_ns = lookback_days(config) * NS_PER_DAY
    seen[rest] = table.lookup(keys_s[rest]) > t[order[rest]] - lookback_ns
    out[FIRST_USE.name][order] = ~seen
