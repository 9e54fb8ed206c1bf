"""When a newly trained model may replace the one in production.

A candidate is compared with the promoted model on the same validation window (labelled days neither was
trained on). It is promoted when its average precision is no worse than the current model's minus a
tolerance, and, for the first model, when it clears absolute floors. Ranking metrics decide because the
fraud team reviews a fixed number of cards a day.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import pandas as pd

from fraud_core.evaluation import evaluate_scores

if TYPE_CHECKING:
    from fraud_core.model import FraudModel


TOLERANCE_VARIABLE = "FRAUD_PROMOTION_TOLERANCE"
MIN_AVERAGE_PRECISION_VARIABLE = "FRAUD_MIN_AVERAGE_PRECISION"
MIN_ROC_AUC_VARIABLE = "FRAUD_MIN_ROC_AUC"
POLICY_VARIABLES = {
    "tolerance": TOLERANCE_VARIABLE,
    "min_average_precision": MIN_AVERAGE_PRECISION_VARIABLE,
    "min_roc_auc": MIN_ROC_AUC_VARIABLE,
}
"""The environment variables a deployment may set the gate's thresholds with, by field."""


@dataclass(frozen=True)
class PromotionPolicy:
    """Thresholds of the promotion gate (from code defaults and the deployment's environment)."""

    metric: str = "average_precision"
    tolerance: float = 0.01
    min_average_precision: float = 0.2
    min_roc_auc: float = 0.7

    def __post_init__(self) -> None:
        if self.metric not in ("average_precision", "roc_auc"):
            raise ValueError(f"unknown promotion metric {self.metric!r}")
        if not 0.0 <= self.tolerance < 1.0:
            raise ValueError(f"tolerance must be in [0, 1), got {self.tolerance}")
        for name in ("min_average_precision", "min_roc_auc"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, only_stricter: bool = False
    ) -> PromotionPolicy:
        """The code defaults, overridden by ``FRAUD_PROMOTION_TOLERANCE``, ``FRAUD_MIN_*``.

        ``only_stricter`` (production): a floor may only be raised and the tolerance only lowered
        from the code defaults; a looser value is an error naming the variable.
        """
        env = os.environ if env is None else env
        defaults = cls()
        values: dict[str, Any] = {}
        for name, variable in POLICY_VARIABLES.items():
            raw = env.get(variable, "").strip()
            if not raw:
                continue
            value = _float_variable(variable, raw)
            try:
                cls(**{**values, name: value})
            except ValueError as error:
                raise ValueError(f"{variable}={raw!r}: {error}") from None
            default = getattr(defaults, name)
            looser = value > default if name == "tolerance" else value < default
            if only_stricter and looser:
                direction = "raise" if name == "tolerance" else "lower"
                raise ValueError(
                    f"{variable}={raw!r} would {direction} the code's {name} of {default}: in "
                    "production the promotion gate may only be made stricter"
                )
            values[name] = value
        return cls(**values)

    def describe(self) -> dict[str, float | str]:
        """The thresholds by name (for metadata and logs)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class PromotionDecision:
    """The gate's verdict with the numbers behind it."""

    promote: bool
    reason: str
    candidate: dict[str, float] = field(default_factory=dict)
    current: dict[str, float] | None = None


def _float_variable(variable: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{variable}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{variable}={raw!r} is not a finite number")
    return value


def decide_promotion(
    candidate: Mapping[str, float],
    current: Mapping[str, float] | None,
    policy: PromotionPolicy = PromotionPolicy(),
) -> PromotionDecision:
    """Whether the candidate (metrics on the validation window) may replace the current model."""
    cand = dict(candidate)
    ap, auc = cand.get("average_precision", math.nan), cand.get("roc_auc", math.nan)
    if not (math.isfinite(ap) and math.isfinite(auc)):
        return PromotionDecision(False, "candidate has no finite validation metrics", cand, None)
    floors = []
    if ap < policy.min_average_precision:
        floors.append(f"average_precision {ap:.4f} < floor {policy.min_average_precision}")
    if auc < policy.min_roc_auc:
        floors.append(f"roc_auc {auc:.4f} < floor {policy.min_roc_auc}")
    if floors:
        return PromotionDecision(False, "; ".join(floors), cand, dict(current or {}) or None)
    if current is None:
        return PromotionDecision(True, "first model: clears the quality floors", cand, None)
    cur = dict(current)
    ours, theirs = cand.get(policy.metric, math.nan), cur.get(policy.metric, math.nan)
    if not math.isfinite(theirs):
        return PromotionDecision(True, f"current model has no {policy.metric}", cand, cur)
    if ours >= theirs - policy.tolerance:
        return PromotionDecision(
            True,
            f"{policy.metric} {ours:.4f} vs current {theirs:.4f} (tolerance {policy.tolerance})",
            cand,
            cur,
        )
    return PromotionDecision(
        False,
        f"{policy.metric} {ours:.4f} is worse than current {theirs:.4f} by more than "
        f"{policy.tolerance}",
        cand,
        cur,
    )


def validation_metrics(
    model: FraudModel, features: pd.DataFrame, *, k: int = 100
) -> dict[str, float]:
    """AUC, AP and card precision@k of ``model`` on the labelled rows of ``features``."""
    if len(features) == 0:
        return {}
    return evaluate_scores(features, model.predict(features), k=k)
