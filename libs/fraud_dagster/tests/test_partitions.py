"""The shared partition helpers, through real Dagster runs: trailing-day dependencies, which days
hold data, and the fail-fast check on upstream days never materialized."""

from datetime import date, timedelta

import dagster as dg
import pandas as pd
import pytest

from fraud_dagster.partitions import (
    daily_partitions,
    has_data,
    partition_day,
    require_partitions,
    with_trailing_days,
)

DAY = date(2025, 3, 31)


@dg.asset(partitions_def=daily_partitions)
def upstream() -> None:
    """A daily asset."""


@dg.asset(partitions_def=daily_partitions, deps=[with_trailing_days(upstream, 3, end=1)])
def downstream(context: dg.AssetExecutionContext) -> None:
    """Needs the three days before its own, not its own."""
    day = partition_day(context)
    require_partitions(context, upstream, [day - timedelta(days=i) for i in (3, 2, 1)], "history")


def test_with_trailing_days_maps_day_d_to_a_window_before_it() -> None:
    mapping = downstream.get_partition_mapping(upstream.key)
    assert isinstance(mapping, dg.TimeWindowPartitionMapping)
    assert (mapping.start_offset, mapping.end_offset) == (-3, -1)
    assert mapping.allow_nonexistent_upstream_partitions  # days before the first partition
    keys = mapping.get_upstream_mapped_partitions_result_for_partitions(
        daily_partitions.subset_with_partition_keys([DAY.isoformat()]),
        daily_partitions,
        daily_partitions,
    ).partitions_subset.get_partition_keys()
    assert sorted(keys) == ["2025-03-28", "2025-03-29", "2025-03-30"]


def test_has_data_starts_at_the_later_of_partitions_and_source() -> None:
    first = daily_partitions.start.date()
    assert not has_data(first - timedelta(days=1), None)
    assert has_data(first, None)
    source = (pd.Timestamp("2025-03-20 08:00", tz="UTC"), pd.Timestamp("2025-03-31", tz="UTC"))
    assert not has_data(date(2025, 3, 19), source)
    assert has_data(date(2025, 3, 20), source)


def test_require_partitions_fails_fast_naming_the_missing_days() -> None:
    with dg.instance_for_test() as instance:
        for day in (DAY - timedelta(days=3), DAY - timedelta(days=1)):  # the 29th is missing
            dg.materialize([upstream], partition_key=day.isoformat(), instance=instance)
        result = dg.materialize(
            [upstream, downstream],
            selection=[downstream],
            partition_key=DAY.isoformat(),
            instance=instance,
            raise_on_error=False,
        )
        assert not result.success
        (failure,) = result.get_step_failure_events()
        message = failure.step_failure_data.error.message
        assert (
            "downstream for 2025-03-31 needs upstream for 1 day(s) not yet materialized "
            "(history): 2025-03-29 .. 2025-03-29; run a backfill of upstream" in message
        )
        assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        dg.materialize([upstream], partition_key="2025-03-29", instance=instance)
        assert dg.materialize(
            [upstream, downstream],
            selection=[downstream],
            partition_key=DAY.isoformat(),
            instance=instance,
        ).success


@pytest.mark.parametrize("days", [0, 1])
def test_a_window_of_zero_days_is_the_same_day(days: int) -> None:
    mapping = with_trailing_days(upstream, days).partition_mapping
    assert isinstance(mapping, dg.TimeWindowPartitionMapping)
    assert mapping.start_offset == -days
    assert mapping.end_offset == 0
