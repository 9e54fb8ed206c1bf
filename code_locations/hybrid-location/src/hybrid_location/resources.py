"""Dagster resources of the hybrid location: the shared warehouse/model-store resources, and settings.

The warehouse and model-store resources are shared with every other fraud location and live in
:mod:`fraud_dagster.resources` (re-exported here under their historical names); only the pipeline's
own knobs, :class:`FraudSettings`, are defined here. Which implementation each environment gets is
decided in :mod:`fraud_dagster.builders` (used by ``defs/resources.py``), nowhere else.
"""

import dagster as dg
from pydantic import Field, field_validator

from fraud_core.features import FeatureConfig, lookback_days
from fraud_core.model import TrainConfig
from fraud_core.promotion import PromotionPolicy
from fraud_dagster.resources import (
    DEFAULT_DATA_DIR,
    DuckDBWarehouseResource,
    LocalSeed,
    ModelStoreResource,
    SnowflakeWarehouseResource,
    TablesConfig,
    WarehouseResource,
    data_dir,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "DuckDBWarehouseResource",
    "FraudSettings",
    "LocalSeed",
    "ModelStoreResource",
    "SnowflakeWarehouseResource",
    "TablesConfig",
    "WarehouseResource",
    "data_dir",
]


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
