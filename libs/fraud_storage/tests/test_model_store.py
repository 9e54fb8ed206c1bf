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
