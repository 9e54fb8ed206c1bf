"""The hybrid pipeline's resources on a small simulated DuckDB warehouse, for every test suite.

One builder (:func:`pipeline_resources`) for the tests of both code locations: the hybrid
location's own tests and the monitoring location's end-to-end test run the same small pipeline.
What run config may not set (shape, promotion policy, report directory) is built exactly as a
deployment builds it (:mod:`fraud_dagster.builders`, :func:`fraud_dagster.shape.shape_resource`),
from a test shape and a test environment: the small simulated data needs lower promotion floors,
which a test gets the way a LOCAL deployment would, through ``FRAUD_MIN_*`` values.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster_duckdb import DuckDBResource

from fraud_core.promotion import MIN_AVERAGE_PRECISION_VARIABLE, MIN_ROC_AUC_VARIABLE
from fraud_core.shape import PipelineShape
from fraud_dagster.builders import (
    REPORT_DIR_VARIABLE,
    promotion_policy_resource,
    report_directory_resource,
)
from fraud_dagster.environment import Environment
from fraud_dagster.resources import DuckDBWarehouseResource, LocalSeed, ModelStoreResource
from fraud_dagster.settings import FraudSettings
from fraud_dagster.shape import shape_resource

__all__ = [
    "LAST_DAY",
    "SMALL_POLICY_ENV",
    "SMALL_SHAPE",
    "SMALL_TRAINING",
    "pipeline_resources",
    "reports_dir",
]

LAST_DAY = "2025-03-31"
"""The last simulated day."""

SMALL_SHAPE = PipelineShape(windows_days=(1, 7), label_delay_days=2)
"""Short windows and delay: a day's features need 9 days of history."""

SMALL_TRAINING: dict[str, Any] = {
    "train_days": 10,
    "validation_days": 3,
    "iterations": 80,
    "device": "cpu",
}
"""Training knobs (the hybrid location's ``TrainingSettings``) that fit the small source."""

SMALL_POLICY_ENV: dict[str, str] = {
    MIN_AVERAGE_PRECISION_VARIABLE: "0.05",
    MIN_ROC_AUC_VARIABLE: "0.6",
}
"""Promotion floors a model trained on a few simulated days can clear (LOCAL environment)."""


def reports_dir(root: Path) -> Path:
    """Where :func:`pipeline_resources` under ``root`` writes the HTML reports."""
    return root / "reports"


def pipeline_resources(
    root: Path,
    *,
    training: Any,
    n_days: int = 12,
    shape: PipelineShape = SMALL_SHAPE,
    policy_env: Mapping[str, str] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """The hybrid pipeline's resources under ``root``: an ``n_days``, 800-card simulated source
    whose labels arrive ``shape.label_delay_days`` late.

    ``training`` is the hybrid location's training resource (built by the caller, which owns its
    class); ``settings`` override the shared business knobs (``FraudSettings``); ``policy_env``
    replaces the promotion variables (default :data:`SMALL_POLICY_ENV`).
    """
    policy = SMALL_POLICY_ENV if policy_env is None else policy_env
    return {
        "warehouse": DuckDBWarehouseResource(
            duckdb=DuckDBResource(database=str(root / "warehouse.duckdb")),
            # Labels arrive late, as in a real source (and the local seed): NULL for the last
            # label delay's days, so the assets run the label-delay logic of production.
            seed=LocalSeed(
                n_customers=800,
                n_terminals=1600,
                n_days=n_days,
                end_date=LAST_DAY,
                seed=3,
                label_delay_days=shape.label_delay_days,
            ),
        ),
        "model_store": ModelStoreResource(root=str(root / "models")),
        "settings": FraudSettings(**settings),
        "training": training,
        "shape": shape_resource(shape),
        "promotion_policy": promotion_policy_resource(Environment.LOCAL, policy),
        "report_dir": report_directory_resource({REPORT_DIR_VARIABLE: str(reports_dir(root))}),
    }
