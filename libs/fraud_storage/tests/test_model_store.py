"""The versioned model store on a local directory and on an fsspec ``memory://`` URL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from fraud_storage.model_store import (
    COMPLETE_MARKER,
    PROMOTED_FILE,
    ModelNotFoundError,
    ModelStore,
    ModelVersionExistsError,
)

FILES = {"model.json": b'{"trees": 3}', "features.txt": b"amount\ncount_7d\n"}


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModelStore]:
    """A fresh, empty store on a temp directory or a unique memory:// root."""
    if request.param == "local":
        yield ModelStore(tmp_path / "models")
        return
    root = f"memory://model-store-test-{uuid.uuid4().hex}"
    yield ModelStore(root)
    memory = fsspec.filesystem("memory")
    if memory.exists(root):
        memory.rm(root, recursive=True)


def test_save_then_load_round_trips_files(store: ModelStore) -> None:
    store.save("2024-04-01T00-00_a", FILES)

    assert store.load("2024-04-01T00-00_a") == FILES
    assert store.versions() == ["2024-04-01T00-00_a"]
    assert (store.path("2024-04-01T00-00_a") / COMPLETE_MARKER).exists()


def test_versions_are_never_overwritten(store: ModelStore) -> None:
    store.save("v1", FILES)

    with pytest.raises(ModelVersionExistsError):
        store.save("v1", {"model.json": b"other"})

    assert store.load("v1") == FILES


def test_a_version_without_the_marker_is_ignored_and_can_be_saved_again(store: ModelStore) -> None:
    store.save("v1", FILES)
    crashed = store.path("v2")  # a crash mid-save: files written, marker never
    crashed.mkdir(parents=True, exist_ok=True)
    (crashed / "model.json").write_bytes(b"half")

    assert store.versions() == ["v1"]
    with pytest.raises(ModelNotFoundError):
        store.load("v2")
    with pytest.raises(ModelNotFoundError):
        store.promote("v2", reason="should fail")

    store.save("v2", FILES)
    assert store.versions() == ["v1", "v2"]
    assert store.load("v2") == FILES


def test_promote_records_evidence_and_previous_version(store: ModelStore) -> None:
    assert store.promoted() is None
    store.save("v1", FILES)
    store.save("v2", FILES)

    first = store.promote("v1", reason="first model", metrics={"average_precision": 0.61})
    second = store.promote("v2", reason="better", metrics={"average_precision": 0.7})

    assert (first.previous_version, second.previous_version) == (None, "v1")
    current = store.promoted()
    assert current == second
    assert current.metrics == {"average_precision": 0.7}
    assert json.loads((store.root / PROMOTED_FILE).read_text())["version"] == "v2"


def test_promote_unknown_version_fails(store: ModelStore) -> None:
    with pytest.raises(ModelNotFoundError, match="v9"):
        store.promote("v9", reason="nope")


@pytest.mark.parametrize("version", ["", "../escape", "a/b", ".hidden", "x" * 200])
def test_invalid_version_names_are_rejected(store: ModelStore, version: str) -> None:
    with pytest.raises(ValueError, match="invalid model version"):
        store.save(version, FILES)


@pytest.mark.parametrize("name", [COMPLETE_MARKER, "../x", "a/b", ""])
def test_invalid_file_names_are_rejected_before_writing(store: ModelStore, name: str) -> None:
    with pytest.raises(ValueError, match="invalid model file names"):
        store.save("v1", {name: b"x"})
    assert store.versions() == []


def test_local_promotion_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.save("v1", FILES)
    store.promote("v1", reason="r")
    store.promote("v1", reason="again")

    assert sorted(p.name for p in tmp_path.iterdir()) == [PROMOTED_FILE, "versions"]


def test_memory_url_is_shared_by_stores_on_the_same_root() -> None:
    root = f"memory://model-store-shared-{uuid.uuid4().hex}"
    try:
        ModelStore(root).save("v1", FILES)
        assert ModelStore(root).load("v1") == FILES
        assert ModelStore(f"memory://other-{uuid.uuid4().hex}").versions() == []
    finally:
        fsspec.filesystem("memory").rm(root, recursive=True)


# --- fraud models in the store: saved, loaded for the running pipeline shape --------------------


@pytest.fixture(scope="module")
def shaped_model():
    """A tiny model trained for a small pipeline shape (module-scoped: training takes a second)."""
    import numpy as np
    import pandas as pd

    from fraud_core.model import TrainConfig, train_model
    from fraud_core.shape import PipelineShape

    shape = PipelineShape(windows_days=(1, 7), label_delay_days=2)
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({c: rng.normal(size=n) for c in shape.feature_columns()})
    frame["tx_fraud"] = pd.array((frame.iloc[:, 0] > 1.2).astype("int8"), dtype="Int8")
    config = TrainConfig(device="cpu", iterations=5, thread_count=1)
    return shape, train_model(frame, config, shape=shape, log=lambda _m: None)


def test_save_then_load_for_the_same_shape(store: ModelStore, shaped_model) -> None:
    from fraud_storage.models import load_model, load_promoted_model, save_model

    shape, model = shaped_model
    version = save_model(store, model)
    assert version == model.metadata.model_id
    loaded = load_model(store, version, shape)
    assert loaded.metadata == model.metadata
    store.promote(version, reason="test")
    assert load_promoted_model(store, shape).metadata.model_id == version


def test_a_model_of_another_shape_is_refused_naming_both(store: ModelStore, shaped_model) -> None:
    from fraud_core.shape import PipelineShape, ShapeMismatchError
    from fraud_storage.models import load_model, load_promoted_model, save_model

    shape, model = shaped_model
    version = save_model(store, model)
    store.promote(version, reason="test")
    running = PipelineShape(windows_days=(1, 7), label_delay_days=3)  # same features, other delay
    with pytest.raises(ShapeMismatchError) as caught:
        load_promoted_model(store, running)
    message = str(caught.value)
    assert message.startswith(f"model {version} was trained with windows 1, 7 days, label delay 2")
    assert shape.fingerprint in message
    assert running.describe() in message
    assert "Retrain the model" in message
    with pytest.raises(ShapeMismatchError):  # also for comparison: a declared incompatibility
        load_model(store, version, running, accept_unrecorded_shape=True)


def test_metadata_without_a_shape_loads_only_for_comparison(
    store: ModelStore, shaped_model
) -> None:
    """Saved before shapes were recorded: scoring refuses it; the gate may compare with it when
    its features are the running shape's, and refuses it (declared) when they are not."""
    from fraud_core.model import METADATA_FILE, MODEL_FILE
    from fraud_core.shape import PipelineShape, ShapeMismatchError
    from fraud_storage.models import load_model, load_promoted_model

    shape, model = shaped_model
    metadata = json.loads(model.metadata_json())
    for key in ("pipeline_shape", "windows_days", "label_delay_days"):
        del metadata[key]
    metadata["schema_version"] = 1
    store.save(
        "legacy", {MODEL_FILE: model.model_bytes(), METADATA_FILE: json.dumps(metadata).encode()}
    )
    store.promote("legacy", reason="before shapes")
    with pytest.raises(ShapeMismatchError, match="model legacy was trained with no recorded"):
        load_promoted_model(store, shape)
    compared = load_model(store, "legacy", shape, accept_unrecorded_shape=True)
    assert compared.metadata.pipeline_shape is None
    other = PipelineShape(windows_days=(1, 14), label_delay_days=2)  # other feature columns
    with pytest.raises(ShapeMismatchError):
        load_model(store, "legacy", other, accept_unrecorded_shape=True)


def test_corrupt_metadata_is_not_a_shape_mismatch(store: ModelStore, shaped_model) -> None:
    from fraud_core.model import METADATA_FILE, MODEL_FILE
    from fraud_core.shape import ShapeMismatchError
    from fraud_storage.models import load_model

    shape, model = shaped_model
    store.save("broken", {MODEL_FILE: model.model_bytes(), METADATA_FILE: b'{"model_id": '})
    with pytest.raises(json.JSONDecodeError) as caught:
        load_model(store, "broken", shape, accept_unrecorded_shape=True)
    assert not isinstance(caught.value, ShapeMismatchError)


def test_no_promoted_model_is_a_clear_error(store: ModelStore) -> None:
    from fraud_core.shape import PipelineShape
    from fraud_storage.models import NoPromotedModelError, load_promoted_model

    with pytest.raises(NoPromotedModelError, match=r"no promoted model in .*fraud_detection_model"):
        load_promoted_model(store, PipelineShape())
