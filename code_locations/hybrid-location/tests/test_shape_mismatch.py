"""A deployment whose pipeline shape differs from what the tables and the model were built with
fails at once, without retry, saying what to rebuild; following the messages makes it work again.

The pipeline first runs with the small test shape (windows 1, 7 days, label delay 2). The same
warehouse and model store are then run with a label delay of 3 days, as after a change of
``FRAUD_LABEL_DELAY_DAYS``: the assets are the same, only the ``shape`` resource differs.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from fraud_core.shape import PipelineShape
from fraud_dagster.shape import shape_resource
from fraud_testing.pipeline import SMALL_SHAPE
from fraud_testing.runs import materialize as run_assets
from hybrid_location import pipeline as a
from hybrid_location.cli import run_pipeline

pytestmark = pytest.mark.slow

DAY = date(2025, 3, 31)
LONGER_DELAY = PipelineShape(windows_days=SMALL_SHAPE.windows_days, label_delay_days=3)


_run = partial(run_assets, a.PIPELINE_ASSETS)


def _failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []
    message = failure.step_failure_data.error.message
    return message.split("Failure: ", 1)[-1]  # the dg.Failure's description


def _days(message: str, asset: str) -> list[date]:
    """The days a ShapeMismatchError says to rebuild ``asset`` for."""
    found = re.search(rf"Rebuild {asset} for (\S+)(?: \.\. (\S+))? \((\d+) day", message)
    assert found, message
    first = date.fromisoformat(found[1])
    last = date.fromisoformat(found[2] or found[1])
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    assert len(days) == int(found[3])
    return days


def test_another_shape_fails_fast_naming_what_to_rebuild(
    tmp_path: Path, make_resources, instance: dg.DagsterInstance
) -> None:
    built = make_resources()
    run_pipeline(built, instance, days=1)
    store = built["model_store"].get_store()
    wh = built["warehouse"].get_warehouse()
    scores = wh.read_partitions(wh.tables.scores, DAY, DAY + timedelta(1))
    changed = make_resources(shape=LONGER_DELAY)

    # scoring reads features of the old shape
    message = _failure(_run([a.fraud_scores], changed, instance, DAY))
    assert message.startswith("ShapeMismatchError: FRAUD.TRANSFORMED_TRANSACTIONS holds 1 day(s)")
    assert f"{SMALL_SHAPE.fingerprint} on 2025-03-31" in message
    assert f"this deployment runs {LONGER_DELAY.describe()}" in message
    assert _days(message, "transformed_transactions") == [DAY]

    # training reads the whole window of old-shape features: every day of it is named
    message = _failure(_run([a.fraud_detection_model], changed, instance))
    assert "FRAUD.TRANSFORMED_TRANSACTIONS holds" in message
    assert len(_days(message, "transformed_transactions")) > 1
    assert len(store.versions()) == 1  # nothing trained, nothing promoted

    # the features of the new shape would sum label counts of the old one
    message = _failure(_run([a.transformed_transactions], changed, instance, DAY))
    assert message.startswith("ShapeMismatchError: FRAUD.MATURED_TERMINAL_LABELS holds")
    label_days = _days(message, "matured_terminal_labels")
    wh_after = changed["warehouse"].get_warehouse()
    assert wh_after.read_partitions(wh.tables.scores, DAY, DAY + timedelta(1)).equals(scores)

    # follow the message: rebuild those label counts, then the day's features
    for day in label_days:
        assert _run([a.matured_terminal_labels], changed, instance, day).success
    assert _run([a.transformed_transactions], changed, instance, DAY).success

    # the promoted model was trained with the old shape: scoring says to retrain
    message = _failure(_run([a.fraud_scores], changed, instance, DAY))
    promoted = store.promoted().version
    assert message.startswith(f"ShapeMismatchError: model {promoted} was trained with windows 1, 7")
    assert "label delay 2 days" in message
    assert "Retrain the model" in message
    assert wh_after.read_partitions(wh.tables.scores, DAY, DAY + timedelta(1)).equals(scores)

    # the old shape still runs on the tables it built (the day it rebuilt excepted)
    assert _run([a.fraud_scores], built, instance, DAY - timedelta(days=1)).success


@pytest.mark.snowflake
def test_on_snowflake_scoring_refuses_features_of_another_shape(
    snowflake_resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    """The same check on the emulator, with one-day windows and no delay (a day's features need
    only the day before), then a deployment with a one-day delay."""
    one_day = PipelineShape(windows_days=(1,), label_delay_days=0)
    built = {**snowflake_resources, "shape": shape_resource(one_day)}
    for day in (DAY - timedelta(days=1), DAY):
        assert _run([a.raw_customer_transactions], built, instance, day).success
    assert _run([a.transformed_transactions], built, instance, DAY).success
    delayed = PipelineShape(windows_days=(1,), label_delay_days=1)
    changed = {**snowflake_resources, "shape": shape_resource(delayed)}
    message = _failure(_run([a.fraud_scores], changed, instance, DAY))
    assert "TRANSFORMED_TRANSACTIONS holds 1 day(s) built with another pipeline shape" in message
    assert f"({one_day.fingerprint} on 2025-03-31)" in message
    assert _days(message, "transformed_transactions") == [DAY]
