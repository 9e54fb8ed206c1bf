"""``fraud_alerts``: the day's alerted cards in FRAUD.FRAUD_ALERTS, and the report that shows them."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from fraud_core.alerts import ALERT_COLUMNS, build_alerts
from fraud_core.columns import (
    ALERT_RANK,
    CUSTOMER_ID,
    EXPECTED_FRAUD_AMOUNT,
    FRAUD_SCORE,
    PARTITION_DATE,
    REASON_COLUMNS,
    TOP_TRANSACTION_ID,
    TRANSACTION_ID,
    reason_feature,
    reason_text,
)
from fraud_dagster.resources import WAREHOUSE_POOL
from fraud_dagster.settings import FraudSettings
from fraud_storage import TableNames
from fraud_testing.pipeline import SMALL_TRAINING, pipeline_resources, reports_dir
from hybrid_location import pipeline as a
from hybrid_location.cli import run_pipeline
from hybrid_location.defs.schedules import daily_fraud_job
from hybrid_location.settings import TrainingSettings

DAY = date(2025, 3, 31)  # the last simulated day
PREVIOUS = DAY - timedelta(days=1)
BUDGET = FraudSettings().alert_budget


@dataclass
class Ran:
    root: Path
    resources: dict[str, Any]
    instance: dg.DagsterInstance

    def table(self, role: str, day: date = DAY) -> pd.DataFrame:
        wh = self.resources["warehouse"].get_warehouse()
        return wh.read_partitions(getattr(wh.tables, role), day, day + timedelta(1))

    def materialize(
        self, selection: list[dg.AssetsDefinition], day: date, **resources: Any
    ) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            a.PIPELINE_ASSETS,
            selection=selection,
            partition_key=day.isoformat(),
            resources={**self.resources, **resources},
            instance=self.instance,
            raise_on_error=False,
        )


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    """fraud-pipeline for the last day: a promoted model, then scores, alerts and report."""
    root = tmp_path_factory.mktemp("alerts")
    resources = pipeline_resources(root, training=TrainingSettings(**SMALL_TRAINING))
    with dg.instance_for_test() as instance:
        assert run_pipeline(resources, instance, days=1).scored_days == [DAY]
        yield Ran(root, resources, instance)


def test_the_asset_sits_between_the_scores_and_the_report() -> None:
    assert a.PIPELINE_ASSETS.index(a.fraud_scores) < a.PIPELINE_ASSETS.index(a.fraud_alerts)
    assert a.PIPELINE_ASSETS.index(a.fraud_alerts) < a.PIPELINE_ASSETS.index(a.daily_fraud_report)
    assert a.fraud_alerts.dependency_keys == {a.fraud_scores.key}
    assert a.fraud_alerts.key in a.daily_fraud_report.dependency_keys
    assert a.fraud_alerts.op.pool == WAREHOUSE_POOL
    assert a.fraud_alerts.partitions_def == a.fraud_scores.partitions_def
    assert a.fraud_alerts.key in daily_fraud_job.selection.resolve(a.PIPELINE_ASSETS)


def test_the_alerts_table_is_declared_with_the_others() -> None:
    names = TableNames()
    assert str(names.alerts) == "FRAUD.FRAUD_ALERTS"
    assert "alerts" in names.outputs()
    assert str(names.for_branch("PR_42").alerts) == "FRAUD_PR_42.FRAUD_ALERTS"
    custom = TableNames.from_strings(output_schema="FRAUD_DEV", database="ANALYTICS")
    assert str(custom.alerts) == "ANALYTICS.FRAUD_DEV.FRAUD_ALERTS"


@pytest.mark.slow
def test_the_days_alerts_are_its_top_cards_with_their_top_transactions_reasons(ran: Ran) -> None:
    alerts = ran.table("alerts").sort_values(ALERT_RANK).reset_index(drop=True)
    scores = ran.table("scores")
    assert set(alerts.columns) == {*ALERT_COLUMNS, PARTITION_DATE}
    assert len(alerts) == BUDGET < scores[CUSTOMER_ID].nunique()  # the budget, not every card
    assert alerts[ALERT_RANK].tolist() == list(range(1, BUDGET + 1))
    assert alerts[CUSTOMER_ID].is_unique
    expected = build_alerts(scores, DAY, BUDGET)
    pd.testing.assert_frame_equal(alerts[expected.columns], expected, check_dtype=False)
    # every alerted card's max score is above every other card's
    others = scores[~scores[CUSTOMER_ID].isin(alerts[CUSTOMER_ID])]
    assert others[FRAUD_SCORE].max() <= alerts["max_score"].min()
    # the alert's reasons are those its top transaction has in FRAUD_SCORES
    top = scores.set_index(TRANSACTION_ID).loc[alerts[TOP_TRANSACTION_ID]]
    assert (top[FRAUD_SCORE].to_numpy() == alerts["max_score"].to_numpy()).all()
    present = [c for c in REASON_COLUMNS if c in scores.columns]
    pd.testing.assert_frame_equal(
        alerts[present].reset_index(drop=True),
        top[present].reset_index(drop=True),
        check_dtype=False,
    )
    if reason_feature(1) in scores.columns:  # the scores carry reasons: every alert has them
        assert alerts[reason_feature(1)].notna().all()


@pytest.mark.slow
def test_the_report_shows_the_stored_alerts_with_their_reasons(ran: Ran) -> None:
    alerts = ran.table("alerts").sort_values(ALERT_RANK).reset_index(drop=True)
    page = (reports_dir(ran.root) / f"fraud_report_{DAY}.html").read_text(encoding="utf-8")
    assert "Why flagged" in page
    assert f"<td>{html.escape(str(alerts.loc[0, CUSTOMER_ID]))}</td>" in page
    first_reason = alerts.loc[0, reason_text(1)]
    if not pd.isna(first_reason):
        assert html.escape(str(first_reason)) in page
    summary = ran.table("report")
    assert summary["alerts_budget"].tolist() == [len(alerts)]
    assert summary["expected_fraud_amount_alerted"].tolist() == pytest.approx(
        [alerts[EXPECTED_FRAUD_AMOUNT].sum()]
    )


@pytest.mark.slow
def test_a_rerun_replaces_the_days_alerts_and_follows_the_budget(ran: Ran) -> None:
    before = ran.table("alerts")
    for _ in range(2):
        result = ran.materialize([a.fraud_alerts], DAY)
        assert result.success
    pd.testing.assert_frame_equal(ran.table("alerts"), before)  # one copy, the same rows
    meta = result.asset_materializations_for_node("fraud_alerts")[0].metadata
    assert meta["rows"].value == meta["cards_alerted"].value == BUDGET
    assert meta["table"].value == "FRAUD.FRAUD_ALERTS"
    assert meta["expected_fraud_amount"].value == pytest.approx(before[EXPECTED_FRAUD_AMOUNT].sum())

    smaller = {"settings": FraudSettings(alert_budget=7)}
    assert ran.materialize([a.fraud_alerts, a.daily_fraud_report], DAY, **smaller).success
    seven = ran.table("alerts").sort_values(ALERT_RANK).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        seven, before.sort_values(ALERT_RANK).head(7).reset_index(drop=True)
    )
    assert ran.table("report")["alerts_budget"].tolist() == [7]
    assert ran.materialize([a.fraud_alerts, a.daily_fraud_report], DAY).success  # as before


@pytest.mark.slow
def test_the_report_of_a_day_without_its_alerts_fails_without_retry(ran: Ran) -> None:
    assert ran.materialize([a.fraud_scores], PREVIOUS).success  # scores, but no alerts yet
    result = ran.materialize([a.daily_fraud_report], PREVIOUS)
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert error is not None
    assert f"no alerts for {PREVIOUS.isoformat()}" in str(error.message) + str(error.cause)
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)
    assert ran.table("report", PREVIOUS).empty  # nothing written
    assert ran.materialize([a.fraud_alerts, a.daily_fraud_report], PREVIOUS).success
