"""The model store and the reports through the assets: integrity, compare-and-swap promotion, S3.

One small pipeline run (the last simulated day) is shared; each test works on a copy of its
warehouse and model store. The S3 tests run the assets against moto's S3 server on loopback
(``fraud_testing.object_store``), configured the way a pod is: ``s3://`` URLs plus the standard AWS
variables, nothing else.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg
import fsspec
import pytest

from fraud_dagster.builders import REPORT_DIR_VARIABLE, report_directory_resource
from fraud_dagster.resources import ModelStoreResource
from fraud_storage import ModelStore
from fraud_storage.model_store import PROMOTED_FILE
from fraud_testing.pipeline import SMALL_TRAINING, pipeline_resources, reports_dir
from fraud_testing.runs import failure_message, retries
from fraud_testing.runs import materialize as run_assets
from hybrid_location import pipeline as a
from hybrid_location.cli import run_pipeline
from hybrid_location.defs import training as training_module
from hybrid_location.settings import TrainingSettings

DAY = date(2025, 3, 31)  # the last simulated day (conftest)

pytestmark = pytest.mark.slow


def small_resources(root: Path) -> dict[str, Any]:
    """The tests' small pipeline (12 simulated days, short windows) under ``root``."""
    return pipeline_resources(root, training=TrainingSettings(**SMALL_TRAINING))


@dataclass
class Ran:
    root: Path
    instance: dg.DagsterInstance

    def copy(self, target: Path) -> tuple[Path, dict[str, Any]]:
        """A copy of the warehouse and model store, with resources pointing at them."""
        target.mkdir(parents=True, exist_ok=True)
        for path in self.root.glob("warehouse.duckdb*"):
            shutil.copy2(path, target / path.name)
        shutil.copytree(self.root / "models", target / "models")
        return target, small_resources(target)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    root = tmp_path_factory.mktemp("pipeline")
    with dg.instance_for_test() as instance:
        run = run_pipeline(small_resources(root), instance, days=1)
        assert run.scored_days == [DAY]
        yield Ran(root, instance)


materialize = partial(run_assets, a.PIPELINE_ASSETS)


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    return dict(result.asset_materializations_for_node(asset)[0].metadata)


# --- integrity through the assets ---------------------------------------------------------------


def test_a_tampered_promoted_model_fails_scoring_without_retry(ran: Ran, tmp_path: Path) -> None:
    root, resources = ran.copy(tmp_path)
    store = ModelStore(root / "models")
    record = store.promoted()
    model_file = root / "models" / "versions" / record.version / "model.cbm"
    data = model_file.read_bytes()
    model_file.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # one byte of the model differs

    result = materialize([a.fraud_scores], resources, ran.instance, DAY)

    assert not result.success
    assert retries(result) == 0
    message = failure_message(result)
    assert "ModelIntegrityError" in message
    assert "model.cbm has sha256" in message


def test_training_refuses_to_overwrite_a_promotion_made_while_it_trained(
    ran: Ran, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two trainings read the same record; the other one promotes first. This one's promotion is
    a compare-and-swap against the record it read before training: refused, nothing overwritten."""
    root, resources = ran.copy(tmp_path)
    store = ModelStore(root / "models")
    before = store.promoted()
    save = training_module.save_model
    rivals: list[str] = []

    def save_while_another_training_promotes(target: ModelStore, model: Any, **kwargs: Any) -> str:
        version = save(target, model, **kwargs)
        rival = f"{version}-rival"
        target.save(rival, target.load(before.version))
        target.promote(rival, reason="the other training", expected_current=before)
        rivals.append(rival)
        return version

    monkeypatch.setattr(training_module, "save_model", save_while_another_training_promotes)
    result = materialize([a.fraud_detection_model], resources, ran.instance)
    monkeypatch.undo()

    assert rivals, "the training never saved a candidate: the test proves nothing"
    assert not result.success, "the candidate must pass the gate for the swap to be tried"
    assert retries(result) == 0
    assert "PromotionConflictError" in failure_message(result)
    assert store.promoted().version == rivals[0]  # the other training's decision stands


# --- reports ------------------------------------------------------------------------------------


def test_a_local_report_is_linked_by_path(ran: Ran) -> None:
    reports = reports_dir(ran.root)
    published = [p for p in reports.iterdir() if p.name.endswith(f"{DAY.isoformat()}.html")]
    assert len(published) == 1
    assert [p.name for p in reports.iterdir() if p.name.startswith(".")] == []


@pytest.mark.s3
def test_the_pipeline_runs_on_an_s3_model_store_and_report_dir(
    ran: Ran, tmp_path: Path, s3_bucket: str, s3_environment: dict[str, str]
) -> None:
    """FRAUD_MODEL_STORE and FRAUD_REPORT_DIR on S3: train, promote, score and report there."""
    _, resources = ran.copy(tmp_path)
    resources = {
        **resources,
        "model_store": ModelStoreResource(root=f"{s3_bucket}/models"),
        "report_dir": report_directory_resource({REPORT_DIR_VARIABLE: f"{s3_bucket}/reports"}),
    }

    trained = materialize([a.fraud_detection_model], resources, ran.instance)
    assert trained.success, failure_message(trained)
    store = ModelStore(f"{s3_bucket}/models")
    record = store.promoted()
    assert record is not None  # a first model on this store: promoted through the floors
    assert metadata(trained, "fraud_detection_model")["model_version"].value == record.version

    scored = materialize(
        [a.fraud_scores, a.fraud_alerts, a.daily_fraud_report], resources, ran.instance, DAY
    )
    assert scored.success, failure_message(scored)
    assert metadata(scored, "fraud_scores")["model_version"].value == record.version
    link = metadata(scored, "daily_fraud_report")["report_path"]
    expected = f"{s3_bucket}/reports/fraud_report_{DAY.isoformat()}.html"
    assert isinstance(link, dg.UrlMetadataValue)
    assert link.url == expected
    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    assert s3.cat_file(expected).startswith(b"<")
    keys = s3.find(s3_bucket)
    assert f"{s3_bucket.removeprefix('s3://')}/models/{PROMOTED_FILE}" in keys
    assert not any(".tmp" in key for key in keys)
