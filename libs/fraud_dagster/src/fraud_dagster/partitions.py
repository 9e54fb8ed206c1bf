"""The daily partitions every per-day asset of every fraud location shares, and their helpers.

One definition, imported by the location that materializes the per-day tables and by the one that
declares them as upstream external assets: equal partitions definitions give the identity
partition mapping across code locations (day D of a monitoring asset depends on day D of
``fraud_scores``). The helpers: trailing-day dependencies (:func:`with_trailing_days`), which days
can hold data (:func:`has_data`) and a fail-fast check that the upstream days an asset reads were
materialized (:func:`require_partitions`).
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta

import dagster as dg
import pandas as pd

__all__ = [
    "PARTITIONS_START",
    "daily_partitions",
    "day_bounds",
    "has_data",
    "partition_day",
    "require_partitions",
    "with_trailing_days",
]

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


def with_trailing_days(upstream: dg.AssetsDefinition, days: int, end: int = 0) -> dg.AssetDep:
    """Day D depends on ``upstream``'s days D - ``days`` .. D - ``end`` (days before the first
    partition may not exist)."""
    return dg.AssetDep(
        upstream,
        partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=-days, end_offset=-end, allow_nonexistent_upstream_partitions=True
        ),
    )


def has_data(day: date, source_range: tuple[pd.Timestamp, pd.Timestamp] | None) -> bool:
    """Whether ``day`` is a partition on or after the source's first transaction (if known)."""
    first = daily_partitions.start.date()
    if source_range is not None:
        first = max(first, source_range[0].date())
    return day >= first


def require_partitions(
    context: dg.AssetExecutionContext, upstream: dg.AssetsDefinition, days: list[date], why: str
) -> None:
    """Fail without retry when partitions of ``upstream`` this asset reads were never materialized."""
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
