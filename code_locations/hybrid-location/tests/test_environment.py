"""hybrid-location's environment, resource and partition modules: the shared code, same names.

The selection itself is tested in libs/fraud_dagster/tests; here, that the names the location (and
its tests) import are exactly the shared objects, and the per-environment behaviour through them.
"""

import pytest

import fraud_dagster.builders
import fraud_dagster.environment
import fraud_dagster.partitions
import fraud_dagster.resources
import hybrid_location.environment
import hybrid_location.partitions
import hybrid_location.resources
from hybrid_location.defs import resources as defs_resources
from hybrid_location.defs.resources import build_resources, model_store_resource, warehouse_resource
from hybrid_location.environment import Environment
from hybrid_location.resources import (
    DuckDBWarehouseResource,
    FraudSettings,
    ModelStoreResource,
    SnowflakeWarehouseResource,
)

SHARED = {
    hybrid_location.environment: (
        fraud_dagster.environment,
        ["Environment", "WarehouseKind", "branch_name", "current_environment", "warehouse_kind"],
    ),
    hybrid_location.resources: (
        fraud_dagster.resources,
        [
            "DuckDBWarehouseResource",
            "LocalSeed",
            "ModelStoreResource",
            "SnowflakeWarehouseResource",
            "TablesConfig",
            "WarehouseResource",
            "data_dir",
        ],
    ),
    defs_resources: (
        fraud_dagster.builders,
        ["model_store_resource", "snowflake_resource", "warehouse_resource"],
    ),
    hybrid_location.partitions: (
        fraud_dagster.partitions,
        ["PARTITIONS_START", "daily_partitions", "day_bounds", "partition_day"],
    ),
}


@pytest.mark.parametrize("module", list(SHARED), ids=lambda m: m.__name__)
def test_historical_names_are_the_shared_objects(module) -> None:
    shared, names = SHARED[module]
    for name in names:
        assert getattr(module, name) is getattr(shared, name), f"{module.__name__}.{name}"


def test_settings_stay_in_the_location() -> None:
    assert FraudSettings.__module__ == "hybrid_location.resources"
    assert not hasattr(fraud_dagster.resources, "FraudSettings")


def test_build_resources_of_the_location(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRAUD_WAREHOUSE", raising=False)
    resources = build_resources(Environment.LOCAL)
    assert set(resources) == {"warehouse", "model_store", "settings"}
    assert isinstance(resources["warehouse"], DuckDBWarehouseResource)
    assert resources["warehouse"].seed_missing_source  # the pipeline seeds an empty local source
    assert isinstance(resources["model_store"], ModelStoreResource)
    assert isinstance(resources["settings"], FraudSettings)


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
