"""The feature registry: every feature defined once, everything else derived from it.

A *window feature family* (:class:`WindowAggregate`) says which entity it describes (the card or
the terminal), which window it looks through (:class:`Alignment`), and which statistics it reports
over each window (:class:`Statistic`). From the ordered :data:`FEATURE_LAYOUT` the library derives

* the feature names and dtypes (:func:`feature_columns`, :func:`feature_dtypes`), in a stable
  order (the model's feature order);
* the window groups (:func:`window_groups`): per entity and alignment, the measures
  (:class:`Measure`: count, amount sum, label counts, ...) each window must total;
* the columns of the day state and of the warehouse's window totals (:func:`state_column`),
  and the SQL expression of each measure (:attr:`Measure.sql`), which
  ``fraud_storage.window_totals`` renders for its engine;
* the per-day columns of the matured label table (:func:`matured_measures`);
* the words a reason code uses for a feature's value (:data:`STATISTIC_WORDS` for window
  features, :attr:`PointFeature.words` for the others, :data:`RAW_AMOUNT` for the amount).

Both kernels, the whole-table one (:func:`fraud_core.features.build_features`) and the one-day one
(:func:`fraud_core.features.build_day_features`), evaluate each statistic once, generically over
the entity and the window: adding a family that combines existing statistics is one entry in
:data:`FEATURE_LAYOUT` (plus its tests); a new statistic needs its formula in both kernels.

Window semantics, for a transaction at ``t`` (``n`` days, label delay ``d``, exact nanoseconds):

* :attr:`Alignment.CURRENT`: ``(t - n, t]``, the transaction itself included, later
  same-instant ones (larger ``transaction_id``) excluded;
* :attr:`Alignment.DELAYED`: ``(t - n - d, t - d]``, never the transaction itself nor later
  same-instant ones; only these windows may use labels (a label is known ``d`` days later).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from fraud_core.columns import CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT
from fraud_core.features.config import DEFAULT_CONFIG, FeatureConfig

__all__ = [
    "AMOUNT_SQ_SUM",
    "AMOUNT_SUM",
    "CUSTOMER_ACTIVITY",
    "CUSTOMER_AMOUNT_DEVIATION",
    "ENTITY_NOUNS",
    "FEATURE_LAYOUT",
    "FIRST_USE",
    "LAST_TX_NS",
    "NB_FRAUD",
    "NB_LABELLED",
    "NB_TX",
    "RAW_AMOUNT",
    "SECONDS_SINCE_PREV_TX",
    "STATISTIC_WORDS",
    "TERMINAL_RISK",
    "TERMINAL_SPEND",
    "TX_DURING_NIGHT",
    "TX_DURING_WEEKEND",
    "TX_HOUR",
    "Alignment",
    "Measure",
    "PointFeature",
    "RowValues",
    "Statistic",
    "WindowAggregate",
    "WindowFeature",
    "WindowGroup",
    "WindowValue",
    "feature_columns",
    "feature_dtypes",
    "matured_measures",
    "state_column",
    "window_groups",
]

INT8 = np.dtype(np.int8)
INT32 = np.dtype(np.int32)
INT64 = np.dtype(np.int64)
FLOAT64 = np.dtype(np.float64)

LAST_TX_NS = "last_tx_ns"
"""State column of the card window group: when the card was last seen (epoch ns)."""


class RowValues(NamedTuple):
    """Per-row inputs of the measures, in one row order."""

    amount: np.ndarray
    known: np.ndarray
    fraud: np.ndarray


@dataclass(frozen=True)
class Measure:
    """A per-transaction quantity that windows total: its name, dtype, values and SQL."""

    name: str
    dtype: np.dtype
    values: Callable[[RowValues], np.ndarray] = field(compare=False, repr=False)
    sql: str | None
    """Engine-neutral SQL over the validated transactions (``{tx_amount}`` is a column), or
    None for a label count: labels are totalled from the matured label table only."""

    @property
    def is_float(self) -> bool:
        """Whether the totals are floating point (summed with care for precision)."""
        return self.dtype.kind == "f"


NB_TX = Measure("nb_tx", INT64, lambda v: np.ones(len(v.amount), np.int64), "1")
AMOUNT_SUM = Measure("amount_sum", FLOAT64, lambda v: v.amount, f"{{{TX_AMOUNT}}}")
AMOUNT_SQ_SUM = Measure(
    "amount_sq_sum", FLOAT64, lambda v: v.amount * v.amount, f"{{{TX_AMOUNT}}} * {{{TX_AMOUNT}}}"
)
NB_LABELLED = Measure("nb_labelled", INT64, lambda v: v.known, None)
NB_FRAUD = Measure("nb_fraud", INT64, lambda v: v.fraud, None)


class Alignment(enum.Enum):
    """Where a window ends relative to the transaction."""

    CURRENT = "current"
    DELAYED = "delayed"


class Statistic(enum.Enum):
    """What a window feature reports; each kernel evaluates each statistic once."""

    COUNT = "count"
    """Transactions in the window (the transaction itself included for CURRENT windows)."""
    MEAN_AMOUNT = "mean_amount"
    """Mean amount of the window's transactions, the transaction itself included."""
    FRAUD_RATE = "fraud_rate"
    """Frauds / labelled transactions of the window; unknown labels count as neither; 0 when
    none is labelled."""
    AMOUNT_TO_MEAN = "amount_to_mean"
    """Amount / mean amount of the window's EARLIER transactions (mean floored at 1.0); 1.0 when
    there is none."""
    AMOUNT_ZSCORE = "amount_zscore"
    """(amount - mean) / sqrt(sample variance + 1) over the window's EARLIER transactions
    (variance 0 with fewer than two); 0 when there is none."""


STATISTIC_MEASURES: dict[Statistic, tuple[Measure, ...]] = {
    Statistic.COUNT: (NB_TX,),
    Statistic.MEAN_AMOUNT: (NB_TX, AMOUNT_SUM),
    Statistic.FRAUD_RATE: (NB_LABELLED, NB_FRAUD),
    Statistic.AMOUNT_TO_MEAN: (NB_TX, AMOUNT_SUM),
    Statistic.AMOUNT_ZSCORE: (NB_TX, AMOUNT_SUM, AMOUNT_SQ_SUM),
}
_ALIGNMENTS: dict[Statistic, frozenset[Alignment]] = {
    Statistic.COUNT: frozenset(Alignment),
    Statistic.MEAN_AMOUNT: frozenset({Alignment.CURRENT}),
    Statistic.FRAUD_RATE: frozenset({Alignment.DELAYED}),
    Statistic.AMOUNT_TO_MEAN: frozenset({Alignment.CURRENT}),
    Statistic.AMOUNT_ZSCORE: frozenset({Alignment.CURRENT}),
}
_ENTITIES = (CUSTOMER_ID, TERMINAL_ID)


@dataclass(frozen=True)
class WindowFeature:
    """One feature of a family: a name template with ``{n}`` (the window), a statistic, a dtype."""

    template: str
    statistic: Statistic
    dtype: np.dtype

    def name(self, n: int) -> str:
        """The column name of this feature for an ``n``-day window."""
        return self.template.format(n=n)


@dataclass(frozen=True)
class WindowAggregate:
    """A family of window features: one entity, one alignment, its statistics per window."""

    entity: str
    alignment: Alignment
    features: tuple[WindowFeature, ...]
    largest_window_only: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.entity not in _ENTITIES:
            raise ValueError(f"window features describe one of {_ENTITIES}, got {self.entity!r}")
        if self.alignment is Alignment.DELAYED and self.entity != TERMINAL_ID:
            raise ValueError(
                "delayed windows are totalled from the matured label table, which is per "
                f"{TERMINAL_ID}; got {self.entity!r}"
            )
        if not self.features:
            raise ValueError("a window family needs at least one feature")
        for feature in self.features:
            if "{n}" not in feature.template:
                raise ValueError(f"feature template {feature.template!r} lacks '{{n}}'")
            if self.alignment not in _ALIGNMENTS[feature.statistic]:
                raise ValueError(
                    f"{feature.template}: {feature.statistic.value} needs a "
                    f"{' or '.join(a.value for a in _ALIGNMENTS[feature.statistic])} window "
                    f"(labels only in delayed windows), got {self.alignment.value}"
                )

    def windows(self, config: FeatureConfig) -> tuple[int, ...]:
        """The windows this family reports, in days."""
        return (config.largest_window,) if self.largest_window_only else config.windows_days

    def columns(self, config: FeatureConfig) -> list[str]:
        """The family's feature columns: per window (ascending), each feature."""
        return [f.name(n) for n in self.windows(config) for f in self.features]


# --- words: what a feature's value means, for reason codes -------------------------------------
ENTITY_NOUNS: dict[str, str] = {CUSTOMER_ID: "card", TERMINAL_ID: "terminal"}
"""What an analyst calls the entity a window feature describes."""
_AT = {CUSTOMER_ID: "on the card", TERMINAL_ID: "at the terminal"}


class WindowValue(NamedTuple):
    """A window feature's value with what it is about: the words' input."""

    value: float
    entity: str
    alignment: Alignment
    n: int


def _transactions(count: float) -> str:
    return f"{count:,.0f} transaction{'' if round(count) == 1 else 's'}"


def _days(n: int) -> str:
    return f"{n} day{'' if n == 1 else 's'}"


def _count_words(w: WindowValue) -> str:
    if w.alignment is Alignment.DELAYED:
        return f"{_transactions(w.value)} {_AT[w.entity]} in its {w.n}-day risk window"
    return f"{_transactions(w.value)} {_AT[w.entity]} in {_days(w.n)}"


def _zscore_words(w: WindowValue) -> str:
    side = "above" if w.value >= 0 else "below"
    noun = ENTITY_NOUNS[w.entity]
    return f"amount {abs(w.value):.1f} standard deviations {side} the {noun}'s {w.n}-day mean"


STATISTIC_WORDS: dict[Statistic, Callable[[WindowValue], str]] = {
    Statistic.COUNT: _count_words,
    Statistic.MEAN_AMOUNT: lambda w: (
        f"the {ENTITY_NOUNS[w.entity]}'s {w.n}-day average amount {w.value:,.2f}"
    ),
    Statistic.FRAUD_RATE: lambda w: f"{ENTITY_NOUNS[w.entity]} risk {w.n}-day window {w.value:.2f}",
    Statistic.AMOUNT_TO_MEAN: lambda w: (
        f"amount {w.value:,.1f}x the {ENTITY_NOUNS[w.entity]}'s {w.n}-day average"
    ),
    Statistic.AMOUNT_ZSCORE: _zscore_words,
}
"""Each statistic's value in words, e.g. "amount 6.2x the card's 30-day average"."""


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


@dataclass(frozen=True)
class PointFeature:
    """A feature of the transaction itself or of its immediate past (not a window total)."""

    name: str
    dtype: np.dtype
    words: Callable[[float], str] | None = field(default=None, compare=False, repr=False)
    """The value in words, e.g. "at night (before 07:00 UTC)"; None: no words."""


CUSTOMER_ACTIVITY = WindowAggregate(
    CUSTOMER_ID,
    Alignment.CURRENT,
    (
        WindowFeature("customer_id_nb_tx_{n}day_window", Statistic.COUNT, INT32),
        WindowFeature("customer_id_avg_amount_{n}day_window", Statistic.MEAN_AMOUNT, FLOAT64),
    ),
    description="the card's spending: transactions and mean amount (handbook)",
)
TERMINAL_RISK = WindowAggregate(
    TERMINAL_ID,
    Alignment.DELAYED,
    (
        WindowFeature("terminal_id_nb_tx_{n}day_window", Statistic.COUNT, INT32),
        WindowFeature("terminal_id_risk_{n}day_window", Statistic.FRAUD_RATE, FLOAT64),
    ),
    description="the terminal's known fraud rate once labels are due (handbook)",
)
CUSTOMER_AMOUNT_DEVIATION = WindowAggregate(
    CUSTOMER_ID,
    Alignment.CURRENT,
    (
        WindowFeature("customer_id_amount_to_avg_{n}day_window", Statistic.AMOUNT_TO_MEAN, FLOAT64),
        WindowFeature("customer_id_amount_zscore_{n}day_window", Statistic.AMOUNT_ZSCORE, FLOAT64),
    ),
    largest_window_only=True,
    description="the amount against the card's own history (a stolen card's inflated spending)",
)
TERMINAL_SPEND = WindowAggregate(
    TERMINAL_ID,
    Alignment.CURRENT,
    (WindowFeature("terminal_id_avg_amount_{n}day_window", Statistic.MEAN_AMOUNT, FLOAT64),),
    description="the terminal's mean ticket (a compromised terminal's skewed amounts)",
)

RAW_AMOUNT = PointFeature(TX_AMOUNT, FLOAT64, lambda v: f"amount {v:,.2f}")
"""The transaction's amount: the model's first feature, read as is (not in the layout)."""
TX_DURING_WEEKEND = PointFeature(
    "tx_during_weekend", INT8, lambda v: "on a weekend" if v else "on a weekday"
)
"""1 on a Saturday or Sunday (UTC)."""
TX_DURING_NIGHT = PointFeature(
    "tx_during_night",
    INT8,
    lambda v: "at night (before 07:00 UTC)" if v else "in the daytime (07:00 UTC or later)",
)
"""1 when the hour of day (UTC) is at most 6."""
TX_HOUR = PointFeature("tx_hour", INT8, lambda v: f"at hour {v:.0f} (UTC)")
"""Hour of day, 0..23 (UTC)."""
SECONDS_SINCE_PREV_TX = PointFeature(
    "customer_id_seconds_since_prev_tx",
    FLOAT64,
    lambda v: f"{_duration(v)} since the card's previous transaction",
)
"""Seconds since the card's previous transaction, capped at the lookback (also when none)."""
FIRST_USE = PointFeature(
    "customer_terminal_first_use",
    INT8,
    lambda v: (
        "first use of the card at this terminal" if v else "card used at this terminal before"
    ),
)
"""1 when the card has no earlier transaction at this terminal within the lookback."""

FEATURE_LAYOUT: tuple[PointFeature | WindowAggregate, ...] = (
    TX_DURING_WEEKEND,
    TX_DURING_NIGHT,
    CUSTOMER_ACTIVITY,
    TERMINAL_RISK,
    TX_HOUR,
    SECONDS_SINCE_PREV_TX,
    CUSTOMER_AMOUNT_DEVIATION,
    FIRST_USE,
    TERMINAL_SPEND,
)
"""Every engineered feature, in the model's column order (the raw amount comes first)."""


def feature_dtypes(config: FeatureConfig = DEFAULT_CONFIG) -> dict[str, np.dtype]:
    """Return the engineered feature columns of ``config`` with their dtypes, in order."""
    out: dict[str, np.dtype] = {}
    for item in FEATURE_LAYOUT:
        if isinstance(item, PointFeature):
            out[item.name] = item.dtype
        else:
            for n in item.windows(config):
                out |= {f.name(n): f.dtype for f in item.features}
    return out


def feature_columns(config: FeatureConfig = DEFAULT_CONFIG) -> list[str]:
    """Return the model's feature column names for ``config``, in a stable order."""
    return [TX_AMOUNT, *feature_dtypes(config)]


def state_column(measure: Measure, n: int) -> str:
    """The state (and window totals) column of ``measure`` over the whole days of window ``n``."""
    return f"{measure.name}_{n}d"


@dataclass(frozen=True)
class WindowGroup:
    """The window families of one entity and alignment: what their windows must total."""

    entity: str
    alignment: Alignment
    aggregates: tuple[WindowAggregate, ...]

    @property
    def name(self) -> str:
        """``customer_current``, ``terminal_delayed``, ...: the group's key in states and totals."""
        return f"{self.entity.removesuffix('_id')}_{self.alignment.value}"

    @property
    def keeps_last_seen(self) -> bool:
        """Whether the group also records when each entity was last seen (the card's)."""
        return self.entity == CUSTOMER_ID and self.alignment is Alignment.CURRENT

    def windows(self, config: FeatureConfig) -> tuple[int, ...]:
        """The windows any family of the group reports, ascending."""
        return tuple(sorted({n for a in self.aggregates for n in a.windows(config)}))

    def features(self, n: int, config: FeatureConfig) -> list[tuple[str, WindowFeature]]:
        """(column, feature) of every family of the group that reports window ``n``."""
        return [
            (f.name(n), f) for a in self.aggregates if n in a.windows(config) for f in a.features
        ]

    def measures(self, n: int, config: FeatureConfig) -> tuple[Measure, ...]:
        """The measures window ``n`` must total, in a stable order (count first)."""
        needed = {m for _, f in self.features(n, config) for m in STATISTIC_MEASURES[f.statistic]}
        return tuple(m for m in _MEASURE_ORDER if m in needed)

    def state_windows(self, config: FeatureConfig) -> tuple[int, ...]:
        """Windows with whole days strictly inside them (a 1-day window has none)."""
        return tuple(n for n in self.windows(config) if n >= 2)

    def state_columns(self, config: FeatureConfig) -> dict[str, np.dtype]:
        """The state's columns: each measure over each window's whole days (+ last seen)."""
        cols = {
            state_column(m, n): m.dtype
            for n in self.state_windows(config)
            for m in self.measures(n, config)
        }
        if self.keeps_last_seen:
            cols[LAST_TX_NS] = INT64
        return cols


_MEASURE_ORDER = (NB_TX, AMOUNT_SUM, AMOUNT_SQ_SUM, NB_LABELLED, NB_FRAUD)


def window_groups(config: FeatureConfig = DEFAULT_CONFIG) -> list[WindowGroup]:
    """The window groups of the layout: card groups first, then terminal ones, CURRENT first.

    The card's CURRENT group is always there: it records when each card was last seen.
    """
    aggregates = [item for item in FEATURE_LAYOUT if isinstance(item, WindowAggregate)]
    keys = {(CUSTOMER_ID, Alignment.CURRENT)} | {(a.entity, a.alignment) for a in aggregates}
    order = [(e, al) for e in _ENTITIES for al in Alignment if (e, al) in keys]
    return [
        WindowGroup(e, al, tuple(a for a in aggregates if (a.entity, a.alignment) == (e, al)))
        for e, al in order
    ]


def delayed_group(config: FeatureConfig = DEFAULT_CONFIG) -> WindowGroup | None:
    """The terminal's DELAYED group (label windows), if the layout has one."""
    return next((g for g in window_groups(config) if g.alignment is Alignment.DELAYED), None)


def matured_measures(config: FeatureConfig = DEFAULT_CONFIG) -> tuple[Measure, ...]:
    """The per-terminal, per-day totals the matured label table keeps: the delayed measures."""
    group = delayed_group(config)
    if group is None:
        return ()
    needed = {m for n in group.windows(config) for m in group.measures(n, config)}
    return tuple(m for m in _MEASURE_ORDER if m in needed)


def label_values(labels: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(known, fraud) boolean masks of a nullable 0/1 label column (NA: not known yet)."""
    known = labels.notna().to_numpy()
    fraud = (labels.fillna(0).to_numpy() != 0) & known
    return known, fraud
