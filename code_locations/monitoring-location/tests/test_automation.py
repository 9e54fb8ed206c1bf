"""Declarative automation: monitoring runs when the hybrid location's data lands, and a day's
performance runs again when its labels mature. Evaluated tick by tick with Dagster's own tester,
against the location's real definitions (no data, no warehouse)."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from fraud_dagster.shape import PIPELINE_SHAPE
from monitoring_location.automation import automation_window_days, on_labels_matured
from monitoring_location.definitions import defs as load_defs

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

MONITORING = ("score_drift", "feature_drift", "delayed_label_performance", "model_health")
LABEL_DELAY_DAYS = PIPELINE_SHAPE.label_delay_days  # the deployment's shape (default: 7 days)


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return load_defs()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


class Ticks:
    """Successive evaluations of the location's automation conditions, sharing one cursor."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.defs, self.instance, self.cursor = defs, instance, None

    def at(self, when: datetime) -> dict[str, set[str]]:
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self.cursor, evaluation_time=when
        )
        self.cursor = result.cursor
        requested: dict[str, set[str]] = {}
        for run in result.results:
            keys = run.true_subset.expensively_compute_partition_keys()
            if keys:
                requested[run.key.to_user_string()] = set(keys)
        # The requested runs succeed: their materializations are what the next tick sees.
        for key, partitions in requested.items():
            self.materialize(key, *partitions)
        return requested

    def materialize(self, key: str, *days: str) -> None:
        for day in days:
            self.instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=day))


def _days(first: str, last: str) -> set[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return {(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)}


def test_defaults_and_the_watched_window() -> None:
    assert LABEL_DELAY_DAYS == 7
    assert automation_window_days(LABEL_DELAY_DAYS) == 9
    assert automation_window_days(2) == 7
    with pytest.raises(ValueError, match="label_delay_days"):
        on_labels_matured(0)


def test_monitoring_follows_the_hybrid_location_and_the_label_delay(defs, instance) -> None:
    ticks = Ticks(defs, instance)
    t0 = datetime(2025, 3, 31, 2, 0, tzinfo=UTC)
    assert ticks.at(t0) == {}  # nothing upstream yet

    # The hybrid location writes features and scores of 2025-03-28..30 (a 3-day backfill).
    backfill = _days("2025-03-28", "2025-03-30")
    ticks.materialize("transformed_transactions", *backfill)
    ticks.materialize("fraud_scores", *backfill)
    assert ticks.at(t0 + timedelta(minutes=30)) == {key: backfill for key in MONITORING}
    assert ticks.at(t0 + timedelta(minutes=31)) == {}  # handled: nothing twice

    # Features of a new day land first: only feature drift can run (health waits for scores).
    ticks.materialize("transformed_transactions", "2025-03-31")
    assert ticks.at(datetime(2025, 4, 1, 1, 0, tzinfo=UTC)) == {"feature_drift": {"2025-03-31"}}
    ticks.materialize("fraud_scores", "2025-03-31")
    today = {"2025-03-31"}
    assert ticks.at(datetime(2025, 4, 1, 2, 30, tzinfo=UTC)) == {
        "score_drift": today,
        "delayed_label_performance": today,
        "model_health": today,
    }

    # A re-scored day (e.g. after a fix in the hybrid location) is monitored again.
    ticks.materialize("fraud_scores", "2025-03-29")
    again = {"2025-03-29"}
    assert ticks.at(datetime(2025, 4, 1, 9, 0, tzinfo=UTC)) == {
        "score_drift": again,
        "delayed_label_performance": again,
        "model_health": again,
    }

    # Labels of day D are complete when the latest complete day is D + 7: D's performance
    # (and the health that reads it) runs once more, and only then.
    for when, matured in [
        (datetime(2025, 4, 5, 0, 30, tzinfo=UTC), "2025-03-28"),
        (datetime(2025, 4, 6, 0, 30, tzinfo=UTC), "2025-03-29"),
        (datetime(2025, 4, 7, 0, 30, tzinfo=UTC), "2025-03-30"),
    ]:
        assert ticks.at(when) == {
            "delayed_label_performance": {matured},
            "model_health": {matured},
        }, when
        assert ticks.at(when + timedelta(hours=12)) == {}, when
