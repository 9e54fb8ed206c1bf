"""Drift of a monitored day against the days before it: the drift table and the per-day records.

:func:`drift_table` gives the PSI (:mod:`fraud_core.monitoring.psi`) of many columns at once.
:class:`ScoreDrift` and :class:`FeatureDrift` are one day's rows of the score drift and feature
drift tables: the day's sample against a :class:`Reference` of the ``n`` days before it (each
day sampled deterministically), computed only when both samples hold at least ``min_rows`` rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from fraud_core.columns import (
    CUSTOMER_ID,
    FRAUD_SCORE,
    MODEL_VERSION,
    PARTITION_DATE,
    PIPELINE_SHAPE,
    TERMINAL_ID,
    TRANSACTION_ID,
    TX_DATETIME,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
)
from fraud_core.monitoring.psi import (
    DEFAULT_EPSILON,
    DEFAULT_N_BINS,
    DEFAULT_PSI_THRESHOLD,
    PsiResult,
    population_stability_index,
    sample_values,
)
from fraud_core.monitoring.reporting import (
    NOT_COMPUTED,
    Metadata,
    markdown_table,
    optional_number,
    stored_number,
)

__all__ = [
    "DAY_CONSTANT_FEATURES",
    "DRIFT_COLUMNS",
    "NON_FEATURE_COLUMNS",
    "DriftSettings",
    "FeatureDrift",
    "Reference",
    "ReferenceWindow",
    "ScoreDrift",
    "drift_table",
    "not_computed_drift_table",
    "numeric_feature_columns",
    "reference_days",
    "sample_reference_day",
    "tracked_features",
]

NON_FEATURE_COLUMNS: frozenset[str] = frozenset(
    {
        TRANSACTION_ID,
        TX_DATETIME,
        CUSTOMER_ID,
        TERMINAL_ID,
        TX_FRAUD,
        TX_FRAUD_SCENARIO,
        FRAUD_SCORE,
        MODEL_VERSION,
        PARTITION_DATE,
        PIPELINE_SHAPE,
    }
)
"""Columns of the feature and score tables that are keys, labels or bookkeeping, never features."""

DAY_CONSTANT_FEATURES: frozenset[str] = frozenset({"tx_during_weekend"})
"""Calendar features constant within a day: their PSI against a window of other days measures the
calendar, not drift, so :func:`numeric_feature_columns` leaves them out."""

TOP_FEATURES = 10
"""Features listed in the feature drift's Markdown table."""


# --------------------------------------------------------------------------------------------
# Drift table
# --------------------------------------------------------------------------------------------


def numeric_feature_columns(frame: pd.DataFrame) -> list[str]:
    """The numeric feature columns of ``frame`` worth a daily PSI.

    Keys, labels and bookkeeping (:data:`NON_FEATURE_COLUMNS`), calendar features constant
    within a day (:data:`DAY_CONSTANT_FEATURES`) and dunder columns (``__index_level_0__``, a
    pandas index that a pyarrow round trip may have stored) are left out.
    """
    return [
        c
        for c in frame.columns
        if c not in NON_FEATURE_COLUMNS
        and c not in DAY_CONSTANT_FEATURES
        and not str(c).startswith("__")
        and (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]


DRIFT_COLUMNS = [
    "column",
    "psi",
    "drifted",
    "n_bins",
    "n_reference",
    "n_actual",
    "reference_mean",
    "actual_mean",
    "reference_missing_share",
    "actual_missing_share",
]
"""The columns of :func:`drift_table` (and :func:`not_computed_drift_table`), in order."""


def _mean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if (~np.isnan(values)).any() else math.nan


def drift_table(
    reference: pd.DataFrame,
    actual: pd.DataFrame,
    columns: Iterable[str] | None = None,
    *,
    n_bins: int = DEFAULT_N_BINS,
    epsilon: float = DEFAULT_EPSILON,
    threshold: float = DEFAULT_PSI_THRESHOLD,
) -> pd.DataFrame:
    """PSI of each column (default: every numeric feature of ``actual``), highest drift first."""
    names = list(columns) if columns is not None else numeric_feature_columns(actual)
    missing = [c for c in names if c not in reference.columns or c not in actual.columns]
    if missing:
        raise ValueError(f"drift_table: columns missing from the reference or actual: {missing}")
    rows = []
    for name in names:
        ref = sample_values(reference[name].astype("float64"), f"reference {name!r}")
        act = sample_values(actual[name].astype("float64"), f"actual {name!r}")
        result = population_stability_index(ref, act, n_bins=n_bins, epsilon=epsilon)
        rows.append(
            {
                "column": name,
                "psi": result.psi,
                "drifted": result.psi > threshold,
                "n_bins": result.n_bins,
                "n_reference": result.n_reference,
                "n_actual": result.n_actual,
                "reference_mean": _mean(ref),
                "actual_mean": _mean(act),
                "reference_missing_share": float(np.isnan(ref).mean()),
                "actual_missing_share": float(np.isnan(act).mean()),
            }
        )
    frame = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    return frame.sort_values(
        ["psi", "column"], ascending=[False, True], kind="mergesort"
    ).reset_index(drop=True)


def not_computed_drift_table(
    actual: pd.DataFrame, columns: Sequence[str], *, n_reference: int
) -> pd.DataFrame:
    """The drift table's shape when the PSI is not computed: the day's side only, no drift."""
    return pd.DataFrame(
        {
            "column": list(columns),
            "psi": np.nan,
            "drifted": False,
            "n_bins": 0,
            "n_reference": n_reference,
            "n_actual": len(actual),
            "reference_mean": np.nan,
            "actual_mean": [stored_number(actual[c].astype("float64").mean()) for c in columns],
            "reference_missing_share": np.nan,
            "actual_missing_share": [float(actual[c].isna().mean()) for c in columns],
        },
        columns=DRIFT_COLUMNS,
    )


# --------------------------------------------------------------------------------------------
# Reference window
# --------------------------------------------------------------------------------------------


def reference_days(day: date, n_days: int) -> list[date]:
    """The ``n_days`` days before ``day``, oldest first: the days of its PSI reference."""
    return [day - timedelta(days=offset) for offset in range(n_days, 0, -1)]


def sample_reference_day(rows: pd.DataFrame, day: date, per_day: int) -> pd.DataFrame:
    """At most ``per_day`` of one reference day's rows (0: all of them), the same on every run."""
    if per_day and len(rows) > per_day:  # seeded by the day, so a re-run gives the same PSI
        return rows.sample(n=per_day, random_state=day.toordinal())
    return rows


@dataclass(frozen=True)
class ReferenceWindow:
    """The days a PSI reference spans, and how many of them had rows."""

    first_day: date
    last_day: date
    days_with_data: int

    def describe(self, what: str) -> str:
        """``'<first> .. <last> (<n> days with <what>)'``."""
        return f"{self.first_day} .. {self.last_day} ({self.days_with_data} days with {what})"


@dataclass(frozen=True, eq=False)
class Reference:
    """The (sampled) rows of the days before a monitored day, and the window they come from."""

    rows: pd.DataFrame
    window: ReferenceWindow

    @classmethod
    def before(
        cls,
        day: date,
        n_days: int,
        samples: Mapping[date, pd.DataFrame],
        columns: Sequence[str],
    ) -> Reference:
        """The reference of ``day`` from its ``n_days`` days' rows (days without rows skipped)."""
        if n_days < 1:
            raise ValueError(f"a reference spans at least one day, got {n_days}")
        days = reference_days(day, n_days)
        outside = sorted(set(samples) - set(days))
        if outside:
            raise ValueError(f"reference of {day}: {outside} lie outside its {n_days} days")
        parts = [samples[d] for d in days if d in samples and not samples[d].empty]
        rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(columns))
        return cls(rows, ReferenceWindow(days[0], days[-1], len(parts)))


@dataclass(frozen=True)
class DriftSettings:
    """How a day's PSI is computed and judged."""

    n_bins: int = DEFAULT_N_BINS
    epsilon: float = DEFAULT_EPSILON
    threshold: float = DEFAULT_PSI_THRESHOLD
    """PSI above this is drift."""
    min_rows: int = 100
    """Fewer reference or day rows than this (and always at least one of each): not computed."""

    def enough_rows(self, n_reference: int, n_actual: int) -> bool:
        """Whether both samples are large enough for a PSI."""
        return min(n_reference, n_actual) >= max(self.min_rows, 1)


# --------------------------------------------------------------------------------------------
# Score drift
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreDrift:
    """A day's score PSI against its reference: one row of the score drift table."""

    day: date
    result: PsiResult | None
    """``None`` when not computed (too few reference or day rows)."""
    settings: DriftSettings
    window: ReferenceWindow
    n_actual: int
    n_reference: int
    actual_mean: float
    reference_mean: float

    @classmethod
    def measure(
        cls, day: date, actual: pd.DataFrame, reference: Reference, settings: DriftSettings
    ) -> ScoreDrift:
        """The PSI of ``actual``'s scores against the reference's (when both are large enough)."""
        scores, ref = actual[FRAUD_SCORE], reference.rows[FRAUD_SCORE]
        result = (
            population_stability_index(
                ref, scores, n_bins=settings.n_bins, epsilon=settings.epsilon
            )
            if settings.enough_rows(len(ref), len(scores))
            else None
        )
        return cls(
            day=day,
            result=result,
            settings=settings,
            window=reference.window,
            n_actual=len(scores),
            n_reference=len(ref),
            actual_mean=stored_number(scores.mean()),
            reference_mean=stored_number(ref.mean() if len(ref) else None),
        )

    @property
    def computed(self) -> bool:
        """Whether the PSI was computed (both samples large enough)."""
        return self.result is not None

    @property
    def psi(self) -> float | None:
        """The PSI, ``None`` when not computed."""
        return self.result.psi if self.result else None

    @property
    def drifted(self) -> bool:
        """Whether the PSI was computed and is above the threshold."""
        return self.psi is not None and self.psi > self.settings.threshold

    @property
    def status(self) -> str:
        """``drift``, ``ok`` or ``not computed``."""
        if not self.computed:
            return NOT_COMPUTED
        return "drift" if self.drifted else "ok"

    def not_computed_reason(self) -> str:
        """Why the PSI was not computed (the row counts against ``min_rows``)."""
        return (
            f"score PSI for {self.day} not computed: {self.n_reference} reference rows "
            f"({self.window.days_with_data} days), {self.n_actual} day rows, "
            f"min_rows={self.settings.min_rows}"
        )

    def frame(self, evaluated_at: pd.Timestamp) -> pd.DataFrame:
        """The day's row of the score drift table."""
        row = {
            "day": self.day,
            "psi": stored_number(self.psi),
            "psi_computed": self.computed,
            "drifted": self.drifted,
            "psi_threshold": self.settings.threshold,
            "n_bins": self.result.n_bins if self.result else 0,
            "n_actual": self.n_actual,
            "n_reference": self.n_reference,
            "reference_first_day": self.window.first_day,
            "reference_last_day": self.window.last_day,
            "reference_days_with_data": self.window.days_with_data,
            "actual_mean": self.actual_mean,
            "reference_mean": self.reference_mean,
            "evaluated_at": evaluated_at,
        }
        return pd.DataFrame([row])

    def numbers(self) -> Metadata:
        """The PSI, its threshold, the sample sizes and the reference window."""
        return {
            "psi": self.psi,
            "psi_threshold": self.settings.threshold,
            "n_actual": self.n_actual,
            "n_reference": self.n_reference,
            "reference_window": self.window.describe("scores"),
        }

    def bins_markdown(self) -> str | None:
        """The PSI's bins as a Markdown table (``None`` when not computed)."""
        return markdown_table(self.result.bins()) if self.result else None


# --------------------------------------------------------------------------------------------
# Feature drift
# --------------------------------------------------------------------------------------------


def tracked_features(
    actual: pd.DataFrame, requested: Sequence[str], *, source: str = "the features"
) -> list[str]:
    """The ``requested`` features, or every numeric feature of ``actual`` when none is requested."""
    columns = list(requested) or numeric_feature_columns(actual)
    if not columns:
        raise ValueError(f"no numeric feature column in {source}")
    return columns


@dataclass(frozen=True, eq=False)
class FeatureDrift:
    """A day's PSI of each tracked feature: the rows of the feature drift table."""

    day: date
    table: pd.DataFrame
    """One row per feature (``feature``, ``psi``, ``drifted``, ...), highest PSI first when
    computed."""
    computed: bool
    settings: DriftSettings
    window: ReferenceWindow
    n_actual: int
    n_reference: int

    @classmethod
    def measure(
        cls,
        day: date,
        actual: pd.DataFrame,
        reference: Reference,
        columns: Sequence[str],
        settings: DriftSettings,
    ) -> FeatureDrift:
        """The PSI of each of ``columns`` (when both samples are large enough; else the day's
        side only, see :func:`~fraud_core.monitoring.drift.not_computed_drift_table`)."""
        ref = reference.rows
        computed = settings.enough_rows(len(ref), len(actual))
        table = (
            drift_table(
                ref,
                actual,
                columns,
                n_bins=settings.n_bins,
                epsilon=settings.epsilon,
                threshold=settings.threshold,
            )
            if computed
            else not_computed_drift_table(actual, columns, n_reference=len(ref))
        ).rename(columns={"column": "feature"})
        table["psi"] = table["psi"].astype("float64")
        return cls(day, table, computed, settings, reference.window, len(actual), len(ref))

    @property
    def drifted_features(self) -> list[str]:
        """The features whose PSI is above the threshold, highest first."""
        return [str(f) for f in self.table.loc[self.table["drifted"], "feature"]]

    def not_computed_reason(self) -> str:
        """Why the PSI was not computed."""
        return f"feature PSI for {self.day} not computed: {self.n_reference} reference rows"

    def frame(self, evaluated_at: pd.Timestamp) -> pd.DataFrame:
        """The day's rows of the feature drift table."""
        return self.table.assign(
            day=self.day,
            psi_computed=self.computed,
            psi_threshold=self.settings.threshold,
            reference_first_day=self.window.first_day,
            reference_last_day=self.window.last_day,
            reference_days_with_data=self.window.days_with_data,
            evaluated_at=evaluated_at,
        )

    def numbers(self) -> Metadata:
        """The highest PSI and its feature, the drifted features, the sample sizes and window."""
        top = self.table.iloc[0] if self.computed and len(self.table) else None
        return {
            "max_psi": optional_number(top["psi"]) if top is not None else None,
            "most_drifted_feature": str(top["feature"]) if top is not None else NOT_COMPUTED,
            "drifted_features": self.drifted_features,
            "n_features": len(self.table),
            "psi_threshold": self.settings.threshold,
            "n_reference": self.n_reference,
            "n_actual": self.n_actual,
            "reference_window": self.window.describe("features"),
        }

    def top_markdown(self, n: int = TOP_FEATURES) -> str:
        """The first ``n`` features (highest PSI first) as a Markdown table."""
        columns = ["feature", "psi", "drifted", "reference_mean", "actual_mean"]
        return markdown_table(self.table[columns].head(n))
