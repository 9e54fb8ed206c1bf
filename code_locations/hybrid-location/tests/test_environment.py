"""Environment selection: LOCAL by default, BRANCH/PROD from Dagster+ variables, overrides validated."""

import pytest

from hybrid_location.defs.resources import model_store_resource, warehouse_resource
from hybrid_location.environment import (
    Environment,
    WarehouseKind,
    branch_name,
    current_environment,
    warehouse_kind,
)
from hybrid_location.resources import DuckDBWarehouseResource, SnowflakeWarehouseResource


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, Environment.LOCAL),
        ({"DAGSTER_CLOUD_DEPLOYMENT_NAME": "prod"}, Environment.PROD),
        (
            {"DAGSTER_CLOUD_DEPLOYMENT_NAME": "pr-12", "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1"},
            Environment.BRANCH,
        ),
        ({"DAGSTER_CLOUD_DEPLOYMENT_NAME": "prod", "FRAUD_ENV": "LOCAL"}, Environment.LOCAL),
    ],
)
def test_current_environment(env: dict[str, str], expected: Environment) -> None:
    assert current_environment(env) is expected


def test_invalid_overrides_are_rejected_with_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="FRAUD_ENV='staging' is not one of: local, branch, prod"):
        current_environment({"FRAUD_ENV": "staging"})
    with pytest.raises(ValueError, match="FRAUD_WAREHOUSE='postgres'"):
        warehouse_kind(Environment.LOCAL, {"FRAUD_WAREHOUSE": "postgres"})


def test_warehouse_kind_per_environment() -> None:
    assert warehouse_kind(Environment.LOCAL, {}) is WarehouseKind.DUCKDB
    assert warehouse_kind(Environment.PROD, {}) is WarehouseKind.SNOWFLAKE
    assert warehouse_kind(Environment.BRANCH, {}) is WarehouseKind.SNOWFLAKE
    assert warehouse_kind(Environment.LOCAL, {"FRAUD_WAREHOUSE": "snowflake"}) is (
        WarehouseKind.SNOWFLAKE
    )


def test_branch_name_prefers_the_pull_request() -> None:
    assert branch_name({"DAGSTER_CLOUD_PULL_REQUEST_ID": "42"}) == "PR_42"
    assert branch_name({"DAGSTER_CLOUD_GIT_BRANCH": "feat/x"}) == "feat/x"
    with pytest.raises(ValueError, match="cannot isolate"):
        branch_name({})


def test_branch_deployment_writes_to_its_own_schema_and_model_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in {
        "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1",
        "DAGSTER_CLOUD_DEPLOYMENT_NAME": "pr-42",
        "DAGSTER_CLOUD_PULL_REQUEST_ID": "42",
        "FRAUD_MODEL_STORE": "s3://bucket/models",
    }.items():
        monkeypatch.setenv(key, value)
    warehouse = warehouse_resource(Environment.BRANCH)
    assert isinstance(warehouse, SnowflakeWarehouseResource)
    tables = warehouse.tables.table_names()
    assert str(tables.scores) == "FRAUD_PR_42.FRAUD_SCORES"
    assert str(tables.source) == "RAW.CUSTOMER_TRANSACTIONS"  # reads prod's source, writes its own
    assert model_store_resource(Environment.BRANCH).root == "s3://bucket/models/branches/PR_42"


def test_prod_requires_a_model_store_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRAUD_MODEL_STORE", raising=False)
    with pytest.raises(ValueError, match="FRAUD_MODEL_STORE must be set in prod"):
        model_store_resource(Environment.PROD)


def test_local_default_is_duckdb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRAUD_WAREHOUSE", raising=False)
    assert isinstance(warehouse_resource(Environment.LOCAL), DuckDBWarehouseResource)
