"""Dagster resources shared by every fraud code location: a ``Warehouse`` and a ``ModelStore``.

They are thin wrappers around ``fraud_storage``; which implementation an environment gets is decided
by :mod:`fraud_dagster.builders`, nowhere else. The heavy location (``hybrid_location``) writes the
tables through them and the light one (``monitoring_location``) reads the same tables through them,
so both always agree on engine, table names and branch isolation.

Values that come from code and the deployment's environment, never from run config (the pipeline
shape, the promotion policy, the report directory) are fixed resources (:func:`fixed_resource`):
assets take them as ``dg.ResourceParam[...]``, and a run config that tries to set them fails
validation.
"""

import logging
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource
from dagster_snowflake import SnowflakeResource
from pydantic import Field

from fraud_core.simulate import simulate_transactions
from fraud_storage import ModelStore, TableNames, Warehouse
from fraud_storage.duckdb_warehouse import DuckDBWarehouse

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = "data"

WAREHOUSE_POOL = "fraud_warehouse"
"""Concurrency pool of every asset, in any location, that reads or writes the warehouse.

Pools are deployment-wide, so assets of different code locations that share this name never run
at the same time. Locally that matters: an embedded DuckDB file admits one process at a time."""


def fixed_resource(value: Any, description: str) -> dg.ResourceDefinition:
    """A resource that is ``value``, with an empty config schema: run config cannot set it."""
    return dg.ResourceDefinition(
        resource_fn=lambda _: value, config_schema={}, description=description
    )


@dataclass(frozen=True)
class ReportDirectory:
    """Where the daily HTML reports are written: a directory or an fsspec URL."""

    root: str

    def __post_init__(self) -> None:
        if not self.root.strip():
            raise ValueError("the report directory must not be empty")

    def html_path(self, day: date) -> str:
        """The HTML report of ``day``."""
        return f"{self.root.rstrip('/')}/fraud_report_{day.isoformat()}.html"


def data_dir() -> Path:
    """The local data directory (``FRAUD_DATA_DIR``, default ``./data``)."""
    return Path(os.environ.get("FRAUD_DATA_DIR", DEFAULT_DATA_DIR)).resolve()


class TablesConfig(dg.Config):
    """Where the source and output tables live (validated identifiers)."""

    source_table: str = "RAW.CUSTOMER_TRANSACTIONS"
    output_schema: str = "FRAUD"
    output_database: str | None = None
    branch: str | None = Field(
        default=None, description="Set in branch deployments: outputs go to a schema of their own."
    )

    def table_names(self) -> TableNames:
        """The validated table set (outputs isolated per branch when ``branch`` is set)."""
        names = TableNames.from_strings(
            source=self.source_table,
            output_schema=self.output_schema,
            database=self.output_database,
        )
        return names.for_branch(self.branch) if self.branch else names


class WarehouseResource(dg.ConfigurableResource):
    """Gives assets a ``Warehouse``; subclasses pick the engine."""

    tables: TablesConfig = TablesConfig()

    def get_warehouse(self) -> Warehouse:
        """The warehouse the assets read from and write to."""
        raise NotImplementedError


class LocalSeed(dg.Config):
    """How an empty local source table is seeded on first use."""

    parquet_path: str | None = Field(
        default=None, description="Load this parquet file (e.g. the handbook data) instead."
    )
    n_customers: int = 5000
    n_terminals: int = 10000
    n_days: int = 120
    end_date: str | None = Field(
        default=None, description="Last simulated day (YYYY-MM-DD); default: yesterday (UTC)."
    )
    seed: int = 7

    def frame(self) -> pd.DataFrame:
        """The transactions to seed with."""
        if self.parquet_path:
            return pd.read_parquet(self.parquet_path)
        end = date.fromisoformat(self.end_date) if self.end_date else _yesterday()
        start = end - timedelta(days=self.n_days - 1)
        return simulate_transactions(
            n_customers=self.n_customers,
            n_terminals=self.n_terminals,
            start_date=start,
            n_days=self.n_days,
            seed=self.seed,
        )


def _yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


class DuckDBWarehouseResource(WarehouseResource):
    """The embedded default: a DuckDB file, its source seeded on first use."""

    duckdb: dg.ResourceDependency[DuckDBResource]
    seed: LocalSeed = LocalSeed()
    seed_missing_source: bool = Field(
        default=True,
        description=(
            "Seed the source table when it does not exist. Locations that only read the pipeline's "
            "tables (monitoring) turn this off: they must never invent the data they monitor."
        ),
    )

    def get_warehouse(self) -> Warehouse:
        """A DuckDB warehouse; its source table is seeded first if missing (and allowed)."""
        warehouse = DuckDBWarehouse(self.duckdb.get_connection, self.tables.table_names())
        if self.seed_missing_source and not warehouse.table_exists(warehouse.tables.source):
            # Checked again inside the loading transaction: of processes that all found the
            # source missing (parallel first runs), exactly one loads the seed.
            loaded = warehouse.load_source(self.seed.frame(), if_missing=True)
            if loaded:
                log.info("seeded %s with %d transactions", warehouse.tables.source, loaded)
        return warehouse


class SnowflakeWarehouseResource(WarehouseResource):
    """Snowflake through dagster-snowflake's resource (credentials from the environment)."""

    snowflake: dg.ResourceDependency[SnowflakeResource]

    def get_warehouse(self) -> Warehouse:
        """A Snowflake warehouse using the configured connection."""
        from fraud_storage.snowflake_warehouse import SnowflakeWarehouse

        return SnowflakeWarehouse(self.snowflake.get_connection, self.tables.table_names())


class ModelStoreResource(dg.ConfigurableResource):
    """Versioned model storage: a local directory or any fsspec URL (s3://, gs://, ...)."""

    root: str = Field(description="Directory or URL under which model versions are kept.")

    def get_store(self) -> ModelStore:
        """The model store at ``root``."""
        return ModelStore(self.root)
