"""Features of a whole table of transactions, or of a time slice with the rest as history.

Vectorised numpy, no per-entity Python loop: one sort by ``(tx_datetime, transaction_id)``
(skipped when the input is already in that order); per entity a stable counting sort of the
time-ordered rows, window bounds by ``np.searchsorted`` on a sorted ``entity * span + time`` int64
key (``entity * n + time rank`` when that would overflow) and prefix sums: amounts centred per
entity (precise sums and a stable variance at any table size), label counts in integers (exact
counts and risks). Output rows are processed in cache-sized chunks so that temporaries stay small.
Every window group of the registry (:func:`fraud_core.features.registry.window_groups`) is
evaluated by the same code, whatever its entity.

Memory: a feature column takes memory only once written, so the stages are ordered to keep few
whole-table temporaries alive beside written columns, each freed after its last use: the time
column is read in place when it holds nanoseconds, row positions are int32 (up to 2**31 - 1
rows), the card stage runs first, then the terminal's CURRENT windows (the last use of the
amounts), first use, and the terminal's label windows. Under pandas Copy-on-Write (the default
from pandas 3.0) the output's key columns share the input's memory when the input is already in
(time, id) order, so only the features are new memory; otherwise they are copied, after the
temporaries are freed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pandas as pd

from fraud_core.columns import (
    CUSTOMER_ID,
    KEY_COLUMNS,
    TERMINAL_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
)
from fraud_core.features.config import DEFAULT_CONFIG, FeatureConfig, lookback_days
from fraud_core.features.frames import (
    AVG_FLOOR,
    MAX_INT32_ROWS,
    NS_PER_DAY,
    NS_PER_SECOND,
    VAR_PRIOR,
    calendar_features,
    empty_output,
    entity_codes,
    group_order,
    output_frame,
    prefix_sums,
    time_ns,
    time_order,
    to_utc_ns,
)
from fraud_core.features.registry import (
    AMOUNT_SQ_SUM,
    AMOUNT_SUM,
    FIRST_USE,
    NB_TX,
    SECONDS_SINCE_PREV_TX,
    Alignment,
    RowValues,
    Statistic,
    WindowGroup,
    feature_dtypes,
    label_values,
    window_groups,
)

__all__ = ["build_features"]

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
        for candidate in (NS_PER_SECOND, 1_000_000, 1_000):
            if not ((t - self.t0) % candidate).any():
                unit = candidate
                break
        self.unit = unit
        # key span per entity: every time plus the largest window offset fits below it
        self.span_units = (int(t[-1]) - self.t0) // unit + max_offset_ns // unit + 1

    def time_key_fits(self, ngroups: int) -> bool:
        """Whether entity * span + time fits in int64 (else ranks replace times in the key)."""
        return ngroups * self.span_units < 2**62


def _narrow_positions(positions: np.ndarray, n_rows: int) -> np.ndarray:
    """Positions of rows of an ``n_rows`` table as int32 when they fit (half int64's memory)."""
    return positions.astype(np.int32) if n_rows <= MAX_INT32_ROWS else positions


class _Entity:
    """One entity's rows in (entity, time, id) order, with window bounds for the output rows.

    ``order`` and ``codes_s`` are ``group_order``'s result. The sorted codes are needed by the
    amount windows, first use and "since previous"; :meth:`drop_codes` frees them once those
    are done when a time key alone answers ``after`` (8 bytes a row less in the label windows).
    """

    def __init__(self, tl: _Timeline, order: np.ndarray, codes_s: np.ndarray, ngroups: int) -> None:
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
        self.codes_s: np.ndarray = codes_s

    def drop_codes(self) -> None:
        """Free the sorted codes when the window searches do not need them (time keys)."""
        if self.by_time:
            del self.codes_s

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


class _AmountMoments:
    """Prefix sums of the amounts (and their squares) centred per entity, in entity order.

    Every prefix sum returns to about 0 at the end of each entity, so it stays small: precise
    window sums and a stable variance at any table size.
    """

    def __init__(
        self, ent: _Entity, codes: np.ndarray, ngroups: int, amount: np.ndarray, second: bool
    ) -> None:
        counts = np.maximum(np.bincount(codes, minlength=ngroups), 1)
        self.centre = np.asarray(np.bincount(codes, weights=amount, minlength=ngroups), np.float64)
        self.centre /= counts
        y = amount[ent.order]
        y -= self.centre[ent.codes_s]
        self.cs1 = prefix_sums(y, np.float64)
        self.sq_centre: np.ndarray | None = None
        self.cs2: np.ndarray | None = None
        if second:
            y *= y
            self.sq_centre = np.asarray(
                np.bincount(ent.codes_s, weights=y, minlength=ngroups), np.float64
            )
            self.sq_centre /= counts
            y -= self.sq_centre[ent.codes_s]
            self.cs2 = prefix_sums(y, np.float64)


class _Sums:
    """A group's window sums for one chunk of query rows: counts, amount moments, label counts."""

    def __init__(
        self,
        ent: _Entity,
        ks: np.ndarray,
        amount: np.ndarray,
        moments: _AmountMoments | None,
        counts: dict[str, np.ndarray],
    ) -> None:
        self.ks = ks
        self.end = ks + 1
        self.moments = moments
        self.counts = counts
        if moments is not None:
            codes_q = ent.codes_s[ks]
            self.centre_q = moments.centre[codes_q]
            self.sq_centre_q = None if moments.sq_centre is None else moments.sq_centre[codes_q]
            self.cs1_end = moments.cs1[self.end]
            self.amount_q = amount[ent.order[ks]]

    def current(self, statistic: Statistic, start: np.ndarray) -> np.ndarray:
        """A statistic of the CURRENT window [start, ks] (up to and including each row)."""
        if statistic is Statistic.COUNT:
            return self.end - start
        m = self.moments
        assert m is not None
        if statistic is Statistic.MEAN_AMOUNT:
            return self.centre_q + (self.cs1_end - m.cs1[start]) / (self.end - start)
        # the earlier transactions of the window: [start, ks)
        n_prev = self.ks - start
        s1 = m.cs1[self.ks] - m.cs1[start]
        mean_c = s1 / np.maximum(n_prev, 1)  # centred mean
        has_prev = n_prev > 0
        if statistic is Statistic.AMOUNT_TO_MEAN:
            return np.where(
                has_prev, self.amount_q / np.maximum(mean_c + self.centre_q, AVG_FLOOR), 1.0
            )
        assert statistic is Statistic.AMOUNT_ZSCORE
        assert m.cs2 is not None
        var = (m.cs2[self.ks] - m.cs2[start]) + n_prev * self.sq_centre_q - s1 * mean_c
        var /= np.maximum(n_prev - 1, 1)
        var[n_prev < 2] = 0.0
        np.maximum(var, 0.0, out=var)
        return np.where(
            has_prev, (self.amount_q - self.centre_q - mean_c) / np.sqrt(var + VAR_PRIOR), 0.0
        )

    def delayed(self, statistic: Statistic, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """A statistic of the DELAYED window [lo, hi) (never the row itself)."""
        if statistic is Statistic.COUNT:
            return hi - lo
        assert statistic is Statistic.FRAUD_RATE
        known, fraud = self.counts["nb_labelled"], self.counts["nb_fraud"]
        n_known = known[hi] - known[lo]
        n_fraud = fraud[hi] - fraud[lo]
        return np.divide(n_fraud, n_known, out=np.zeros(len(lo)), where=n_known > 0)


def _group_features(
    ent: _Entity,
    codes: np.ndarray,
    ngroups: int,
    group: WindowGroup,
    rows: RowValues,
    config: FeatureConfig,
    out: dict[str, np.ndarray],
) -> None:
    """Write the features of one window group (entity and alignment) for the output rows."""
    windows = group.windows(config)
    measures = {m for n in windows for m in group.measures(n, config)}
    moments = None
    if AMOUNT_SUM in measures or AMOUNT_SQ_SUM in measures:
        moments = _AmountMoments(ent, codes, ngroups, rows.amount, AMOUNT_SQ_SUM in measures)
    count_dtype = np.int32 if ent.tl.n <= MAX_INT32_ROWS else np.int64
    counts = {
        m.name: prefix_sums(m.values(rows)[ent.order], count_dtype)
        for m in measures
        if not m.is_float and m is not NB_TX  # counts of rows are index differences
    }
    d = config.label_delay_days
    for ks, dest in ent.chunks():
        sums = _Sums(ent, ks, rows.amount, moments, counts)
        if group.alignment is Alignment.DELAYED:
            hi = ent.after(ks, d * NS_PER_DAY)  # window [lo, hi): (t - n - d days, t - d days]
            np.minimum(hi, ks, out=hi)  # never the row itself nor later same-instant ones
        for n in windows:
            if group.alignment is Alignment.CURRENT:
                start = ent.after(ks, n * NS_PER_DAY)  # window [start, ks]: (t - n days, t]
                for name, feature in group.features(n, config):
                    out[name][dest] = sums.current(feature.statistic, start)
            else:
                lo = ent.after(ks, (n + d) * NS_PER_DAY)
                for name, feature in group.features(n, config):
                    out[name][dest] = sums.delayed(feature.statistic, lo, hi)


def _seconds_since_previous(
    ent: _Entity, config: FeatureConfig, out: dict[str, np.ndarray]
) -> None:
    """``customer_id_seconds_since_prev_tx`` from the cards' entity order."""
    cap_ns = lookback_days(config) * NS_PER_DAY
    since_out = out[SECONDS_SINCE_PREV_TX.name]
    for ks, dest in ent.chunks():
        since_out[dest] = ent.previous_gap_ns(ks, cap_ns) / NS_PER_SECOND


def _first_use_feature(
    tl: _Timeline,
    customer_codes: np.ndarray,
    customer_ngroups: int,
    terminal_order: np.ndarray,
    terminal_codes_s: np.ndarray,
    config: FeatureConfig,
    out: dict[str, np.ndarray],
) -> None:
    """``customer_terminal_first_use``, from the terminals' ``group_order`` (time order kept)."""
    # (customer, terminal, time, id) order: stable customer sort of the terminal order
    by_terminal = customer_codes[terminal_order]
    inner, cust_sorted = group_order(by_terminal, customer_ngroups)
    del by_terminal
    first_out = out[FIRST_USE.name]
    lookback_ns = lookback_days(config) * NS_PER_DAY
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


# --------------------------------------------------------------------------------------------
# public entry point


def build_features(
    transactions: pd.DataFrame,
    config: FeatureConfig = DEFAULT_CONFIG,
    *,
    start: pd.Timestamp | datetime | None = None,
    end: pd.Timestamp | datetime | None = None,
) -> pd.DataFrame:
    """Return key columns plus point-in-time features for the transactions in [start, end)."""
    missing = [c for c in KEY_COLUMNS if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack required columns: {missing}")
    start_ns = None if start is None else to_utc_ns(start)
    end_ns = None if end is None else to_utc_ns(end)
    if start_ns is not None and end_ns is not None and end_ns < start_ns:
        raise ValueError(f"end ({end}) is before start ({start})")
    if len(transactions) == 0:
        return empty_output(transactions, config)

    t = time_ns(transactions[TX_DATETIME], copy=False)
    order = time_order(transactions, t)
    if order is not None:
        t = t[order]
    a = 0 if start_ns is None else int(np.searchsorted(t, start_ns, side="left"))
    b = len(t) if end_ns is None else int(np.searchsorted(t, end_ns, side="left"))
    if b <= a:
        return empty_output(transactions, config)

    def column(name: str) -> pd.Series:
        col = transactions[name]
        return col if order is None else col.take(order)

    amount = column(TX_AMOUNT).to_numpy(dtype=np.float64)
    if not np.isfinite(amount).all():
        raise ValueError(f"{TX_AMOUNT} has missing or infinite values")
    known, fraud = label_values(column(TX_FRAUD))
    rows = RowValues(amount, known, fraud)

    tl = _Timeline(t, a, b, lookback_days(config) * NS_PER_DAY)
    out_len = b - a
    features = {name: np.empty(out_len, dtype=dt) for name, dt in feature_dtypes(config).items()}
    groups = {(g.entity, g.alignment): g for g in window_groups(config)}

    # stage order and the dels bound peak memory (module docstring)
    calendar_features(t[a:b], features)

    cust_codes, cust_n = entity_codes(column(CUSTOMER_ID), CUSTOMER_ID)
    cards = _Entity(tl, *group_order(cust_codes, cust_n), cust_n)
    for alignment in Alignment:
        if (CUSTOMER_ID, alignment) in groups:
            group = groups[CUSTOMER_ID, alignment]
            _group_features(cards, cust_codes, cust_n, group, rows, config, features)
    _seconds_since_previous(cards, config, features)
    del cards

    term_codes, term_n = entity_codes(column(TERMINAL_ID), TERMINAL_ID)
    terminals = _Entity(tl, *group_order(term_codes, term_n), term_n)
    if (TERMINAL_ID, Alignment.CURRENT) in groups:
        group = groups[TERMINAL_ID, Alignment.CURRENT]
        _group_features(terminals, term_codes, term_n, group, rows, config, features)
    del amount, rows, term_codes
    _first_use_feature(tl, cust_codes, cust_n, terminals.order, terminals.codes_s, config, features)
    del cust_codes
    terminals.drop_codes()
    if (TERMINAL_ID, Alignment.DELAYED) in groups:
        group = groups[TERMINAL_ID, Alignment.DELAYED]
        labels = RowValues(np.zeros(0), known, fraud)
        _group_features(terminals, np.zeros(0, np.int64), term_n, group, labels, config, features)
    del terminals, tl, t, known, fraud

    return output_frame(transactions, order, a, b, features, config)
