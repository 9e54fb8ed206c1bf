"""Fraud models in the store: saved, loaded for the running pipeline shape, verified, scored.

Runs on a local directory and on S3 (moto's server on loopback, through s3fs).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fraud_core.columns import MODEL_VERSION, SCORE_KEY_COLUMNS, TX_FRAUD
from fraud_core.model import METADATA_FILE, MODEL_FILE, FraudModel, TrainConfig, train_model
from fraud_core.scoring import score_transactions
from fraud_core.shape import PipelineShape, ShapeMismatchError
from fraud_storage.model_store import (
    LegacyModelStoreError,
    ModelIntegrityError,
    ModelStore,
    PromotionConflictError,
)
from fraud_storage.models import (
    NoPromotedModelError,
    load_model,
    load_promoted_model,
    save_model,
)

SHAPE = PipelineShape(windows_days=(1, 7), label_delay_days=2)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModelStore]:
    if request.param == "local":
        yield ModelStore(tmp_path / "models")
    else:
        server = request.getfixturevalue("s3_server")
        yield ModelStore(
            f"{server.create_bucket()}/models", storage_options=server.storage_options()
        )


def features(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=n) for c in SHAPE.feature_columns()})
    frame[TX_FRAUD] = pd.array((frame.iloc[:, 0] > 1.2).astype("int8"), dtype="Int8")
    return frame


@pytest.fixture(scope="module")
def model() -> FraudModel:
    """A tiny model trained for SHAPE (module-scoped: training takes a second)."""
    config = TrainConfig(device="cpu", iterations=5, thread_count=1)
    return train_model(features(), config, shape=SHAPE, log=lambda _m: None)


def test_save_then_load_for_the_same_shape(store: ModelStore, model: FraudModel) -> None:
    version = save_model(store, model)
    assert version == model.metadata.model_id
    loaded = load_model(store, version, SHAPE)
    assert loaded.metadata == model.metadata
    record = store.promote(version, reason="test", expected_current=None)
    promoted = load_promoted_model(store, SHAPE)
    assert promoted.version == version
    assert promoted.record == record
    assert promoted.model.metadata == model.metadata


def test_scores_carry_the_stores_verified_version_not_the_metadata_name(
    store: ModelStore, model: FraudModel
) -> None:
    """model_version in the scores used to come from metadata.json's model_id."""
    store.save(
        "store-version",  # the store's name for it differs from the one in its metadata
        {MODEL_FILE: model.model_bytes(), METADATA_FILE: model.metadata_json().encode()},
    )
    store.promote("store-version", reason="test", expected_current=None)
    promoted = load_promoted_model(store, SHAPE)
    rows = features(20, seed=1)
    for column in SCORE_KEY_COLUMNS:
        rows[column] = range(len(rows))
    scores = score_transactions(promoted.model, rows, model_version=promoted.version)

    assert model.metadata.model_id != "store-version"
    assert set(scores[MODEL_VERSION]) == {"store-version"}


def test_an_overwritten_model_file_of_the_promoted_version_fails_scoring(
    store: ModelStore, model: FraudModel
) -> None:
    """Overwriting model.cbm with another model used to change every score with no error."""
    version = save_model(store, model)
    store.promote(version, reason="test", expected_current=None)
    other = train_model(
        features(seed=5), TrainConfig(device="cpu", iterations=7, thread_count=1), shape=SHAPE
    )
    (store.path(version) / MODEL_FILE).write_bytes(other.model_bytes())

    with pytest.raises(ModelIntegrityError, match=rf"{MODEL_FILE} has sha256 [0-9a-f]{{64}}"):
        load_promoted_model(store, SHAPE)


def test_a_model_of_another_shape_is_refused_naming_both(
    store: ModelStore, model: FraudModel
) -> None:
    version = save_model(store, model)
    store.promote(version, reason="test", expected_current=None)
    running = PipelineShape(windows_days=(1, 7), label_delay_days=3)  # same features, other delay
    with pytest.raises(ShapeMismatchError) as caught:
        load_promoted_model(store, running)
    message = str(caught.value)
    assert message.startswith(f"model {version} was trained with windows 1, 7 days, label delay 2")
    assert SHAPE.fingerprint in message
    assert running.describe() in message
    assert "Retrain the model" in message
    with pytest.raises(ShapeMismatchError):  # also for comparison: a declared incompatibility
        load_model(store, version, running, accept_unrecorded_shape=True)


def test_metadata_without_a_shape_loads_only_for_comparison(
    store: ModelStore, model: FraudModel
) -> None:
    """Saved before shapes were recorded: scoring refuses it; the gate may compare with it when
    its features are the running shape's, and refuses it (declared) when they are not."""
    metadata = json.loads(model.metadata_json())
    for key in ("pipeline_shape", "windows_days", "label_delay_days"):
        del metadata[key]
    metadata["schema_version"] = 1
    store.save(
        "legacy", {MODEL_FILE: model.model_bytes(), METADATA_FILE: json.dumps(metadata).encode()}
    )
    store.promote("legacy", reason="before shapes")
    with pytest.raises(ShapeMismatchError, match="model legacy was trained with no recorded"):
        load_promoted_model(store, SHAPE)
    compared = load_model(store, "legacy", SHAPE, accept_unrecorded_shape=True)
    assert compared.metadata.pipeline_shape is None
    other = PipelineShape(windows_days=(1, 14), label_delay_days=2)  # other feature columns
    with pytest.raises(ShapeMismatchError):
        load_model(store, "legacy", other, accept_unrecorded_shape=True)


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        (lambda m: b'{"model_id": ', "JSONDecodeError"),
        (lambda m: json.dumps({**m, "approved": True}).encode(), r"unknown metadata keys"),
        (
            lambda m: json.dumps({k: v for k, v in m.items() if k != "features"}).encode(),
            "TypeError",
        ),
    ],
    ids=["bad JSON", "unknown key", "missing key"],
)
def test_broken_metadata_is_a_permanent_error_naming_the_file(
    store: ModelStore, model: FraudModel, metadata: Any, problem: str
) -> None:
    """Saved broken (its manifest matches it): still a clear ModelIntegrityError, not a retried
    TypeError, and never mistaken for a declared shape mismatch."""
    raw = metadata(json.loads(model.metadata_json()))
    store.save("broken", {MODEL_FILE: model.model_bytes(), METADATA_FILE: raw})
    with pytest.raises(ModelIntegrityError, match=rf"broken/{METADATA_FILE} is broken .*{problem}"):
        load_model(store, "broken", SHAPE, accept_unrecorded_shape=True)


def test_metadata_changed_after_saving_fails_the_hash_check(
    store: ModelStore, model: FraudModel
) -> None:
    version = save_model(store, model)
    path = store.path(version) / METADATA_FILE
    path.write_text(path.read_text()[:-40])
    with pytest.raises(ModelIntegrityError, match=rf"{METADATA_FILE} has sha256"):
        load_model(store, version, SHAPE, accept_unrecorded_shape=True)


def test_no_promoted_model_is_a_clear_error(store: ModelStore) -> None:
    with pytest.raises(NoPromotedModelError, match=r"no promoted model in .*fraud_detection_model"):
        load_promoted_model(store, PipelineShape())


def test_a_legacy_promotion_is_refused_for_scoring(store: ModelStore, model: FraudModel) -> None:
    version = save_model(store, model)
    (store.root / "promoted.json").write_text(
        json.dumps(
            {
                "version": version,
                "promoted_at": "2025-03-01T00:00:00+00:00",
                "reason": "before integrity records",
                "metrics": {},
                "previous_version": None,
            }
        )
    )
    with pytest.raises(LegacyModelStoreError, match="Retrain"):
        load_promoted_model(store, SHAPE)


def test_the_record_read_before_training_guards_the_promotion(
    store: ModelStore, model: FraudModel
) -> None:
    """What the training asset does: read the record, train, compare, promote against it."""
    first = save_model(store, model)
    before = store.promote(first, reason="first", expected_current=None)
    expected = store.promoted()
    store.save(
        "rival", {MODEL_FILE: model.model_bytes(), METADATA_FILE: model.metadata_json().encode()}
    )
    store.promote("rival", reason="a concurrent training", expected_current=before)

    store.save(
        "mine", {MODEL_FILE: model.model_bytes(), METADATA_FILE: model.metadata_json().encode()}
    )
    with pytest.raises(PromotionConflictError):
        store.promote("mine", reason="mine", expected_current=expected)
    assert load_promoted_model(store, SHAPE).version == "rival"
