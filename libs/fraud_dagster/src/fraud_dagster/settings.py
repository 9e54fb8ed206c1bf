"""The business knobs both code locations share, declared once: the alert threshold and budget.

A fraud team changes these per run if it must (they are run config, with validation): the
hybrid location scores and reports with them, the monitoring location judges alert volumes and
realised precision with the same numbers. What may NOT change per run lives elsewhere: the pipeline
shape (:mod:`fraud_dagster.shape`) and the promotion policy and report directory (the deployment's
environment, :mod:`fraud_dagster.builders`).
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field, field_validator

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
    """Alert threshold and review budget, shared by scoring, reporting and monitoring."""

    alert_budget: int = Field(
        default=100, description="Cards the fraud team can review a day (k of card precision@k)."
    )
    alert_threshold: float = Field(default=0.5, description="Probability that raises an alert.")

    _alert_budget = field_validator("alert_budget")(positive)
    _alert_threshold = field_validator("alert_threshold")(open_unit_interval)
