"""``fraud_detection_model`` writes its model card next to the model, in the version's manifest,
and its materialization links to it and summarises it (curves, importances, the gate's verdict)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from fraud_storage.models import MODEL_CARD_FILE, load_model_card
from fraud_testing.pipeline import SMALL_SHAPE
from hybrid_location.cli import run_pipeline

pytestmark = pytest.mark.slow


def test_the_model_card_is_stored_with_the_model_and_linked(
    resources: dict[str, Any], instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    run = run_pipeline(resources, instance, days=1)  # trains the first model, then scores with it
    assert run.trained
    event = instance.get_latest_materialization_event(dg.AssetKey("fraud_detection_model"))
    assert event is not None
    assert event.asset_materialization is not None
    meta = event.asset_materialization.metadata
    version = str(meta["model_version"].value)
    store = resources["model_store"].get_store()

    # stored in the version, hashed in its manifest, verified on load
    card_file = tmp_path / "models" / "versions" / version / MODEL_CARD_FILE
    assert card_file.is_file()
    assert MODEL_CARD_FILE in store.manifest(version).files
    page = load_model_card(store, version)
    assert page == card_file.read_text(encoding="utf-8")
    promoted = store.promoted()
    assert promoted is not None
    assert promoted.version == version  # the first model: promoted, its record covers the card
    assert promoted.files is not None
    assert MODEL_CARD_FILE in promoted.files
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', page)) == 3
    for text in (version, str(meta["train_window"].value), str(meta["train_data_hash"].value)):
        assert text in page

    # the materialization links to it and carries its short forms
    link = meta["model_card"]
    assert isinstance(link, dg.PathMetadataValue)
    assert link.path == str(card_file)
    summary = meta["model_card_summary"]
    assert isinstance(summary, dg.MarkdownMetadataValue)
    assert f"**Model {version}**: promoted" in (summary.md_str or "")
    importances = str(meta["feature_importances"].value)
    assert all(f"| {feature} |" in importances for feature in SMALL_SHAPE.feature_columns())
    pr_rows = str(meta["validation_pr_curve"].value).splitlines()[2:]
    assert len(pr_rows) == 11
    assert pr_rows[-1].startswith("| 1.00 |")
    budget = resources["settings"].alert_budget
    k_rows = str(meta["validation_precision_at_k"].value).splitlines()[2:]
    assert k_rows[-1].startswith(f"| {budget} | ")
    assert meta["validation_card_precision@" + str(budget)].value == pytest.approx(
        float(k_rows[-1].split("|")[2].strip().rstrip("%")) / 100, abs=0.001
    )
