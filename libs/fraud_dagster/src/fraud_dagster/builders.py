"""The resources of each environment (LOCAL / BRANCH / PROD), built in this one place.

Every code location builds its warehouse and model store here, so the heavy location that writes
the tables and the monitoring location that reads them always see the same engine, the same table
names and the same branch isolation (``FRAUD_SOURCE_TABLE``, ``FRAUD_OUTPUT_SCHEMA``). A branch
deployment is isolated by ONE name, :func:`fraud_storage.branches.branch_identifier` of
:func:`~fraud_dagster.environment.branch_name`: its output schema ``<schema>_<name>``, its model
store ``<FRAUD_MODEL_STORE>/branches/<name>`` and its reports ``<FRAUD_REPORT_DIR>/branches/<name>``.
The values run config must never change are built here too, from code
defaults and the deployment's environment, read once per load and validated: the promotion policy
(``FRAUD_PROMOTION_TOLERANCE``, ``FRAUD_MIN_AVERAGE_PRECISION``, ``FRAUD_MIN_ROC_AUC``; in PROD
only stricter than the code) and the report directory (``FRAUD_REPORT_DIR``). The pipeline shape
is :func:`fraud_dagster.shape.shape_resource`.
"""

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource
from dagster_snowflake import SnowflakeResource

from fraud_core.promotion import PromotionPolicy
from fraud_dagster.environment import (
    Environment,
    WarehouseKind,
    branch_name,
    current_environment,
    warehouse_kind,
)
from fraud_dagster.resources import (
    DuckDBWarehouseResource,
    LocalSeed,
    ModelStoreResource,
    ReportDirectory,
    SnowflakeWarehouseResource,
    TablesConfig,
    data_dir,
    fixed_resource,
)
from fraud_storage.branches import branch_identifier

__all__ = [
    "REPORT_DIR_VARIABLE",
    "model_store_resource",
    "promotion_policy_resource",
    "report_directory_resource",
    "snowflake_resource",
    "tables_config",
    "warehouse_resource",
]

REPORT_DIR_VARIABLE = "FRAUD_REPORT_DIR"


def snowflake_resource() -> SnowflakeResource:
    """Snowflake connection from ``SNOWFLAKE_*`` environment variables (never literals)."""
    auth: dict[str, Any]
    if os.environ.get("SNOWFLAKE_PRIVATE_KEY"):
        auth = {"private_key": dg.EnvVar("SNOWFLAKE_PRIVATE_KEY")}
        if os.environ.get("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"):
            auth["private_key_password"] = dg.EnvVar("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE")
    else:
        auth = {"password": dg.EnvVar("SNOWFLAKE_PASSWORD")}
    endpoint: dict[str, Any] = {
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


def tables_config(environment: Environment) -> TablesConfig:
    """The table locations of ``environment`` (branch deployments get their own output schema)."""
    return TablesConfig(
        source_table=os.environ.get("FRAUD_SOURCE_TABLE", "RAW.CUSTOMER_TRANSACTIONS"),
        output_schema=os.environ.get("FRAUD_OUTPUT_SCHEMA", "FRAUD"),
        branch=branch_name() if environment is Environment.BRANCH else None,
    )


def warehouse_resource(
    environment: Environment, *, seed_missing_source: bool = True
) -> DuckDBWarehouseResource | SnowflakeWarehouseResource:
    """The warehouse for ``environment`` (``FRAUD_WAREHOUSE`` may force the engine).

    ``seed_missing_source=False`` is for readers of the pipeline's tables: locally they then fail
    clearly on a missing source instead of simulating one.
    """
    tables = tables_config(environment)
    if warehouse_kind(environment) is WarehouseKind.SNOWFLAKE:
        return SnowflakeWarehouseResource(snowflake=snowflake_resource(), tables=tables)
    return DuckDBWarehouseResource(
        duckdb=DuckDBResource(database=str(data_dir() / "warehouse.duckdb")),
        tables=tables,
        seed=LocalSeed(parquet_path=os.environ.get("FRAUD_SOURCE_PARQUET") or None),
        seed_missing_source=seed_missing_source,
    )


def model_store_resource(environment: Environment) -> ModelStoreResource:
    """Models under ``FRAUD_MODEL_STORE`` (a URL in BRANCH/PROD), else ``data/models``."""
    root = os.environ.get("FRAUD_MODEL_STORE")
    if not root:
        if environment is not Environment.LOCAL:
            raise ValueError(f"FRAUD_MODEL_STORE must be set in {environment.value} deployments")
        root = str(data_dir() / "models")
    if environment is Environment.BRANCH:
        root = _branch_root(root)
    return ModelStoreResource(root=root)


def _branch_root(root: str, env: Mapping[str, str] | None = None) -> str:
    """The current branch deployment's own directory or prefix under ``root``."""
    return f"{root.rstrip('/')}/branches/{branch_identifier(branch_name(env))}"


def promotion_policy_resource(
    environment: Environment, env: Mapping[str, str] | None = None
) -> dg.ResourceDefinition:
    """The promotion gate's thresholds: code defaults, ``FRAUD_PROMOTION_TOLERANCE`` and
    ``FRAUD_MIN_*`` from ``env`` (default: the process environment); in PROD only stricter."""
    policy = PromotionPolicy.from_env(env, only_stricter=environment is Environment.PROD)
    thresholds = ", ".join(f"{k}={v}" for k, v in policy.describe().items())
    return fixed_resource(policy, f"Promotion gate ({environment.value}): {thresholds}")


def report_directory_resource(
    env: Mapping[str, str] | None = None, *, environment: Environment | None = None
) -> dg.ResourceDefinition:
    """Where the HTML reports go: ``FRAUD_REPORT_DIR`` (a directory or URL), else data/reports; a
    branch deployment's under ``branches/<name>`` there (``environment`` default: from ``env``)."""
    env = os.environ if env is None else env
    environment = current_environment(env) if environment is None else environment
    root = env.get(REPORT_DIR_VARIABLE, "").strip() or str(data_dir() / "reports")
    if environment is Environment.BRANCH:
        root = _branch_root(root, env)
    return fixed_resource(ReportDirectory(root), f"HTML reports under {root}")
