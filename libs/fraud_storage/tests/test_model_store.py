"""The versioned model store: a local directory, an fsspec ``memory://`` URL and a real S3 API.

The S3 store is ``s3://<bucket>/fraud/models`` on moto's standalone server (a subprocess on
loopback, see ``fraud_testing.object_store``), reached through s3fs: conditional PUTs, listings
and reads go over HTTP as they would to AWS.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest

from fraud_storage.model_store import (
    COMPLETE_MARKER,
    PROMOTED_FILE,
    PROMOTION_CERTIFICATE_PREFIX,
    UNCHECKED,
    LegacyModelStoreError,
    ModelIntegrityError,
    ModelNotFoundError,
    ModelStore,
    ModelVersionExistsError,
    PromotionConflictError,
    PromotionRecord,
)

FILES = {"model.json": b'{"trees": 3}', "features.txt": b"amount\ncount_7d\n"}
OTHER = {"model.json": b'{"trees": 4}', "features.txt": b"amount\n"}

STORES = [
    pytest.param("local", id="local"),
    pytest.param("memory", id="memory"),
    pytest.param("s3", id="s3", marks=pytest.mark.s3),
]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModelStore]:
    """A fresh, empty store on a temp directory, a unique memory:// root or an S3 bucket."""
    if request.param == "local":
        yield ModelStore(tmp_path / "models")
    elif request.param == "memory":
        root = f"memory://model-store-test-{uuid.uuid4().hex}"
        yield ModelStore(root)
        memory = fsspec.filesystem("memory")
        if memory.exists(root):
            memory.rm(root, recursive=True)
    else:
        server = request.getfixturevalue("s3_server")
        bucket = server.create_bucket()
        yield ModelStore(f"{bucket}/fraud/models", storage_options=server.storage_options())


def stored(store: ModelStore, *parts: str) -> Any:
    """A path inside the store (to inspect or damage it as an operator or a bug would)."""
    return store.root.joinpath(*parts)


def read_json(store: ModelStore, *parts: str) -> dict[str, Any]:
    return json.loads(stored(store, *parts).read_text())


def write_json(store: ModelStore, value: Any, *parts: str) -> None:
    stored(store, *parts).write_text(json.dumps(value))


# --- saving and loading ---------------------------------------------------------------------------


def test_save_then_load_round_trips_files_and_writes_a_manifest(store: ModelStore) -> None:
    store.save("2024-04-01T00-00_a", FILES)

    assert store.load("2024-04-01T00-00_a") == FILES
    assert store.versions() == ["2024-04-01T00-00_a"]
    manifest = read_json(store, "versions", "2024-04-01T00-00_a", COMPLETE_MARKER)
    assert manifest["version"] == "2024-04-01T00-00_a"
    assert manifest["files"] == {
        name: {"sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}
        for name, payload in FILES.items()
    }


def test_versions_are_never_overwritten(store: ModelStore) -> None:
    store.save("v1", FILES)

    with pytest.raises(ModelVersionExistsError):
        store.save("v1", {"model.json": b"other"})

    assert store.load("v1") == FILES


def test_a_version_without_a_manifest_is_invisible_and_can_be_saved_again(
    store: ModelStore,
) -> None:
    """A crash mid-save: the files are written, the manifest never."""
    store.save("v1", FILES)
    half = stored(store, "versions", "v2", "model.json")
    half.parent.mkdir(parents=True, exist_ok=True)
    half.write_bytes(b"half")

    assert store.versions() == ["v1"]
    with pytest.raises(ModelNotFoundError):
        store.load("v2")
    with pytest.raises(ModelNotFoundError):
        store.promote("v2", reason="should fail")

    store.save("v2", FILES)
    assert store.versions() == ["v1", "v2"]
    assert store.load("v2") == FILES


@pytest.mark.parametrize("version", ["", "../escape", "a/b", ".hidden", "x" * 200])
def test_invalid_version_names_are_rejected(store: ModelStore, version: str) -> None:
    with pytest.raises(ValueError, match="invalid model version"):
        store.save(version, FILES)


@pytest.mark.parametrize("name", [COMPLETE_MARKER, "../x", "a/b", "", "_PROMOTION-x.json"])
def test_invalid_file_names_are_rejected_before_writing(store: ModelStore, name: str) -> None:
    with pytest.raises(ValueError, match="invalid model file names"):
        store.save("v1", {name: b"x"})
    assert store.versions() == []


# --- integrity: every load verifies -----------------------------------------------------------


def test_a_changed_file_fails_every_load_naming_it(store: ModelStore) -> None:
    """Overwriting a promoted model's file with another model used to change every score."""
    store.save("v1", FILES)
    record = store.promote("v1", reason="first", expected_current=None)
    stored(store, "versions", "v1", "model.json").write_bytes(OTHER["model.json"])

    for load in (lambda: store.load("v1"), lambda: store.load_promoted(record)):
        with pytest.raises(ModelIntegrityError) as caught:
            load()
        message = str(caught.value)
        assert "model.json" in message
        assert "sha256" in message
        assert f"({len(OTHER['model.json'])} bytes)" in message
    with pytest.raises(ModelIntegrityError):  # nor can it be promoted again
        store.promote("v1", reason="again")


def test_a_missing_file_fails_the_load_naming_it(store: ModelStore) -> None:
    store.save("v1", FILES)
    stored(store, "versions", "v1", "features.txt").unlink()

    with pytest.raises(ModelIntegrityError, match=r"features\.txt is listed in its manifest .*"):
        store.load("v1")


def test_a_broken_manifest_is_a_permanent_error_naming_it(store: ModelStore) -> None:
    store.save("v1", FILES)
    manifest = read_json(store, "versions", "v1", COMPLETE_MARKER)
    manifest["files"]["model.json"]["sha256"] = "not-a-hash"
    write_json(store, manifest, "versions", "v1", COMPLETE_MARKER)

    with pytest.raises(ModelIntegrityError, match=rf"v1/{COMPLETE_MARKER} is broken.*sha256"):
        store.load("v1")


# --- promotion: record, certificate, verification ------------------------------------------------


def test_promote_records_hashes_evidence_and_previous_version(store: ModelStore) -> None:
    assert store.promoted() is None
    store.save("v1", FILES)
    store.save("v2", OTHER)

    first = store.promote(
        "v1",
        reason="first model",
        metrics={"average_precision": 0.61},
        policy={"metric": "average_precision", "tolerance": 0.01},
        expected_current=None,
    )
    second = store.promote(
        "v2",
        reason="better",
        metrics={"average_precision": 0.7},
        compared_with={"average_precision": 0.6},
        expected_current=first,
    )

    assert (first.previous_version, second.previous_version) == (None, "v1")
    current = store.promoted()
    assert current == second
    assert current.metrics == {"average_precision": 0.7}
    assert current.compared_with == {"average_precision": 0.6}
    assert current.files == store.manifest("v2").files
    on_disk = read_json(store, PROMOTED_FILE)
    assert on_disk["version"] == "v2"
    assert set(on_disk["files"]) == set(OTHER)
    assert store.load_promoted(current) == OTHER
    certificates = [
        p.name
        for p in stored(store, "versions", "v2").iterdir()
        if p.name.startswith(PROMOTION_CERTIFICATE_PREFIX)
    ]
    assert len(certificates) == 1


def test_promote_unknown_version_fails(store: ModelStore) -> None:
    with pytest.raises(ModelNotFoundError, match="v9"):
        store.promote("v9", reason="nope")


def test_a_record_pointing_at_another_version_is_refused(store: ModelStore) -> None:
    """Editing promoted.json to name a version that never passed the gate used to load fine."""
    store.save("v1", FILES)
    store.save("v2", OTHER)  # saved, never promoted
    store.promote("v1", reason="first", expected_current=None)
    record = read_json(store, PROMOTED_FILE)
    record["version"] = "v2"
    write_json(store, record, PROMOTED_FILE)

    edited = store.promoted()
    assert edited is not None
    with pytest.raises(ModelIntegrityError, match=r"does not match the manifest .*v2"):
        store.load_promoted(edited)


def test_a_forged_record_for_a_version_that_never_passed_the_gate_is_refused(
    store: ModelStore,
) -> None:
    """Even with the other version's hashes copied in, it holds no promotion certificate."""
    store.save("v1", FILES)
    store.save("v2", OTHER)
    store.promote("v1", reason="first", expected_current=None)
    record = read_json(store, PROMOTED_FILE)
    record["version"] = "v2"
    record["files"] = read_json(store, "versions", "v2", COMPLETE_MARKER)["files"]
    write_json(store, record, PROMOTED_FILE)

    forged = store.promoted()
    assert forged is not None
    with pytest.raises(ModelIntegrityError, match="v2, which never passed the promotion gate"):
        store.load_promoted(forged)


def test_a_record_edited_after_the_promotion_is_refused(store: ModelStore) -> None:
    store.save("v1", FILES)
    store.promote("v1", reason="first", metrics={"average_precision": 0.3}, expected_current=None)
    record = read_json(store, PROMOTED_FILE)
    record["metrics"]["average_precision"] = 0.9
    write_json(store, record, PROMOTED_FILE)

    edited = store.promoted()
    assert edited is not None
    with pytest.raises(ModelIntegrityError, match=r"keys \['metrics'\] differ"):
        store.load_promoted(edited)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: '{"version": "2025', r"is not valid JSON \(JSONDecodeError"),
        (lambda r: "[1, 2]", "must hold a JSON object"),
        (lambda r: {**r, "approved_by": "me"}, r"unknown keys \['approved_by'\]"),
        (lambda r: {k: v for k, v in r.items() if k != "files"}, r"missing keys \['files'\]"),
        (lambda r: {**r, "version": 7}, "'version' must be a string"),
        (lambda r: {**r, "version": "../../etc"}, "not a valid model version"),
        (lambda r: {**r, "metrics": {"average_precision": "high"}}, "must be a number"),
        (lambda r: {**r, "previous_version": 3}, "'previous_version' must be a string"),
        (lambda r: {**r, "files": {"model.json": {"sha256": "00"}}}, r"files\['model.json'\]"),
        (lambda r: {**r, "schema_version": 9}, "unsupported schema_version 9"),
        (lambda r: {**r, "schema_version": True}, "'schema_version' must be an integer"),
    ],
    ids=[
        "bad JSON",
        "not an object",
        "unknown key",
        "missing key",
        "version type",
        "version value",
        "metric type",
        "previous type",
        "file digest",
        "schema",
        "bool schema",
    ],
)
def test_every_broken_promotion_record_is_a_permanent_error_naming_the_file(
    store: ModelStore, damage: Any, message: str
) -> None:
    """Unknown or missing keys used to raise a TypeError, which the assets retried."""
    store.save("v1", FILES)
    store.promote("v1", reason="first", expected_current=None)
    broken = damage(read_json(store, PROMOTED_FILE))
    stored(store, PROMOTED_FILE).write_text(
        broken if isinstance(broken, str) else json.dumps(broken)
    )

    with pytest.raises(ModelIntegrityError) as caught:
        store.promoted()
    assert isinstance(caught.value, ValueError)  # the assets' fail-fast: never retried
    assert f"promotion record {store.root / PROMOTED_FILE} " in str(caught.value)
    assert re.search(message, str(caught.value)), str(caught.value)


def test_a_manual_promotion_may_replace_a_broken_record(store: ModelStore) -> None:
    store.save("v1", FILES)
    stored(store, PROMOTED_FILE).write_text("{oops")
    with pytest.raises(ModelIntegrityError):  # a checked promotion refuses what it cannot read
        store.promote("v1", reason="checked", expected_current=None)

    record = store.promote("v1", reason="repaired by hand", expected_current=UNCHECKED)

    assert store.promoted() == record
    assert record.previous_version is None


# --- promotion is a compare-and-swap ----------------------------------------------------------


def test_two_trainings_that_read_the_same_record_cannot_both_promote(store: ModelStore) -> None:
    """Both read the record before training; the second to promote is refused, not silently
    overwriting the first's decision."""
    store.save("v0", FILES)
    base = store.promote("v0", reason="first", expected_current=None)
    store.save("a", OTHER)
    store.save("b", {"model.json": b"b"})
    read_by_a = read_by_b = store.promoted()
    assert read_by_a == base

    won = store.promote("a", reason="a is better", expected_current=read_by_a)
    with pytest.raises(PromotionConflictError, match=r"changed since it was read .* b was not"):
        store.promote("b", reason="b is better", expected_current=read_by_b)

    assert store.promoted() == won
    assert store.load_promoted(won) == OTHER
    assert store.versions() == ["a", "b", "v0"]  # the loser stays saved


def test_a_first_promotion_expects_no_record(store: ModelStore) -> None:
    store.save("a", FILES)
    store.save("b", OTHER)
    won = store.promote("a", reason="first", expected_current=None)

    with pytest.raises(PromotionConflictError, match="expected no promoted model"):
        store.promote("b", reason="also first", expected_current=None)
    assert store.promoted() == won


@pytest.mark.s3
def test_s3_refuses_a_record_replaced_between_the_check_and_the_write(
    s3_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check passes, then another writer replaces promoted.json before this PUT: the
    conditional PUT (If-Match on the ETag read) is refused by the server itself."""
    root = f"{s3_server.create_bucket()}/models"
    store = ModelStore(root, storage_options=s3_server.storage_options())
    rival = ModelStore(root, storage_options=s3_server.storage_options())
    for version, files in (("v0", FILES), ("a", OTHER), ("b", {"model.json": b"b"})):
        store.save(version, files)
    base = store.promote("v0", reason="first", expected_current=None)
    read = store._read_promoted_for_update
    rival_record: list[PromotionRecord] = []

    def read_then_lose_the_race() -> Any:
        current = read()
        rival_record.append(rival.promote("b", reason="rival", expected_current=base))
        return current

    monkeypatch.setattr(store, "_read_promoted_for_update", read_then_lose_the_race)
    with pytest.raises(PromotionConflictError, match="conditional PUT refused"):
        store.promote("a", reason="mine", expected_current=base)

    assert store.promoted() == rival_record[0]
    assert rival.load_promoted(rival_record[0]) == {"model.json": b"b"}


@pytest.mark.s3
def test_s3_refuses_a_first_record_created_between_the_check_and_the_write(
    s3_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = f"{s3_server.create_bucket()}/models"
    store = ModelStore(root, storage_options=s3_server.storage_options())
    rival = ModelStore(root, storage_options=s3_server.storage_options())
    store.save("a", FILES)
    store.save("b", OTHER)
    read = store._read_promoted_for_update

    def read_then_lose_the_race() -> Any:
        current = read()
        rival.promote("b", reason="rival", expected_current=None)
        return current

    monkeypatch.setattr(store, "_read_promoted_for_update", read_then_lose_the_race)
    with pytest.raises(PromotionConflictError):
        store.promote("a", reason="mine", expected_current=None)
    assert store.promoted() is not None
    assert store.promoted().version == "b"


def test_concurrent_local_promotions_have_exactly_one_winner(tmp_path: Path) -> None:
    """Eight threads (separate lock descriptors, as separate processes) race from no record."""
    store = ModelStore(tmp_path / "models")
    names = [f"v{i}" for i in range(8)]
    for name in names:
        store.save(name, {"model.json": name.encode()})
    barrier = threading.Barrier(len(names))
    outcomes: dict[str, str] = {}

    def race(name: str) -> None:
        barrier.wait()
        try:
            ModelStore(tmp_path / "models").promote(name, reason="race", expected_current=None)
            outcomes[name] = "won"
        except PromotionConflictError:
            outcomes[name] = "refused"

    threads = [threading.Thread(target=race, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    winners = [name for name, outcome in outcomes.items() if outcome == "won"]
    assert len(outcomes) == len(names)
    assert len(winners) == 1
    current = store.promoted()
    assert current is not None
    assert current.version == winners[0]
    assert store.load_promoted(current) == {"model.json": winners[0].encode()}


# --- durability (local) -----------------------------------------------------------------------


def test_local_files_are_fsynced_before_the_manifest_and_the_record_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fraud_storage.model_store as module

    events: list[tuple[str, str]] = []
    fsync, link, replace = os.fsync, os.link, os.replace

    def record_fsync(descriptor: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        fsync(descriptor)

    def record_link(source: str, target: str) -> None:
        events.append(("link", str(target)))
        link(source, target)

    def record_replace(source: str, target: str) -> None:
        events.append(("replace", str(target)))
        replace(source, target)

    if not os.path.exists("/proc/self/fd"):
        pytest.skip("needs /proc to name fsynced descriptors")
    monkeypatch.setattr(module.os, "fsync", record_fsync)
    monkeypatch.setattr(module.os, "link", record_link)
    monkeypatch.setattr(module.os, "replace", record_replace)
    store = ModelStore(tmp_path / "models")
    version_dir = str(tmp_path / "models" / "versions" / "v1")
    store.save("v1", FILES)
    store.promote("v1", reason="r", expected_current=None)

    def index(kind: str, path: str) -> int:
        return events.index((kind, path))

    marker = index("link", f"{version_dir}/{COMPLETE_MARKER}")
    for name in FILES:
        assert index("fsync", f"{version_dir}/{name}") < marker
    assert index("fsync", version_dir) < marker
    tmp_marker = next(
        p for k, p in events if k == "fsync" and "/.staging-" in p and p.endswith(COMPLETE_MARKER)
    )
    assert index("fsync", tmp_marker) < marker
    promoted = index("replace", str(tmp_path / "models" / PROMOTED_FILE))
    tmp_record = next(p for k, p in events if k == "fsync" and f".{PROMOTED_FILE}." in p)
    assert index("fsync", tmp_record) < promoted
    assert ("fsync", str(tmp_path / "models")) in events[promoted:]


def test_local_promotion_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.save("v1", FILES)
    first = store.promote("v1", reason="r", expected_current=None)
    store.promote("v1", reason="again", expected_current=first)

    assert sorted(p.name for p in tmp_path.iterdir()) == [PROMOTED_FILE, "versions"]
    names = sorted(p.name for p in (tmp_path / "versions" / "v1").iterdir())
    assert [n for n in names if n.startswith(".")] == []


def test_memory_url_is_shared_by_stores_on_the_same_root() -> None:
    root = f"memory://model-store-shared-{uuid.uuid4().hex}"
    try:
        ModelStore(root).save("v1", FILES)
        assert ModelStore(root).load("v1") == FILES
        assert ModelStore(f"memory://other-{uuid.uuid4().hex}").versions() == []
    finally:
        fsspec.filesystem("memory").rm(root, recursive=True)


# --- object stores configured the standard way -----------------------------------------------


@pytest.mark.s3
def test_s3_store_from_the_standard_aws_environment(s3_bucket: str, s3_environment: Any) -> None:
    """``FRAUD_MODEL_STORE=s3://bucket/prefix`` with AWS_* variables (AWS_ENDPOINT_URL for
    S3-compatible stores) and no storage options: what a pod with IRSA or a MinIO endpoint gets."""
    store = ModelStore(f"{s3_bucket}/prod/models")
    store.save("v1", FILES)
    record = store.promote("v1", reason="first", expected_current=None)

    again = ModelStore(f"{s3_bucket}/prod/models")
    assert again.versions() == ["v1"]
    assert again.promoted() == record
    assert again.load_promoted(record) == FILES
    listing = {
        key.split("/prod/models/", 1)[1]
        for key in fsspec.filesystem("s3", skip_instance_cache=True).find(s3_bucket)
    }
    certificates = {
        k for k in listing if k.startswith(f"versions/v1/{PROMOTION_CERTIFICATE_PREFIX}")
    }
    assert len(certificates) == 1
    assert listing - certificates == {
        PROMOTED_FILE,
        f"versions/v1/{COMPLETE_MARKER}",
        "versions/v1/model.json",
        "versions/v1/features.txt",
    }  # no temporary object, no lease left behind


# --- stores written before manifests ----------------------------------------------------------


def legacy_store(store: ModelStore) -> None:
    """The layout the store wrote before integrity records: a timestamp marker, an old record."""
    stored(store, "versions", "old").mkdir(parents=True, exist_ok=True)
    for name, payload in FILES.items():
        stored(store, "versions", "old", name).write_bytes(payload)
    stored(store, "versions", "old", COMPLETE_MARKER).write_text("2025-03-01T00:00:00+00:00")
    write_json(
        store,
        {
            "version": "old",
            "promoted_at": "2025-03-01T00:00:01+00:00",
            "reason": "first model",
            "metrics": {"average_precision": 0.5},
            "previous_version": None,
        },
        PROMOTED_FILE,
    )


def test_a_store_written_before_manifests_is_refused_until_a_new_promotion(
    store: ModelStore,
) -> None:
    legacy_store(store)

    record = store.promoted()  # readable, so training can compare-and-swap it away
    assert record is not None
    assert record.is_legacy
    assert store.versions() == ["old"]
    with pytest.raises(LegacyModelStoreError, match=r"before promotion records .*Retrain"):
        store.load_promoted(record)
    with pytest.raises(LegacyModelStoreError, match=r"before manifests .*Retrain"):
        store.load("old")
    with pytest.raises(LegacyModelStoreError):  # an old version cannot be (re)promoted
        store.promote("old", reason="again", expected_current=record)

    store.save("new", OTHER)  # the next training's candidate replaces the legacy record
    upgraded = store.promote("new", reason="first verified model", expected_current=record)
    assert upgraded.previous_version == "old"
    assert store.load_promoted(upgraded) == OTHER


def test_a_manifest_replaced_by_an_old_style_marker_is_corruption_not_legacy(
    store: ModelStore,
) -> None:
    """A verified record whose version's manifest became a timestamp must not pass for a legacy
    store (training would then compare the candidate with the floors alone)."""
    store.save("v1", FILES)
    record = store.promote("v1", reason="first", expected_current=None)
    stored(store, "versions", "v1", COMPLETE_MARKER).write_text("2025-03-01T00:00:00+00:00")

    with pytest.raises(ModelIntegrityError, match="the manifest was replaced") as caught:
        store.load_promoted(record)
    assert not isinstance(caught.value, LegacyModelStoreError)
