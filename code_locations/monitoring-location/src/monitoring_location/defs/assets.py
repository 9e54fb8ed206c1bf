"""The monitoring assets: score drift, feature drift, delayed-label performance, model health.

Each reads the hybrid location's tables from the shared warehouse (``FRAUD_SCORES``,
``TRANSFORMED_TRANSACTIONS`` and the source's late labels), computes the day's record with
:mod:`fraud_core.monitoring` (:class:`~fraud_core.monitoring.ScoreDrift`,
:class:`~fraud_core.monitoring.FeatureDrift`, :class:`~fraud_core.monitoring.DayPerformance`,
:class:`~fraud_core.monitoring.DayHealth`: the rows to store, the verdicts, the numbers), writes
it as one partition of a monitoring table (replacing a re-run day) and reports its numbers as
metadata and asset checks.

Checks and why only one of them blocks:

* ``score_psi_below_threshold`` / ``feature_psi_below_threshold`` (WARN): drift is a signal to look
  at, not a reason to stop.
* ``realised_precision_above_floor`` (ERROR, on days whose labels matured) and
  ``alert_volume_within_budget`` (WARN): not blocking, because a blocking failure would skip the
  downstream ``model_health`` of the same run, i.e. hide the incident from the health summary.
* ``model_is_healthy`` (blocking; ERROR when CRITICAL, WARN when WARNING): the summary is the gate.
  A CRITICAL model fails the monitoring run (so Dagster+ run-failure alerts fire) and blocks
  anything that acts on the model's health downstream.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd

from fraud_core.columns import FRAUD_SCORE, TRANSACTION_ID, TX_FRAUD
from fraud_core.monitoring import (
    NOT_COMPUTED,
    DayHealth,
    DayPerformance,
    DriftSettings,
    FeatureDrift,
    HealthStatus,
    Reference,
    ScoreDrift,
    latest_mature_performance,
    mature_lookback_start,
    reference_days,
    sample_reference_day,
    tracked_features,
)
from fraud_core.monitoring.charts import (
    chart_markdown,
    feature_psi_chart,
    history_markdown,
    precision_chart,
    psi_chart,
    top_features,
)
from fraud_core.scoring import refresh_labels
from fraud_core.shape import PipelineShape
from fraud_dagster.catalog import table_metadata
from fraud_dagster.failures import fail_fast_on
from fraud_dagster.partitions import daily_partitions, day_bounds, partition_day
from fraud_dagster.resources import WAREHOUSE_POOL, WarehouseResource
from fraud_dagster.settings import FraudSettings
from fraud_dagster.shape import PIPELINE_SHAPE
from fraud_storage import TableName, Warehouse, WarehouseError
from monitoring_location.automation import (
    automation_window_days,
    on_new_upstream_data,
    performance_automation,
)
from monitoring_location.defs.upstream import fraud_scores, transformed_transactions
from monitoring_location.settings import MonitoringSettings

GROUP = "fraud_monitoring"
RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)
ON_NEW_DATA = on_new_upstream_data(automation_window_days(PIPELINE_SHAPE.label_delay_days))
DAILY_MONITORING_ASSET: dict[str, Any] = {
    "partitions_def": daily_partitions,
    "group_name": GROUP,
    "kinds": {"python", "snowflake"},
    "pool": WAREHOUSE_POOL,
}
"""What every monitoring asset shares: one row per day in a warehouse table (hence the pool)."""


class MissingUpstreamError(RuntimeError):
    """The day's upstream rows are not in the warehouse (materialize them first)."""


fail_fast = fail_fast_on(ValueError, KeyError, WarehouseError, MissingUpstreamError)
"""Deterministic failures are not retried (transient warehouse errors are, by RETRY)."""


# --------------------------------------------------------------------------------------------
# helpers: warehouse reads and Dagster values
# --------------------------------------------------------------------------------------------


def _now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC))


def _tables(warehouse: Warehouse, settings: MonitoringSettings) -> dict[str, TableName]:
    return settings.tables.resolve(warehouse.tables.scores)


def _drift_settings(settings: MonitoringSettings) -> DriftSettings:
    return DriftSettings(
        n_bins=settings.psi_bins,
        epsilon=settings.psi_epsilon,
        threshold=settings.psi_threshold,
        min_rows=settings.min_rows,
    )


def _read_day(
    warehouse: Warehouse, table: TableName, day: date, columns: list[str] | None = None
) -> pd.DataFrame:
    frame = warehouse.read_partitions(table, day, day + timedelta(days=1), columns=columns)
    if frame.empty:
        raise MissingUpstreamError(
            f"{table} has no rows for {day}: materialize that day upstream first"
        )
    return frame


def _read_reference(
    warehouse: Warehouse,
    table: TableName,
    day: date,
    settings: MonitoringSettings,
    columns: list[str],
) -> Reference:
    """Rows of the ``reference_days`` days before ``day``, read and sampled one day at a time."""
    samples: dict[date, pd.DataFrame] = {}
    for ref_day in reference_days(day, settings.reference_days):
        rows = warehouse.read_partitions(table, ref_day, ref_day + timedelta(days=1), columns)
        samples[ref_day] = sample_reference_day(rows, ref_day, settings.reference_sample_per_day)
    return Reference.before(day, settings.reference_days, samples, columns)


def _source_as_of(warehouse: Warehouse) -> date:
    """The latest day the source holds (labels of older days may have arrived since scoring)."""
    time_range = warehouse.source_time_range()
    if time_range is None:
        raise MissingUpstreamError(
            f"the source table {warehouse.tables.source} is empty or missing"
        )
    return time_range[1].date()


def _latest_mature(
    warehouse: Warehouse, table: TableName, day: date, shape: PipelineShape
) -> pd.Series | None:
    """The performance row of the latest day <= ``day`` evaluated with mature labels."""
    first = mature_lookback_start(day, shape.label_delay_days)
    return latest_mature_performance(
        warehouse.read_partitions(table, first, day + timedelta(days=1))
    )


def _history(
    warehouse: Warehouse, table: TableName, day: date, settings: MonitoringSettings
) -> pd.DataFrame | None:
    """The rows of ``table`` for the ``chart_days`` days up to ``day`` (None: charts are off)."""
    if settings.chart_days == 0:
        return None
    first = day - timedelta(days=settings.chart_days - 1)
    return warehouse.read_partitions(table, first, day + timedelta(days=1))


def _chart(figure: Any, alt: str, numbers: str) -> dg.MetadataValue:
    """A chart (an inline PNG) above the numbers it plots, as Markdown."""
    return dg.MetadataValue.md(f"{chart_markdown(figure, alt)}\n\n{numbers}")


def _markdown(text: str | None) -> dg.MetadataValue | str:
    """Markdown metadata, or ``not computed`` when there is no table."""
    return dg.MetadataValue.md(text) if text is not None else NOT_COMPUTED


# --------------------------------------------------------------------------------------------
# score drift
# --------------------------------------------------------------------------------------------


@dg.asset(
    **DAILY_MONITORING_ASSET,
    deps=[fraud_scores],
    retry_policy=RETRY,
    automation_condition=ON_NEW_DATA,
    description=(
        "Population stability index of the day's fraud scores against the scores of the "
        "`reference_days` days before it (bins from the reference quantiles). One row per day in "
        "MONITORING_SCORE_DRIFT."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "score_psi_below_threshold",
            asset="score_drift",
            description="score PSI at most `psi_threshold` (default 0.2); warns otherwise",
        )
    ],
)
@fail_fast
def score_drift(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    monitoring: MonitoringSettings,
) -> dg.MaterializeResult:
    """PSI of the day's score distribution."""
    day = partition_day(context)
    wh = warehouse.get_warehouse()
    actual = _read_day(wh, wh.tables.scores, day, [FRAUD_SCORE])
    reference = _read_reference(wh, wh.tables.scores, day, monitoring, [FRAUD_SCORE])
    drift = ScoreDrift.measure(day, actual, reference, _drift_settings(monitoring))
    table = _tables(wh, monitoring)["score_drift"]
    wh.replace_partition(table, drift.frame(_now()), day)
    if not drift.computed:
        context.log.info(drift.not_computed_reason())
    history = _history(wh, table, day, monitoring)
    charts = {}
    if history is not None:
        charts["psi_over_time"] = _chart(
            psi_chart(history, threshold=monitoring.psi_threshold),
            "score PSI by day",
            history_markdown(history, ["psi"], ["drifted"]),
        )
    return dg.MaterializeResult(
        metadata={
            **drift.numbers(),
            "actual_mean_score": drift.actual_mean,
            "bins": _markdown(drift.bins_markdown()),
            **charts,
            "table": str(table),
            **table_metadata(wh, table, day),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="score_psi_below_threshold",
                passed=not drift.drifted,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={**drift.numbers(), "status": drift.status},
            )
        ],
    )


# --------------------------------------------------------------------------------------------
# feature drift
# --------------------------------------------------------------------------------------------


@dg.asset(
    **DAILY_MONITORING_ASSET,
    deps=[transformed_transactions],
    retry_policy=RETRY,
    automation_condition=ON_NEW_DATA,
    description=(
        "Population stability index of each tracked feature (default: every numeric model "
        "feature) of the day against the `reference_days` days before it. One row per feature "
        "and day in MONITORING_FEATURE_DRIFT."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "feature_psi_below_threshold",
            asset="feature_drift",
            description="every tracked feature's PSI at most `psi_threshold`; warns otherwise",
        )
    ],
)
@fail_fast
def feature_drift(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    monitoring: MonitoringSettings,
) -> dg.MaterializeResult:
    """PSI of the day's feature distributions."""
    day = partition_day(context)
    wh = warehouse.get_warehouse()
    source = wh.tables.transformed
    actual = _read_day(wh, source, day, monitoring.drift_features or None)
    columns = tracked_features(actual, monitoring.drift_features, source=str(source))
    reference = _read_reference(wh, source, day, monitoring, columns)
    drift = FeatureDrift.measure(day, actual, reference, columns, _drift_settings(monitoring))
    if not drift.computed:
        context.log.info(drift.not_computed_reason())
    table = _tables(wh, monitoring)["feature_drift"]
    wh.replace_partition(table, drift.frame(_now()), day)
    history = _history(wh, table, day, monitoring)
    charts = {}
    if history is not None:
        charts["psi_over_time"] = _chart(
            feature_psi_chart(history, threshold=monitoring.psi_threshold),
            "feature PSI by day",
            history_markdown(top_features(history), ["psi"], ["feature"]),
        )
    return dg.MaterializeResult(
        metadata={
            **drift.numbers(),
            "top_features": dg.MetadataValue.md(drift.top_markdown()),
            **charts,
            "table": str(table),
            **table_metadata(wh, table, day),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="feature_psi_below_threshold",
                passed=not drift.drifted_features,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=drift.numbers(),
            )
        ],
    )


# --------------------------------------------------------------------------------------------
# delayed-label performance (and alert volume)
# --------------------------------------------------------------------------------------------


@dg.asset(
    **DAILY_MONITORING_ASSET,
    deps=[fraud_scores],
    retry_policy=RETRY,
    automation_condition=performance_automation(PIPELINE_SHAPE.label_delay_days),
    description=(
        "Realised precision/recall at the alert threshold, card precision@k at the review budget "
        "(handbook protocol), AP and ROC AUC of the day's scores against the labels the source "
        "holds now, plus the alert volume against the budget. Provisional until the day's labels "
        "mature (`label_delay_days` later), when automation re-evaluates the day. One row per "
        "day in MONITORING_PERFORMANCE."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "realised_precision_above_floor",
            asset="delayed_label_performance",
            description=(
                "on a day whose labels matured: card precision@k at least `precision_floor` "
                "(error); provisional days are not judged"
            ),
        ),
        dg.AssetCheckSpec(
            "alert_volume_within_budget",
            asset="delayed_label_performance",
            description="cards alerted at the threshold fit the review budget (warn)",
        ),
    ],
)
@fail_fast
def delayed_label_performance(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    monitoring: MonitoringSettings,
    settings: FraudSettings,
    shape: dg.ResourceParam[PipelineShape],
) -> dg.MaterializeResult:
    """Realised performance of the day's scores once labels arrive."""
    day = partition_day(context)
    wh = warehouse.get_warehouse()
    scores = _read_day(wh, wh.tables.scores, day)
    as_of = _source_as_of(wh)
    labels = wh.read_source(*day_bounds(day))[[TRANSACTION_ID, TX_FRAUD]]
    perf = DayPerformance.measure(
        refresh_labels(scores, labels),  # the labels known NOW, not those at scoring time
        day,
        as_of=as_of,
        label_delay_days=shape.label_delay_days,
        threshold=settings.alert_threshold,
        budget=settings.alert_budget,
        thresholds=monitoring.health_thresholds(),
    )
    table = _tables(wh, monitoring)["performance"]
    wh.replace_partition(table, perf.frame(_now()), day)
    history = _history(wh, table, day, monitoring)
    charts = {}
    if history is not None:
        charts["precision_over_time"] = _chart(
            precision_chart(history, floor=monitoring.precision_floor, k=settings.alert_budget),
            "realised precision by day",
            history_markdown(history, ["card_precision_at_k", "precision"], ["labels_mature"]),
        )
    return dg.MaterializeResult(
        metadata={
            **perf.numbers(),
            **charts,
            "table": str(table),
            **table_metadata(wh, table, day),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="realised_precision_above_floor",
                passed=not perf.below_floor,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=perf.precision_numbers(),
            ),
            dg.AssetCheckResult(
                check_name="alert_volume_within_budget",
                passed=not perf.over_budget,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=perf.budget_numbers(),
            ),
        ],
    )


# --------------------------------------------------------------------------------------------
# model health
# --------------------------------------------------------------------------------------------


@dg.asset(
    **DAILY_MONITORING_ASSET,
    deps=["score_drift", "feature_drift", "delayed_label_performance"],
    automation_condition=ON_NEW_DATA,
    description=(
        "One verdict per day - healthy, warning or critical - from the day's score and feature "
        "drift, its alert volume, and the realised card precision@k of the latest day whose "
        "labels matured. One row per day in MONITORING_MODEL_HEALTH."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "model_is_healthy",
            asset="model_health",
            blocking=True,
            description=(
                "error (blocking: the run fails) when the model is CRITICAL, warning when it "
                "is WARNING"
            ),
        )
    ],
)
@fail_fast
def model_health(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    monitoring: MonitoringSettings,
    shape: dg.ResourceParam[PipelineShape],
) -> dg.MaterializeResult:
    """Summarise the day's monitoring into a health status."""
    day = partition_day(context)
    wh = warehouse.get_warehouse()
    tables = _tables(wh, monitoring)
    health = DayHealth.assess(
        day,
        score_drift=_read_day(wh, tables["score_drift"], day).iloc[0],
        feature_drift=_read_day(wh, tables["feature_drift"], day),
        performance=_read_day(wh, tables["performance"], day).iloc[0],
        latest_mature=_latest_mature(wh, tables["performance"], day, shape),
        thresholds=monitoring.health_thresholds(),
    )
    wh.replace_partition(tables["health"], health.frame(_now()), day)
    numbers = health.numbers()
    critical = health.status is HealthStatus.CRITICAL
    return dg.MaterializeResult(
        metadata={
            **numbers,
            "model_versions": health.model_versions,
            "table": str(tables["health"]),
            **table_metadata(wh, tables["health"], day),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="model_is_healthy",
                passed=health.status is HealthStatus.HEALTHY,
                severity=dg.AssetCheckSeverity.ERROR if critical else dg.AssetCheckSeverity.WARN,
                metadata=numbers,
            )
        ],
    )


MONITORING_ASSETS = [score_drift, feature_drift, delayed_label_performance, model_health]
"""The four monitoring assets in dependency order."""
