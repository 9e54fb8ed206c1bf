"""The business knobs both code locations share, declared once: the alert threshold and budget,
and which scores get reason codes.

A fraud team changes these per run if it must (they are run config, with validation): the
hybrid location scores and reports with them, the monitoring location judges alert volumes and
realised precision with the same numbers. What may NOT change per run lives elsewhere: the pipeline
shape (:mod:`fraud_dagster.shape`) and the promotion policy and report directory (the deployment's
environment, :mod:`fraud_dagster.builders`).
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field, field_validator

from fraud_core.scoring import REASONS_MIN_SCORE

__all__ = [
    "FraudSettings",
    "at_least_two",
    "not_negative",
    "open_unit_interval",
    "positive",
    "unit_interval",
]


def positive(value: float) -> float:
    """A settings validator: the value must be > 0."""
    if value <= 0:
        raise ValueError(f"must be positive, got {value}")
    return value


def not_negative(value: float) -> float:
    """A settings validator: the value must be >= 0."""
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


def at_least_two(value: int) -> int:
    """A settings validator: the value must be >= 2."""
    if value < 2:
        raise ValueError(f"must be at least 2, got {value}")
    return value


def open_unit_interval(value: float) -> float:
    """A settings validator: a probability strictly between 0 and 1."""
    if not 0.0 < value < 1.0:
        raise ValueError(f"must be a probability in (0, 1), got {value}")
    return value


def unit_interval(value: float) -> float:
    """A settings validator: a share in [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be in [0, 1], got {value}")
    return value


class FraudSettings(dg.ConfigurableResource):
    """Alert threshold, review budget and reason codes, shared by scoring, reporting, monitoring."""

    alert_budget: int = Field(
        default=100, description="Cards the fraud team can review a day (k of card precision@k)."
    )
    alert_threshold: float = Field(default=0.5, description="Probability that raises an alert.")
    reasons_min_score: float = Field(
        default=REASONS_MIN_SCORE,
        description=(
            "Lowest fraud score whose transaction gets reason codes (its top 3 features by SHAP "
            "contribution); the top transaction of each of the day's alert_budget cards gets them "
            "whatever this value. 0 explains every row, but SHAP makes scoring ~75x slower "
            "(11k rows/s on 2 cores); the default 0.05 explains ~1% of the rows for ~1.5-2x the "
            "scoring time and covers every alert at alert_threshold 0.5 (benchmarks/RESULTS.md, "
            "section 8). Keep it at or below alert_threshold so every alert has reasons."
        ),
    )

    _alert_budget = field_validator("alert_budget")(positive)
    _alert_threshold = field_validator("alert_threshold")(open_unit_interval)
    _reasons_min_score = field_validator("reasons_min_score")(unit_interval)
