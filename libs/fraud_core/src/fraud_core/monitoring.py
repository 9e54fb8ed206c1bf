"""Model monitoring: drift, realised performance once labels arrive, alert volume, health.

Pure pandas/numpy (no orchestration), so any service can monitor the scores the pipeline writes.

Population stability index (PSI)
    ``PSI = sum_i (a_i - e_i) * ln(a_i / e_i)`` over bins ``i``, with ``e_i`` the share of the
    *reference* sample and ``a_i`` the share of the *actual* sample (the monitored day) in bin ``i``.

    * Bins are fixed by the reference: the interior cut points are the reference's quantiles at
      ``1/n, 2/n, ..., (n-1)/n`` (numpy's default, linearly interpolated), duplicates removed, so a
      feature with few distinct values (a 0/1 flag, a count) gets fewer bins, never empty-by-
      construction ones. Bins are right-closed: ``(-inf, c_1], (c_1, c_2], ..., (c_m, +inf)``; values
      outside the reference's range fall into the outer bins.
    * Missing values (NaN/None) are not dropped: when either sample has any, they form one extra bin
      (a change in the missing rate is drift too). Shares are over all rows, missing included.
    * Empty bins: ``ln(a/e)`` is infinite when a share is 0, so every share below ``epsilon``
      (default ``1e-4``) is raised to ``epsilon`` before the sum. Non-empty bins are untouched (the
      shares then sum to at most ``1 + n_bins * epsilon``); a bin empty in both samples contributes 0.
    * Reading: below 0.1 stable, 0.1-0.2 moderate shift, above 0.2 (:data:`DEFAULT_PSI_THRESHOLD`)
      a significant shift worth an alert.

Label delay and realised performance
    Labels (``tx_fraud``) arrive ``label_delay_days`` after the transaction. Day ``D`` is *mature*
    (evaluable) once the data reaches ``D + label_delay_days``: :func:`labels_mature` is
    ``D <= as_of - label_delay_days`` where ``as_of`` is the latest day with data, the same rule the
    training window uses. Before that, :func:`realised_performance` still reports the numbers on
    the labels known so far, flagged ``labels_mature=False`` (provisional).

    * Transaction level, at the alert threshold: precision = frauds among the *labelled* alerted
      transactions (``score >= threshold``); recall = alerted share of the labelled frauds.
    * Card level, at the review budget ``k``: the handbook's card precision@k
      (:func:`fraud_core.evaluation.card_precision_at_k_daily`: one row per card with its max score,
      detected frauded cards in the top ``k`` divided by ``k``) on the labelled rows, and card
      recall@k = detected / frauded cards. Average precision and ROC AUC come from
      :func:`fraud_core.evaluation.evaluate_scores` when both classes are present.

Alert volume
    Alerts are cards (customers) whose max score of the day reaches the threshold, as in the daily
    report; :func:`alert_volume` compares their number with the budget of cards the fraud team can
    review in a day.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from fraud_core.evaluation import card_precision_at_k_daily, evaluate_scores

__all__ = [
    "DAY_CONSTANT_FEATURES",
    "DEFAULT_EPSILON",
    "DEFAULT_N_BINS",
    "DEFAULT_PSI_THRESHOLD",
    "NON_FEATURE_COLUMNS",
    "AlertVolume",
    "HealthStatus",
    "HealthThresholds",
    "ModelHealth",
    "PsiResult",
    "RealisedPerformance",
    "alert_volume",
    "assess_health",
    "bin_shares",
    "drift_table",
    "label_maturity_date",
    "labels_mature",
    "latest_mature_day",
    "numeric_feature_columns",
    "population_stability_index",
    "psi_from_shares",
    "quantile_edges",
    "realised_performance",
]

DEFAULT_N_BINS = 10
DEFAULT_EPSILON = 1e-4
DEFAULT_PSI_THRESHOLD = 0.2

NON_FEATURE_COLUMNS: frozenset[str] = frozenset(
    {
        "transaction_id",
        "tx_datetime",
        "customer_id",
        "terminal_id",
        "tx_fraud",
        "tx_fraud_scenario",
        "fraud_score",
        "model_version",
        "partition_date",
    }
)
"""Columns of the feature and score tables that are keys, labels or bookkeeping, never features."""

DAY_CONSTANT_FEATURES: frozenset[str] = frozenset({"tx_during_weekend"})
"""Calendar features constant within a day: their PSI against a window of other days measures the
calendar, not drift, so :func:`numeric_feature_columns` leaves them out."""

SCORE_COLUMN = "fraud_score"
LABEL_COLUMN = "tx_fraud"
TIME_COLUMN = "tx_datetime"
CUSTOMER_COLUMN = "customer_id"


# --------------------------------------------------------------------------------------------
# Population stability index
# --------------------------------------------------------------------------------------------


def _values(sample: Any, what: str) -> np.ndarray:
    """``sample`` as a float array (NaN for missing), refusing an empty one."""
    if isinstance(sample, pd.Series):
        array = pd.to_numeric(sample, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        array = np.asarray(sample, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError(f"PSI: the {what} sample is empty")
    return array


def quantile_edges(reference: Any, n_bins: int = DEFAULT_N_BINS) -> np.ndarray:
    """Interior cut points of ``n_bins`` reference-quantile bins, ascending, duplicates removed."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 2:
        raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    values = _values(reference, "reference")
    present = values[~np.isnan(values)]
    if present.size == 0:
        return np.empty(0)
    cuts = np.quantile(present, np.arange(1, n_bins) / n_bins)
    return np.unique(cuts)


def bin_shares(values: Any, edges: Sequence[float], *, missing_bin: bool = False) -> np.ndarray:
    """Share of ``values`` in each right-closed bin of ``edges`` (+ a last missing-value bin).

    Without ``missing_bin`` the shares are over the non-missing values (missing ones ignored).
    """
    array = _values(values, "binned")
    cuts = np.asarray(edges, dtype=np.float64)
    missing = np.isnan(array)
    present = array[~missing]
    # side="left": a value equal to a cut point belongs to the bin that ends there (right-closed).
    counts = np.bincount(np.searchsorted(cuts, present, side="left"), minlength=cuts.size + 1)
    if missing_bin:
        counts = np.append(counts, missing.sum())
    total = counts.sum()
    return counts / total if total else np.zeros(counts.size)


def psi_from_shares(expected: Any, actual: Any, *, epsilon: float = DEFAULT_EPSILON) -> float:
    """``sum (a - e) * ln(a / e)`` with every share below ``epsilon`` raised to ``epsilon``."""
    if not 0.0 < epsilon < 1.0:
        raise ValueError(f"epsilon must be in (0, 1), got {epsilon}")
    e = np.maximum(np.asarray(expected, dtype=np.float64), epsilon)
    a = np.maximum(np.asarray(actual, dtype=np.float64), epsilon)
    if e.shape != a.shape:
        raise ValueError(f"PSI: {e.size} expected shares for {a.size} actual shares")
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class PsiResult:
    """The PSI of one variable and the bins it was computed on."""

    psi: float
    edges: tuple[float, ...]
    """Interior cut points; bin ``i`` is ``(edges[i-1], edges[i]]`` with open outer ends."""
    reference_shares: tuple[float, ...]
    actual_shares: tuple[float, ...]
    """Per bin, before the epsilon floor; the last entry is the missing bin when ``missing_bin``."""
    missing_bin: bool
    n_reference: int
    n_actual: int
    epsilon: float = DEFAULT_EPSILON

    @property
    def n_bins(self) -> int:
        """Number of bins, the missing-value bin included."""
        return len(self.reference_shares)

    def bins(self) -> pd.DataFrame:
        """One row per bin: bounds, both shares and the bin's contribution to the PSI."""
        lower = [-math.inf, *self.edges]
        upper = [*self.edges, math.inf]
        labels = [f"({lo:.6g}, {hi:.6g}]" for lo, hi in zip(lower, upper, strict=True)]
        if self.missing_bin:
            lower, upper, labels = [*lower, math.nan], [*upper, math.nan], [*labels, "missing"]
        frame = pd.DataFrame(
            {
                "bin": labels,
                "lower": lower,
                "upper": upper,
                "reference_share": self.reference_shares,
                "actual_share": self.actual_shares,
            }
        )
        e = np.maximum(frame["reference_share"].to_numpy(), self.epsilon)
        a = np.maximum(frame["actual_share"].to_numpy(), self.epsilon)
        frame["contribution"] = (a - e) * np.log(a / e)
        return frame


def population_stability_index(
    reference: Any,
    actual: Any,
    *,
    n_bins: int = DEFAULT_N_BINS,
    epsilon: float = DEFAULT_EPSILON,
) -> PsiResult:
    """PSI of ``actual`` against ``reference`` on ``n_bins`` reference-quantile bins (module doc)."""
    ref = _values(reference, "reference")
    act = _values(actual, "actual")
    edges = quantile_edges(ref, n_bins)
    missing_bin = bool(np.isnan(ref).any() or np.isnan(act).any())
    expected = bin_shares(ref, edges, missing_bin=missing_bin)
    observed = bin_shares(act, edges, missing_bin=missing_bin)
    return PsiResult(
        psi=psi_from_shares(expected, observed, epsilon=epsilon),
        edges=tuple(float(c) for c in edges),
        reference_shares=tuple(float(s) for s in expected),
        actual_shares=tuple(float(s) for s in observed),
        missing_bin=missing_bin,
        n_reference=int(ref.size),
        n_actual=int(act.size),
        epsilon=float(epsilon),
    )


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
        ref = _values(reference[name].astype("float64"), f"reference {name!r}")
        act = _values(actual[name].astype("float64"), f"actual {name!r}")
        result = population_stability_index(ref, act, n_bins=n_bins, epsilon=epsilon)
        rows.append(
            {
                "column": name,
                "psi": result.psi,
                "drifted": result.psi > threshold,
                "n_bins": result.n_bins,
                "n_reference": result.n_reference,
                "n_actual": result.n_actual,
                "reference_mean": float(np.nanmean(ref)) if (~np.isnan(ref)).any() else math.nan,
                "actual_mean": float(np.nanmean(act)) if (~np.isnan(act)).any() else math.nan,
                "reference_missing_share": float(np.isnan(ref).mean()),
                "actual_missing_share": float(np.isnan(act).mean()),
            }
        )
    frame = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    return frame.sort_values(
        ["psi", "column"], ascending=[False, True], kind="mergesort"
    ).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Label delay
# --------------------------------------------------------------------------------------------


def _day(value: date | datetime | str) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value.date() if isinstance(value, datetime) else value


def _check_delay(label_delay_days: int) -> int:
    if isinstance(label_delay_days, bool) or not isinstance(label_delay_days, int | np.integer):
        raise ValueError(f"label_delay_days must be whole days, got {label_delay_days!r}")
    if label_delay_days < 0:
        raise ValueError(f"label_delay_days must be >= 0, got {label_delay_days}")
    return int(label_delay_days)


def label_maturity_date(day: date | datetime | str, label_delay_days: int) -> date:
    """The first ``as_of`` day at which ``day``'s labels are complete: ``day + label_delay_days``."""
    return _day(day) + timedelta(days=_check_delay(label_delay_days))


def latest_mature_day(as_of: date | datetime | str, label_delay_days: int) -> date:
    """The latest day whose labels are complete when the data reaches ``as_of``."""
    return _day(as_of) - timedelta(days=_check_delay(label_delay_days))


def labels_mature(
    day: date | datetime | str, as_of: date | datetime | str, label_delay_days: int
) -> bool:
    """Whether ``day`` is evaluable when the data reaches ``as_of`` (``day <= as_of - delay``)."""
    return _day(day) <= latest_mature_day(as_of, label_delay_days)


# --------------------------------------------------------------------------------------------
# Realised performance and alert volume
# --------------------------------------------------------------------------------------------


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}")


def _rows_of_day(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    """Rows whose UTC ``tx_datetime`` falls on ``day`` (naive timestamps are taken as UTC)."""
    times = pd.to_datetime(frame[TIME_COLUMN])
    times = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
    start = pd.Timestamp(day, tz="UTC")
    mask = ((times >= start) & (times < start + pd.Timedelta(days=1))).to_numpy()
    out = frame.loc[mask].copy()
    out[TIME_COLUMN] = times[mask]
    return out.reset_index(drop=True)


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


@dataclass(frozen=True)
class RealisedPerformance:
    """How the model did on one day, on the labels known when it was evaluated."""

    day: date
    as_of: date
    label_delay_days: int
    labels_mature: bool
    n_transactions: int
    n_labelled: int
    label_coverage: float | None
    n_fraud: int
    threshold: float
    n_alerts: int
    n_alerts_labelled: int
    true_positives: int
    precision: float | None
    recall: float | None
    k: int
    n_cards: int
    n_fraud_cards: int
    n_detected_cards: int
    card_precision_at_k: float | None
    card_recall_at_k: float | None
    average_precision: float | None
    roc_auc: float | None

    def as_record(self) -> dict[str, Any]:
        """A flat dict, ready for a one-row frame."""
        return asdict(self)


def realised_performance(
    scored: pd.DataFrame,
    day: date | datetime | str,
    *,
    as_of: date | datetime | str,
    label_delay_days: int,
    threshold: float = 0.5,
    k: int = 100,
    score_column: str = SCORE_COLUMN,
) -> RealisedPerformance:
    """Precision/recall at ``threshold`` and card precision@``k`` of ``day`` (module doc).

    ``scored`` holds ``tx_datetime``, ``customer_id``, ``tx_fraud`` (0/1/NA: NA = not known yet)
    and the score; rows of other days are ignored.
    """
    _require(scored, [TIME_COLUMN, CUSTOMER_COLUMN, LABEL_COLUMN, score_column], "performance")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    the_day = _day(day)
    rows = _rows_of_day(scored, the_day)
    labels = pd.to_numeric(rows[LABEL_COLUMN], errors="coerce").astype("Float64")
    labels = labels.where(labels.isin([0, 1]))
    labelled = labels.notna().to_numpy(dtype=bool)
    fraud = labels.eq(1).fillna(False).to_numpy(dtype=bool)
    scores = rows[score_column].to_numpy(dtype=np.float64)
    alerted = scores >= threshold
    tp = int((alerted & fraud).sum())
    n_fraud = int(fraud.sum())
    n_alerts_labelled = int((alerted & labelled).sum())

    known = rows.loc[labelled, [TIME_COLUMN, CUSTOMER_COLUMN]].assign(
        **{LABEL_COLUMN: labels[labelled].astype("int64").to_numpy(), "score": scores[labelled]}
    )
    n_fraud_cards = n_detected = 0
    cp_at_k = card_recall = None
    ap = auc = None
    if len(known):
        daily = card_precision_at_k_daily(known, k)
        n_fraud_cards = int(daily["n_fraud_cards"].sum())
        n_detected = int(daily["n_detected"].sum())
        cp_at_k = float(daily["card_precision"].mean())
        card_recall = _ratio(n_detected, n_fraud_cards)
        metrics = evaluate_scores(known[[LABEL_COLUMN]], known["score"], k=k)
        ap = metrics.get("average_precision")
        auc = metrics.get("roc_auc")
    n = len(rows)
    return RealisedPerformance(
        day=the_day,
        as_of=_day(as_of),
        label_delay_days=_check_delay(label_delay_days),
        labels_mature=labels_mature(the_day, as_of, label_delay_days),
        n_transactions=n,
        n_labelled=int(labelled.sum()),
        label_coverage=_ratio(labelled.sum(), n),
        n_fraud=n_fraud,
        threshold=float(threshold),
        n_alerts=int(alerted.sum()),
        n_alerts_labelled=n_alerts_labelled,
        true_positives=tp,
        precision=_ratio(tp, n_alerts_labelled),
        recall=_ratio(tp, n_fraud),
        k=int(k),
        n_cards=int(rows[CUSTOMER_COLUMN].nunique()),
        n_fraud_cards=n_fraud_cards,
        n_detected_cards=n_detected,
        card_precision_at_k=cp_at_k,
        card_recall_at_k=card_recall,
        average_precision=None if ap is None else float(ap),
        roc_auc=None if auc is None else float(auc),
    )


@dataclass(frozen=True)
class AlertVolume:
    """Cards alerted at the threshold on one day, against the daily review budget."""

    day: date
    threshold: float
    budget: int
    n_transactions: int
    n_cards: int
    n_alert_transactions: int
    n_alert_cards: int
    budget_utilisation: float
    """``n_alert_cards / budget``: above 1 the team cannot review every alert."""
    over_budget: bool
    excess_cards: int

    def as_record(self) -> dict[str, Any]:
        """A flat dict, ready for a one-row frame."""
        return asdict(self)


def alert_volume(
    scores: pd.DataFrame,
    day: date | datetime | str,
    *,
    threshold: float = 0.5,
    budget: int = 100,
    score_column: str = SCORE_COLUMN,
) -> AlertVolume:
    """Transactions and cards (max score per card) at or above ``threshold`` on ``day``."""
    _require(scores, [TIME_COLUMN, CUSTOMER_COLUMN, score_column], "alert_volume")
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    the_day = _day(day)
    rows = _rows_of_day(scores, the_day)
    card_max = rows.groupby(CUSTOMER_COLUMN, sort=False)[score_column].max()
    n_cards = int((card_max >= threshold).sum())
    return AlertVolume(
        day=the_day,
        threshold=float(threshold),
        budget=int(budget),
        n_transactions=len(rows),
        n_cards=len(card_max),
        n_alert_transactions=int((rows[score_column] >= threshold).sum()),
        n_alert_cards=n_cards,
        budget_utilisation=n_cards / budget,
        over_budget=n_cards > budget,
        excess_cards=max(0, n_cards - budget),
    )


# --------------------------------------------------------------------------------------------
# Model health
# --------------------------------------------------------------------------------------------


class HealthStatus(enum.StrEnum):
    """Overall model health: CRITICAL needs action, WARNING needs a look."""

    HEALTHY = "healthy"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class HealthThresholds:
    """When a monitored number turns the model's health to WARNING or CRITICAL."""

    psi_threshold: float = DEFAULT_PSI_THRESHOLD
    """Score or feature PSI above this: WARNING (the population moved)."""
    precision_floor: float = 0.1
    """Realised card precision@k of a mature day below this: CRITICAL."""
    max_budget_utilisation: float = 1.0
    """More alerted cards than this share of the budget: WARNING."""

    def __post_init__(self) -> None:
        if self.psi_threshold <= 0:
            raise ValueError(f"psi_threshold must be positive, got {self.psi_threshold}")
        if not 0.0 <= self.precision_floor <= 1.0:
            raise ValueError(f"precision_floor must be in [0, 1], got {self.precision_floor}")
        if self.max_budget_utilisation <= 0:
            raise ValueError("max_budget_utilisation must be positive")


@dataclass(frozen=True)
class ModelHealth:
    """The verdict, the reasons for it and informational notes."""

    status: HealthStatus
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


def assess_health(
    *,
    score_psi: float | None,
    max_feature_psi: float | None,
    card_precision: float | None,
    budget_utilisation: float | None,
    thresholds: HealthThresholds = HealthThresholds(),
    drifted_feature: str | None = None,
    precision_day: date | None = None,
) -> ModelHealth:
    """Combine the day's monitored numbers into one status (``None`` = not measured).

    CRITICAL when the realised card precision@k of the latest mature day is below the floor;
    WARNING when the score or a feature drifted (PSI above the threshold) or alerts exceed the
    budget; HEALTHY otherwise. Unmeasured numbers never raise the status; they are noted.
    """
    critical: list[str] = []
    warning: list[str] = []
    notes: list[str] = []
    t = thresholds
    if card_precision is None:
        notes.append("no day with mature labels yet: realised precision not assessed")
    elif card_precision < t.precision_floor:
        on = f" on {precision_day}" if precision_day else ""
        critical.append(
            f"realised card precision@k {card_precision:.3f}{on} is below the floor "
            f"{t.precision_floor:.3f}"
        )
    if score_psi is None:
        notes.append("score drift not measured (no reference window yet)")
    elif score_psi > t.psi_threshold:
        warning.append(f"score PSI {score_psi:.3f} above {t.psi_threshold:.3f}")
    if max_feature_psi is None:
        notes.append("feature drift not measured")
    elif max_feature_psi > t.psi_threshold:
        name = f" ({drifted_feature})" if drifted_feature else ""
        warning.append(f"feature PSI {max_feature_psi:.3f}{name} above {t.psi_threshold:.3f}")
    if budget_utilisation is not None and budget_utilisation > t.max_budget_utilisation:
        warning.append(
            f"alerts use {budget_utilisation:.0%} of the review budget "
            f"(limit {t.max_budget_utilisation:.0%})"
        )
    if critical:
        status = HealthStatus.CRITICAL
    elif warning:
        status = HealthStatus.WARNING
    else:
        status = HealthStatus.HEALTHY
    return ModelHealth(status=status, reasons=(*critical, *warning), notes=tuple(notes))
