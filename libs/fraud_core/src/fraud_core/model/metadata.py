"""What a trained model records about itself (``metadata.json``) and how it is stored."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pandas as pd

__all__ = [
    "METADATA_FILE",
    "METADATA_SCHEMA_VERSION",
    "MODEL_FILE",
    "ModelMetadata",
    "data_hash",
    "iso_time",
    "package_version",
]

MODEL_FILE = "model.cbm"
METADATA_FILE = "metadata.json"
METADATA_SCHEMA_VERSION = 2


def package_version(name: str) -> str:
    """The installed version of distribution ``name`` ("unknown" when not installed)."""
    try:
        return version(name)
    except PackageNotFoundError:  # pragma: no cover - editable installs always have metadata
        return "unknown"


def data_hash(frame: pd.DataFrame) -> str:
    """Stable sha256 of the rows' values (index ignored) and the column names."""
    digest = hashlib.sha256()
    digest.update(json.dumps(list(map(str, frame.columns))).encode())
    if len(frame):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def iso_time(ts: Any) -> str | None:
    """``ts`` as an ISO 8601 string (None when missing)."""
    if ts is None or pd.isna(ts):
        return None
    return pd.Timestamp(ts).isoformat()


@dataclass
class ModelMetadata:
    """Everything needed to audit and reload a trained fraud model (stored as metadata.json)."""

    model_id: str
    features: list[str]
    created_at: str
    training_start: str | None
    training_end: str | None
    n_rows: int
    n_labelled: int
    n_unlabelled_excluded: int
    n_fraud: int
    params: dict[str, Any]
    train_config: dict[str, Any]
    device_requested: str
    device: str
    gpu_count: int
    gpu_devices: str | None
    gpu_fallback_reason: str | None
    data_hash: str
    training_seconds: float
    catboost_version: str
    fraud_core_version: str
    metrics: dict[str, float] = field(default_factory=dict)
    schema_version: int = METADATA_SCHEMA_VERSION
    pipeline_shape: str | None = None
    """Fingerprint of the pipeline shape the model was trained with (None: older metadata)."""
    windows_days: list[int] | None = None
    label_delay_days: int | None = None
    genuine_sample_rate: float | None = None
    """Share of the genuine labelled rows trained on, each weighted 1 / rate (every fraud is kept);
    1.0: no sampling; None: older metadata."""
    sample_seed: int | None = None
    """Seed of the sampling (None: not sampled, or older metadata)."""
    n_labelled_before_sampling: int | None = None
    """Labelled rows of the training window before sampling (``n_labelled``: after)."""

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelMetadata:
        """Parse metadata JSON written by ``to_json`` (unknown keys are rejected)."""
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown metadata keys: {unknown}")
        return cls(**data)
