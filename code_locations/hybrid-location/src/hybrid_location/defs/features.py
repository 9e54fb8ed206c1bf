"""The day's point-in-time features, bounded by the day whatever the windows."""

import time
from datetime import date, timedelta

import dagster as dg

from fraud_core.columns import (
    PIPELINE_SHAPE,
)
from fraud_core.features import build_day_features, labels_due_days
from fraud_core.shape import PipelineShape
from fraud_dagster.catalog import table_metadata
from fraud_dagster.partitions import (
    daily_partitions,
    has_data,
    partition_day,
    require_partitions,
)
from fraud_dagster.resources import (
    WAREHOUSE_POOL,
    WarehouseResource,
)
from fraud_dagster.shape import matured_label_window, validated_history
from fraud_storage import Warehouse
from fraud_storage.feature_inputs import read_feature_inputs
from fraud_storage.shaped_partitions import (
    replace_shaped_partition,
    require_shape,
)
from hybrid_location.conventions import (
    GROUP,
    RETRY,
    elapsed,
    fail_fast_on_permanent_errors,
)
from hybrid_location.defs.ingestion import matured_terminal_labels, raw_customer_transactions


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
    read_seconds = elapsed(began)
    features = build_day_features(inputs.day_rows, inputs.state, inputs.boundary_rows)
    feature_seconds = elapsed(began) - read_seconds
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
            "total_seconds": elapsed(began),
            "table": str(wh.tables.transformed),
            **table_metadata(wh, wh.tables.transformed, day),
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
