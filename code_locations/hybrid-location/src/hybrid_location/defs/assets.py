"""The five assets of the fraud pipeline. Each reads, calls ``fraud_core``, writes, and reports.

Data moves through the warehouse (DuckDB locally, Snowflake in BRANCH/PROD), not through IO managers:
every per-day asset replaces its partition in a table in one transaction, so re-running a day replaces it.
"""

import time
from datetime import date, timedelta

import dagster as dg
import pandas as pd
from upath import UPath

from fraud_core.columns import (
    FRAUD_SCORE,
    PIPELINE_SHAPE,
    REJECT_REASON,
    TRANSACTION_DAY,
    TRANSACTION_ID,
    TX_FRAUD,
)
from fraud_core.features import build_day_features, labels_due_days, matured_totals
from fraud_core.features.registry import NB_FRAUD, NB_LABELLED, NB_TX
from fraud_core.model import train_model
from fraud_core.promotion import PromotionPolicy, decide_promotion, validation_metrics
from fraud_core.report import daily_report, render_html, render_markdown, report_summary_frame
from fraud_core.schema import validate_transactions
from fraud_core.scoring import refresh_labels, score_transactions
from fraud_core.shape import PipelineShape, ShapeMismatchError
from fraud_core.training import TrainingWindows, training_windows
from fraud_dagster.failures import fail_fast_on
from fraud_dagster.partitions import (
    daily_partitions,
    day_bounds,
    has_data,
    partition_day,
    require_partitions,
    with_trailing_days,
)
from fraud_dagster.resources import (
    WAREHOUSE_POOL,
    ModelStoreResource,
    ReportDirectory,
    WarehouseResource,
)
from fraud_dagster.settings import FraudSettings
from fraud_dagster.shape import labelled_day, matured_label_window, validated_history
from fraud_storage import ModelStore, PromotionRecord, TableName, Warehouse, WarehouseError
from fraud_storage.feature_inputs import read_days, read_feature_inputs
from fraud_storage.model_store import ModelNotFoundError
from fraud_storage.models import (
    NoPromotedModelError,
    load_model,
    load_promoted_model,
    save_model,
)
from fraud_storage.shaped_partitions import (
    read_shaped_partitions,
    replace_shaped_partition,
    require_shape,
)
from fraud_storage.warehouse import date_column
from hybrid_location.settings import TrainingSettings

GROUP = "fraud_detection"
REPORT_TRAILING_DAYS = 7
"""Days of scores before the report's day that its trend compares with."""

RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)


PERMANENT_ERRORS = (ValueError, KeyError, NoPromotedModelError, ModelNotFoundError, WarehouseError)
"""Deterministic failures: retrying the step cannot help (transient warehouse errors are retried
with backoff inside the warehouse layer before they surface as WarehouseError)."""

fail_fast_on_permanent_errors = fail_fast_on(*PERMANENT_ERRORS)
"""Turn a permanent error into a Dagster Failure that the retry policy does not retry."""


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
        reasons = result.rejected[REJECT_REASON].value_counts().head(10)
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
    deps=[labelled_day(raw_customer_transactions)],
    description=(
        "Per terminal, the transaction and label counts of the day whose labels are now due: "
        "partition D counts day D - label delay - 1, with the labels the source holds on D. The "
        "terminal-risk windows of later days sum these rows instead of re-reading labels."
    ),
)
@fail_fast_on_permanent_errors
def matured_terminal_labels(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    shape: dg.ResourceParam[PipelineShape],
) -> dg.MaterializeResult:
    """Count per terminal the labels of the day whose labels are due on this day."""
    day = partition_day(context)
    labelled = day - timedelta(days=shape.labels_due_after_days)
    wh = warehouse.get_warehouse()
    if has_data(labelled, wh.source_time_range()):
        require_partitions(context, raw_customer_transactions, [labelled], "its labels")
    began = time.perf_counter()
    rows = read_days(wh, labelled, labelled + timedelta(1))  # labels known now
    totals = matured_totals(rows, labelled, shape.feature_config())
    totals[TRANSACTION_DAY] = date_column(labelled, totals.index)
    replace_shaped_partition(wh, wh.tables.terminal_labels, totals, day, shape)
    n_tx, n_labelled = int(totals[NB_TX.name].sum()), int(totals[NB_LABELLED.name].sum())
    return dg.MaterializeResult(
        metadata={
            TRANSACTION_DAY: labelled.isoformat(),
            "terminals": len(totals),
            "transactions": n_tx,
            "labelled": n_labelled,
            "frauds": int(totals[NB_FRAUD.name].sum()),
            "unlabelled_share": round(1 - n_labelled / n_tx, 4) if n_tx else 0.0,
            PIPELINE_SHAPE: shape.fingerprint,
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
        validated_history(raw_customer_transactions),
        matured_label_window(matured_terminal_labels),
    ],
    description=(
        "Point-in-time features of the day's transactions, for the deployment's pipeline shape "
        "(windows, label delay). Reads the day, a few boundary days and per-entity window totals "
        "computed in the warehouse, so a day's cost does not grow with the window length. CPU and "
        "memory heavy (pandas)."
    ),
)
@fail_fast_on_permanent_errors
def transformed_transactions(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    shape: dg.ResourceParam[PipelineShape],
) -> dg.MaterializeResult:
    """Build the day's features from its rows, its boundary days and warehouse window totals."""
    day = partition_day(context)
    wh = warehouse.get_warehouse()
    _require_feature_inputs(context, wh, day, shape)
    began = time.perf_counter()
    inputs = read_feature_inputs(wh, day, shape.feature_config())
    read_seconds = _elapsed(began)
    features = build_day_features(inputs.day_rows, inputs.state, inputs.boundary_rows)
    feature_seconds = _elapsed(began) - read_seconds
    replace_shaped_partition(wh, wh.tables.transformed, features, day, shape)
    return dg.MaterializeResult(
        metadata={
            "rows": len(features),
            "rows_read": inputs.rows_read,
            **{f"state_{name}": len(frame) for name, frame in inputs.state.groups.items()},
            "lookback_days": shape.lookback_days,
            "n_features": len(shape.feature_columns()),
            PIPELINE_SHAPE: shape.fingerprint,
            "read_seconds": read_seconds,
            "feature_seconds": round(feature_seconds, 3),
            "total_seconds": _elapsed(began),
            "table": str(wh.tables.transformed),
        }
    )


def _require_feature_inputs(
    context: dg.AssetExecutionContext, wh: Warehouse, day: date, shape: PipelineShape
) -> None:
    """Fail fast unless the validated days and label counts the day reads are there, of ``shape``."""
    source_range = wh.source_time_range()
    history = [day - timedelta(days=i) for i in range(shape.lookback_days, -1, -1)]
    history = [d for d in history if has_data(d, source_range)]
    require_partitions(context, raw_customer_transactions, history, "validated history")
    due = [  # due partitions whose labelled day has data
        d
        for d in labels_due_days(day, shape.feature_config())
        if has_data(d, None)
        and has_data(d - timedelta(days=shape.labels_due_after_days), source_range)
    ]
    require_partitions(context, matured_terminal_labels, due, "terminal label counts")
    if due:
        require_shape(
            wh,
            wh.tables.terminal_labels,
            min(due),
            max(due) + timedelta(days=1),
            shape,
            rebuild=matured_terminal_labels.key.to_user_string(),
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
    training: TrainingSettings,
    shape: dg.ResourceParam[PipelineShape],
    promotion_policy: dg.ResourceParam[PromotionPolicy],
) -> dg.MaterializeResult:
    """Train a candidate model, evaluate it against production, promote it if it passes."""
    wh, store = warehouse.get_warehouse(), model_store.get_store()
    windows = training_windows(
        _as_of(wh, config), shape.label_delay_days, training.train_days, training.validation_days
    )
    train, valid = _labelled_features(wh, windows, shape)
    context.log.info(
        f"training on {windows.describe_train()} ({len(train)} rows), validating on "
        f"{windows.describe_validation()} ({len(valid)} rows)"
    )
    model = train_model(train, training.train_config(), log=context.log.info, shape=shape)
    candidate = validation_metrics(model, valid, k=settings.alert_budget)
    model.metadata.metrics.update(candidate)
    version = save_model(store, model)
    current_record = store.promoted()
    current = _current_metrics(context, store, current_record, valid, shape, settings.alert_budget)
    decision = decide_promotion(candidate, current, promotion_policy)
    if decision.promote:
        store.promote(version, reason=decision.reason, metrics=candidate)
    meta = model.metadata
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "model_path": str(store.path(version)),
            "promoted": decision.promote,
            PIPELINE_SHAPE: shape.fingerprint,
            "device": meta.device,
            "gpu_fallback_reason": meta.gpu_fallback_reason or "",
            "training_seconds": meta.training_seconds,
            "train_window": windows.describe_train(),
            "validation_window": windows.describe_validation(),
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
                    **{f"policy_{k}": v for k, v in promotion_policy.describe().items()},
                },
            )
        ],
    )


def _as_of(wh: Warehouse, config: TrainingConfig) -> date:
    """The day training acts as of: ``as_of`` when given, else the latest transformed day."""
    if config.as_of is not None:
        try:
            return date.fromisoformat(config.as_of)
        except ValueError:
            raise dg.Failure(
                f"as_of must be YYYY-MM-DD, got {config.as_of!r}", allow_retries=False
            ) from None
    days = sorted(wh.partition_counts(wh.tables.transformed))
    if not days:
        raise dg.Failure(
            "no transformed_transactions partitions yet: materialize some days first",
            allow_retries=False,
        )
    return days[-1]


def _labelled_features(
    wh: Warehouse, windows: TrainingWindows, shape: PipelineShape
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and validation features (of ``shape``), with the labels the source holds now."""
    first, end = windows.days
    labels = wh.read_source(day_bounds(first)[0], day_bounds(end)[0])[[TRANSACTION_ID, TX_FRAUD]]
    rebuild = transformed_transactions.key.to_user_string()

    def labelled(days: tuple[date, date]) -> pd.DataFrame:
        rows = read_shaped_partitions(wh, wh.tables.transformed, *days, shape, rebuild=rebuild)
        return refresh_labels(rows, labels)

    return labelled(windows.train), labelled(windows.validation)


def _current_metrics(
    context: dg.AssetExecutionContext,
    store: ModelStore,
    record: PromotionRecord | None,
    valid: pd.DataFrame,
    shape: PipelineShape,
    k: int,
) -> dict[str, float] | None:
    """The promoted model's metrics on ``valid``; None when there is none or it is of another
    shape (declared incomparable: the candidate then faces the floors). Anything else fails."""
    if record is None:
        return None
    try:
        model = load_model(store, record.version, shape, accept_unrecorded_shape=True)
    except ShapeMismatchError as error:
        context.log.warning(f"promoted model {record.version} not comparable: {error}")
        return None
    return validation_metrics(model, valid, k=k)


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
    shape: dg.ResourceParam[PipelineShape],
) -> dg.MaterializeResult:
    """Score the day with the promoted model."""
    day = partition_day(context)
    wh = warehouse.get_warehouse()
    began = time.perf_counter()
    features = read_shaped_partitions(
        wh,
        wh.tables.transformed,
        day,
        day + timedelta(1),
        shape,
        rebuild=transformed_transactions.key.to_user_string(),
    )
    model = load_promoted_model(model_store.get_store(), shape)
    scores = score_transactions(model, features)
    score_seconds = _elapsed(began)
    wh.replace_partition(wh.tables.scores, scores, day)
    stored = _stored_rows(wh, wh.tables.scores, day)
    s = scores[FRAUD_SCORE]
    in_range = bool(s.notna().all() and s.between(0.0, 1.0).all())
    alert_rate = float((s >= settings.alert_threshold).mean()) if len(s) else 0.0
    return dg.MaterializeResult(
        metadata={
            "rows": len(scores),
            "model_version": model.metadata.model_id,
            PIPELINE_SHAPE: shape.fingerprint,
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
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    settings: FraudSettings,
    report_dir: dg.ResourceParam[ReportDirectory],
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
    path = UPath(report_dir.html_path(day))
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
