"""Fixtures: a small simulated warehouse, model store and Dagster instance in a temp directory."""

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from fraud_core.shape import PipelineShape
from fraud_dagster.resources import SnowflakeWarehouseResource
from fraud_testing.pipeline import LAST_DAY, SMALL_SHAPE, SMALL_TRAINING, pipeline_resources
from hybrid_location.settings import TrainingSettings


def small_resources(
    root: Path,
    *,
    shape: PipelineShape = SMALL_SHAPE,
    policy_env: dict[str, str] | None = None,
    **training: Any,
) -> dict[str, Any]:
    """Resources over a 12-day, 800-customer simulated source; short windows for speed.

    Keyword arguments override the training knobs; ``shape`` and ``policy_env`` (promotion
    variables) are built as a deployment builds them, never as run config.
    """
    return pipeline_resources(
        root,
        training=TrainingSettings(**{**SMALL_TRAINING, **training}),
        shape=shape,
        policy_env=policy_env,
    )


@pytest.fixture
def make_resources(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """Build resources in this test's temp dir; keyword arguments as ``small_resources``."""
    return lambda **overrides: small_resources(tmp_path, **overrides)


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
    from fraud_dagster.environment import Environment
    from hybrid_location.defs.resources import build_resources

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
