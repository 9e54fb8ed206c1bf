"""When a newly trained model may replace the one in production.

A candidate is compared with the promoted model on the same validation window (labelled days neither was
trained on). It is promoted when its average precision is no worse than the current model's minus a
tolerance, and, for the first model, when it clears absolute floors. Ranking metrics decide because the
fraud team reviews a fixed number of cards a day.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from fraud_core.evaluation import evaluate_scores

if TYPE_CHECKING:
    from fraud_core.model import FraudModel


@dataclass(frozen=True)
class PromotionPolicy:
    """Thresholds of the promotion gate."""

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


@dataclass(frozen=True)
class PromotionDecision:
    """The gate's verdict with the numbers behind it."""

    promote: bool
    reason: str
    candidate: dict[str, float] = field(default_factory=dict)
    current: dict[str, float] | None = None


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
