"""The shared resources and builders: every location gets the same engine, tables and partitions."""

from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from fraud_dagster.builders import (
    model_store_resource,
    snowflake_resource,
    tables_config,
    warehouse_resource,
)
from fraud_dagster.environment import Environment
from fraud_dagster.failures import fail_fast_on
from fraud_dagster.partitions import daily_partitions, day_bounds
from fraud_dagster.resources import (
    WAREHOUSE_POOL,
    DuckDBWarehouseResource,
    LocalSeed,
    SnowflakeWarehouseResource,
    data_dir,
)
from fraud_storage import TableName
from fraud_storage.duckdb_warehouse import DuckDBWarehouse

BRANCH_ENV = {
    "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1",
    "DAGSTER_CLOUD_DEPLOYMENT_NAME": "pr-42",
    "DAGSTER_CLOUD_PULL_REQUEST_ID": "42",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for key in (
        "FRAUD_WAREHOUSE",
        "FRAUD_SOURCE_TABLE",
        "FRAUD_OUTPUT_SCHEMA",
        "FRAUD_MODEL_STORE",
    ):
        monkeypatch.delenv(key, raising=False)
    for key in ("SNOWFLAKE_PRIVATE_KEY", "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", "SNOWFLAKE_PORT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def test_local_warehouse_is_the_duckdb_file_in_the_data_dir(clean_env, tmp_path: Path) -> None:
    resource = warehouse_resource(Environment.LOCAL)
    assert isinstance(resource, DuckDBWarehouseResource)
    assert resource.duckdb.database == str(tmp_path / "data" / "warehouse.duckdb")
    assert data_dir() == (tmp_path / "data").resolve()
    assert resource.seed_missing_source
    assert not warehouse_resource(Environment.LOCAL, seed_missing_source=False).seed_missing_source


def test_table_settings_come_from_the_environment(clean_env) -> None:
    clean_env.setenv("FRAUD_SOURCE_TABLE", "LANDING.CARD_TX")
    clean_env.setenv("FRAUD_OUTPUT_SCHEMA", "FRAUD_V2")
    tables = tables_config(Environment.LOCAL).table_names()
    assert str(tables.source) == "LANDING.CARD_TX"
    assert str(tables.scores) == "FRAUD_V2.FRAUD_SCORES"
    for key, value in BRANCH_ENV.items():
        clean_env.setenv(key, value)
    branch = tables_config(Environment.BRANCH).table_names()
    assert str(branch.scores) == "FRAUD_V2_PR_42.FRAUD_SCORES"
    assert str(branch.source) == "LANDING.CARD_TX"


def test_branch_and_prod_use_snowflake_and_a_model_store_url(clean_env) -> None:
    for key, value in BRANCH_ENV.items():
        clean_env.setenv(key, value)
    assert isinstance(warehouse_resource(Environment.BRANCH), SnowflakeWarehouseResource)
    with pytest.raises(ValueError, match="FRAUD_MODEL_STORE must be set in branch"):
        model_store_resource(Environment.BRANCH)
    clean_env.setenv("FRAUD_MODEL_STORE", "s3://bucket/models/")
    assert model_store_resource(Environment.BRANCH).root == "s3://bucket/models/branches/PR_42"
    assert model_store_resource(Environment.PROD).root == "s3://bucket/models/"


def test_snowflake_credentials_are_env_vars_never_values(clean_env) -> None:
    clean_env.setenv("SNOWFLAKE_PASSWORD", "not-in-config")
    clean_env.setenv("SNOWFLAKE_HOST", "localhost")
    clean_env.setenv("SNOWFLAKE_PORT", "8443")
    resource = snowflake_resource()
    assert resource.password == dg.EnvVar("SNOWFLAKE_PASSWORD")
    assert resource.private_key is None
    assert resource.additional_snowflake_connection_args == {"host": "localhost", "port": 8443}
    clean_env.setenv("SNOWFLAKE_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----")
    clean_env.setenv("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", "pass")
    key_pair = snowflake_resource()
    assert key_pair.private_key == dg.EnvVar("SNOWFLAKE_PRIVATE_KEY")
    assert key_pair.private_key_password == dg.EnvVar("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE")
    assert key_pair.password is None


def _duckdb(path: Path, **kwargs) -> DuckDBWarehouseResource:
    return DuckDBWarehouseResource(
        duckdb=DuckDBResource(database=str(path)),
        seed=LocalSeed(n_customers=30, n_terminals=60, n_days=2, end_date="2025-03-31"),
        **kwargs,
    )


def test_a_reader_never_seeds_a_missing_source(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with dg.build_resources({"warehouse": _duckdb(path, seed_missing_source=False)}) as ready:
        warehouse = ready.warehouse.get_warehouse()
    assert not warehouse.table_exists(warehouse.tables.source)
    assert warehouse.source_time_range() is None
    with dg.build_resources({"warehouse": _duckdb(path)}) as ready:  # the pipeline seeds it
        seeded = ready.warehouse.get_warehouse()
    low, high = seeded.source_time_range()
    assert (low.date(), high.date()) == (date(2025, 3, 30), date(2025, 3, 31))
    # Both see the same file, hence the same rows.
    reader = DuckDBWarehouse.at_path(path)
    assert reader.source_time_range() == seeded.source_time_range()
    assert reader.tables.scores == TableName.parse("FRAUD.FRAUD_SCORES")


def test_partitions_and_day_bounds() -> None:
    assert daily_partitions.start.date() == date(2024, 1, 1)  # FRAUD_PARTITIONS_START default
    assert daily_partitions.timezone == "UTC"
    start, end = day_bounds(date(2025, 3, 31))
    assert start.isoformat() == "2025-03-31T00:00:00+00:00"
    assert (end - start).days == 1
    assert isinstance(start, datetime)
    assert WAREHOUSE_POOL == "fraud_warehouse"


def test_fail_fast_on_turns_permanent_errors_into_non_retryable_failures() -> None:
    @fail_fast_on(ValueError)
    def permanent() -> None:
        raise ValueError("bad table name")

    @fail_fast_on(ValueError)
    def transient() -> None:
        raise ConnectionError("network blip")

    with pytest.raises(dg.Failure) as failure:
        permanent()
    assert failure.value.allow_retries is False
    assert failure.value.description == "ValueError: bad table name"
    with pytest.raises(ConnectionError):
        transient()
    assert permanent.__name__ == "permanent"
