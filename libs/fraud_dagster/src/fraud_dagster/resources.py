"""Dagster resources shared by every fraud code location: a ``Warehouse`` and a ``ModelStore``.

They are thin wrappers around ``fraud_storage``; which implementation an environment gets is decided
by :mod:`fraud_dagster.builders`, nowhere else. The heavy location (``hybrid_location``) writes the
tables through them and the light one (``monitoring_location``) reads the same tables through them,
so both always agree on engine, table names and branch isolation.

Values that come from code and the deployment's environment, never from run config (the pipeline
shape, the promotion policy, the report directory) are fixed resources (:func:`fixed_resource`):
assets take them as ``dg.ResourceParam[...]``, and a run config that tries to set them fails
validation.

A branch deployment's isolation (its own output schema and model-store prefix) is checked again
when a run builds its warehouse or store: run config that sets ``tables.branch`` or
``model_store.root`` to anything but the deployment's own raises :class:`BranchIsolationError`
before any table or file is touched, so no launchpad edit can aim a branch run at PROD.
"""

import json
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

from fraud_core.columns import TX_DATETIME, TX_FRAUD
from fraud_core.shape import PipelineShape
from fraud_core.simulate import simulate_transactions
from fraud_dagster.environment import Environment, branch_name, current_environment
from fraud_storage import ModelStore, TableNames, Warehouse
from fraud_storage.branches import branch_identifier
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


class BranchIsolationError(ValueError):
    """A branch deployment's run was configured to read or write outside its own branch."""


def _deployment_branch() -> str | None:
    """The raw branch name of this deployment when it is a branch deployment, else None."""
    return branch_name() if current_environment() is Environment.BRANCH else None


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

    def table_names(self) -> TableNames:
        """The tables of this run, refused when they leave the branch deployment's own schema."""
        branch = _deployment_branch()
        if branch is not None and self.tables.branch != branch:
            raise BranchIsolationError(
                f"branch deployment {branch!r} writes only to its own output schema, but this run "
                f"is configured with tables.branch={self.tables.branch!r}: remove "
                "resources.warehouse.config.tables from the run config"
            )
        return self.tables.table_names()


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
    label_delay_days: int | None = Field(
        default=None,
        description=(
            "Simulated labels arrive this many days after their transaction: NULL in the seed "
            "when younger than that on the day after the last simulated day, as a real source "
            "holds them. Default: the pipeline shape's label delay (FRAUD_LABEL_DELAY_DAYS); "
            "0: every label known (the handbook's data)."
        ),
    )

    def frame(self) -> pd.DataFrame:
        """The transactions to seed with."""
        if self.parquet_path:
            return pd.read_parquet(self.parquet_path)
        first, _ = self._simulated_days()
        delay = self.label_delay_days
        return simulate_transactions(
            n_customers=self.n_customers,
            n_terminals=self.n_terminals,
            start_date=first,
            n_days=self.n_days,
            seed=self.seed,
            label_delay_days=PipelineShape.from_env().label_delay_days if delay is None else delay,
        )

    def first_day(self) -> date:
        """The first day the seed holds: the parquet's first transaction, or the simulation's."""
        if self.parquet_path:
            times = pd.read_parquet(self.parquet_path, columns=[TX_DATETIME])[TX_DATETIME]
            return pd.Timestamp(times.min()).date()
        return self._simulated_days()[0]

    def _simulated_days(self) -> tuple[date, date]:
        last = date.fromisoformat(self.end_date) if self.end_date else _yesterday()
        return last - timedelta(days=self.n_days - 1), last


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
        warehouse = DuckDBWarehouse(self.duckdb.get_connection, self.table_names())
        if self.seed_missing_source and not warehouse.table_exists(warehouse.tables.source):
            # Checked again inside the loading transaction: of processes that all found the
            # source missing (parallel first runs), exactly one loads the seed.
            frame = self.seed.frame()
            loaded = warehouse.load_source(frame, if_missing=True)
            if loaded:
                log.info("seeded %s with %d transactions", warehouse.tables.source, loaded)
                self._record_seed(frame)
        return warehouse

    def source_first_day(self) -> date:
        """The local source's first day: as recorded when it was seeded, else the seed's."""
        record = self._seed_record()
        if record.is_file():
            return date.fromisoformat(json.loads(record.read_text(encoding="utf-8"))["first_day"])
        return self.seed.first_day()

    def _seed_record(self) -> Path:
        """Next to the DuckDB file: what was seeded (the seed's default end moves every day)."""
        return Path(self.duckdb.database).with_suffix(".seed.json")

    def _record_seed(self, frame: pd.DataFrame) -> None:
        if TX_DATETIME not in frame:
            return  # a source the pipeline will reject anyway (validation names the column)
        times = frame[TX_DATETIME]
        record = {
            "first_day": pd.Timestamp(times.min()).date().isoformat(),
            "last_day": pd.Timestamp(times.max()).date().isoformat(),
            "rows": len(frame),
            "labelled": int(frame[TX_FRAUD].notna().sum()) if TX_FRAUD in frame else 0,
            "source": self.seed.parquet_path or "simulated",
        }
        path = self._seed_record()
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record, indent=2), encoding="utf-8")
        temporary.replace(path)


class SnowflakeWarehouseResource(WarehouseResource):
    """Snowflake through dagster-snowflake's resource (credentials from the environment)."""

    snowflake: dg.ResourceDependency[SnowflakeResource]

    def get_warehouse(self) -> Warehouse:
        """A Snowflake warehouse using the configured connection."""
        from fraud_storage.snowflake_warehouse import SnowflakeWarehouse

        return SnowflakeWarehouse(self.snowflake.get_connection, self.table_names())


class ModelStoreResource(dg.ConfigurableResource):
    """Versioned model storage: a local directory or any fsspec URL (s3://, gs://, ...)."""

    root: str = Field(description="Directory or URL under which model versions are kept.")

    def get_store(self) -> ModelStore:
        """The model store at ``root``, refused outside a branch deployment's own prefix."""
        branch = _deployment_branch()
        if branch is not None:
            own = f"/branches/{branch_identifier(branch)}"
            if not self.root.rstrip("/").endswith(own):
                raise BranchIsolationError(
                    f"branch deployment {branch!r} keeps its models under <FRAUD_MODEL_STORE>{own}, "
                    f"but this run is configured with model_store.root={self.root!r}: remove "
                    "resources.model_store.config from the run config"
                )
        return ModelStore(self.root)
