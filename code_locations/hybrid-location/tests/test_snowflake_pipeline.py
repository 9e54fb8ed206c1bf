"""The location's real assets on the Snowflake path, against a local Snowflake emulator.

Resources come from the same environment-driven code as in BRANCH/PROD (``FRAUD_WAREHOUSE=snowflake``
and ``SNOWFLAKE_*`` variables); the connector is the real ``snowflake-connector-python`` talking to a
``fakesnow`` server subprocess over HTTP.
"""

from datetime import date, timedelta
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from fraud_core.alerts import build_alerts
from fraud_core.columns import (
    ALERT_RANK,
    FRAUD_SCORE,
    REASON_COLUMNS,
    reason_contribution,
    reason_feature,
    reason_text,
)
from fraud_dagster.resources import SnowflakeWarehouseResource
from fraud_testing.pipeline import SMALL_SHAPE
from hybrid_location import pipeline as a
from hybrid_location.cli import run_pipeline

pytestmark = [pytest.mark.snowflake, pytest.mark.slow]

DAY = date(2025, 3, 31)
ALL = a.PIPELINE_ASSETS


class FailingSnowflakeWarehouse(SnowflakeWarehouseResource):
    """The real Snowflake warehouse with a crash injected at one step of every write."""

    fail_at: str

    def get_warehouse(self):
        warehouse = super().get_warehouse()

        def crash(step: str) -> None:
            if step == self.fail_at:
                raise RuntimeError(f"injected crash at {step}")

        warehouse._fault_hook = crash
        return warehouse


def _warehouse(resources: dict[str, Any]):
    with dg.build_resources({"warehouse": resources["warehouse"]}) as ready:
        return ready.warehouse.get_warehouse()


def _counts(resources: dict[str, Any], role: str) -> dict[date, int]:
    wh = _warehouse(resources)
    return wh.partition_counts(getattr(wh.tables, role))


def test_two_days_land_in_snowflake_rerun_replaces_and_a_crash_changes_nothing(
    snowflake_resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    resources = snowflake_resources
    result = run_pipeline(resources, instance, days=2)
    assert result.scored_days == [DAY - timedelta(days=1), DAY]
    wh = _warehouse(resources)
    start = pd.Timestamp(DAY - timedelta(days=1), tz="UTC")
    per_day = wh.read_source(start, start + pd.Timedelta(days=2))["tx_datetime"].dt.date
    scores = _counts(resources, "scores")
    for day in result.scored_days:
        assert scores[day] == (per_day == day).sum() > 0
    assert set(_counts(resources, "report")) == set(result.scored_days)
    assert _counts(resources, "rejected") == {}  # simulated data is clean
    alerts = wh.read_partitions(wh.tables.alerts, DAY, DAY + timedelta(1))
    day_scores = wh.read_partitions(wh.tables.scores, DAY, DAY + timedelta(1))
    expected = build_alerts(day_scores, DAY, resources["settings"].alert_budget)
    assert len(alerts) == len(expected) == resources["settings"].alert_budget
    pd.testing.assert_frame_equal(  # FRAUD_ALERTS round-trips: every column, reasons included
        alerts.sort_values(ALERT_RANK).reset_index(drop=True)[expected.columns],
        expected,
        check_dtype=False,
    )

    before = wh.read_partitions(wh.tables.scores, DAY, DAY + timedelta(1))
    # the typed reason columns through the emulator; the top-scored rows have reasons
    assert set(REASON_COLUMNS) <= set(before.columns)
    assert before[reason_contribution(1)].dtype == float
    top = before.nlargest(10, FRAUD_SCORE)
    assert top[list(REASON_COLUMNS)].notna().all().all()
    assert top[reason_text(1)].map(type).eq(str).all()
    assert top[reason_feature(1)].isin(SMALL_SHAPE.feature_columns()).all()
    dg.materialize(
        ALL,
        selection=[a.fraud_scores],
        partition_key=DAY.isoformat(),
        resources=resources,
        instance=instance,
    )
    assert _counts(resources, "scores") == scores  # replaced, not duplicated

    for step in ("staged", "before_swap", "during_swap"):
        failing = {
            **resources,
            "warehouse": FailingSnowflakeWarehouse(
                snowflake=resources["warehouse"].snowflake, fail_at=step
            ),
        }
        run = dg.materialize(
            ALL,
            selection=[a.fraud_scores],
            partition_key=DAY.isoformat(),
            resources=failing,
            instance=instance,
            raise_on_error=False,
        )
        assert not run.success
        after = wh.read_partitions(wh.tables.scores, DAY, DAY + timedelta(1))
        key = ["transaction_id"]
        pd.testing.assert_frame_equal(
            after.sort_values(key).reset_index(drop=True),
            before.sort_values(key).reset_index(drop=True),
            check_like=True,
        )


def test_bad_rows_land_in_the_snowflake_rejects_table(
    snowflake_resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    wh = _warehouse(snowflake_resources)
    day_start = pd.Timestamp(DAY, tz="UTC")
    bad = wh.read_source(day_start, day_start + pd.Timedelta(days=1)).head(2).copy()
    bad["transaction_id"] = [10**9, 10**9 + 1]
    bad["tx_amount"] = [float("nan"), -1.0]
    wh.load_source(bad)
    result = dg.materialize(
        ALL,
        selection=[a.raw_customer_transactions],
        partition_key=DAY.isoformat(),
        resources=snowflake_resources,
        instance=instance,
    )
    assert result.success
    rejected = wh.read_partitions(wh.tables.rejected, DAY, DAY + timedelta(1))
    assert sorted(rejected["transaction_id"].astype(str)) == ["1000000000", "1000000001"]
    assert rejected["reject_reason"].str.contains("tx_amount").all()
