"""The five assets of the fraud pipeline. Each reads, calls ``fraud_core``, writes, and reports.

Data moves through the warehouse (DuckDB locally, Snowflake in BRANCH/PROD), not through IO managers:
every per-day asset replaces its partition in a table in one transaction, so re-running a day replaces it.
"""

import time
from datetime import date, timedelta

import dagster as dg
import pandas as pd
from fraud_storage import TableName, Warehouse, WarehouseError
from fraud_storage.model_store import ModelNotFoundError
from fraud_storage.warehouse import date_column
from fraud_storage.window_totals import TRANSACTION_DAY
from upath import UPath

from fraud_core.features import feature_columns
from fraud_core.model import train_model
from fraud_core.promotion import decide_promotion, validation_metrics
from fraud_core.report import daily_report, render_html, render_markdown, report_summary_frame
from fraud_core.schema import validate_transactions
from fraud_core.scoring import refresh_labels, score_transactions
from fraud_core.window_state import build_day_features, labels_due_days, terminal_label_totals
from fraud_dagster.failures import fail_fast_on
from fraud_dagster.resources import WAREHOUSE_POOL
from hybrid_location.feature_inputs import read_days, read_feature_inputs
from hybrid_location.models import (
    NoPromotedModelError,
    load_model,
    load_promoted_model,
    save_model,
)
from hybrid_location.partitions import (
    FEATURE_LOOKBACK_DAYS,
    LABELS_DUE_AFTER_DAYS,
    TERMINAL_WHOLE_DAYS,
    daily_partitions,
    day_bounds,
    partition_day,
)
from hybrid_location.resources import FraudSettings, ModelStoreResource, WarehouseResource

GROUP = "fraud_detection"
REPORT_TRAILING_DAYS = 7
"""Days of scores before the report's day that its trend compares with."""

RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)


PERMANENT_ERRORS = (ValueError, KeyError, NoPromotedModelError, ModelNotFoundError, WarehouseError)
"""Deterministic failures: retrying the step cannot help (transient warehouse errors are retried
with backoff inside the warehouse layer before they surface as WarehouseError)."""

fail_fast_on_permanent_errors = fail_fast_on(*PERMANENT_ERRORS)
"""Turn a permanent error into a Dagster Failure that the retry policy does not retry."""


def with_trailing_days(upstream: dg.AssetsDefinition, days: int, end: int = 0) -> dg.AssetDep:
    """Day D depends on ``upstream``'s days D - ``days`` .. D - ``end`` (days before the first
    may not exist)."""
    return dg.AssetDep(
        upstream,
        partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=-days, end_offset=-end, allow_nonexistent_upstream_partitions=True
        ),
    )


def _stored_rows(warehouse: Warehouse, table: TableName, day: date) -> int:
    """Rows of ``day`` in ``table``, counted in that partition only."""
    return warehouse.partition_counts(table, day, day + timedelta(days=1)).get(day, 0)


def _elapsed(start: float) -> float:
    return round(time.perf_counter() - start, 3)


@dg.asset(
    partitions_def=daily_partitions,
    kinds={"snowflake", "python"},
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    retry_policy=RETRY,
    description=(
        "The day's card transactions from the warehouse source table, validated against the "
        "transaction contract. Valid rows are kept for the pipeline; every other row is quarantined "
        "with its reason. Needs warehouse access and memory for a full day."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "rows_conserved",
            asset="raw_customer_transactions",
            blocking=True,
            description="valid + rejected rows stored equal the rows read from the source",
        ),
        dg.AssetCheckSpec(
            "day_is_complete",
            asset="raw_customer_transactions",
            description="the source holds transactions after the day ended (the day is closed)",
        ),
        dg.AssetCheckSpec(
            "source_rows_all_have_a_time",
            asset="raw_customer_transactions",
            description=(
                "no source row has a NULL tx_datetime: such a row belongs to no day, so no "
                "partition reads, validates or quarantines it; warns with the count"
            ),
        ),
    ],
)
@fail_fast_on_permanent_errors
def raw_customer_transactions(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Read, validate and quarantine one day of source transactions."""
    day = partition_day(context)
    start, end = day_bounds(day)
    wh = warehouse.get_warehouse()
    began = time.perf_counter()
    raw = wh.read_source(start, end)
    read_seconds = _elapsed(began)
    result = validate_transactions(raw)
    wh.replace_partition(wh.tables.validated, result.valid, day)
    wh.replace_partition(wh.tables.rejected, result.rejected, day)
    stored_valid = _stored_rows(wh, wh.tables.validated, day)
    stored_rejected = _stored_rows(wh, wh.tables.rejected, day)
    if result.n_rejected:
        reasons = result.rejected["reject_reason"].value_counts().head(10)
        context.log.warning(f"{result.n_rejected} rows quarantined on {day}: {reasons.to_dict()}")
    time_range = wh.source_time_range()
    closed = bool(time_range and time_range[1] >= end)
    without_time = wh.count_source_without_time()
    if without_time:
        context.log.warning(
            f"{without_time} source rows have no tx_datetime and belong to no day: fix them in "
            f"{wh.tables.source}"
        )
    return dg.MaterializeResult(
        metadata={
            "rows_read": result.n_read,
            "rows_valid": result.n_valid,
            "rows_rejected": result.n_rejected,
            "extra_columns_dropped": list(result.extra_columns),
            "read_seconds": read_seconds,
            "total_seconds": _elapsed(began),
            "table": str(wh.tables.validated),
            "rejects_table": str(wh.tables.rejected),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="rows_conserved",
                passed=stored_valid + stored_rejected == result.n_read,
                metadata={
                    "read": result.n_read,
                    "stored_valid": stored_valid,
                    "stored_rejected": stored_rejected,
                },
            ),
            dg.AssetCheckResult(
                check_name="day_is_complete",
                passed=closed and result.n_read > 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "latest_source_transaction": str(time_range[1]) if time_range else "none",
                    "rows_read": result.n_read,
                },
            ),
            dg.AssetCheckResult(
                check_name="source_rows_all_have_a_time",
                passed=without_time == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"source_rows_without_tx_datetime": without_time},
            ),
        ],
    )


@dg.asset(
    partitions_def=daily_partitions,
    kinds={"snowflake", "python"},
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    retry_policy=RETRY,
    deps=[
        with_trailing_days(
            raw_customer_transactions, LABELS_DUE_AFTER_DAYS, end=LABELS_DUE_AFTER_DAYS
        )
    ],
    description=(
        "Per terminal, the transaction and label counts of the day whose labels are now due: "
        "partition D counts day D - label delay - 1, with the labels the source holds on D. The "
        "terminal-risk windows of later days sum these rows instead of re-reading labels."
    ),
)
@fail_fast_on_permanent_errors
def matured_terminal_labels(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: FraudSettings
) -> dg.MaterializeResult:
    """Count per terminal the labels of the day whose labels are due on this day."""
    day = partition_day(context)
    labelled_day = day - timedelta(days=settings.label_delay_days + 1)
    wh = warehouse.get_warehouse()
    if _has_data(labelled_day, wh.source_time_range()):
        _require_partitions(context, raw_customer_transactions, [labelled_day], "its labels")
    began = time.perf_counter()
    rows = read_days(wh, labelled_day, labelled_day + timedelta(1))  # labels known now
    totals = terminal_label_totals(rows, labelled_day)
    totals[TRANSACTION_DAY] = date_column(labelled_day, totals.index)
    wh.replace_partition(wh.tables.terminal_labels, totals, day)
    n_tx, n_labelled = int(totals["nb_tx"].sum()), int(totals["nb_labelled"].sum())
    return dg.MaterializeResult(
        metadata={
            "transaction_day": labelled_day.isoformat(),
            "terminals": len(totals),
            "transactions": n_tx,
            "labelled": n_labelled,
            "frauds": int(totals["nb_fraud"].sum()),
            "unlabelled_share": round(1 - n_labelled / n_tx, 4) if n_tx else 0.0,
            "total_seconds": _elapsed(began),
            "table": str(wh.tables.terminal_labels),
        }
    )


@dg.asset(
    partitions_def=daily_partitions,
    kinds={"python", "pandas"},
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    retry_policy=RETRY,
    deps=[
        with_trailing_days(raw_customer_transactions, FEATURE_LOOKBACK_DAYS),
        with_trailing_days(matured_terminal_labels, TERMINAL_WHOLE_DAYS),
    ],
    description=(
        "Point-in-time, label-delay-aware features of the day's transactions. Reads the day, a few "
        "boundary days and per-entity window totals computed in the warehouse, so a day's cost "
        "does not grow with the window length. CPU and memory heavy (pandas)."
    ),
)
@fail_fast_on_permanent_errors
def transformed_transactions(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: FraudSettings
) -> dg.MaterializeResult:
    """Build the day's features from its rows, its boundary days and warehouse window totals."""
    day = partition_day(context)
    lookback = settings.lookback_days()
    if lookback > FEATURE_LOOKBACK_DAYS:
        raise dg.Failure(
            f"configured lookback {lookback} days exceeds the partition mapping's "
            f"{FEATURE_LOOKBACK_DAYS}: set the windows through FRAUD_* defaults, not run config",
            allow_retries=False,
        )
    wh = warehouse.get_warehouse()
    config = settings.feature_config()
    source_range = wh.source_time_range()
    history = [day - timedelta(days=i) for i in range(lookback, -1, -1)]
    history = [d for d in history if _has_data(d, source_range)]
    _require_partitions(context, raw_customer_transactions, history, "validated history")
    after_labels_due = timedelta(days=config.label_delay_days + 1)
    due = [  # due partitions whose labelled day has data
        d
        for d in labels_due_days(day, config)
        if _has_data(d, None) and _has_data(d - after_labels_due, source_range)
    ]
    _require_partitions(context, matured_terminal_labels, due, "terminal label counts")
    began = time.perf_counter()
    inputs = read_feature_inputs(wh, day, config)
    read_seconds = _elapsed(began)
    features = build_day_features(inputs.day_rows, inputs.state, inputs.boundary_rows)
    feature_seconds = _elapsed(began) - read_seconds
    wh.replace_partition(wh.tables.transformed, features, day)
    return dg.MaterializeResult(
        metadata={
            "rows": len(features),
            "rows_read": inputs.rows_read,
            "state_customers": len(inputs.state.customers),
            "state_terminals": len(inputs.state.terminals),
            "state_pairs": len(inputs.state.pairs),
            "lookback_days": lookback,
            "n_features": len(feature_columns(config)),
            "read_seconds": read_seconds,
            "feature_seconds": round(feature_seconds, 3),
            "total_seconds": _elapsed(began),
            "table": str(wh.tables.transformed),
        }
    )


def _has_data(day: date, source_range: tuple[pd.Timestamp, pd.Timestamp] | None) -> bool:
    """Whether ``day`` is a partition on or after the source's first transaction."""
    first = daily_partitions.start.date()
    if source_range is not None:
        first = max(first, source_range[0].date())
    return day >= first


def _require_partitions(
    context: dg.AssetExecutionContext, upstream: dg.AssetsDefinition, days: list[date], why: str
) -> None:
    """Fail clearly when partitions of ``upstream`` that this asset reads were never materialized."""
    done = context.instance.get_materialized_partitions(upstream.key)
    missing = sorted({d.isoformat() for d in days} - set(done))
    if missing:
        name = upstream.key.to_user_string()
        raise dg.Failure(
            f"{context.asset_key.to_user_string()} for {partition_day(context)} needs {name} for "
            f"{len(missing)} day(s) not yet materialized ({why}): {missing[0]} .. {missing[-1]}; "
            f"run a backfill of {name} over that range first",
            metadata={"missing_partitions": missing},
            allow_retries=False,  # deterministic: a retry 10 s later finds the same gap
        )


class TrainingConfig(dg.Config):
    """Run configuration of a training run."""

    as_of: str | None = None
    """Train as if today were this day (YYYY-MM-DD); default: the latest transformed day."""


@dg.asset(
    kinds={"python", "machine-learning"},
    group_name=GROUP,
    deps=[transformed_transactions],
    retry_policy=dg.RetryPolicy(max_retries=1),
    description=(
        "CatBoost fraud classifier trained on a trailing window of labelled days (labels older than "
        "the label delay), stored as a new immutable version. The promotion_gate check promotes it only "
        "if it is no worse than the production model on a held-out validation window. Uses the GPU "
        "when the agent has one."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "promotion_gate",
            asset="fraud_detection_model",
            blocking=True,
            description="candidate no worse than the promoted model (or above the floor if first)",
        )
    ],
)
@fail_fast_on_permanent_errors
def fraud_detection_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
    settings: FraudSettings,
) -> dg.MaterializeResult:
    """Train a candidate model, evaluate it against production, promote it if it passes."""
    wh = warehouse.get_warehouse()
    store = model_store.get_store()
    days = sorted(wh.partition_counts(wh.tables.transformed))
    if not days:
        raise dg.Failure(
            "no transformed_transactions partitions yet: materialize some days first",
            allow_retries=False,
        )
    as_of = days[-1] if config.as_of is None else _parse_day(config.as_of)
    labelled_end = as_of - timedelta(days=settings.label_delay_days - 1)  # exclusive
    valid_start = labelled_end - timedelta(days=settings.validation_days)
    train_start = valid_start - timedelta(days=settings.train_days)
    start, end = day_bounds(train_start)[0], day_bounds(labelled_end)[0]
    labels = wh.read_source(start, end)[["transaction_id", "tx_fraud"]]
    train = refresh_labels(
        wh.read_partitions(wh.tables.transformed, train_start, valid_start), labels
    )
    valid = refresh_labels(
        wh.read_partitions(wh.tables.transformed, valid_start, labelled_end), labels
    )
    context.log.info(
        f"training on {train_start}..{valid_start - timedelta(1)} ({len(train)} rows), validating on "
        f"{valid_start}..{labelled_end - timedelta(1)} ({len(valid)} rows), as of {as_of}"
    )
    expected = feature_columns(settings.feature_config())
    model = train_model(train, settings.train_config(expected), log=context.log.info)
    candidate = validation_metrics(model, valid, k=settings.alert_budget)
    model.metadata.metrics.update(candidate)
    version = save_model(store, model)
    current_record = store.promoted()
    current = None
    if current_record is not None:
        try:
            current = validation_metrics(
                load_model(store, current_record.version, expected), valid, k=settings.alert_budget
            )
        except ValueError as error:  # feature list changed: the old model cannot be compared
            context.log.warning(f"promoted model {current_record.version} not comparable: {error}")
    decision = decide_promotion(candidate, current, settings.promotion_policy())
    if decision.promote:
        store.promote(version, reason=decision.reason, metrics=candidate)
    meta = model.metadata
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "model_path": str(store.path(version)),
            "promoted": decision.promote,
            "device": meta.device,
            "gpu_fallback_reason": meta.gpu_fallback_reason or "",
            "training_seconds": meta.training_seconds,
            "train_window": f"{train_start} .. {valid_start - timedelta(1)}",
            "validation_window": f"{valid_start} .. {labelled_end - timedelta(1)}",
            "train_rows": meta.n_rows,
            "train_labelled": meta.n_labelled,
            "train_unlabelled_excluded": meta.n_unlabelled_excluded,
            "train_frauds": meta.n_fraud,
            **{f"validation_{k}": float(v) for k, v in candidate.items()},
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="promotion_gate",
                passed=decision.promote,
                metadata={
                    "reason": decision.reason,
                    "candidate_version": version,
                    "current_version": current_record.version if current_record else "none",
                    **{f"candidate_{k}": float(v) for k, v in candidate.items()},
                    **{f"current_{k}": float(v) for k, v in (current or {}).items()},
                },
            )
        ],
    )


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise dg.Failure(f"as_of must be YYYY-MM-DD, got {value!r}", allow_retries=False) from None


@dg.asset(
    partitions_def=daily_partitions,
    kinds={"snowflake", "python"},
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    retry_policy=RETRY,
    deps=[fraud_detection_model, transformed_transactions],
    description=(
        "Fraud probability of every transaction of the day from the promoted model, written back "
        "to the warehouse with the model version that produced it."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "scores_are_sane",
            asset="fraud_scores",
            blocking=True,
            description="one finite score in [0, 1] per transaction; alert rate plausible",
        )
    ],
)
@fail_fast_on_permanent_errors
def fraud_scores(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
    settings: FraudSettings,
) -> dg.MaterializeResult:
    """Score the day with the promoted model."""
    day = partition_day(context)
    wh = warehouse.get_warehouse()
    began = time.perf_counter()
    features = wh.read_partitions(wh.tables.transformed, day, day + timedelta(1))
    model = load_promoted_model(model_store.get_store(), feature_columns(settings.feature_config()))
    scores = score_transactions(model, features)
    score_seconds = _elapsed(began)
    wh.replace_partition(wh.tables.scores, scores, day)
    stored = _stored_rows(wh, wh.tables.scores, day)
    s = scores["fraud_score"]
    in_range = bool(s.notna().all() and s.between(0.0, 1.0).all())
    alert_rate = float((s >= settings.alert_threshold).mean()) if len(s) else 0.0
    return dg.MaterializeResult(
        metadata={
            "rows": len(scores),
            "model_version": model.metadata.model_id,
            "mean_score": float(s.mean()) if len(s) else 0.0,
            "alerts_at_threshold": int((s >= settings.alert_threshold).sum()),
            "score_seconds": score_seconds,
            "total_seconds": _elapsed(began),
            "table": str(wh.tables.scores),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="scores_are_sane",
                passed=in_range and stored == len(features) and alert_rate <= 0.05,
                metadata={
                    "scores_in_unit_interval": in_range,
                    "rows_stored": stored,
                    "rows_featured": len(features),
                    "alert_rate": alert_rate,
                },
            )
        ],
    )


@dg.asset(
    partitions_def=daily_partitions,
    kinds={"snowflake", "reporting"},
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    retry_policy=RETRY,
    # The report compares the day with the trailing week of scores: declared, so that a backfill
    # scores the earlier days first and the report does not depend on the order of the runs.
    deps=[with_trailing_days(fraud_scores, REPORT_TRAILING_DAYS)],
    description=(
        "The morning fraud report for the day: volumes, score distribution, alerts at the review "
        "budget, precision where labels are known, riskiest terminals and customers, and the trend "
        "against the trailing week. Stored in the warehouse and as an HTML page."
    ),
)
@fail_fast_on_permanent_errors
def daily_fraud_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: FraudSettings
) -> dg.MaterializeResult:
    """Build, store and publish the day's fraud report."""
    day = partition_day(context)
    wh = warehouse.get_warehouse()
    first = day - timedelta(days=REPORT_TRAILING_DAYS)
    scores = wh.read_partitions(wh.tables.scores, first, day + timedelta(1))
    report = daily_report(
        scores, day, alert_budget=settings.alert_budget, threshold=settings.alert_threshold
    )
    wh.replace_partition(wh.tables.report, report_summary_frame(report), day)
    path = UPath(settings.report_dir) / f"fraud_report_{day.isoformat()}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return dg.MaterializeResult(
        metadata={
            "report_path": dg.MetadataValue.path(str(path)),
            "report": dg.MetadataValue.md(render_markdown(report)),
            "table": str(wh.tables.report),
        }
    )


PIPELINE_ASSETS = [
    raw_customer_transactions,
    matured_terminal_labels,
    transformed_transactions,
    fraud_detection_model,
    fraud_scores,
    daily_fraud_report,
]
"""The pipeline's assets in dependency order (the five of the product, plus the matured terminal
label counts the features read)."""
