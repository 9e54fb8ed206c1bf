"""The daily partitions every per-day asset of every fraud location shares.

One definition, imported by the location that materializes the per-day tables and by the one that
declares them as upstream external assets: equal partitions definitions give the identity
partition mapping across code locations (day D of a monitoring asset depends on day D of
``fraud_scores``).
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta

import dagster as dg
import pandas as pd

__all__ = ["PARTITIONS_START", "daily_partitions", "day_bounds", "partition_day"]

PARTITIONS_START = os.environ.get("FRAUD_PARTITIONS_START", "2024-01-01")
"""First daily partition (``FRAUD_PARTITIONS_START``; e.g. 2018-04-01 for the handbook data)."""

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")


def partition_day(context: dg.AssetExecutionContext) -> date:
    """The UTC day of the partition being materialized."""
    return date.fromisoformat(context.partition_key)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """``[day 00:00, next day 00:00)`` in UTC."""
    start = pd.Timestamp(day, tz="UTC").to_pydatetime()
    return start, start + timedelta(days=1)
