"""Moving ``fraud_core`` models in and out of the versioned model store."""

from __future__ import annotations

from collections.abc import Sequence

from fraud_storage import ModelStore

from fraud_core.model import FraudModel

MODEL_FILE = "model.cbm"
METADATA_FILE = "metadata.json"


class NoPromotedModelError(RuntimeError):
    """Scoring was asked for before any model passed the promotion gate."""


def save_model(store: ModelStore, model: FraudModel) -> str:
    """Store ``model`` as a new immutable version; returns the version id."""
    version = model.metadata.model_id
    store.save(
        version,
        {MODEL_FILE: model.model_bytes(), METADATA_FILE: model.metadata_json().encode("utf-8")},
    )
    return version


def load_model(store: ModelStore, version: str, expected_features: Sequence[str]) -> FraudModel:
    """Load a stored version, refusing one whose features differ from ``expected_features``."""
    files = store.load(version)
    return FraudModel.from_bytes(files[MODEL_FILE], files[METADATA_FILE], expected_features)


def load_promoted_model(store: ModelStore, expected_features: Sequence[str]) -> FraudModel:
    """The promoted model; raises NoPromotedModelError when none was ever promoted."""
    record = store.promoted()
    if record is None:
        raise NoPromotedModelError(
            f"no promoted model in {store.root}: materialize fraud_detection_model first "
            "(its promotion_gate check must pass before fraud_scores can run)"
        )
    return load_model(store, record.version, expected_features)
