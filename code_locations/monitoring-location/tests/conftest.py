"""Fixtures: the hybrid location's small simulated warehouse and the monitoring resources on it."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dagster_duckdb import DuckDBResource

from fraud_dagster.resources import (
    DuckDBWarehouseResource,
    LocalSeed,
    ModelStoreResource,
)
from monitoring_location.settings import MonitoringSettings

LAST_DAY = "2025-03-31"
LABEL_DELAY_DAYS = 2


def hybrid_resources(root: Path) -> dict[str, Any]:
    """The hybrid pipeline on a small simulated source, as its own tests do.

    20 days instead of 12: the monitored days and their 7-day reference window then lie past the
    features' warm-up (windows of 7 days + the label delay reaching before the first day), which
    is a real drift the monitoring would - rightly - report.
    """
    from hybrid_location.resources import FraudSettings

    return {
        "warehouse": DuckDBWarehouseResource(
            duckdb=DuckDBResource(database=str(root / "warehouse.duckdb")),
            seed=LocalSeed(n_customers=800, n_terminals=1600, n_days=20, end_date=LAST_DAY, seed=3),
        ),
        "model_store": ModelStoreResource(root=str(root / "models")),
        "settings": FraudSettings(
            windows_days=[1, 7],
            label_delay_days=LABEL_DELAY_DAYS,
            train_days=10,
            validation_days=3,
            iterations=80,
            device="cpu",
            report_dir=str(root / "reports"),
            min_average_precision=0.05,
            min_roc_auc=0.6,
        ),
    }


def monitoring_resources(root: Path, **settings: Any) -> dict[str, Any]:
    """The monitoring resources on the SAME DuckDB file; keyword arguments override settings."""
    defaults: dict[str, Any] = {
        "label_delay_days": LABEL_DELAY_DAYS,
        "alert_budget": 50,
        "alert_threshold": 0.5,
        "reference_sample_per_day": 0,
        "min_rows": 100,
        "precision_floor": 0.0,
    }
    return {
        "warehouse": DuckDBWarehouseResource(
            duckdb=DuckDBResource(database=str(root / "warehouse.duckdb")),
            seed_missing_source=False,
        ),
        "monitoring": MonitoringSettings(**{**defaults, **settings}),
    }


@pytest.fixture(scope="session")
def make_hybrid_resources() -> Callable[[Path], dict[str, Any]]:
    """``hybrid_resources`` (test modules cannot import this conftest under importlib mode)."""
    return hybrid_resources


@pytest.fixture(scope="session")
def make_monitoring_resources() -> Callable[..., dict[str, Any]]:
    """``monitoring_resources``, as a fixture."""
    return monitoring_resources
