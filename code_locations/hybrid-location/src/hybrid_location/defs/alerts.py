"""The day's alerts at the review budget, with their reasons, for case-management tools."""

from datetime import timedelta

import dagster as dg

from fraud_core.alerts import build_alerts
from fraud_core.columns import EXPECTED_FRAUD_AMOUNT, MAX_SCORE
from fraud_dagster.catalog import table_metadata
from fraud_dagster.partitions import daily_partitions, partition_day
from fraud_dagster.resources import WAREHOUSE_POOL, WarehouseResource
from fraud_dagster.settings import FraudSettings
from hybrid_location.conventions import (
    GROUP,
    RETRY,
    fail_fast_on_permanent_errors,
)
from hybrid_location.defs.scoring import fraud_scores


@dg.asset(
    partitions_def=daily_partitions,
    kinds={"snowflake", "python"},
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    retry_policy=RETRY,
    deps=[fraud_scores],
    description=(
        "The cards alerted on the day at the review budget: rank, max score, transactions, "
        "amount, expected fraud amount, top transaction and its reason codes. Written to the "
        "warehouse for case-management tools; the daily report shows it."
    ),
)
@fail_fast_on_permanent_errors
def fraud_alerts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: FraudSettings
) -> dg.MaterializeResult:
    """Rank the day's cards and store the alerted ones."""
    day = partition_day(context)
    wh = warehouse.get_warehouse()
    scores = wh.read_partitions(wh.tables.scores, day, day + timedelta(1))
    alerts = build_alerts(scores, day, settings.alert_budget)
    wh.replace_partition(wh.tables.alerts, alerts, day)
    return dg.MaterializeResult(
        metadata={
            "rows": len(alerts),
            "cards_alerted": len(alerts),
            "alert_budget": settings.alert_budget,
            "lowest_alerted_score": float(alerts[MAX_SCORE].min()) if len(alerts) else 0.0,
            "expected_fraud_amount": float(alerts[EXPECTED_FRAUD_AMOUNT].sum()),
            "table": str(wh.tables.alerts),
            **table_metadata(wh, wh.tables.alerts, day),
        }
    )
