"""The monitoring location's definitions: shared resources, cross-location lineage, settings."""

from pathlib import Path

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource
from pydantic import ValidationError

from fraud_dagster.environment import Environment
from fraud_dagster.resources import WAREHOUSE_POOL, DuckDBWarehouseResource
from fraud_storage import TableName
from monitoring_location.defs import upstream
from monitoring_location.defs.assets import GROUP, MONITORING_ASSETS, score_drift
from monitoring_location.defs.resources import build_resources
from monitoring_location.settings import MonitoringSettings, MonitoringTables

BRANCH_ENV = {
    "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1",
    "DAGSTER_CLOUD_DEPLOYMENT_NAME": "pr-42",
    "DAGSTER_CLOUD_PULL_REQUEST_ID": "42",
    "FRAUD_MODEL_STORE": "s3://bucket/models",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for key in ("FRAUD_WAREHOUSE", "FRAUD_SOURCE_TABLE", "FRAUD_OUTPUT_SCHEMA", "FRAUD_ENV"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def test_locally_both_locations_use_the_same_duckdb_file(env) -> None:
    from hybrid_location.defs.resources import build_resources as hybrid_resources

    mine, theirs = build_resources(Environment.LOCAL), hybrid_resources(Environment.LOCAL)
    assert set(mine) == {"warehouse", "settings", "shape", "monitoring"}
    # one class of business knobs and one shape for both locations
    assert type(mine["settings"]) is type(theirs["settings"])
    with dg.build_resources({"a": mine["shape"], "b": theirs["shape"]}) as ready:
        assert ready.a is ready.b
    assert type(mine["warehouse"]) is type(theirs["warehouse"]) is DuckDBWarehouseResource
    assert mine["warehouse"].duckdb.database == theirs["warehouse"].duckdb.database
    assert mine["warehouse"].duckdb.database.endswith("data/warehouse.duckdb")
    assert mine["warehouse"].tables == theirs["warehouse"].tables
    assert not mine["warehouse"].seed_missing_source  # a reader never invents the source


def test_branch_deployments_read_and_write_the_branch_schema(env) -> None:
    from hybrid_location.defs.resources import build_resources as hybrid_resources

    for key, value in BRANCH_ENV.items():
        env.setenv(key, value)
    mine = build_resources(Environment.BRANCH)["warehouse"].tables.table_names()
    theirs = hybrid_resources(Environment.BRANCH)["warehouse"].tables.table_names()
    assert mine == theirs
    assert str(mine.scores) == "FRAUD_PR_42.FRAUD_SCORES"
    tables = MonitoringSettings().tables.resolve(mine.scores)
    assert {str(t) for t in tables.values()} == {
        "FRAUD_PR_42.MONITORING_SCORE_DRIFT",
        "FRAUD_PR_42.MONITORING_FEATURE_DRIFT",
        "FRAUD_PR_42.MONITORING_PERFORMANCE",
        "FRAUD_PR_42.MONITORING_MODEL_HEALTH",
    }
    with_db = MonitoringTables(health="HEALTH").resolve(TableName.parse("DB.FRAUD.FRAUD_SCORES"))
    assert str(with_db["health"]) == "DB.FRAUD.HEALTH"


@pytest.mark.parametrize(
    "name", ["X; DROP TABLE Y", "FRAUD.MONITORING", "a b", "1TABLE", "x--comment"]
)
def test_monitoring_table_names_are_validated(name: str) -> None:
    with pytest.raises(ValidationError):
        MonitoringTables(score_drift=name)


@pytest.mark.parametrize(
    "overrides",
    [
        {"psi_bins": 1},
        {"psi_epsilon": 0.0},
        {"precision_floor": -0.1},
        {"reference_days": 0},
        {"min_rows": -1},
        {"psi_threshold": 0.0},
    ],
)
def test_settings_are_validated(overrides: dict) -> None:
    with pytest.raises(ValidationError):
        MonitoringSettings(**overrides)


def test_upstream_specs_match_the_hybrid_assets() -> None:
    from hybrid_location import pipeline as hybrid

    for spec, asset in [
        (upstream.fraud_scores, hybrid.fraud_scores),
        (upstream.transformed_transactions, hybrid.transformed_transactions),
    ]:
        assert spec.key == asset.key
        assert spec.partitions_def == asset.partitions_def
        assert spec.group_name == asset.specs_by_key[asset.key].group_name
    # Same concurrency pool: locally, monitoring never opens the DuckDB file during a write.
    for asset in MONITORING_ASSETS:
        assert asset.op.pool == WAREHOUSE_POOL
        assert asset.partitions_def == hybrid.fraud_scores.partitions_def


def test_lineage_and_checks() -> None:
    from monitoring_location.definitions import defs

    definitions = defs()
    graph = definitions.resolve_asset_graph()
    deps = {
        asset.key.to_user_string(): {k.to_user_string() for k in graph.get(asset.key).parent_keys}
        for asset in MONITORING_ASSETS
    }
    assert deps == {
        "score_drift": {"fraud_scores"},
        "feature_drift": {"transformed_transactions"},
        "delayed_label_performance": {"fraud_scores"},
        "model_health": {"score_drift", "feature_drift", "delayed_label_performance"},
    }
    for key in ("fraud_scores", "transformed_transactions"):
        assert not graph.get(dg.AssetKey(key)).is_materializable  # the hybrid location's job
    checks = {
        (c.asset_key.to_user_string(), c.name): c
        for asset in MONITORING_ASSETS
        for c in asset.check_specs
    }
    assert set(checks) == {
        ("score_drift", "score_psi_below_threshold"),
        ("feature_drift", "feature_psi_below_threshold"),
        ("delayed_label_performance", "realised_precision_above_floor"),
        ("delayed_label_performance", "alert_volume_within_budget"),
        ("model_health", "model_is_healthy"),
    }
    assert [key for key, check in checks.items() if check.blocking] == [
        ("model_health", "model_is_healthy")
    ]
    assert all(graph.get(a.key).group_name == GROUP for a in MONITORING_ASSETS)
    (sensor,) = [s for s in definitions.sensors if s.name == "monitoring_automation_sensor"]
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    # Steps run one by one in the run process: no two processes on the local DuckDB file.
    assert definitions.executor is dg.in_process_executor


def test_missing_scores_fail_fast_and_never_seed_the_source(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouseResource(
        duckdb=DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
        seed_missing_source=False,
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [*upstream.UPSTREAM_SPECS, score_drift],
            selection=[score_drift],
            partition_key="2025-03-31",
            resources={"warehouse": warehouse, "monitoring": MonitoringSettings()},
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert "MissingUpstreamError" in error.message
    assert "FRAUD.FRAUD_SCORES has no rows for 2025-03-31" in error.message
    assert [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []
    assert not warehouse.get_warehouse().table_exists(TableName.parse("RAW.CUSTOMER_TRANSACTIONS"))
