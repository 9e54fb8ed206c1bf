"""Model health: the day's monitored numbers combined into one status, and the day's record."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from fraud_core.columns import PARTITION_DATE
from fraud_core.monitoring.psi import DEFAULT_PSI_THRESHOLD
from fraud_core.monitoring.reporting import (
    NOT_COMPUTED,
    Metadata,
    optional_number,
    stored_number,
)

__all__ = [
    "MATURE_LOOKBACK_DAYS",
    "DayHealth",
    "HealthStatus",
    "HealthThresholds",
    "ModelHealth",
    "assess_health",
    "latest_mature_performance",
    "mature_lookback_start",
    "top_feature_drift",
]

MATURE_LOOKBACK_DAYS = 30
"""How far back (beyond the label delay) model health looks for the latest mature day."""


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


# --------------------------------------------------------------------------------------------
# The day's record, from the stored monitoring rows
# --------------------------------------------------------------------------------------------


def mature_lookback_start(day: date, label_delay_days: int) -> date:
    """The first day whose performance row model health considers for ``day``."""
    return day - timedelta(days=label_delay_days + MATURE_LOOKBACK_DAYS)


def latest_mature_performance(rows: pd.DataFrame) -> pd.Series | None:
    """The stored performance row of the latest day evaluated with mature labels (or None)."""
    if rows.empty:
        return None
    mature = rows[rows["labels_mature"].astype(bool)]
    if mature.empty:
        return None
    return mature.sort_values(PARTITION_DATE).iloc[-1]


def top_feature_drift(feature_drift: pd.DataFrame) -> pd.Series | None:
    """The stored feature drift row with the highest computed PSI (None when none computed)."""
    computed = feature_drift[feature_drift["psi_computed"].astype(bool)]
    if computed.empty:
        return None
    return computed.sort_values("psi", ascending=False, kind="mergesort").iloc[0]


@dataclass(frozen=True)
class DayHealth:
    """A day's model health from its stored monitoring rows: one row of the model health table."""

    day: date
    health: ModelHealth
    thresholds: HealthThresholds
    score_psi: float | None
    max_feature_psi: float | None
    most_drifted_feature: str | None
    card_precision: float | None
    """Realised card precision@k of the latest mature day (None: none, or no fraud that day)."""
    precision_day: date | None
    budget_utilisation: float | None
    n_transactions: int
    model_versions: str

    @classmethod
    def assess(
        cls,
        day: date,
        *,
        score_drift: pd.Series,
        feature_drift: pd.DataFrame,
        performance: pd.Series,
        latest_mature: pd.Series | None,
        thresholds: HealthThresholds,
    ) -> DayHealth:
        """The health of ``day`` from its stored score drift row, feature drift rows and
        performance row, and the performance row of the latest mature day."""
        top = top_feature_drift(feature_drift)
        precision_day = latest_mature[PARTITION_DATE] if latest_mature is not None else None
        precision = None
        # A mature day without fraud says nothing about the model's precision.
        if latest_mature is not None and int(latest_mature["n_fraud_cards"]) > 0:
            precision = optional_number(latest_mature["card_precision_at_k"])
        score_psi = optional_number(score_drift["psi"])
        max_feature_psi = stored_number(top["psi"]) if top is not None else None
        feature = str(top["feature"]) if top is not None else None
        budget_utilisation = optional_number(performance["budget_utilisation"])
        health = assess_health(
            score_psi=score_psi,
            max_feature_psi=max_feature_psi,
            card_precision=precision,
            budget_utilisation=budget_utilisation,
            thresholds=thresholds,
            drifted_feature=feature,
            precision_day=precision_day,
        )
        return cls(
            day=day,
            health=health,
            thresholds=thresholds,
            score_psi=score_psi,
            max_feature_psi=max_feature_psi,
            most_drifted_feature=feature,
            card_precision=precision,
            precision_day=precision_day,
            budget_utilisation=budget_utilisation,
            n_transactions=int(performance["n_transactions"]),
            model_versions=str(performance["model_versions"]),
        )

    @property
    def status(self) -> HealthStatus:
        """The verdict."""
        return self.health.status

    def frame(self, evaluated_at: pd.Timestamp) -> pd.DataFrame:
        """The day's row of the model health table."""
        row = {
            "day": self.day,
            "status": self.status.value,
            "reasons": "; ".join(self.health.reasons),
            "notes": "; ".join(self.health.notes),
            "score_psi": stored_number(self.score_psi),
            "max_feature_psi": stored_number(self.max_feature_psi),
            "most_drifted_feature": self.most_drifted_feature or "",
            "precision_day": "" if self.precision_day is None else str(self.precision_day),
            "card_precision_at_k": stored_number(self.card_precision),
            "budget_utilisation": stored_number(self.budget_utilisation),
            "n_transactions": self.n_transactions,
            "model_versions": self.model_versions,
            "evaluated_at": evaluated_at,
        }
        return pd.DataFrame([row])

    def numbers(self) -> Metadata:
        """The verdict, its reasons and notes, and the numbers it was reached on."""
        return {
            "status": self.status.value,
            "reasons": list(self.health.reasons),
            "notes": list(self.health.notes),
            "score_psi": self.score_psi,
            "max_feature_psi": self.max_feature_psi,
            "most_drifted_feature": self.most_drifted_feature or NOT_COMPUTED,
            "realised_card_precision_at_k": self.card_precision,
            "precision_day": "none yet" if self.precision_day is None else str(self.precision_day),
            "precision_floor": self.thresholds.precision_floor,
            "psi_threshold": self.thresholds.psi_threshold,
            "budget_utilisation": self.budget_utilisation,
        }
