"""The shared partition helpers, through real Dagster runs: trailing-day dependencies, which days
hold data, and the fail-fast check on upstream days never materialized; and where the partitions
start (``FRAUD_PARTITIONS_START``, else a local source's first day)."""

import json
import os
import subprocess
import sys
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from fraud_core.columns import TX_DATETIME, TX_FRAUD
from fraud_core.simulate import simulate_transactions
from fraud_dagster.builders import warehouse_resource
from fraud_dagster.environment import Environment
from fraud_dagster.partitions import (
    DEFAULT_PARTITIONS_START,
    PARTITIONS_START_VARIABLE,
    daily_partitions,
    has_data,
    partition_day,
    partitions_start,
    require_partitions,
    with_trailing_days,
)
from fraud_dagster.resources import LocalSeed

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


def test_trailing_days_need_no_beta_warning_filter() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with_trailing_days(upstream, 3)  # the beta parameter's warning is handled once, here


# ------------------------------------------------------------------ where the partitions start

LOCAL_VARIABLES = (
    PARTITIONS_START_VARIABLE,
    "FRAUD_ENV",
    "FRAUD_WAREHOUSE",
    "FRAUD_SOURCE_PARQUET",
    "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT",
    "DAGSTER_CLOUD_DEPLOYMENT_NAME",
    "DAGSTER_CLOUD_GIT_BRANCH",
    "DAGSTER_CLOUD_PULL_REQUEST_ID",
)


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A LOCAL environment on DuckDB, its data directory empty; returns the directory."""
    for name in LOCAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def _yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def _parquet(path: Path, first: date, n_days: int = 3) -> Path:
    simulate_transactions(
        n_customers=40, n_terminals=80, start_date=first, n_days=n_days
    ).to_parquet(path)
    return path


def test_an_explicit_start_wins_everywhere(local: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PARTITIONS_START_VARIABLE, "2018-04-01")
    for environment in ("local", "branch", "prod"):
        monkeypatch.setenv("FRAUD_ENV", environment)
        assert partitions_start() == date(2018, 4, 1)
    monkeypatch.setenv(PARTITIONS_START_VARIABLE, "April 2018")
    with pytest.raises(ValueError, match="FRAUD_PARTITIONS_START='April 2018' is not a day"):
        partitions_start()


@pytest.mark.parametrize(
    "variables",
    [
        {"FRAUD_ENV": "branch", "DAGSTER_CLOUD_GIT_BRANCH": "feature"},
        {"FRAUD_ENV": "prod"},
        {"FRAUD_WAREHOUSE": "snowflake"},
    ],
    ids=["branch", "prod", "local-on-snowflake"],
)
def test_without_a_local_source_the_documented_default(
    local: Path, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert partitions_start() == DEFAULT_PARTITIONS_START == date(2024, 1, 1)


def test_locally_the_seed_decides_before_it_is_loaded(
    local: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    n_days = LocalSeed().n_days
    assert partitions_start() == _yesterday() - timedelta(days=n_days - 1)  # the simulation's
    parquet = _parquet(tmp_path / "source.parquet", date(2018, 4, 1))
    monkeypatch.setenv("FRAUD_SOURCE_PARQUET", str(parquet))
    assert partitions_start() == date(2018, 4, 1)  # the parquet's first transaction
    monkeypatch.setenv("FRAUD_SOURCE_PARQUET", str(tmp_path / "missing.parquet"))
    assert partitions_start() == DEFAULT_PARTITIONS_START  # loads; seeding fails, naming it


def test_locally_once_seeded_the_recorded_first_day(
    local: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    parquet = _parquet(tmp_path / "source.parquet", date(2025, 3, 20))
    monkeypatch.setenv("FRAUD_SOURCE_PARQUET", str(parquet))
    resource = warehouse_resource(Environment.LOCAL)
    with dg.build_resources({"warehouse": resource}) as ready:
        first, _ = ready.warehouse.get_warehouse().source_time_range()
    record = json.loads((local / "warehouse.seed.json").read_text())
    assert record["first_day"] == first.date().isoformat() == "2025-03-20"
    assert record["last_day"] == "2025-03-22"
    # The seed would now start elsewhere (another file, or the simulation a day later): the
    # warehouse holds what was recorded, and so the partitions start there.
    monkeypatch.delenv("FRAUD_SOURCE_PARQUET")
    assert partitions_start() == date(2025, 3, 20)


def test_the_local_seed_has_late_labels_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_LABEL_DELAY_DAYS", "3")
    seed = LocalSeed(n_customers=60, n_terminals=120, n_days=10, end_date="2025-03-31")
    frame = seed.frame()
    known = frame.groupby(frame[TX_DATETIME].dt.date)[TX_FRAUD].count()
    assert (known.loc[date(2025, 3, 29) :] == 0).all()  # the pipeline's delay: 3 days unknown
    assert (known.loc[: date(2025, 3, 28)] > 0).all()
    assert seed.first_day() == date(2025, 3, 22) == frame[TX_DATETIME].min().date()
    everything = LocalSeed(**{**seed.model_dump(), "label_delay_days": 0}).frame()
    assert everything[TX_FRAUD].notna().all()


@pytest.mark.slow
def test_a_fresh_local_deployment_starts_at_its_seeded_source(tmp_path: Path) -> None:
    """A new process, as a location loads: the partitions start on the day the default seed
    then loads, the source's first day."""
    env = {k: v for k, v in os.environ.items() if k not in LOCAL_VARIABLES}
    env["FRAUD_DATA_DIR"] = str(tmp_path / "data")
    (tmp_path / "data").mkdir()
    script = (
        "import dagster as dg\n"
        "from fraud_dagster.partitions import daily_partitions\n"
        "from fraud_dagster.builders import warehouse_resource\n"
        "from fraud_dagster.environment import Environment\n"
        "with dg.build_resources({'warehouse': warehouse_resource(Environment.LOCAL)}) as r:\n"
        "    first, last = r.warehouse.get_warehouse().source_time_range()\n"
        "print(daily_partitions.get_first_partition_key(), first.date(), last.date())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == out[1] == (_yesterday() - timedelta(days=119)).isoformat()
    assert out[2] == _yesterday().isoformat()
