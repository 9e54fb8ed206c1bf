"""The daily partitions every per-day asset of every fraud location shares, and their helpers.

One definition, imported by the location that materializes the per-day tables and by the one that
declares them as upstream external assets: equal partitions definitions give the identity
partition mapping across code locations (day D of a monitoring asset depends on day D of
``fraud_scores``). The helpers: trailing-day dependencies (:func:`with_trailing_days`), which days
can hold data (:func:`has_data`) and a fail-fast check that the upstream days an asset reads were
materialized (:func:`require_partitions`).

The first partition (:func:`partitions_start`, read once when a location loads) is
``FRAUD_PARTITIONS_START`` when set. Otherwise a LOCAL deployment on DuckDB starts at its source's
first day, known before any definition is built: recorded when the source was seeded, else the
day the seed will start (the simulation's ``n_days`` before yesterday, or the parquet's first
transaction), so the UI shows only days that can have data. BRANCH and PROD (and a laptop on
Snowflake) start at ``FRAUD_PARTITIONS_START``, default :data:`DEFAULT_PARTITIONS_START`: set it
to the source's first day, identically for every location (one ConfigMap).
"""

from __future__ import annotations

import logging
import os
import warnings
from datetime import date, datetime, timedelta

import dagster as dg
import pandas as pd

from fraud_dagster.builders import warehouse_resource
from fraud_dagster.environment import Environment, current_environment
from fraud_dagster.resources import DuckDBWarehouseResource

__all__ = [
    "DEFAULT_PARTITIONS_START",
    "PARTITIONS_START",
    "PARTITIONS_START_VARIABLE",
    "daily_partitions",
    "day_bounds",
    "has_data",
    "partition_day",
    "partitions_start",
    "require_partitions",
    "with_trailing_days",
]

log = logging.getLogger(__name__)

PARTITIONS_START_VARIABLE = "FRAUD_PARTITIONS_START"
DEFAULT_PARTITIONS_START = date(2024, 1, 1)
"""First partition where ``FRAUD_PARTITIONS_START`` is unset and no local source decides it."""


def partitions_start() -> date:
    """The first daily partition of this deployment (see the module's docstring)."""
    explicit = os.environ.get(PARTITIONS_START_VARIABLE, "").strip()
    if explicit:
        try:
            return date.fromisoformat(explicit)
        except ValueError:
            raise ValueError(
                f"{PARTITIONS_START_VARIABLE}={explicit!r} is not a day (YYYY-MM-DD)"
            ) from None
    environment = current_environment()
    if environment is Environment.LOCAL:
        warehouse = warehouse_resource(environment)
        if isinstance(warehouse, DuckDBWarehouseResource):
            return _local_source_first_day(warehouse) or DEFAULT_PARTITIONS_START
    return DEFAULT_PARTITIONS_START


def _local_source_first_day(warehouse: DuckDBWarehouseResource) -> date | None:
    try:
        return warehouse.source_first_day()
    except (OSError, ValueError, KeyError) as error:  # e.g. FRAUD_SOURCE_PARQUET is missing
        log.warning("first partition: cannot read the local source's first day (%s)", error)
        return None


PARTITIONS_START = partitions_start().isoformat()
"""First daily partition, read once (:func:`partitions_start`)."""

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
    with warnings.catch_warnings():
        # A beta parameter, used knowingly: its warning would repeat for every dependency at
        # every load of every location (and in fraud-pipeline's output).
        warnings.simplefilter("ignore", dg.BetaWarning)
        mapping = dg.TimeWindowPartitionMapping(
            start_offset=-days, end_offset=-end, allow_nonexistent_upstream_partitions=True
        )
    return dg.AssetDep(upstream, partition_mapping=mapping)


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
