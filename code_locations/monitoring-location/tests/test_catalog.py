"""The catalog: every monitoring table says what it holds, where, who owns it and which code made it."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from fraud_core.columns import PARTITION_DATE
from fraud_dagster.builders import tables_config
from fraud_dagster.catalog import (
    CODE_REFERENCES,
    COLUMN_SCHEMA,
    DEFAULT_OWNER,
    OWNERS_VARIABLE,
    PARTITION_ROW_COUNT,
    ROW_COUNT,
    TABLE_NAME,
)
from fraud_dagster.environment import Environment
from fraud_storage.duckdb_warehouse import DuckDBWarehouse
from monitoring_location.catalog import MONITORING_TABLES, catalogued_assets
from monitoring_location.definitions import defs as load_defs
from monitoring_location.defs.assets import MONITORING_ASSETS
from monitoring_location.defs.upstream import UPSTREAM_SPECS
from monitoring_location.settings import MonitoringTables

BRANCH_ENV = {
    "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1",
    "DAGSTER_CLOUD_DEPLOYMENT_NAME": "pr-42",
    "DAGSTER_CLOUD_PULL_REQUEST_ID": "42",
    "FRAUD_MODEL_STORE": "s3://bucket/models",
}
GIT_VARIABLES = (
    "FRAUD_GIT_URL",
    "FRAUD_GIT_REF",
    "DAGSTER_CLOUD_GIT_REPO",
    "DAGSTER_CLOUD_GIT_SHA",
    "DAGSTER_CLOUD_GIT_BRANCH",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for key in (
        "FRAUD_ENV",
        "FRAUD_WAREHOUSE",
        "FRAUD_MODEL_STORE",
        "FRAUD_SOURCE_TABLE",
        "FRAUD_OUTPUT_SCHEMA",
        OWNERS_VARIABLE,
        *GIT_VARIABLES,
        *BRANCH_ENV,
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def _specs() -> dict[str, dg.AssetSpec]:
    return {spec.key.to_user_string(): spec for spec in load_defs().resolve_all_asset_specs()}


def _reference(spec: dg.AssetSpec) -> Any:
    (reference,) = spec.metadata[CODE_REFERENCES].code_references
    return reference


def test_every_monitoring_asset_is_described_owned_and_versioned(env) -> None:
    specs = _specs()
    assert set(MONITORING_TABLES) == {a.key.to_user_string() for a in MONITORING_ASSETS}
    tables = {
        str(t)
        for t in MonitoringTables()
        .resolve(tables_config(Environment.LOCAL).table_names().scores)
        .values()
    }
    for name in MONITORING_TABLES:
        spec = specs[name]
        schema = spec.metadata[COLUMN_SCHEMA].schema
        assert schema.columns, name
        assert all(c.description and c.type for c in schema.columns), name
        assert schema.columns[-1].name == PARTITION_DATE
        assert spec.metadata[TABLE_NAME] in tables, name
        assert spec.metadata["dagster/storage_kind"] == "duckdb"
        assert spec.owners == [DEFAULT_OWNER], name
        assert spec.tags["domain"] == "fraud"
        assert spec.tags["stage"] == "monitoring"
        assert "pii" not in spec.tags, name  # no card or terminal id in a monitoring table
        assert len(spec.code_version or "") == 12, name
        reference = _reference(spec)
        assert isinstance(reference, dg.LocalFileCodeReference)
        source = Path(reference.file_path).read_text().splitlines()
        assert source[reference.line_number - 1].startswith("@dg.asset("), (name, reference)
        assert f"def {name}(" in "\n".join(source[reference.line_number - 1 :])
    assert len({specs[name].metadata[TABLE_NAME] for name in MONITORING_TABLES}) == 4
    # the hybrid location's tables are described there, not here
    for upstream in UPSTREAM_SPECS:
        spec = specs[upstream.key.to_user_string()]
        assert spec.code_version is None
        assert not spec.owners
        assert "stage" not in spec.tags


def test_owners_and_a_branch_schema_come_from_the_deployment(env) -> None:
    env.setenv(OWNERS_VARIABLE, "risk@acme.com, team:risk")
    for key, value in BRANCH_ENV.items():
        env.setenv(key, value)
    specs = _specs()
    assert specs["model_health"].metadata[TABLE_NAME] == "FRAUD_PR_42.MONITORING_MODEL_HEALTH"
    for name in MONITORING_TABLES:
        assert specs[name].owners == ["risk@acme.com", "team:risk"]
        assert specs[name].metadata[TABLE_NAME].startswith("FRAUD_PR_42.MONITORING_")
        assert specs[name].metadata["dagster/storage_kind"] == "snowflake"


def test_code_references_link_to_git_when_the_deployment_says_where(env) -> None:
    env.setenv("FRAUD_GIT_URL", "https://github.com/acme/fraud")
    env.setenv("FRAUD_GIT_REF", "0123abc")
    reference = _reference(_specs()["score_drift"])
    assert isinstance(reference, dg.UrlCodeReference)
    prefix = (
        "https://github.com/acme/fraud/tree/0123abc/"
        "code_locations/monitoring-location/src/monitoring_location/defs/assets.py#L"
    )
    assert reference.url.startswith(prefix), reference.url


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_the_schemas_are_what_a_run_writes_and_the_row_counts_what_it_stored(
    tmp_path: Path, make_hybrid_resources, make_monitoring_resources
) -> None:
    from hybrid_location.cli import run_pipeline

    with dg.instance_for_test() as instance:
        run = run_pipeline(make_hybrid_resources(tmp_path), instance, days=1)
        (day,) = run.scored_days
        assets = catalogued_assets(MONITORING_ASSETS)
        result = dg.materialize(
            [*UPSTREAM_SPECS, *assets],
            selection=assets,
            partition_key=day.isoformat(),
            resources=make_monitoring_resources(tmp_path),
            instance=instance,
        )
        assert result.success
        wh = DuckDBWarehouse.at_path(tmp_path / "warehouse.duckdb")
        tables = MonitoringTables().resolve(wh.tables.scores)
        versions = {
            spec.key.to_user_string(): spec.code_version for a in assets for spec in a.specs
        }
        for name, entry in MONITORING_TABLES.items():
            table = tables[entry.role]
            stored = wh.read_partitions(table, day, day + timedelta(days=1))
            assert list(stored.columns) == list(entry.columns), name
            event = instance.get_latest_materialization_event(dg.AssetKey(name))
            assert event is not None
            assert event.asset_materialization is not None
            metadata = event.asset_materialization.metadata
            counts = wh.partition_counts(table)
            assert counts[day] == len(stored) > 0, name
            assert metadata[PARTITION_ROW_COUNT].value == counts[day], name
            assert metadata[ROW_COUNT].value == sum(counts.values()), name
            assert metadata[TABLE_NAME].value == str(table), name
            # the run records the code version the UI compares with
            assert event.asset_materialization.tags["dagster/code_version"] == versions[name]
