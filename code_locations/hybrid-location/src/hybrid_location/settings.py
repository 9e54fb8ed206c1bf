"""The training knobs of the hybrid location: how much labelled history, which device, how long.

Run config (a retraining may use another window or device), with defaults and validation. The
business knobs both locations share are :class:`fraud_dagster.settings.FraudSettings`; the
pipeline shape and the promotion policy come from the deployment, never from run config.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field, field_validator

from fraud_core.model import TrainConfig
from fraud_dagster.settings import positive

__all__ = ["TrainingSettings"]


class TrainingSettings(dg.ConfigurableResource):
    """How ``fraud_detection_model`` trains: its windows of labelled days, device, iterations."""

    train_days: int = Field(default=28, description="Labelled days the model trains on.")
    validation_days: int = Field(default=7, description="Labelled days held out for the gate.")
    device: str = Field(default="auto", description="CatBoost device: auto, cpu or gpu.")
    iterations: int | None = Field(default=None, description="Override CatBoost iterations.")

    _positive = field_validator("train_days", "validation_days")(positive)

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if value not in ("auto", "cpu", "gpu"):
            raise ValueError(f"must be auto, cpu or gpu, got {value!r}")
        return value

    def train_config(self) -> TrainConfig:
        """The CatBoost training configuration (the features are the pipeline shape's)."""
        overrides = {"iterations": self.iterations} if self.iterations else {}
        return TrainConfig(device=self.device, **overrides)  # type: ignore[arg-type]
