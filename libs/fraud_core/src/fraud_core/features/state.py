"""The window state of a day: per-entity totals of the whole days inside each window.

A day's features (:func:`fraud_core.features.build_day_features`) need, besides the day's own
rows and those of a few boundary days, per entity the totals of every window group's measures
over the *whole* days strictly inside each window, when each card was last seen, and when each
(card, terminal) pair was last seen within the lookback. A warehouse computes those totals for
the entities active on the day (:func:`window_totals_request` says which, derived from the
registry; ``fraud_storage.window_totals`` renders the SQL), and :func:`state_from_totals` turns
them into a :class:`WindowState`.

Day arithmetic, for the state of day ``D`` (label delay ``d``, window ``n``):

* CURRENT group, window ``n >= 2``: days ``D - n + 1 .. D - 1``, from the validated transactions;
* DELAYED group, window ``n >= 2``: days ``D - n - d + 1 .. D - d - 1``, from the matured label
  table, whose partition ``X`` holds the per-terminal totals of day ``X - d - 1`` with the labels
  known on ``X`` (:func:`labels_due_on`);
* last seen: days ``D - L .. D - 1`` (``L`` the lookback).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from fraud_core.columns import (
    CUSTOMER_ID,
    LAST_TX_DATETIME,
    TERMINAL_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
)
from fraud_core.features.config import FeatureConfig, lookback_days
from fraud_core.features.frames import (
    NS_PER_DAY,
    as_day,
    day_ns,
    factorize,
    require_columns,
    require_within_day,
    time_ns,
)
from fraud_core.features.registry import (
    LAST_TX_NS,
    Alignment,
    Measure,
    RowValues,
    WindowGroup,
    delayed_group,
    label_values,
    matured_measures,
    state_column,
    window_groups,
)

__all__ = [
    "GroupTotalsRequest",
    "PairTable",
    "TotalsSource",
    "WindowState",
    "WindowTotal",
    "WindowTotals",
    "WindowTotalsRequest",
    "boundary_days",
    "empty_totals",
    "labels_due_days",
    "labels_due_on",
    "matured_totals",
    "state_from_totals",
    "window_totals_from_rows",
    "window_totals_request",
]


# --------------------------------------------------------------------------------------------
# which days


def boundary_days(day: date, config: FeatureConfig) -> list[date]:
    """Return the days whose raw rows ``build_day_features`` needs besides ``day`` itself.

    For each window ``n`` the day where a window starts part-way through a day (``D - n``, or
    ``D - n - d`` for delayed windows), and ``D - d`` where delayed windows end part-way through
    a day: at most ``2 * len(windows) + 1`` days, whatever the window lengths.
    """
    day = as_day(day)
    d = config.label_delay_days
    offsets: set[int] = set()
    for group in window_groups(config):
        if group.alignment is Alignment.CURRENT:
            offsets |= set(group.windows(config))
        else:
            offsets |= {n + d for n in group.windows(config)}
            if d > 0:
                offsets.add(d)
    return sorted(day - timedelta(days=k) for k in offsets)


def labels_due_on(day: date, config: FeatureConfig) -> date:
    """Return the day whose features first count the labels of ``day`` as a whole day.

    That is ``day + d + 1``: the delayed windows of day ``D`` cover the whole days up to
    ``D - d - 1``; the labels of ``day`` are due (label delay ``d``) by then.
    """
    return as_day(day) + timedelta(days=config.label_delay_days + 1)


def labels_due_days(day: date, config: FeatureConfig) -> list[date]:
    """Return the due days (:func:`labels_due_on`) of every whole day the state of ``day`` counts."""
    group = delayed_group(config)
    if group is None or not group.state_windows(config):
        return []
    day = as_day(day)
    first_whole = day - timedelta(
        days=max(group.state_windows(config)) + config.label_delay_days - 1
    )
    first = labels_due_on(first_whole, config)
    return [first + timedelta(days=i) for i in range((day - first).days + 1)]


# --------------------------------------------------------------------------------------------
# what a warehouse totals


class TotalsSource(enum.Enum):
    """Where a group's whole-day totals come from."""

    VALIDATED = "validated"
    """The validated transactions (partitioned by transaction day)."""
    MATURED = "matured"
    """The matured label table (per terminal and transaction day, labels counted when due)."""


@dataclass(frozen=True)
class WindowTotal:
    """One total of a group: ``measure`` summed over the whole days from ``first_day`` on."""

    column: str
    measure: Measure
    first_day: date


@dataclass(frozen=True)
class GroupTotalsRequest:
    """The totals of one window group, per entity active on the day, over days [first, end)."""

    group: str
    entity: str
    source: TotalsSource
    first_day: date
    end_day: date
    totals: tuple[WindowTotal, ...]
    last_seen: bool
    """Also the entity's latest ``tx_datetime`` of the range (``last_tx_datetime``)."""

    def __post_init__(self) -> None:
        if any(t.first_day < self.first_day for t in self.totals):
            raise ValueError(f"{self.group}: every window must start on or after {self.first_day}")
        if self.source is TotalsSource.VALIDATED and any(
            t.measure.sql is None for t in self.totals
        ):
            raise ValueError(f"{self.group}: label counts come from the matured label table only")

    def columns(self) -> list[str]:
        """The columns of the returned frame."""
        return [self.entity, *(t.column for t in self.totals)] + (
            [LAST_TX_DATETIME] if self.last_seen else []
        )


@dataclass(frozen=True)
class WindowTotalsRequest:
    """Everything the state of ``day`` needs from a warehouse: group totals and pair last-seen."""

    day: date
    lookback_start: date
    groups: tuple[GroupTotalsRequest, ...]


@dataclass(frozen=True)
class WindowTotals:
    """A warehouse's answer to a :class:`WindowTotalsRequest`: one frame per group, and pairs.

    Pairs: ``customer_id``, ``terminal_id``, ``last_tx_datetime`` over the lookback. Entities
    without history are absent.
    """

    groups: Mapping[str, pd.DataFrame]
    pairs: pd.DataFrame


PAIR_COLUMNS = (CUSTOMER_ID, TERMINAL_ID, LAST_TX_DATETIME)


def _group_request(day: date, config: FeatureConfig, group: WindowGroup) -> GroupTotalsRequest:
    d = config.label_delay_days
    lookback_start = day - timedelta(days=lookback_days(config))
    if group.alignment is Alignment.CURRENT:
        end, shift, source = day, 0, TotalsSource.VALIDATED
    else:
        end, shift, source = day - timedelta(days=d), d, TotalsSource.MATURED
    totals = tuple(
        WindowTotal(state_column(m, n), m, day - timedelta(days=n + shift - 1))
        for n in group.state_windows(config)
        for m in group.measures(n, config)
    )
    first = lookback_start if group.keeps_last_seen else min(t.first_day for t in totals)
    return GroupTotalsRequest(
        group.name, group.entity, source, first, end, totals, group.keeps_last_seen
    )


def window_totals_request(day: date, config: FeatureConfig) -> WindowTotalsRequest:
    """Return the whole-day totals the state of ``day`` is made of, derived from the registry."""
    day = as_day(day)
    groups = tuple(
        _group_request(day, config, g)
        for g in window_groups(config)
        if g.state_windows(config) or g.keeps_last_seen
    )
    return WindowTotalsRequest(day, day - timedelta(days=lookback_days(config)), groups)


def empty_totals(request: WindowTotalsRequest) -> WindowTotals:
    """The totals when there is no history yet: no entity has any."""
    return WindowTotals(
        groups={g.group: pd.DataFrame(columns=g.columns()) for g in request.groups},
        pairs=pd.DataFrame(columns=list(PAIR_COLUMNS)),
    )


def window_totals_from_rows(
    transactions: pd.DataFrame, day: date, config: FeatureConfig
) -> WindowTotals:
    """Return the window totals of ``day`` computed in memory from raw transactions.

    The in-memory equivalent of ``Warehouse.entity_window_totals`` for a service that keeps its
    recent history in memory, and the specification its SQL is tested against. Labels are
    those ``transactions`` holds (a warehouse counts them as known when they were due).
    """
    day = as_day(day)
    require_columns(transactions, (TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_FRAUD))
    request = window_totals_request(day, config)
    t = time_ns(transactions[TX_DATETIME]) if len(transactions) else np.zeros(0, np.int64)
    k = (t - day_ns(day)) // NS_PER_DAY  # days relative to ``day``
    rows = RowValues(
        transactions[TX_AMOUNT].to_numpy(np.float64), *label_values(transactions[TX_FRAUD])
    )
    today = k == 0

    def offset(value: date) -> int:
        return (value - day).days

    groups = {}
    for group in request.groups:
        ids = transactions[group.entity].to_numpy()
        active = np.isin(ids, ids[today])
        sel = active & (k >= offset(group.first_day)) & (k < offset(group.end_day))
        keys = pd.Index(ids[sel], name=group.entity)
        frame = pd.DataFrame(index=keys.unique())
        for total in group.totals:
            values = np.where(k[sel] >= offset(total.first_day), total.measure.values(rows)[sel], 0)
            frame[total.column] = pd.Series(values.astype(total.measure.dtype)).groupby(keys).sum()
        if group.last_seen:
            frame[LAST_TX_DATETIME] = transactions[TX_DATETIME][sel].groupby(keys).max()
        groups[group.group] = frame.reset_index()
    in_lookback = (k >= offset(request.lookback_start)) & (k < 0)
    history = transactions.loc[in_lookback, [CUSTOMER_ID, TERMINAL_ID, TX_DATETIME]]
    active_pairs = transactions.loc[today, [CUSTOMER_ID, TERMINAL_ID]].drop_duplicates()
    pairs = (
        history.merge(active_pairs, on=[CUSTOMER_ID, TERMINAL_ID])
        .groupby([CUSTOMER_ID, TERMINAL_ID], as_index=False)
        .agg(**{LAST_TX_DATETIME: (TX_DATETIME, "max")})
    )
    return WindowTotals(groups, pairs)


def matured_totals(transactions: pd.DataFrame, day: date, config: FeatureConfig) -> pd.DataFrame:
    """Return per terminal of one day's transactions the totals its delayed windows add.

    Columns ``terminal_id`` and the delayed measures (:func:`registry.matured_measures`:
    ``nb_tx``, ``nb_labelled``, ``nb_fraud`` by default), labels as ``transactions`` holds them:
    one day of the matured label table.
    """
    day = as_day(day)
    require_columns(transactions, (TX_DATETIME, TERMINAL_ID, TX_FRAUD))
    t = time_ns(transactions[TX_DATETIME]) if len(transactions) else np.zeros(0, np.int64)
    require_within_day(t, day, "transactions")
    measures = matured_measures(config)
    if any(m.is_float for m in measures):
        require_columns(transactions, (TX_AMOUNT,))
    codes, ids = factorize(transactions[TERMINAL_ID], TERMINAL_ID)
    known, fraud = label_values(transactions[TX_FRAUD])
    amount = (
        transactions[TX_AMOUNT].to_numpy(np.float64)
        if TX_AMOUNT in transactions
        else np.zeros(len(transactions))
    )
    rows = RowValues(amount, known, fraud)
    out = pd.DataFrame({TERMINAL_ID: ids})
    for m in measures:
        out[m.name] = np.bincount(codes, weights=m.values(rows), minlength=len(ids)).astype(m.dtype)
    return out


# --------------------------------------------------------------------------------------------
# the state


@dataclass(frozen=True)
class WindowState:
    """Per-entity totals of the whole days inside each window, as of the start of ``day``.

    ``groups`` maps a window group's name (``customer_current``, ``terminal_delayed``, ...) to a
    frame indexed by entity id with the group's state columns
    (:meth:`registry.WindowGroup.state_columns`; the card group also ``last_tx_ns``);
    ``pairs``: when each (card, terminal) pair was last seen since ``day - L``.
    """

    day: date
    config: FeatureConfig
    groups: Mapping[str, pd.DataFrame]
    pairs: PairTable

    def group(self, group: WindowGroup) -> pd.DataFrame:
        """The state frame of ``group`` (empty with its columns when nothing was totalled)."""
        frame = self.groups.get(group.name)
        if frame is None:
            frame = _state_frame({}, group.state_columns(self.config), group.entity)
        return frame


def _instant_ns(values: pd.Series) -> np.ndarray:
    """Timestamps (naive ones being UTC) as int64 nanoseconds since the epoch."""
    ts = pd.to_datetime(values, utc=True)
    return ts.dt.as_unit("ns").astype(np.int64).to_numpy() if len(ts) else np.zeros(0, np.int64)


def state_from_totals(day: date, config: FeatureConfig, totals: WindowTotals) -> WindowState:
    """Return the state of ``day`` from the totals of :func:`window_totals_request`."""
    day = as_day(day)
    request = window_totals_request(day, config)
    built = {}
    for req in request.groups:
        group = next(g for g in window_groups(config) if g.name == req.group)
        frame = totals.groups.get(req.group)
        if frame is None:
            frame = pd.DataFrame(columns=req.columns())
        missing = [c for c in req.columns() if c not in frame.columns]
        if missing:
            raise ValueError(
                f"{req.group} totals lack columns {missing}; found {list(frame.columns)}"
            )
        key = req.entity
        if frame[key].isna().any() or frame[key].duplicated().any():
            raise ValueError(f"{req.group} totals must have one row per non-null {key}")
        index = pd.Index(frame[key].to_numpy(), name=key)
        columns = {t.column: pd.Series(frame[t.column].to_numpy(), index) for t in req.totals}
        if req.last_seen:
            columns[LAST_TX_NS] = pd.Series(_instant_ns(frame[LAST_TX_DATETIME]), index)
        built[req.group] = _state_frame(columns, group.state_columns(config), key)
    missing = [c for c in PAIR_COLUMNS if c not in totals.pairs.columns]
    if missing:
        raise ValueError(f"pair totals lack columns {missing}; found {list(totals.pairs.columns)}")
    pairs = totals.pairs
    keys = pair_keys(pairs[CUSTOMER_ID], pairs[TERMINAL_ID])
    table = PairTable.from_pairs(keys, _instant_ns(pairs[LAST_TX_DATETIME]))
    return WindowState(day, config, built, table)


def _state_frame(
    columns: dict[str, pd.Series], dtypes: Mapping[str, np.dtype], index_name: str
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


# --------------------------------------------------------------------------------------------
# (card, terminal) pairs


class PairTable:
    """When each (card, terminal) pair was last seen: sorted unique keys, looked up by search."""

    def __init__(self, keys: np.ndarray, last: np.ndarray) -> None:
        self.keys = keys
        self.last = last

    @classmethod
    def from_pairs(cls, keys: np.ndarray, last: np.ndarray) -> PairTable:
        """A table from unsorted keys (duplicates keep their latest time)."""
        if len(keys) == 0:
            return cls(keys, last)
        if keys.dtype.kind != "O":
            order = np.lexsort((last, keys))
        else:
            order = np.array(sorted(range(len(keys)), key=lambda i: (keys[i], last[i])), int)
        keys, last = keys[order], last[order]
        is_last = np.r_[keys[1:] != keys[:-1], True]
        return cls(keys[is_last], last[is_last])

    @property
    def key_dtype(self) -> np.dtype:
        """The dtype of the keys (int64 packed ids, or object tuples)."""
        return self.keys.dtype

    def __len__(self) -> int:
        return len(self.keys)

    def as_object_keys(self) -> PairTable:
        """The same table with tuple keys (when new ids cannot be packed)."""
        if self.key_dtype.kind == "O":
            return self
        return PairTable(_as_object_keys(self.keys), self.last)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Per key: when the pair was last seen (int64 min when never)."""
        out = np.full(len(keys), np.iinfo(np.int64).min, dtype=np.int64)
        if len(self.keys) == 0 or len(keys) == 0:
            return out
        pos = np.searchsorted(self.keys, keys)
        np.minimum(pos, len(self.keys) - 1, out=pos)
        found = self.keys[pos] == keys
        out[found] = self.last[pos[found]]
        return out


def pair_keys(
    customer: pd.Series, terminal: pd.Series, like: PairTable | None = None
) -> np.ndarray:
    """Sortable keys of (card, terminal): packed int64 when both ids fit, else tuples."""
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
    c, m = keys >> 32, keys & 0xFFFFFFFF
    out = np.empty(len(keys), dtype=object)
    out[:] = list(zip(c.tolist(), m.tolist(), strict=True))
    return out
