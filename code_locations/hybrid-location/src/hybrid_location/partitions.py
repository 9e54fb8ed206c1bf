"""The daily partitions every per-day asset shares, and the history a day's features need.

The partitions definition and the day helpers are shared with the monitoring location (which
declares this location's per-day tables as upstream assets) and live in
:mod:`fraud_dagster.partitions`; they are re-exported here under their historical names.
"""

from __future__ import annotations

from fraud_dagster.partitions import PARTITIONS_START, daily_partitions, day_bounds, partition_day
from hybrid_location.resources import FraudSettings

__all__ = [
    "FEATURE_LOOKBACK_DAYS",
    "PARTITIONS_START",
    "daily_partitions",
    "day_bounds",
    "partition_day",
]

FEATURE_LOOKBACK_DAYS = FraudSettings().lookback_days()
"""History (days) wired into the partition mapping from raw to transformed transactions."""
