"""End to end: the hybrid pipeline scores several days of a small simulated warehouse, then the
monitoring assets run on the SAME warehouse file, and every stored number is checked against a
direct ``fraud_core.monitoring`` computation on the same tables (and against plausible ranges)."""

import base64
import math
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from fraud_core.evaluation import card_precision_at_k
from fraud_core.monitoring import (
    HealthStatus,
    HealthThresholds,
    assess_health,
    labels_mature,
    population_stability_index,
)
from fraud_storage import TableName
from fraud_storage.duckdb_warehouse import DuckDBWarehouse
from monitoring_location.defs.assets import MONITORING_ASSETS
from monitoring_location.defs.upstream import UPSTREAM_SPECS

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::dagster.BetaWarning")]

DAYS = 4
LABEL_DELAY = 2
REFERENCE_DAYS = 7
ALERT_BUDGET = 50
THRESHOLD = 0.5


class Pipeline:
    """The hybrid pipeline's output and the monitoring of its scored days."""

    def __init__(self, root: Path, instance: dg.DagsterInstance, days: list[date], results):
        self.root, self.instance, self.days, self.results = root, instance, days, results
        self.wh = DuckDBWarehouse.at_path(root / "warehouse.duckdb")

    def table(self, name: str, first: date | None = None, last: date | None = None):
        first, last = first or self.days[0], last or self.days[-1]
        return self.wh.read_partitions(
            TableName.parse(f"FRAUD.{name}"), first, last + timedelta(days=1)
        )

    def day_rows(self, name: str, day: date) -> pd.DataFrame:
        return self.table(name, day, day)


def _materialize(resources: dict[str, Any], instance, day: date, selection=None, **kwargs):
    return dg.materialize(
        [*UPSTREAM_SPECS, *MONITORING_ASSETS],
        selection=selection or MONITORING_ASSETS,
        partition_key=day.isoformat(),
        resources=resources,
        instance=instance,
        **kwargs,
    )


@pytest.fixture(scope="module")
def pipeline(
    tmp_path_factory: pytest.TempPathFactory, make_hybrid_resources, make_monitoring_resources
) -> Iterator[Pipeline]:
    from hybrid_location.cli import run_pipeline

    root = tmp_path_factory.mktemp("e2e")
    with dg.instance_for_test() as instance:
        run = run_pipeline(make_hybrid_resources(root), instance, days=DAYS)
        assert len(run.scored_days) == DAYS
        resources = make_monitoring_resources(root)
        results = {day: _materialize(resources, instance, day) for day in run.scored_days}
        yield Pipeline(root, instance, run.scored_days, results)


def _scores(p: Pipeline, first: date, last: date) -> pd.Series:
    return p.table("FRAUD_SCORES", first, last)["fraud_score"]


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_every_monitoring_run_succeeds_and_writes_one_row_per_day(pipeline: Pipeline) -> None:
    for day, result in pipeline.results.items():
        assert result.success, day
        for name in ("MONITORING_SCORE_DRIFT", "MONITORING_PERFORMANCE", "MONITORING_MODEL_HEALTH"):
            assert len(pipeline.day_rows(name, day)) == 1, (name, day)
        assert len(pipeline.day_rows("MONITORING_FEATURE_DRIFT", day)) >= 10
    # The monitoring tables live next to the hybrid location's tables, in the same file.
    assert pipeline.wh.table_exists(TableName.parse("FRAUD.FRAUD_SCORES"))


def test_score_drift_equals_a_direct_psi_on_the_scores_table(pipeline: Pipeline) -> None:
    first = pipeline.days[0]
    stored = pipeline.table("MONITORING_SCORE_DRIFT").set_index("partition_date")
    # The first scored day has no scored reference day before it: PSI not computed, not alerted.
    assert not stored.loc[first, "psi_computed"]
    assert math.isnan(stored.loc[first, "psi"])
    first_check = _checks(pipeline.results[first])["score_psi_below_threshold"]
    assert first_check.passed
    assert first_check.metadata["status"].text == "not computed"
    assert first_check.metadata["psi"].value is None
    for day in pipeline.days[1:]:
        reference = _scores(pipeline, day - timedelta(days=REFERENCE_DAYS), day - timedelta(days=1))
        direct = population_stability_index(reference, _scores(pipeline, day, day))
        row = stored.loc[day]
        assert row["psi_computed"]
        assert row["psi"] == pytest.approx(direct.psi, rel=1e-9)
        assert row["n_reference"] == direct.n_reference == len(reference)
        assert row["n_actual"] == direct.n_actual > 500
        # Same model, stationary simulator: a small but non-zero drift (sampling noise).
        assert 0.0 < row["psi"] < 0.1, (day, row["psi"])
        check = _checks(pipeline.results[day])["score_psi_below_threshold"]
        assert check.passed
        assert check.metadata["psi"].value == pytest.approx(direct.psi)
        assert check.metadata["status"].text == "ok"


def test_feature_drift_equals_a_direct_psi_on_the_features_table(pipeline: Pipeline) -> None:
    day = pipeline.days[-1]
    stored = pipeline.day_rows("MONITORING_FEATURE_DRIFT", day).set_index("feature")
    assert stored["psi_computed"].all()
    assert {"tx_amount", "customer_id_nb_tx_7day_window", "terminal_id_risk_7day_window"} <= set(
        stored.index
    )
    excluded = {"transaction_id", "customer_id", "tx_fraud", "partition_date", "tx_during_weekend"}
    assert not excluded & set(stored.index)
    features = pipeline.table("TRANSFORMED_TRANSACTIONS", day - timedelta(days=REFERENCE_DAYS), day)
    is_day = features["partition_date"] == day
    for feature in ("tx_amount", "customer_id_nb_tx_7day_window", "tx_during_night"):
        direct = population_stability_index(
            features.loc[~is_day, feature].astype("float64"),
            features.loc[is_day, feature].astype("float64"),
        )
        assert stored.loc[feature, "psi"] == pytest.approx(direct.psi, rel=1e-9), feature
        assert stored.loc[feature, "n_actual"] == is_day.sum()
    # Past the features' warm-up the simulator is stationary: no feature drifts.
    assert ((stored["psi"] >= 0) & (stored["psi"] < 0.2)).all(), stored["psi"].to_dict()
    check = _checks(pipeline.results[day])["feature_psi_below_threshold"]
    assert check.metadata["max_psi"].value == pytest.approx(stored["psi"].max())
    assert check.passed


def test_delayed_label_performance_matches_the_source_labels(pipeline: Pipeline) -> None:
    as_of = pipeline.days[-1]  # the source's latest day
    stored = pipeline.table("MONITORING_PERFORMANCE").set_index("partition_date")
    source = pipeline.wh.read_source(
        pd.Timestamp(pipeline.days[0], tz="UTC"), pd.Timestamp(as_of + timedelta(1), tz="UTC")
    )
    mature_days = [d for d in pipeline.days if labels_mature(d, as_of, LABEL_DELAY)]
    assert mature_days == pipeline.days[: DAYS - LABEL_DELAY]
    for day in pipeline.days:
        row = stored.loc[day]
        assert bool(row["labels_mature"]) == (day in mature_days)
        scores = pipeline.day_rows("FRAUD_SCORES", day).drop(columns="tx_fraud")
        labelled = scores.merge(source[["transaction_id", "tx_fraud"]], on="transaction_id")
        assert row["n_transactions"] == len(scores) == len(labelled)
        known = labelled["tx_fraud"].notna()
        assert row["label_coverage"] == pytest.approx(known.mean())
        if day not in mature_days:
            # The source holds the labels a real team would: none yet for these days (the seed's
            # labels arrive LABEL_DELAY days late), and monitoring says so rather than guessing.
            assert not known.any(), day
            continue
        direct = card_precision_at_k(
            labelled.rename(columns={"fraud_score": "score"}).astype({"tx_fraud": "int64"}),
            ALERT_BUDGET,
        )
        assert row["card_precision_at_k"] == pytest.approx(direct)
        alerted = labelled["fraud_score"] >= THRESHOLD
        fraud = labelled["tx_fraud"] == 1
        assert row["n_alerts"] == alerted.sum()
        assert row["n_fraud"] == fraud.sum() > 0
        assert row["recall"] == pytest.approx((alerted & fraud).sum() / fraud.sum())
        if alerted.any():
            assert row["precision"] == pytest.approx((alerted & fraud).sum() / alerted.sum())
        for metric in ("card_precision_at_k", "recall", "card_recall_at_k"):
            assert 0.0 <= row[metric] <= 1.0, (day, metric)
        assert row["roc_auc"] > 0.6, day  # the promoted model ranks frauds well above chance
        assert row["label_coverage"] == 1.0  # a mature day: every label has arrived
        # Alert volume agrees with the hybrid location's own daily report of that day.
        report = pipeline.day_rows("DAILY_FRAUD_REPORT", day).iloc[0]
        assert row["n_alert_cards"] == report["alerts_threshold_cards"]
        assert row["budget_utilisation"] == pytest.approx(row["n_alert_cards"] / ALERT_BUDGET)
    checks = _checks(pipeline.results[pipeline.days[-1]])
    assert checks["realised_precision_above_floor"].passed
    assert checks["realised_precision_above_floor"].metadata["labels_mature"].value is False
    mature_on = pipeline.days[-1] + timedelta(days=LABEL_DELAY)
    assert checks["realised_precision_above_floor"].metadata["status"].text == (
        f"provisional: labels mature on {mature_on}"
    )
    mature = _checks(pipeline.results[mature_days[-1]])["realised_precision_above_floor"]
    assert mature.metadata["status"].text == "evaluated"
    assert mature.metadata["card_precision_at_k"].value == pytest.approx(
        stored.loc[mature_days[-1], "card_precision_at_k"]
    )


def test_model_health_summarises_the_stored_numbers(pipeline: Pipeline) -> None:
    health = pipeline.table("MONITORING_MODEL_HEALTH").set_index("partition_date")
    performance = pipeline.table("MONITORING_PERFORMANCE").set_index("partition_date")
    score = pipeline.table("MONITORING_SCORE_DRIFT").set_index("partition_date")
    for day in pipeline.days:
        features = pipeline.day_rows("MONITORING_FEATURE_DRIFT", day)
        mature = [d for d in performance.index if d <= day and performance.loc[d, "labels_mature"]]
        latest = max(mature) if mature else None
        expected = assess_health(
            score_psi=None if math.isnan(score.loc[day, "psi"]) else score.loc[day, "psi"],
            max_feature_psi=features["psi"].max(),
            card_precision=performance.loc[latest, "card_precision_at_k"] if latest else None,
            budget_utilisation=performance.loc[day, "budget_utilisation"],
            thresholds=HealthThresholds(precision_floor=0.0),
        )
        row = health.loc[day]
        assert row["status"] == expected.status.value, day
        assert row["precision_day"] == (str(latest) if latest else "")
        assert row["max_feature_psi"] == pytest.approx(features["psi"].max())
        check = _checks(pipeline.results[day])["model_is_healthy"]
        assert check.passed == (expected.status is HealthStatus.HEALTHY)
        assert check.metadata["status"].text == expected.status.value
    # Past the warm-up, with CP@50 above the (test) floor and alerts within budget: healthy.
    assert set(health["status"]) == {"healthy"}, health["reasons"].to_dict()
    # Days whose labels matured feed the health of the later days.
    assert health.loc[pipeline.days[-1], "precision_day"] == str(pipeline.days[1])


def test_a_precision_floor_breach_is_critical_and_blocks(
    pipeline: Pipeline, make_monitoring_resources
) -> None:
    day = pipeline.days[1]  # labels matured
    strict = make_monitoring_resources(pipeline.root, precision_floor=0.99)
    result = _materialize(
        strict,
        pipeline.instance,
        day,
        selection=[MONITORING_ASSETS[2], MONITORING_ASSETS[3]],
        raise_on_error=False,
    )
    checks = _checks(result)
    floor = checks["realised_precision_above_floor"]
    assert not floor.passed
    assert floor.severity is dg.AssetCheckSeverity.ERROR
    assert floor.metadata["card_precision_at_k"].value < 0.99
    # Not blocking: the health summary of the same run still ran and recorded the incident ...
    health = checks["model_is_healthy"]
    assert not health.passed
    assert health.severity is dg.AssetCheckSeverity.ERROR
    assert "below the floor 0.990" in health.metadata["reasons"].value[0]
    assert pipeline.day_rows("MONITORING_MODEL_HEALTH", day).iloc[0]["status"] == "critical"
    # ... and the health check is blocking: the monitoring run fails.
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "blocking asset check" in failure.message
    assert "model_health" in failure.message
    # Back to the default thresholds: the day is healthy again (other tests share the tables).
    restored = _materialize(
        make_monitoring_resources(pipeline.root),
        pipeline.instance,
        day,
        selection=[MONITORING_ASSETS[3]],
    )
    assert restored.success
    assert pipeline.day_rows("MONITORING_MODEL_HEALTH", day).iloc[0]["status"] == "healthy"


def _materialization_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)
    ]
    return event.materialization.metadata


def _chart_rows(markdown: str) -> list[list[str]]:
    """The image's alt text and the numbers table's rows of a chart's Markdown."""
    image, table = markdown.split("\n\n", 1)
    assert re.fullmatch(r"!\[[^\]]+\]\(data:image/png;base64,[A-Za-z0-9+/=]+\)", image)
    assert base64.b64decode(image.split(",", 1)[1].rstrip(")")).startswith(b"\x89PNG")
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def _number(cell: str) -> float:
    return math.nan if cell == "n/a" else float(cell)


def test_psi_and_precision_over_time_are_charted_from_the_stored_rows(pipeline: Pipeline) -> None:
    last = pipeline.days[-1]
    result = pipeline.results[last]
    score = pipeline.table("MONITORING_SCORE_DRIFT").set_index("partition_date")
    rows = _chart_rows(_materialization_metadata(result, "score_drift")["psi_over_time"].value)
    # every monitored day up to this one, oldest first; the first day's PSI was not computed
    assert [r[0] for r in rows] == [str(d) for d in pipeline.days]
    assert rows[0][1] == "n/a"
    for day, (_, psi, _drifted) in zip(pipeline.days[1:], rows[1:], strict=True):
        assert float(psi) == pytest.approx(score.loc[day, "psi"], rel=1e-3)

    perf = pipeline.table("MONITORING_PERFORMANCE").set_index("partition_date")
    metadata = _materialization_metadata(result, "delayed_label_performance")
    rows = _chart_rows(metadata["precision_over_time"].value)
    assert [r[0] for r in rows] == [str(d) for d in pipeline.days]
    for day, (_, card_precision, _precision, mature) in zip(pipeline.days, rows, strict=True):
        assert _number(card_precision) == pytest.approx(
            perf.loc[day, "card_precision_at_k"], rel=1e-3, nan_ok=True
        )
        assert mature == str(bool(perf.loc[day, "labels_mature"]))

    features = _chart_rows(
        _materialization_metadata(result, "feature_drift")["psi_over_time"].value
    )
    assert len({r[2] for r in features}) == 5  # the five features that drifted most
    # the first day's chart had only that day to show
    first = _chart_rows(
        _materialization_metadata(pipeline.results[pipeline.days[0]], "score_drift")[
            "psi_over_time"
        ].value
    )
    assert [r[0] for r in first] == [str(pipeline.days[0])]
