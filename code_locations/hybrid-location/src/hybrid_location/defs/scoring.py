"""The day's fraud scores from the promoted model, written back to the warehouse."""

import time
from datetime import timedelta

import dagster as dg

from fraud_core.columns import (
    FRAUD_SCORE,
    PIPELINE_SHAPE,
    reason_feature,
)
from fraud_core.scoring import score_transactions
from fraud_core.shape import PipelineShape
from fraud_dagster.catalog import table_metadata
from fraud_dagster.partitions import (
    daily_partitions,
    partition_day,
)
from fraud_dagster.resources import (
    WAREHOUSE_POOL,
    ModelStoreResource,
    WarehouseResource,
)
from fraud_dagster.settings import FraudSettings
from fraud_storage.models import (
    load_promoted_model,
)
from fraud_storage.shaped_partitions import (
    read_shaped_partitions,
)
from hybrid_location.conventions import (
    GROUP,
    RETRY,
    elapsed,
    fail_fast_on_permanent_errors,
    stored_rows,
)
from hybrid_location.defs.features import transformed_transactions
from hybrid_location.defs.training import fraud_detection_model


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
    promoted = load_promoted_model(model_store.get_store(), shape)  # verified, or a Failure
    scores = score_transactions(
        promoted.model,
        features,
        model_version=promoted.version,
        reasons_min_score=settings.reasons_min_score,
        reasons_top_cards=settings.alert_budget,  # every alerted card's top transaction
    )
    score_seconds = elapsed(began)
    wh.replace_partition(wh.tables.scores, scores, day)
    stored = stored_rows(wh, wh.tables.scores, day)
    s = scores[FRAUD_SCORE]
    in_range = bool(s.notna().all() and s.between(0.0, 1.0).all())
    alert_rate = float((s >= settings.alert_threshold).mean()) if len(s) else 0.0
    return dg.MaterializeResult(
        metadata={
            "rows": len(scores),
            "model_version": promoted.version,
            PIPELINE_SHAPE: shape.fingerprint,
            "mean_score": float(s.mean()) if len(s) else 0.0,
            "alerts_at_threshold": int((s >= settings.alert_threshold).sum()),
            "rows_with_reasons": int(scores[reason_feature(1)].notna().sum()),
            "score_seconds": score_seconds,
            "total_seconds": elapsed(began),
            "table": str(wh.tables.scores),
            **table_metadata(wh, wh.tables.scores, day),
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
