"""Fraud models in the versioned model store: save, load for a pipeline shape, load the promoted one.

A model is stored as two files (``model.cbm``, ``metadata.json``) under an immutable version of
:class:`~fraud_storage.model_store.ModelStore`. Loading checks the pipeline shape recorded in the
metadata against the running one before anything else: a model of another shape (other windows,
label delay or feature list) raises :class:`~fraud_core.shape.ShapeMismatchError`, a permanent
error that says to retrain. A model saved before shapes were recorded (metadata schema 1) is
refused for scoring; for comparison in the promotion gate it is accepted when its feature list
is the running one's (see :func:`load_model`).
"""

from __future__ import annotations

from fraud_core.model import METADATA_FILE, MODEL_FILE, FraudModel, ModelMetadata
from fraud_core.shape import PipelineShape, ShapeMismatchError
from fraud_storage.model_store import ModelStore

__all__ = ["NoPromotedModelError", "load_model", "load_promoted_model", "save_model"]


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


def load_model(
    store: ModelStore, version: str, shape: PipelineShape, *, accept_unrecorded_shape: bool = False
) -> FraudModel:
    """Load a stored version trained with ``shape``; raises ShapeMismatchError otherwise.

    ``accept_unrecorded_shape`` also accepts a model whose metadata predates recorded shapes when
    its feature list is ``shape``'s (the promotion gate compares a candidate with such a model
    rather than with the floors alone); scoring never does.
    """
    files = store.load(version)
    metadata = ModelMetadata.from_json(files[METADATA_FILE])
    _require_shape(version, metadata, shape, accept_unrecorded_shape)
    return FraudModel.from_bytes(files[MODEL_FILE], files[METADATA_FILE], shape.feature_columns())


def load_promoted_model(store: ModelStore, shape: PipelineShape) -> FraudModel:
    """The promoted model, of ``shape``; raises NoPromotedModelError when none was promoted."""
    record = store.promoted()
    if record is None:
        raise NoPromotedModelError(
            f"no promoted model in {store.root}: materialize fraud_detection_model first "
            "(its promotion_gate check must pass before fraud_scores can run)"
        )
    return load_model(store, record.version, shape)


def _require_shape(
    version: str, metadata: ModelMetadata, shape: PipelineShape, accept_unrecorded: bool
) -> None:
    if metadata.pipeline_shape == shape.fingerprint:
        return
    if (
        metadata.pipeline_shape is None
        and accept_unrecorded
        and list(metadata.features) == shape.feature_columns()
    ):
        return
    raise ShapeMismatchError.for_model(
        version,
        shape,
        fingerprint=metadata.pipeline_shape,
        windows_days=metadata.windows_days,
        label_delay_days=metadata.label_delay_days,
    )
