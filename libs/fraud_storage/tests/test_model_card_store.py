"""A model's card in the store: one of its version's files, hashed in the manifest, verified."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraud_core.columns import TX_FRAUD
from fraud_core.model import METADATA_FILE, MODEL_FILE, FraudModel, TrainConfig, train_model
from fraud_core.shape import PipelineShape
from fraud_storage.model_store import (
    COMPLETE_MARKER,
    FileDigest,
    ModelIntegrityError,
    ModelNotFoundError,
    ModelStore,
)
from fraud_storage.models import (
    MODEL_CARD_FILE,
    load_model,
    load_model_card,
    load_promoted_model,
    model_card_location,
    save_model,
)

SHAPE = PipelineShape(windows_days=(1, 7), label_delay_days=2)
CARD = "<!DOCTYPE html><html><body><h1>Model card</h1></body></html>"


@pytest.fixture(scope="module")
def model() -> FraudModel:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.normal(size=300) for c in SHAPE.feature_columns()})
    frame[TX_FRAUD] = pd.array((frame.iloc[:, 0] > 1.2).astype("int8"), dtype="Int8")
    return train_model(
        frame, TrainConfig(device="cpu", iterations=5, thread_count=1), shape=SHAPE, log=print
    )


def test_the_card_is_saved_in_the_version_and_its_manifest(
    tmp_path: Path, model: FraudModel
) -> None:
    store = ModelStore(tmp_path / "models")
    version = save_model(store, model, card_html=CARD)
    location = model_card_location(store, version)
    assert Path(location) == tmp_path / "models" / "versions" / version / MODEL_CARD_FILE
    assert Path(location).read_text(encoding="utf-8") == CARD
    manifest = store.manifest(version)
    assert set(manifest.files) == {MODEL_FILE, METADATA_FILE, MODEL_CARD_FILE}
    assert manifest.files[MODEL_CARD_FILE] == FileDigest.of(CARD.encode())
    assert load_model_card(store, version) == CARD
    store.promote(version, reason="test", expected_current=None)
    assert load_promoted_model(store, SHAPE).record.files == manifest.files
    assert load_model(store, version, SHAPE).metadata == model.metadata


def test_a_changed_card_fails_verification_like_the_model(
    tmp_path: Path, model: FraudModel
) -> None:
    store = ModelStore(tmp_path / "models")
    version = save_model(store, model, card_html=CARD)
    store.promote(version, reason="test", expected_current=None)
    Path(model_card_location(store, version)).write_text(CARD.replace("card", "CARD"))
    with pytest.raises(ModelIntegrityError, match=f"{MODEL_CARD_FILE} has sha256"):
        load_model_card(store, version)
    with pytest.raises(ModelIntegrityError, match=MODEL_CARD_FILE):
        load_promoted_model(store, SHAPE)


def test_a_version_without_a_card_still_loads(tmp_path: Path, model: FraudModel) -> None:
    store = ModelStore(tmp_path / "models")
    version = save_model(store, model)
    assert set(store.manifest(version).files) == {MODEL_FILE, METADATA_FILE}
    assert load_model(store, version, SHAPE).metadata == model.metadata
    with pytest.raises(ModelNotFoundError, match="no model card"):
        load_model_card(store, version)
    assert (tmp_path / "models" / "versions" / version / COMPLETE_MARKER).is_file()


def test_an_object_store_card_is_located_by_url() -> None:
    store = ModelStore("memory://cards/models")
    assert (
        model_card_location(store, "v1") == f"memory://cards/models/versions/v1/{MODEL_CARD_FILE}"
    )
