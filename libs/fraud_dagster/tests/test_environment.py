"""Environment selection: LOCAL by default, BRANCH/PROD from Dagster+ variables, overrides validated.

Shared by every code location (moved here from hybrid-location's tests with the code).
"""

import pytest

from fraud_dagster.environment import (
    Environment,
    WarehouseKind,
    branch_name,
    current_environment,
    warehouse_kind,
)


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
