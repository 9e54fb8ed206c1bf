"""The daily partitions every per-day asset shares, and the history a day's features need."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta

import dagster as dg
import pandas as pd

from hybrid_location.resources import FraudSettings

PARTITIONS_START = os.environ.get("FRAUD_PARTITIONS_START", "2024-01-01")
"""First daily partition (``FRAUD_PARTITIONS_START``; e.g. 2018-04-01 for the handbook data)."""

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")

FEATURE_LOOKBACK_DAYS = FraudSettings().lookback_days()
"""History (days) wired into the partition mapping from raw to transformed transactions."""


def partition_day(context: dg.AssetExecutionContext) -> date:
    """The UTC day of the partition being materialized."""
    return date.fromisoformat(context.partition_key)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """``[day 00:00, next day 00:00)`` in UTC."""
    start = pd.Timestamp(day, tz="UTC").to_pydatetime()
    return start, start + timedelta(days=1)
