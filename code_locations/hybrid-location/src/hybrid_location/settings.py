"""The training knobs of the hybrid location: how much labelled history, how it is sampled, which
device, how long.

Run config (a retraining may use another window or device), with defaults and validation. The
business knobs both locations share are :class:`fraud_dagster.settings.FraudSettings`; the
pipeline shape and the promotion policy come from the deployment, never from run config.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field, field_validator

from fraud_core.model import TrainConfig
from fraud_core.training import check_genuine_rate
from fraud_dagster.settings import not_negative, positive

__all__ = ["DEFAULT_GENUINE_SAMPLE_RATE", "TrainingSettings"]

DEFAULT_GENUINE_SAMPLE_RATE = 0.05
"""Share of the genuine transactions the model trains on (every fraud is kept): the fastest rate
whose handbook AP and CP@100 stay within 0.01 of training on every row (benchmarks/RESULTS.md)."""


class TrainingSettings(dg.ConfigurableResource):
    """How ``fraud_detection_model`` trains: its windows of labelled days, the sampling of the
    training window, device, iterations."""

    train_days: int = Field(default=28, description="Labelled days the model trains on.")
    validation_days: int = Field(default=7, description="Labelled days held out for the gate.")
    genuine_sample_rate: float = Field(
        default=DEFAULT_GENUINE_SAMPLE_RATE,
        description=(
            "Share of the training window's genuine transactions trained on, in (0, 1]; every "
            "fraud is kept and each sampled genuine row weighs 1/rate, so scores stay "
            "probabilities. 1 trains on every row. The validation window is never sampled."
        ),
    )
    sample_seed: int = Field(
        default=42, description="Seed of the sampling: the same seed keeps the same rows."
    )
    device: str = Field(default="auto", description="CatBoost device: auto, cpu or gpu.")
    iterations: int | None = Field(default=None, description="Override CatBoost iterations.")

    _positive = field_validator("train_days", "validation_days")(positive)
    _not_negative = field_validator("sample_seed")(not_negative)

    @field_validator("genuine_sample_rate")
    @classmethod
    def _rate(cls, value: float) -> float:
        try:
            return check_genuine_rate(value)
        except ValueError:
            raise ValueError(f"must be in (0, 1], got {value!r}") from None

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
