"""``fraud_detection_model`` at scale: it reads only the columns it needs, a day at a time, and
trains on a sample of its window (every fraud, a seeded share of the genuine rows weighted
back), recorded with the model; the same seed trains on the same rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import dagster as dg
import pytest

from fraud_core.columns import TRANSACTION_ID, TX_FRAUD
from fraud_core.model import METADATA_FILE
from fraud_storage.duckdb_warehouse import DuckDBWarehouse
from hybrid_location import pipeline as a
from hybrid_location.cli import run_pipeline
from hybrid_location.settings import DEFAULT_GENUINE_SAMPLE_RATE, TrainingSettings

pytestmark = pytest.mark.slow


def train(resources: dict[str, Any], instance: dg.DagsterInstance) -> dict[str, Any]:
    """Materialize the model once (the gate's verdict aside); its materialization metadata."""
    result = dg.materialize(
        a.PIPELINE_ASSETS,
        selection=[a.fraud_detection_model],
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    (event,) = result.asset_materializations_for_node("fraud_detection_model")
    return {key: value.value for key, value in event.metadata.items()}


def stored_metadata(resources: dict[str, Any], version: str) -> dict[str, Any]:
    return json.loads(resources["model_store"].get_store().load(version)[METADATA_FILE])


def test_training_reads_few_columns_and_samples_its_window(
    make_resources: Callable[..., dict[str, Any]],
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resources = make_resources()
    run_pipeline(resources, instance, days=1)  # the window's features and a first model
    reads: list[tuple[str, Any]] = []
    read_source, read_partitions = DuckDBWarehouse.read_source, DuckDBWarehouse.read_partitions

    def spy_source(self: DuckDBWarehouse, start: Any, end: Any, columns: Any = None) -> Any:
        reads.append(("source", columns))
        return read_source(self, start, end, columns)

    def spy_partitions(self: DuckDBWarehouse, table: Any, start: Any, end: Any, columns=None):
        if start != end:  # a read of rows (not a probe of the table's columns)
            reads.append((str(table), columns))
        return read_partitions(self, table, start, end, columns)

    monkeypatch.setattr(DuckDBWarehouse, "read_source", spy_source)
    monkeypatch.setattr(DuckDBWarehouse, "read_partitions", spy_partitions)

    sampled = train(resources, instance)

    training = resources["training"]
    days = training.train_days + training.validation_days * 2  # validated by both models
    labels = [c for kind, c in reads if kind == "source"]
    assert labels == [[TRANSACTION_ID, TX_FRAUD]] * days  # one narrow read per day
    features = [c for kind, c in reads if kind.endswith("TRANSFORMED_TRANSACTIONS")]
    assert len(features) == days
    assert all(c is not None and TX_FRAUD not in c for c in features)  # never SELECT *
    assert sampled["train_genuine_sample_rate"] == DEFAULT_GENUINE_SAMPLE_RATE
    assert sampled["train_sample_seed"] == 42
    before, after = sampled["train_labelled_before_sampling"], sampled["train_labelled"]
    genuine_kept = (after - sampled["train_frauds"]) / (before - sampled["train_frauds"])
    assert 0 < sampled["train_frauds"] < after < before
    assert genuine_kept == pytest.approx(DEFAULT_GENUINE_SAMPLE_RATE, abs=0.02)
    meta = stored_metadata(resources, sampled["model_version"])
    assert meta["genuine_sample_rate"] == DEFAULT_GENUINE_SAMPLE_RATE
    assert meta["n_labelled_before_sampling"] == before
    assert meta["n_labelled"] == after

    # the same seed trains on the same rows, weighted the same
    again = train(resources, instance)
    assert stored_metadata(resources, again["model_version"])["data_hash"] == meta["data_hash"]
    assert again["train_labelled"] == after

    # rate 1: every labelled row of the window, the same population
    everything = {
        **resources,
        "training": TrainingSettings(**{**_knobs(training), "genuine_sample_rate": 1.0}),
    }
    unsampled = train(everything, instance)
    assert unsampled["train_labelled"] == unsampled["train_labelled_before_sampling"] == before
    assert unsampled["train_frauds"] == sampled["train_frauds"]


def _knobs(training: TrainingSettings) -> dict[str, Any]:
    return {
        name: getattr(training, name)
        for name in ("train_days", "validation_days", "iterations", "device", "sample_seed")
    }


@pytest.mark.parametrize("rate", [0.0, -0.5, 1.5])
def test_an_impossible_sampling_rate_is_refused(rate: float) -> None:
    with pytest.raises(Exception, match=r"must be in \(0, 1\]"):
        TrainingSettings(genuine_sample_rate=rate)
