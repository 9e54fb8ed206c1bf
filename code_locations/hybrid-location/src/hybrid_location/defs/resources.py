"""Resources per environment, chosen in this one place (LOCAL / BRANCH / PROD)."""

import os

import dagster as dg
from dagster_duckdb import DuckDBResource
from dagster_snowflake import SnowflakeResource

from hybrid_location.environment import (
    Environment,
    WarehouseKind,
    branch_name,
    current_environment,
    warehouse_kind,
)
from hybrid_location.resources import (
    DuckDBWarehouseResource,
    FraudSettings,
    LocalSeed,
    ModelStoreResource,
    SnowflakeWarehouseResource,
    TablesConfig,
    data_dir,
)


def snowflake_resource() -> SnowflakeResource:
    """Snowflake connection from ``SNOWFLAKE_*`` environment variables (never literals)."""
    auth: dict[str, object]
    if os.environ.get("SNOWFLAKE_PRIVATE_KEY"):
        auth = {"private_key": dg.EnvVar("SNOWFLAKE_PRIVATE_KEY")}
        if os.environ.get("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"):
            auth["private_key_password"] = dg.EnvVar("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE")
    else:
        auth = {"password": dg.EnvVar("SNOWFLAKE_PASSWORD")}
    endpoint = {
        key: os.environ[f"SNOWFLAKE_{key.upper()}"]
        for key in ("host", "port", "protocol")
        if os.environ.get(f"SNOWFLAKE_{key.upper()}")
    }
    if "port" in endpoint:
        endpoint["port"] = int(endpoint["port"])
    return SnowflakeResource(
        account=dg.EnvVar("SNOWFLAKE_ACCOUNT"),
        user=dg.EnvVar("SNOWFLAKE_USER"),
        role=os.environ.get("SNOWFLAKE_ROLE"),
        warehouse=os.environ.get("SNOWFLAKE_WAREHOUSE"),
        database=dg.EnvVar("SNOWFLAKE_DATABASE"),
        additional_snowflake_connection_args=endpoint or None,
        **auth,
    )


def warehouse_resource(
    environment: Environment,
) -> DuckDBWarehouseResource | SnowflakeWarehouseResource:
    """The warehouse for ``environment`` (``FRAUD_WAREHOUSE`` may force the engine)."""
    tables = TablesConfig(
        source_table=os.environ.get("FRAUD_SOURCE_TABLE", "RAW.CUSTOMER_TRANSACTIONS"),
        output_schema=os.environ.get("FRAUD_OUTPUT_SCHEMA", "FRAUD"),
        branch=branch_name() if environment is Environment.BRANCH else None,
    )
    if warehouse_kind(environment) is WarehouseKind.SNOWFLAKE:
        return SnowflakeWarehouseResource(snowflake=snowflake_resource(), tables=tables)
    return DuckDBWarehouseResource(
        duckdb=DuckDBResource(database=str(data_dir() / "warehouse.duckdb")),
        tables=tables,
        seed=LocalSeed(parquet_path=os.environ.get("FRAUD_SOURCE_PARQUET") or None),
    )


def model_store_resource(environment: Environment) -> ModelStoreResource:
    """Models under ``FRAUD_MODEL_STORE`` (a URL in BRANCH/PROD), else ``data/models``."""
    root = os.environ.get("FRAUD_MODEL_STORE")
    if not root:
        if environment is not Environment.LOCAL:
            raise ValueError(f"FRAUD_MODEL_STORE must be set in {environment.value} deployments")
        root = str(data_dir() / "models")
    if environment is Environment.BRANCH:
        root = f"{root.rstrip('/')}/branches/{branch_name()}"
    return ModelStoreResource(root=root)


def build_resources(environment: Environment | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources of ``environment`` (default: the current one)."""
    environment = environment or current_environment()
    return {
        "warehouse": warehouse_resource(environment),
        "model_store": model_store_resource(environment),
        "settings": FraudSettings(),
    }


@dg.definitions
def resources() -> dg.Definitions:
    """Bind the resources of the current environment."""
    return dg.Definitions(resources=build_resources())
