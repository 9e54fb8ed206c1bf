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
    "LABELS_DUE_AFTER_DAYS",
    "PARTITIONS_START",
    "TERMINAL_WHOLE_DAYS",
    "daily_partitions",
    "day_bounds",
    "partition_day",
]

FEATURE_LOOKBACK_DAYS = FraudSettings().lookback_days()
"""History (days) wired into the partition mapping from raw to transformed transactions."""

LABELS_DUE_AFTER_DAYS = FraudSettings().label_delay_days + 1
"""Partition D of matured_terminal_labels counts the labels of day D - this (wired into its
partition mapping from raw_customer_transactions)."""

TERMINAL_WHOLE_DAYS = max(max(FraudSettings().windows_days) - 1, 0)
"""Whole days inside the longest terminal window: the matured label partitions a day reads."""
