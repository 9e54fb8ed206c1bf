"""Fixtures: the hybrid location's small simulated warehouse and the monitoring resources on it."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dagster_duckdb import DuckDBResource

from fraud_core.shape import PipelineShape
from fraud_dagster.resources import DuckDBWarehouseResource
from fraud_dagster.settings import FraudSettings
from fraud_dagster.shape import shape_resource
from fraud_testing.pipeline import SMALL_SHAPE, SMALL_TRAINING, pipeline_resources
from monitoring_location.settings import MonitoringSettings

BUSINESS = set(FraudSettings.model_fields)
"""Overrides of ``monitoring_resources`` that go to the shared business knobs."""


def hybrid_resources(root: Path) -> dict[str, Any]:
    """The hybrid pipeline on a small simulated source: the builder its own tests use.

    20 days instead of 12: the monitored days and their 7-day reference window then lie past the
    features' warm-up (windows of 7 days + the label delay reaching before the first day), which
    is a real drift the monitoring would - rightly - report.
    """
    from hybrid_location.settings import TrainingSettings

    return pipeline_resources(root, training=TrainingSettings(**SMALL_TRAINING), n_days=20)


def monitoring_resources(
    root: Path, *, shape: PipelineShape = SMALL_SHAPE, **overrides: Any
) -> dict[str, Any]:
    """The monitoring resources on the SAME DuckDB file and shape as ``hybrid_resources``.

    Keyword arguments override the business knobs (``alert_budget``, ``alert_threshold``) or the
    monitoring knobs; ``shape`` is the pipeline shape the location runs with.
    """
    business = {"alert_budget": 50, "alert_threshold": 0.5}
    monitoring = {"reference_sample_per_day": 0, "min_rows": 100, "precision_floor": 0.0}
    for key, value in overrides.items():
        (business if key in BUSINESS else monitoring)[key] = value
    return {
        "warehouse": DuckDBWarehouseResource(
            duckdb=DuckDBResource(database=str(root / "warehouse.duckdb")),
            seed_missing_source=False,
        ),
        "settings": FraudSettings(**business),
        "shape": shape_resource(shape),
        "monitoring": MonitoringSettings(**monitoring),
    }


@pytest.fixture(scope="session")
def make_hybrid_resources() -> Callable[[Path], dict[str, Any]]:
    """``hybrid_resources`` (test modules cannot import this conftest under importlib mode)."""
    return hybrid_resources


@pytest.fixture(scope="session")
def make_monitoring_resources() -> Callable[..., dict[str, Any]]:
    """``monitoring_resources``, as a fixture."""
    return monitoring_resources
