"""Ingestion: the day's source transactions validated or quarantined, and matured label counts."""

import time
from datetime import date, timedelta

import dagster as dg
import pandas as pd

from fraud_core.columns import (
    PIPELINE_SHAPE,
    REJECT_REASON,
    TRANSACTION_DAY,
    TRANSACTION_ID,
)
from fraud_core.features import matured_totals
from fraud_core.features.registry import NB_FRAUD, NB_LABELLED, NB_TX
from fraud_core.schema import (
    EarlierDays,
    TransactionRules,
    future_cutoff,
    validate_transactions,
)
from fraud_core.shape import PipelineShape
from fraud_dagster.catalog import table_metadata
from fraud_dagster.partitions import (
    daily_partitions,
    day_bounds,
    has_data,
    partition_day,
    require_partitions,
)
from fraud_dagster.resources import (
    WAREHOUSE_POOL,
    WarehouseResource,
)
from fraud_dagster.shape import labelled_day
from fraud_storage.feature_inputs import read_days
from fraud_storage.shaped_partitions import (
    replace_shaped_partition,
)
from fraud_storage.warehouse import Warehouse, date_column
from hybrid_location.conventions import (
    GROUP,
    RETRY,
    elapsed,
    fail_fast_on_permanent_errors,
    stored_rows,
)

RULES = TransactionRules.from_env()
"""The row rules of this deployment (``FRAUD_MAX_TX_AMOUNT``, ``FRAUD_MAX_ID_LENGTH``,
``FRAUD_REPEAT_WINDOW_DAYS`` over the code defaults), read once when the location loads: a bad
value fails the load, naming the variable."""


@dg.asset(
    partitions_def=daily_partitions,
    kinds={"snowflake", "python"},
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    retry_policy=RETRY,
    description=(
        "The day's card transactions from the warehouse source table, validated against the "
        "transaction contract. Valid rows are kept for the pipeline; every other row is quarantined "
        "with its reason (a transaction id validated on an earlier day included). Needs warehouse "
        "access and memory for a full day."
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
            description=(
                "the source holds a transaction after the day ended and not in the future (the "
                "day is closed); a row dated years ahead does not count"
            ),
        ),
        dg.AssetCheckSpec(
            "source_rows_all_have_a_time",
            asset="raw_customer_transactions",
            description=(
                "no source row has a NULL tx_datetime: such a row belongs to no day, so no "
                "partition reads, validates or quarantines it; warns with the count"
            ),
        ),
        dg.AssetCheckSpec(
            "source_rows_all_inside_partitions",
            asset="raw_customer_transactions",
            description=(
                "no source row is dated before the first partition or in the future: no "
                "partition reads such a row; warns with the count"
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
    validated = wh.tables.validated
    now = pd.Timestamp.now(tz="UTC")
    horizon = future_cutoff(now)  # later source times are in the future, for every check
    began = time.perf_counter()
    raw = wh.read_source(start, end)
    read_seconds = elapsed(began)
    rows_read = len(raw)
    result = validate_transactions(
        raw,
        now=now,
        rules=RULES,
        id_kinds=wh.stored_id_kinds(validated),
        earlier_days=_earlier_days(wh, day) if RULES.repeat_window_days else None,
    )
    del raw  # a day of millions of rows: free it before the writes
    wh.replace_partition(validated, result.valid, day)
    wh.replace_partition(wh.tables.rejected, result.rejected, day)
    stored_valid = stored_rows(wh, validated, day)
    stored_rejected = stored_rows(wh, wh.tables.rejected, day)
    if result.n_rejected:
        reasons = result.rejected[REJECT_REASON].value_counts().head(10)
        context.log.warning(f"{result.n_rejected} rows quarantined on {day}: {reasons.to_dict()}")
    latest = wh.latest_source_time(horizon)
    without_time = wh.count_source_without_time()
    if without_time:
        context.log.warning(
            f"{without_time} source rows have no tx_datetime and belong to no day: fix them in "
            f"{wh.tables.source}"
        )
    first = daily_partitions.start
    outside = wh.count_source_outside(first, horizon)
    if outside:
        context.log.warning(
            f"{outside} source rows are dated before {first.date()} (the first partition) or "
            f"after {horizon.floor('s')} (the future) and belong to no day: fix them in "
            f"{wh.tables.source}"
        )
    return dg.MaterializeResult(
        metadata={
            "rows_read": rows_read,
            "rows_valid": result.n_valid,
            "rows_rejected": result.n_rejected,
            "extra_columns_dropped": list(result.extra_columns),
            "transaction_rules": RULES.describe(),
            "read_seconds": read_seconds,
            "total_seconds": elapsed(began),
            "table": str(validated),
            **table_metadata(wh, validated, day),
            "rejects_table": str(wh.tables.rejected),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="rows_conserved",
                passed=stored_valid + stored_rejected == rows_read,
                metadata={
                    "read": rows_read,
                    "validated": result.n_read,
                    "stored_valid": stored_valid,
                    "stored_rejected": stored_rejected,
                },
            ),
            dg.AssetCheckResult(
                check_name="day_is_complete",
                passed=latest is not None and latest >= end and rows_read > 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "latest_source_transaction": str(latest) if latest is not None else "none",
                    "not_after": str(horizon.floor("s")),
                    "rows_read": rows_read,
                },
            ),
            dg.AssetCheckResult(
                check_name="source_rows_all_have_a_time",
                passed=without_time == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"source_rows_without_tx_datetime": without_time},
            ),
            dg.AssetCheckResult(
                check_name="source_rows_all_inside_partitions",
                passed=outside == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "source_rows_outside_partitions": outside,
                    "first_partition": str(first.date()),
                    "not_after": str(horizon.floor("s")),
                },
            ),
        ],
    )


def _earlier_days(wh: Warehouse, day: date) -> EarlierDays:
    """Where the day's transaction ids were validated in the repeat window before ``day``."""
    first = day - timedelta(days=RULES.repeat_window_days)
    return lambda ids: wh.earliest_partitions_of(
        wh.tables.validated, TRANSACTION_ID, ids, first, day
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
            "total_seconds": elapsed(began),
            "table": str(wh.tables.terminal_labels),
            **table_metadata(wh, wh.tables.terminal_labels, day),
        }
    )
