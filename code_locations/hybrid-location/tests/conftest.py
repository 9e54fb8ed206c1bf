"""Fixtures: a small simulated warehouse, model store and Dagster instance in a temp directory."""

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from hybrid_location.resources import (
    DuckDBWarehouseResource,
    FraudSettings,
    LocalSeed,
    ModelStoreResource,
    SnowflakeWarehouseResource,
)

LAST_DAY = "2025-03-31"


def small_resources(root: Path, **settings: Any) -> dict[str, Any]:
    """Resources over a 12-day, 800-customer simulated source; short windows for speed."""
    defaults: dict[str, Any] = {
        "windows_days": [1, 7],
        "label_delay_days": 2,
        "train_days": 10,
        "validation_days": 3,
        "iterations": 80,
        "device": "cpu",
        "report_dir": str(root / "reports"),
        "min_average_precision": 0.05,
        "min_roc_auc": 0.6,
    }
    return {
        "warehouse": DuckDBWarehouseResource(
            duckdb=DuckDBResource(database=str(root / "warehouse.duckdb")),
            seed=LocalSeed(n_customers=800, n_terminals=1600, n_days=12, end_date=LAST_DAY, seed=3),
        ),
        "model_store": ModelStoreResource(root=str(root / "models")),
        "settings": FraudSettings(**{**defaults, **settings}),
    }


@pytest.fixture
def make_resources(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """Build resources in this test's temp dir; keyword arguments override settings."""
    return lambda **settings: small_resources(tmp_path, **settings)


@pytest.fixture
def resources(make_resources: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return make_resources()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def snowflake_resources(
    snowflake_database: Any, make_resources, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Resources whose warehouse is the emulator, chosen by the same code as in BRANCH/PROD."""
    from fraud_core.simulate import simulate_transactions
    from hybrid_location.defs.resources import build_resources
    from hybrid_location.environment import Environment

    env = snowflake_database.environment()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    resources = {**make_resources(), "warehouse": build_resources(Environment.LOCAL)["warehouse"]}
    assert isinstance(resources["warehouse"], SnowflakeWarehouseResource)
    source = simulate_transactions(
        n_customers=800,
        n_terminals=1600,
        start_date=date.fromisoformat(LAST_DAY) - timedelta(days=11),
        n_days=12,
        seed=3,
    )
    with dg.build_resources({"warehouse": resources["warehouse"]}) as ready:
        ready.warehouse.get_warehouse().load_source(source.rename(columns=str.upper))
    return resources
