"""The pipeline's assets end to end on a small simulated DuckDB warehouse."""

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from fraud_core.columns import (
    FRAUD_SCORE,
    REASON_COLUMNS,
    reason_contribution,
    reason_feature,
    reason_text,
    reason_value,
)
from fraud_testing.pipeline import reports_dir
from hybrid_location import pipeline as a
from hybrid_location.cli import run_pipeline

ALL = a.PIPELINE_ASSETS
DAY = date(2025, 3, 31)  # the last simulated day (conftest)


def _materialize(selection: list, resources: dict[str, Any], instance, partition=None, **kw):
    return dg.materialize(
        ALL,
        selection=selection,
        partition_key=partition.isoformat() if partition else None,
        resources=resources,
        instance=instance,
        **kw,
    )


def _counts(resources: dict[str, Any], role: str) -> dict[date, int]:
    wh = resources["warehouse"].get_warehouse()
    return wh.partition_counts(getattr(wh.tables, role))


@pytest.mark.slow
def test_whole_graph_two_days_then_rerun_replaces(
    resources: dict[str, Any], instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    result = run_pipeline(resources, instance, days=2)
    assert result.scored_days == [DAY - timedelta(days=1), DAY]
    assert result.trained
    wh = resources["warehouse"].get_warehouse()
    source = wh.read_source(
        pd.Timestamp(DAY - timedelta(days=1), tz="UTC"), pd.Timestamp(DAY + timedelta(1), tz="UTC")
    )
    per_day = source["tx_datetime"].dt.date.value_counts().to_dict()
    scores = _counts(resources, "scores")
    for day in result.scored_days:
        assert scores[day] == per_day[day] > 0  # one score per source transaction
        assert (reports_dir(tmp_path) / f"fraud_report_{day}.html").is_file()
    assert result.report_paths == [
        str(reports_dir(tmp_path) / f"fraud_report_{day}.html") for day in result.scored_days
    ]
    assert set(_counts(resources, "report")) == set(result.scored_days)
    assert set(_counts(resources, "alerts")) == set(result.scored_days)
    # the reason codes landed typed; the top-scored rows (alerted cards) have them
    day_scores = wh.read_partitions(wh.tables.scores, DAY, DAY + timedelta(1))
    assert set(REASON_COLUMNS) <= set(day_scores.columns)
    assert day_scores[reason_value(1)].dtype == day_scores[reason_contribution(1)].dtype == float
    assert day_scores.nlargest(10, FRAUD_SCORE)[list(REASON_COLUMNS)].notna().all().all()
    above = day_scores[FRAUD_SCORE] >= resources["settings"].reasons_min_score
    assert day_scores.loc[above, reason_text(1)].map(type).eq(str).all()
    assert day_scores[reason_feature(1)].isna().any()  # not every row: bounded by the score
    # every day's checks passed and the model was promoted
    store = resources["model_store"].get_store()
    assert store.promoted() is not None
    assert store.promoted().version in store.versions()

    roles = ("validated", "transformed", "scores", "alerts")
    before = {role: _counts(resources, role) for role in roles}
    for _ in range(2):
        _materialize(ALL[:3], resources, instance, DAY)
        _materialize(
            [a.fraud_scores, a.fraud_alerts, a.daily_fraud_report], resources, instance, DAY
        )
    after = {role: _counts(resources, role) for role in roles}
    assert after == before  # re-running a day replaces its rows, never duplicates them


@pytest.mark.slow
def test_bad_rows_are_quarantined_and_the_rest_flows(resources: dict[str, Any]) -> None:
    wh = resources["warehouse"].get_warehouse()  # seeds the source
    day_start = pd.Timestamp(DAY, tz="UTC")
    good = wh.read_source(day_start, day_start + pd.Timedelta(days=1))
    bad = good.head(3).copy()
    bad["transaction_id"] = [10**9, 10**9, 10**9 + 1]  # a duplicated id, and ...
    bad.loc[bad.index[2], "tx_amount"] = -5.0  # ... a negative amount
    wh.load_source(bad)
    with dg.instance_for_test() as instance:
        result = _materialize([a.raw_customer_transactions], resources, instance, DAY)
        assert result.success
        meta = result.asset_materializations_for_node("raw_customer_transactions")[0].metadata
        assert meta["rows_read"].value == len(good) + 3
        assert meta["rows_rejected"].value == 3
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks["rows_conserved"]
    rejected = wh.read_partitions(wh.tables.rejected, DAY, DAY + timedelta(1))
    assert len(rejected) == 3
    reasons = " | ".join(rejected["reject_reason"])
    assert "duplicate" in reasons
    assert "negative" in reasons
    assert _counts(resources, "validated")[DAY] == len(good)


@pytest.mark.slow
def test_gate_refuses_a_worse_model(
    resources: dict[str, Any], instance: dg.DagsterInstance, make_resources
) -> None:
    run_pipeline(resources, instance, days=1)
    store = resources["model_store"].get_store()
    promoted = store.promoted().version
    no_floors = {"FRAUD_MIN_AVERAGE_PRECISION": "0", "FRAUD_MIN_ROC_AUC": "0"}
    weakened = make_resources(iterations=1, policy_env=no_floors)  # a LOCAL environment may
    weak = {**resources, "training": weakened["training"]}
    weak["promotion_policy"] = weakened["promotion_policy"]
    result = _materialize(
        [a.fraud_detection_model, a.fraud_scores],
        weak,
        instance,
        None,
        raise_on_error=False,
    )
    gate = [c for c in result.get_asset_check_evaluations() if c.check_name == "promotion_gate"]
    assert len(gate) == 1
    assert not gate[0].passed
    assert "worse" in gate[0].metadata["reason"].value
    assert store.promoted().version == promoted  # production model unchanged
    assert len(store.versions()) == 2  # the candidate is kept for audit, never promoted


def test_scoring_without_a_promoted_model_fails_clearly(
    resources: dict[str, Any], instance
) -> None:
    result = _materialize([a.fraud_scores], resources, instance, DAY, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "no promoted model" in failure.message
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retries == []  # a permanent error is not retried
