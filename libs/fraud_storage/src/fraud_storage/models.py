"""Fraud models in the versioned model store: save, load for a pipeline shape, load the promoted one.

A model is stored as two files (``model.cbm``, ``metadata.json``), and its card
(``model_card.html``, :mod:`fraud_core.model.card`) when it has one, under an immutable version of
:class:`~fraud_storage.model_store.ModelStore`, which verifies their SHA-256 on every load. Loading
then checks the pipeline shape recorded in the metadata against the running one: a model of another
shape (other windows, label delay or feature list) raises :class:`~fraud_core.shape.ShapeMismatchError`,
a permanent error that says to retrain. A model saved before shapes were recorded (metadata schema 1)
is refused for scoring; for comparison in the promotion gate it is accepted when its feature list
is the running one's (see :func:`load_model`). A broken ``metadata.json`` (bad JSON, unknown or
missing keys) raises :class:`~fraud_storage.model_store.ModelIntegrityError`, also permanent.

The promoted model comes with its version as the store verified it (:class:`PromotedModel`):
scores carry that version, never a name read from the metadata file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from fraud_core.model import METADATA_FILE, MODEL_FILE, FraudModel, ModelMetadata
from fraud_core.shape import PipelineShape, ShapeMismatchError
from fraud_storage.model_store import (
    ModelIntegrityError,
    ModelNotFoundError,
    ModelStore,
    PromotionRecord,
)
from fraud_storage.reports import is_url

__all__ = [
    "MODEL_CARD_FILE",
    "NoPromotedModelError",
    "PromotedModel",
    "load_model",
    "load_model_card",
    "load_promoted_model",
    "model_card_location",
    "save_model",
]

MODEL_CARD_FILE = "model_card.html"
"""The model card's file in a version, next to ``model.cbm`` and ``metadata.json``."""


class NoPromotedModelError(RuntimeError):
    """Scoring was asked for before any model passed the promotion gate."""


@dataclass(frozen=True)
class PromotedModel:
    """The promoted model, verified against its promotion record and its version's manifest."""

    model: FraudModel
    record: PromotionRecord

    @property
    def version(self) -> str:
        """The store's version of the model (what scores record as their model version)."""
        return self.record.version


def save_model(store: ModelStore, model: FraudModel, *, card_html: str | None = None) -> str:
    """Store ``model`` (and its card's HTML) as a new immutable version; returns the version id.

    The card is one of the version's files: hashed in its manifest, verified on every load.
    """
    version = model.metadata.model_id
    files = {MODEL_FILE: model.model_bytes(), METADATA_FILE: model.metadata_json().encode("utf-8")}
    if card_html is not None:
        files[MODEL_CARD_FILE] = card_html.encode("utf-8")
    store.save(version, files)
    return version


def model_card_location(store: ModelStore, version: str) -> str:
    """Where the card of ``version`` lives: a local file's absolute path, or the object's URL."""
    target = store.path(version) / MODEL_CARD_FILE
    return str(target) if is_url(str(target)) else os.path.abspath(target.path)


def load_model_card(store: ModelStore, version: str) -> str:
    """The card's HTML of a stored version, verified with all its files against its manifest."""
    files = store.load(version)
    if MODEL_CARD_FILE not in files:
        raise ModelNotFoundError(f"model version {version} in {store.root} has no model card")
    return files[MODEL_CARD_FILE].decode("utf-8")


def load_model(
    store: ModelStore, version: str, shape: PipelineShape, *, accept_unrecorded_shape: bool = False
) -> FraudModel:
    """Load a verified stored version trained with ``shape``; raises ShapeMismatchError otherwise.

    ``accept_unrecorded_shape`` also accepts a model whose metadata predates recorded shapes when
    its feature list is ``shape``'s (the promotion gate compares a candidate with such a model
    rather than with the floors alone); scoring never does.
    """
    return _fraud_model(store, version, store.load(version), shape, accept_unrecorded_shape)


def load_promoted_model(
    store: ModelStore,
    shape: PipelineShape,
    *,
    record: PromotionRecord | None = None,
    accept_unrecorded_shape: bool = False,
) -> PromotedModel:
    """The promoted model of ``shape``, verified against ``record`` (default: read it now).

    Raises NoPromotedModelError when none was promoted, ModelIntegrityError when the record, the
    manifest, the promotion certificate or a file do not match, ShapeMismatchError for another
    shape (``accept_unrecorded_shape`` as in :func:`load_model`).
    """
    record = store.promoted() if record is None else record
    if record is None:
        raise NoPromotedModelError(
            f"no promoted model in {store.root}: materialize fraud_detection_model first "
            "(its promotion_gate check must pass before fraud_scores can run)"
        )
    files = store.load_promoted(record)
    model = _fraud_model(store, record.version, files, shape, accept_unrecorded_shape)
    return PromotedModel(model=model, record=record)


def _fraud_model(
    store: ModelStore,
    version: str,
    files: dict[str, bytes],
    shape: PipelineShape,
    accept_unrecorded_shape: bool,
) -> FraudModel:
    missing = sorted({MODEL_FILE, METADATA_FILE} - set(files))
    if missing:
        raise ModelIntegrityError(
            f"model version {version} in {store.root} has no {', '.join(missing)}"
        )
    metadata = _metadata(store, version, files[METADATA_FILE])
    _require_shape(version, metadata, shape, accept_unrecorded_shape)
    return FraudModel.from_bytes(files[MODEL_FILE], files[METADATA_FILE], shape.feature_columns())


def _metadata(store: ModelStore, version: str, raw: bytes) -> ModelMetadata:
    """The version's metadata; a broken file is a permanent ModelIntegrityError naming it."""
    try:
        return ModelMetadata.from_json(raw)
    except (ValueError, TypeError) as error:  # bad JSON, unknown keys / missing keys
        raise ModelIntegrityError(
            f"{store.path(version) / METADATA_FILE} is broken ({type(error).__name__}: {error})"
        ) from None


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
