"""The monitoring assets: score drift, feature drift, delayed-label performance, model health.

Each reads the hybrid location's tables from the shared warehouse (``FRAUD_SCORES``,
``TRANSFORMED_TRANSACTIONS`` and the source's late labels), computes with
:mod:`fraud_core.monitoring`, writes one partition of a monitoring table (replacing a re-run day)
and reports its numbers as metadata and asset checks.

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

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
from fraud_storage import TableName, Warehouse, WarehouseError

from fraud_core.monitoring import (
    HealthStatus,
    alert_volume,
    assess_health,
    drift_table,
    numeric_feature_columns,
    population_stability_index,
    realised_performance,
)
from fraud_core.scoring import refresh_labels
from fraud_dagster.failures import fail_fast_on
from fraud_dagster.partitions import daily_partitions, day_bounds, partition_day
from fraud_dagster.resources import WAREHOUSE_POOL, WarehouseResource
from monitoring_location.automation import (
    automation_window_days,
    on_new_upstream_data,
    performance_automation,
)
from monitoring_location.defs.upstream import fraud_scores, transformed_transactions
from monitoring_location.settings import LABEL_DELAY_DAYS, MonitoringSettings

GROUP = "fraud_monitoring"
SCORE = "fraud_score"
RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)
ON_NEW_DATA = on_new_upstream_data(automation_window_days(LABEL_DELAY_DAYS))
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
# helpers
# --------------------------------------------------------------------------------------------


def _now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC))


def _tables(warehouse: Warehouse, settings: MonitoringSettings) -> dict[str, TableName]:
    return settings.tables.resolve(warehouse.tables.scores)


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
) -> tuple[pd.DataFrame, list[date]]:
    """Rows of the ``reference_days`` days before ``day``, read and sampled one day at a time."""
    parts, days = [], []
    for offset in range(settings.reference_days, 0, -1):
        ref_day = day - timedelta(days=offset)
        frame = warehouse.read_partitions(table, ref_day, ref_day + timedelta(days=1), columns)
        if frame.empty:
            continue
        cap = settings.reference_sample_per_day
        if cap and len(frame) > cap:  # deterministic per day, so a re-run gives the same PSI
            frame = frame.sample(n=cap, random_state=ref_day.toordinal())
        parts.append(frame)
        days.append(ref_day)
    if not parts:
        return pd.DataFrame(columns=columns), days
    return pd.concat(parts, ignore_index=True), days


def _float(value: Any) -> float:
    """A float for a warehouse column (NaN, never None: an all-NULL column would be VARCHAR)."""
    return math.nan if value is None or pd.isna(value) else float(value)


def _optional(value: Any) -> float | None:
    """A float for metadata (None when not measured)."""
    return None if value is None or pd.isna(value) else float(value)


def _markdown(frame: pd.DataFrame) -> dg.MetadataValue:
    """A small frame as a Markdown table (floats with 4 significant digits)."""

    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            return "n/a" if math.isnan(value) else f"{value:.4g}"
        return str(value)

    lines = [
        "| " + " | ".join(map(str, frame.columns)) + " |",
        "| " + " | ".join("---" for _ in frame.columns) + " |",
        *("| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)),
    ]
    return dg.MetadataValue.md("\n".join(lines))


def _reference_window(day: date, settings: MonitoringSettings) -> tuple[date, date]:
    return day - timedelta(days=settings.reference_days), day - timedelta(days=1)


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
    actual = _read_day(wh, wh.tables.scores, day, [SCORE])
    reference, ref_days = _read_reference(wh, wh.tables.scores, day, monitoring, [SCORE])
    enough = min(len(reference), len(actual)) >= max(monitoring.min_rows, 1)
    result = (
        population_stability_index(
            reference[SCORE],
            actual[SCORE],
            n_bins=monitoring.psi_bins,
            epsilon=monitoring.psi_epsilon,
        )
        if enough
        else None
    )
    psi = result.psi if result else None
    drifted = psi is not None and psi > monitoring.psi_threshold
    first, last = _reference_window(day, monitoring)
    row = {
        "day": day,
        "psi": _float(psi),
        "psi_computed": result is not None,
        "drifted": drifted,
        "psi_threshold": monitoring.psi_threshold,
        "n_bins": result.n_bins if result else 0,
        "n_actual": len(actual),
        "n_reference": len(reference),
        "reference_first_day": first,
        "reference_last_day": last,
        "reference_days_with_data": len(ref_days),
        "actual_mean": _float(actual[SCORE].mean()),
        "reference_mean": _float(reference[SCORE].mean() if len(reference) else None),
        "evaluated_at": _now(),
    }
    table = _tables(wh, monitoring)["score_drift"]
    wh.replace_partition(table, pd.DataFrame([row]), day)
    if result is None:
        context.log.info(
            f"score PSI for {day} not computed: {len(reference)} reference rows "
            f"({len(ref_days)} days), {len(actual)} day rows, min_rows={monitoring.min_rows}"
        )
    numbers = {
        "psi": _optional(psi),
        "psi_threshold": monitoring.psi_threshold,
        "n_actual": len(actual),
        "n_reference": len(reference),
        "reference_window": f"{first} .. {last} ({len(ref_days)} days with scores)",
    }
    return dg.MaterializeResult(
        metadata={
            **numbers,
            "actual_mean_score": row["actual_mean"],
            "bins": _markdown(result.bins()) if result else "not computed",
            "table": str(table),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="score_psi_below_threshold",
                passed=not drifted,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    **numbers,
                    "status": "drift" if drifted else ("ok" if result else "not computed"),
                },
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
    actual = _read_day(wh, wh.tables.transformed, day, monitoring.drift_features or None)
    columns = list(monitoring.drift_features) or numeric_feature_columns(actual)
    if not columns:
        raise ValueError(f"no numeric feature column in {wh.tables.transformed}")
    reference, ref_days = _read_reference(wh, wh.tables.transformed, day, monitoring, columns)
    enough = min(len(reference), len(actual)) >= max(monitoring.min_rows, 1)
    if enough:
        drift = drift_table(
            reference,
            actual,
            columns,
            n_bins=monitoring.psi_bins,
            epsilon=monitoring.psi_epsilon,
            threshold=monitoring.psi_threshold,
        )
    else:
        context.log.info(f"feature PSI for {day} not computed: {len(reference)} reference rows")
        drift = pd.DataFrame(
            {
                "column": columns,
                "psi": np.nan,
                "drifted": False,
                "n_bins": 0,
                "n_reference": len(reference),
                "n_actual": len(actual),
                "reference_mean": np.nan,
                "actual_mean": [_float(actual[c].astype("float64").mean()) for c in columns],
                "reference_missing_share": np.nan,
                "actual_missing_share": [float(actual[c].isna().mean()) for c in columns],
            }
        )
    first, last = _reference_window(day, monitoring)
    frame = drift.rename(columns={"column": "feature"}).assign(
        day=day,
        psi_computed=enough,
        psi_threshold=monitoring.psi_threshold,
        reference_first_day=first,
        reference_last_day=last,
        reference_days_with_data=len(ref_days),
        evaluated_at=_now(),
    )
    frame["psi"] = frame["psi"].astype("float64")
    table = _tables(wh, monitoring)["feature_drift"]
    wh.replace_partition(table, frame, day)
    drifted = frame.loc[frame["drifted"], "feature"].tolist()
    top = frame.iloc[0] if enough else None
    numbers = {
        "max_psi": _optional(top["psi"]) if top is not None else None,
        "most_drifted_feature": str(top["feature"]) if top is not None else "not computed",
        "drifted_features": drifted,
        "n_features": len(columns),
        "psi_threshold": monitoring.psi_threshold,
        "n_reference": len(reference),
        "n_actual": len(actual),
        "reference_window": f"{first} .. {last} ({len(ref_days)} days with features)",
    }
    top_table = frame[["feature", "psi", "drifted", "reference_mean", "actual_mean"]].head(10)
    return dg.MaterializeResult(
        metadata={
            **numbers,
            "top_features": _markdown(top_table),
            "table": str(table),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="feature_psi_below_threshold",
                passed=not drifted,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=numbers,
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
    automation_condition=performance_automation(LABEL_DELAY_DAYS),
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
) -> dg.MaterializeResult:
    """Realised performance of the day's scores once labels arrive."""
    day = partition_day(context)
    wh = warehouse.get_warehouse()
    scores = _read_day(wh, wh.tables.scores, day)
    time_range = wh.source_time_range()
    if time_range is None:
        raise MissingUpstreamError(f"the source table {wh.tables.source} is empty or missing")
    as_of = time_range[1].date()
    labels = wh.read_source(*day_bounds(day))[["transaction_id", "tx_fraud"]]
    scored = refresh_labels(scores, labels)  # the labels known NOW, not those at scoring time
    perf = realised_performance(
        scored,
        day,
        as_of=as_of,
        label_delay_days=monitoring.label_delay_days,
        threshold=monitoring.alert_threshold,
        k=monitoring.alert_budget,
    )
    volume = alert_volume(
        scored, day, threshold=monitoring.alert_threshold, budget=monitoring.alert_budget
    )
    record = {
        key: (_float(value) if value is None else value) for key, value in perf.as_record().items()
    }
    record.update(
        alert_budget=volume.budget,
        n_alert_cards=volume.n_alert_cards,
        budget_utilisation=volume.budget_utilisation,
        over_budget=volume.over_budget,
        excess_cards=volume.excess_cards,
        model_versions=",".join(sorted(scores["model_version"].astype(str).unique())),
        evaluated_at=_now(),
    )
    table = _tables(wh, monitoring)["performance"]
    wh.replace_partition(table, pd.DataFrame([record]), day)

    cp = perf.card_precision_at_k
    judged = perf.labels_mature and perf.n_fraud_cards > 0
    below_floor = judged and (cp is None or cp < monitoring.precision_floor)
    status = (
        f"provisional: labels mature on {day + timedelta(days=monitoring.label_delay_days)}"
        if not perf.labels_mature
        else ("no fraudulent card that day" if not judged else "evaluated")
    )
    numbers = {
        "labels_mature": perf.labels_mature,
        "as_of": str(as_of),
        "label_coverage": _optional(perf.label_coverage),
        "card_precision_at_k": _optional(cp),
        "k": perf.k,
        "precision_floor": monitoring.precision_floor,
        "precision_at_threshold": _optional(perf.precision),
        "recall_at_threshold": _optional(perf.recall),
        "card_recall_at_k": _optional(perf.card_recall_at_k),
        "n_fraud_cards": perf.n_fraud_cards,
        "n_detected_cards": perf.n_detected_cards,
    }
    budget = {
        "n_alert_cards": volume.n_alert_cards,
        "alert_budget": volume.budget,
        "budget_utilisation": volume.budget_utilisation,
        "max_budget_utilisation": monitoring.max_budget_utilisation,
        "threshold": volume.threshold,
    }
    over = volume.budget_utilisation > monitoring.max_budget_utilisation
    return dg.MaterializeResult(
        metadata={
            **numbers,
            **budget,
            "average_precision": _optional(perf.average_precision),
            "roc_auc": _optional(perf.roc_auc),
            "n_transactions": perf.n_transactions,
            "status": status,
            "table": str(table),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="realised_precision_above_floor",
                passed=not below_floor,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={**numbers, "status": status},
            ),
            dg.AssetCheckResult(
                check_name="alert_volume_within_budget",
                passed=not over,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=budget,
            ),
        ],
    )


# --------------------------------------------------------------------------------------------
# model health
# --------------------------------------------------------------------------------------------


MATURE_LOOKBACK_DAYS = 30
"""How far back (beyond the label delay) model health looks for the latest mature day."""


def _latest_mature(
    wh: Warehouse, table: TableName, day: date, settings: MonitoringSettings
) -> pd.Series | None:
    """The performance row of the latest day <= ``day`` evaluated with mature labels."""
    first = day - timedelta(days=settings.label_delay_days + MATURE_LOOKBACK_DAYS)
    rows = wh.read_partitions(table, first, day + timedelta(days=1))
    if rows.empty:
        return None
    mature = rows[rows["labels_mature"].astype(bool)]
    if mature.empty:
        return None
    return mature.sort_values("partition_date").iloc[-1]


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
) -> dg.MaterializeResult:
    """Summarise the day's monitoring into a health status."""
    day = partition_day(context)
    wh = warehouse.get_warehouse()
    tables = _tables(wh, monitoring)
    score = _read_day(wh, tables["score_drift"], day).iloc[0]
    features = _read_day(wh, tables["feature_drift"], day)
    perf = _read_day(wh, tables["performance"], day).iloc[0]
    mature = _latest_mature(wh, tables["performance"], day, monitoring)

    computed = features[features["psi_computed"].astype(bool)].sort_values(
        "psi", ascending=False, kind="mergesort"
    )
    top = computed.iloc[0] if len(computed) else None
    precision = _optional(mature["card_precision_at_k"]) if mature is not None else None
    precision_day = mature["partition_date"] if mature is not None else None  # a date
    if mature is not None and int(mature["n_fraud_cards"]) == 0:
        precision = None  # no fraud to catch that day: precision says nothing about the model
    health = assess_health(
        score_psi=_optional(score["psi"]),
        max_feature_psi=_optional(top["psi"]) if top is not None else None,
        card_precision=precision,
        budget_utilisation=_optional(perf["budget_utilisation"]),
        thresholds=monitoring.health_thresholds(),
        drifted_feature=str(top["feature"]) if top is not None else None,
        precision_day=precision_day,
    )
    row = {
        "day": day,
        "status": health.status.value,
        "reasons": "; ".join(health.reasons),
        "notes": "; ".join(health.notes),
        "score_psi": _float(score["psi"]),
        "max_feature_psi": _float(top["psi"] if top is not None else None),
        "most_drifted_feature": str(top["feature"]) if top is not None else "",
        "precision_day": str(precision_day) if precision_day is not None else "",
        "card_precision_at_k": _float(precision),
        "budget_utilisation": _float(perf["budget_utilisation"]),
        "n_transactions": int(perf["n_transactions"]),
        "model_versions": str(perf["model_versions"]),
        "evaluated_at": _now(),
    }
    table = tables["health"]
    wh.replace_partition(table, pd.DataFrame([row]), day)
    numbers = {
        "status": health.status.value,
        "reasons": list(health.reasons),
        "notes": list(health.notes),
        "score_psi": _optional(score["psi"]),
        "max_feature_psi": row["max_feature_psi"] if top is not None else None,
        "most_drifted_feature": row["most_drifted_feature"] or "not computed",
        "realised_card_precision_at_k": precision,
        "precision_day": str(precision_day) if precision_day is not None else "none yet",
        "precision_floor": monitoring.precision_floor,
        "psi_threshold": monitoring.psi_threshold,
        "budget_utilisation": _optional(perf["budget_utilisation"]),
    }
    return dg.MaterializeResult(
        metadata={**numbers, "model_versions": row["model_versions"], "table": str(table)},
        check_results=[
            dg.AssetCheckResult(
                check_name="model_is_healthy",
                passed=health.status is HealthStatus.HEALTHY,
                severity=dg.AssetCheckSeverity.ERROR
                if health.status is HealthStatus.CRITICAL
                else dg.AssetCheckSeverity.WARN,
                metadata=numbers,
            )
        ],
    )


MONITORING_ASSETS = [score_drift, feature_drift, delayed_label_performance, model_health]
"""The four monitoring assets in dependency order."""
