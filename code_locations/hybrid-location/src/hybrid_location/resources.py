"""Dagster resources: thin wrappers that hand the assets a ``Warehouse``, a ``ModelStore`` and settings.

Which implementation each environment gets is decided in ``defs/resources.py``, nowhere else.
"""

import logging
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource
from dagster_snowflake import SnowflakeResource
from fraud_storage import ModelStore, TableNames, Warehouse
from fraud_storage.duckdb_warehouse import DuckDBWarehouse
from pydantic import Field, field_validator

from fraud_core.features import FeatureConfig, lookback_days
from fraud_core.model import TrainConfig
from fraud_core.promotion import PromotionPolicy
from fraud_core.simulate import simulate_transactions

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = "data"


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

    def get_warehouse(self) -> Warehouse:
        """A DuckDB warehouse whose source table exists (seeded if it did not)."""
        warehouse = DuckDBWarehouse(self.duckdb.get_connection, self.tables.table_names())
        if not warehouse.table_exists(warehouse.tables.source):
            frame = self.seed.frame()
            log.info("seeding %s with %d transactions", warehouse.tables.source, len(frame))
            warehouse.load_source(frame)
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


class FraudSettings(dg.ConfigurableResource):
    """Every knob a fraud team changes, declared once with defaults and validated."""

    windows_days: list[int] = Field(default_factory=lambda: list(FeatureConfig().windows_days))
    label_delay_days: int = FeatureConfig().label_delay_days
    train_days: int = Field(default=28, description="Labelled days the model trains on.")
    validation_days: int = Field(default=7, description="Labelled days held out for the gate.")
    device: str = Field(default="auto", description="CatBoost device: auto, cpu or gpu.")
    iterations: int | None = Field(default=None, description="Override CatBoost iterations.")
    alert_budget: int = Field(default=100, description="Cards the fraud team can review a day.")
    alert_threshold: float = Field(default=0.5, description="Probability that raises an alert.")
    report_dir: str = Field(
        default_factory=lambda: str(data_dir() / "reports"),
        description="Directory or URL where the daily HTML reports are written.",
    )
    promotion_tolerance: float = Field(
        default=0.01, description="How much worse (absolute AP) a candidate may be and still pass."
    )
    min_average_precision: float = Field(
        default=0.2, description="Floor a first model must beat (average precision)."
    )
    min_roc_auc: float = Field(default=0.7, description="Floor a first model must beat (ROC AUC).")

    @field_validator("windows_days")
    @classmethod
    def _windows(cls, value: list[int]) -> list[int]:
        FeatureConfig(windows_days=tuple(value))  # raises a clear ValueError when invalid
        return value

    @field_validator("train_days", "validation_days", "alert_budget")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(f"must be positive, got {value}")
        return value

    @field_validator("alert_threshold")
    @classmethod
    def _probability(cls, value: float) -> float:
        if not 0.0 < value < 1.0:
            raise ValueError(f"must be a probability in (0, 1), got {value}")
        return value

    def feature_config(self) -> FeatureConfig:
        """The feature configuration of ``fraud_core``."""
        return FeatureConfig(
            windows_days=tuple(self.windows_days), label_delay_days=self.label_delay_days
        )

    def lookback_days(self) -> int:
        """Days of history a day's features need."""
        return lookback_days(self.feature_config())

    def train_config(self, features: list[str]) -> TrainConfig:
        """The CatBoost training configuration for the given feature columns."""
        overrides = {"iterations": self.iterations} if self.iterations else {}
        return TrainConfig(device=self.device, features=tuple(features), **overrides)

    def promotion_policy(self) -> PromotionPolicy:
        """When a candidate model may replace the promoted one."""
        return PromotionPolicy(
            tolerance=self.promotion_tolerance,
            min_average_precision=self.min_average_precision,
            min_roc_auc=self.min_roc_auc,
        )
