"""The behavioural contract of the Warehouse interface, run against DuckDB and the Snowflake emulator.

Every test here gets ``make_warehouse`` once per engine (see ``conftest.py``); the Snowflake runs go
through the real connector to a fakesnow server subprocess and carry the ``snowflake`` marker.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import pytest

from fraud_storage.identifiers import InvalidIdentifierError
from fraud_storage.tables import PARTITION_COLUMN
from fraud_storage.warehouse import (
    WRITE_STEPS,
    WarehouseDataError,
    WarehouseError,
    with_partition,
)

DAY1, DAY2, DAY3 = date(2024, 4, 1), date(2024, 4, 2), date(2024, 4, 3)


class FaultInjectedError(RuntimeError):
    """Raised by the test fault hook."""


def transactions(times: list[str], *, tz: str | None = "UTC", first_id: int = 1) -> pd.DataFrame:
    """Source rows in the handbook's schema with UPPER-case columns (as Snowflake stores them)."""
    stamps = pd.to_datetime(times, format="ISO8601")
    if tz is not None:
        stamps = stamps.tz_localize(tz)
    n = len(times)
    return pd.DataFrame(
        {
            "TRANSACTION_ID": range(first_id, first_id + n),
            "TX_DATETIME": stamps,
            "CUSTOMER_ID": [10 + i % 3 for i in range(n)],
            "TERMINAL_ID": [100 + i for i in range(n)],
            "TX_AMOUNT": [12.5 + i for i in range(n)],
            "TX_FRAUD": [i % 2 for i in range(n)],
        }
    )


def scores(ids: list[int], version: str) -> pd.DataFrame:
    """A scores-like output frame."""
    return pd.DataFrame(
        {
            "transaction_id": ids,
            "score": [round(0.1 * i, 3) for i in ids],
            "model_version": version,
            "scored_at": pd.Timestamp("2024-04-05 08:00", tz="UTC"),
        }
    )


def records(frame: pd.DataFrame, key: str = "transaction_id") -> list[dict[str, Any]]:
    """Rows as plain dicts (missing values as None), sorted: engine-independent comparison."""
    out = frame.sort_values([key, *([PARTITION_COLUMN] if PARTITION_COLUMN in frame else [])])
    rows = out.astype(object).where(out.notna(), None).to_dict("records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in rows]


def fail_at(step: str):
    def hook(name: str) -> None:
        if name == step:
            raise FaultInjectedError(f"injected at {name}")

    return hook


# --- source -------------------------------------------------------------------------------------


def test_read_source_filters_half_open_window_with_lower_case_utc_columns(make_warehouse) -> None:
    wh = make_warehouse()
    source = transactions(
        [
            "2024-03-31T23:59:59.999999",
            "2024-04-01T00:00:00",
            "2024-04-01T13:30:00.250000",
            "2024-04-01T23:59:59.999999",
            "2024-04-02T00:00:00",
        ]
    )
    assert wh.load_source(source) == 5

    got = wh.read_source(pd.Timestamp("2024-04-01", tz="UTC"), pd.Timestamp("2024-04-02", tz="UTC"))

    assert list(got.columns) == [c.lower() for c in source.columns]
    assert got["transaction_id"].tolist() == [2, 3, 4]
    assert isinstance(got["tx_datetime"].dtype, pd.DatetimeTZDtype)
    assert str(got["tx_datetime"].dt.tz) == "UTC"
    assert got["tx_datetime"].tolist() == source["TX_DATETIME"].iloc[1:4].tolist()
    assert got["tx_amount"].tolist() == [13.5, 14.5, 15.5]
    assert wh.source_time_range() == (source["TX_DATETIME"].min(), source["TX_DATETIME"].max())


def test_source_timestamps_are_instants_whatever_the_input_zone(make_warehouse) -> None:
    wh = make_warehouse()
    paris = transactions(["2024-04-01T10:00:00"], tz="Europe/Paris")  # 08:00 UTC
    naive = transactions(["2024-04-01T09:00:00"], tz=None, first_id=2)  # naive means UTC
    wh.load_source(paris)
    wh.load_source(naive)

    got = wh.read_source(
        pd.Timestamp("2024-04-01 08:00", tz="UTC"), pd.Timestamp("2024-04-01 09:00", tz="UTC")
    )

    assert got["transaction_id"].tolist() == [1]  # 09:00 UTC is the excluded upper bound
    assert got["tx_datetime"].tolist() == [pd.Timestamp("2024-04-01 08:00", tz="UTC")]
    low, high = wh.source_time_range()
    assert (low, high) == (
        pd.Timestamp("2024-04-01 08:00", tz="UTC"),
        pd.Timestamp("2024-04-01 09:00", tz="UTC"),
    )


def test_naive_source_and_naive_bounds_mean_utc(make_warehouse) -> None:
    wh = make_warehouse()
    wh.load_source(transactions(["2024-04-01T22:00:00", "2024-04-02T01:00:00"], tz=None))

    got = wh.read_source(pd.Timestamp("2024-04-01 21:00"), pd.Timestamp("2024-04-02 00:00"))

    assert got["transaction_id"].tolist() == [1]
    assert got["tx_datetime"].tolist() == [pd.Timestamp("2024-04-01 22:00", tz="UTC")]
    assert wh.source_time_range() == (
        pd.Timestamp("2024-04-01 22:00", tz="UTC"),
        pd.Timestamp("2024-04-02 01:00", tz="UTC"),
    )


def test_rows_without_a_time_are_counted_not_read(make_warehouse) -> None:
    wh = make_warehouse()
    assert wh.count_source_without_time() == 0  # no source table yet
    wh.load_source(transactions(["2024-04-01T01:00:00", None, None, "2024-04-01T03:00:00"]))

    got = wh.read_source(pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2025-01-01", tz="UTC"))

    assert got["transaction_id"].tolist() == [1, 4]
    assert wh.count_source_without_time() == 2


def test_partition_counts_can_be_limited_to_a_date_range(make_warehouse) -> None:
    wh = make_warehouse()
    table = wh.tables.scores
    for day, ids in ((DAY1, [1, 2]), (DAY2, [3]), (DAY3, [4, 5, 6])):
        wh.replace_partition(table, scores(ids, "v1"), day)

    assert wh.partition_counts(table) == {DAY1: 2, DAY2: 1, DAY3: 3}
    assert wh.partition_counts(table, DAY2, DAY3) == {DAY2: 1}
    assert wh.partition_counts(table, start=DAY2) == {DAY2: 1, DAY3: 3}
    assert wh.partition_counts(table, end=DAY2) == {DAY1: 2}


def test_load_source_replace_swaps_the_whole_table(make_warehouse) -> None:
    wh = make_warehouse()
    wh.load_source(transactions(["2024-04-01T01:00:00", "2024-04-01T02:00:00"]))
    wh.load_source(transactions(["2024-04-02T05:00:00"], first_id=7), replace=True)

    got = wh.read_source(pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2025-01-01", tz="UTC"))

    assert got["transaction_id"].tolist() == [7]
    assert wh.source_time_range() == (pd.Timestamp("2024-04-02 05:00", tz="UTC"),) * 2


def test_missing_source_raises_and_has_no_time_range(make_warehouse) -> None:
    wh = make_warehouse()
    assert wh.source_time_range() is None
    with pytest.raises(WarehouseError, match="CUSTOMER_TRANSACTIONS"):
        wh.read_source(pd.Timestamp("2024-04-01", tz="UTC"), pd.Timestamp("2024-04-02", tz="UTC"))


def test_empty_window_gives_an_empty_frame_with_the_columns(make_warehouse) -> None:
    wh = make_warehouse()
    wh.load_source(transactions(["2024-04-01T01:00:00"]))

    got = wh.read_source(pd.Timestamp("2030-01-01", tz="UTC"), pd.Timestamp("2030-01-02", tz="UTC"))

    assert got.empty
    assert list(got.columns) == [
        "transaction_id",
        "tx_datetime",
        "customer_id",
        "terminal_id",
        "tx_amount",
        "tx_fraud",
    ]


# --- partitions ---------------------------------------------------------------------------------


def test_replace_partition_twice_keeps_one_copy(make_warehouse) -> None:
    wh = make_warehouse()
    table = wh.tables.scores
    assert wh.replace_partition(table, scores([1, 2, 3], "v1"), DAY1) == 3
    assert wh.replace_partition(table, scores([1, 2, 3], "v2"), DAY1) == 3

    got = wh.read_partitions(table, DAY1, DAY2)

    assert wh.partition_counts(table) == {DAY1: 3}
    assert records(got) == records(with_partition(scores([1, 2, 3], "v2"), DAY1))
    assert str(got["scored_at"].dt.tz) == "UTC"
    assert all(isinstance(d, date) for d in got[PARTITION_COLUMN])


def test_partitions_are_independent_and_empty_frame_empties_one(make_warehouse) -> None:
    wh = make_warehouse()
    table = wh.tables.scores
    wh.replace_partition(table, scores([1, 2], "v1"), DAY1)
    wh.replace_partition(table, scores([3, 4, 5], "v1"), DAY2)
    assert wh.partition_counts(table) == {DAY1: 2, DAY2: 3}

    assert wh.replace_partition(table, scores([], "v1"), DAY1) == 0

    assert wh.partition_counts(table) == {DAY2: 3}
    assert wh.read_partitions(table, DAY1, DAY2).empty
    assert sorted(wh.read_partitions(table, DAY2, DAY3)["transaction_id"]) == [3, 4, 5]


def test_write_steps_are_reported_in_order(make_warehouse) -> None:
    seen: list[str] = []
    wh = make_warehouse(fault_hook=seen.append)
    wh.replace_partition(wh.tables.scores, scores([1], "v1"), DAY1)
    assert seen == list(WRITE_STEPS)


@pytest.mark.parametrize("step", WRITE_STEPS)
def test_fault_at_any_step_leaves_old_or_new_rows_never_a_mix(make_warehouse, step: str) -> None:
    wh = make_warehouse()
    table = wh.tables.scores
    old, other = scores([1, 2, 3], "old"), scores([9], "other")
    wh.replace_partition(table, old, DAY1)
    wh.replace_partition(table, other, DAY2)
    new = scores([4, 5], "new")

    with pytest.raises(FaultInjectedError):
        make_warehouse(fault_hook=fail_at(step)).replace_partition(table, new, DAY1)

    expected = new if step == "after_swap" else old
    assert records(wh.read_partitions(table, DAY1, DAY2)) == records(with_partition(expected, DAY1))
    assert records(wh.read_partitions(table, DAY2, DAY3)) == records(with_partition(other, DAY2))


def test_a_later_write_adds_new_columns(make_warehouse) -> None:
    wh = make_warehouse()
    table = wh.tables.scores
    wh.replace_partition(table, scores([1], "v1"), DAY1)
    wider = scores([2], "v2").assign(threshold=0.5, flagged=True)
    wh.replace_partition(table, wider, DAY2)

    got = wh.read_partitions(table, DAY1, DAY3)

    assert {"threshold", "flagged"} <= set(got.columns)
    by_id = {row["transaction_id"]: row for row in records(got)}
    assert by_id[1]["threshold"] is None
    assert by_id[1]["flagged"] is None
    assert by_id[2]["threshold"] == 0.5
    assert by_id[2]["flagged"] is True


def test_read_partitions_is_half_open_and_selects_columns(make_warehouse) -> None:
    wh = make_warehouse()
    table = wh.tables.scores
    for day, ids in ((DAY1, [1]), (DAY2, [2, 3]), (DAY3, [4])):
        wh.replace_partition(table, scores(ids, "v1"), day)

    got = wh.read_partitions(table, DAY2, DAY3, columns=["transaction_id", "SCORE"])

    assert list(got.columns) == ["transaction_id", "score"]
    assert sorted(got["transaction_id"]) == [2, 3]
    assert wh.read_partitions(table, DAY1, DAY1).empty
    assert sorted(wh.read_partitions(table, DAY1, date(2024, 5, 1))["transaction_id"]) == [
        1,
        2,
        3,
        4,
    ]


def test_missing_table_reads_as_empty(make_warehouse) -> None:
    wh = make_warehouse()
    table = wh.tables.report
    assert not wh.table_exists(table)
    assert wh.partition_counts(table) == {}
    got = wh.read_partitions(table, DAY1, DAY2, columns=["transaction_id"])
    assert got.empty
    assert list(got.columns) == ["transaction_id"]

    wh.replace_partition(table, scores([1], "v1"), DAY1)

    assert wh.table_exists(table)
    assert not wh.table_exists(wh.tables.rejected)


def test_rejected_style_string_frames_with_nulls_round_trip(make_warehouse) -> None:
    wh = make_warehouse()
    table = wh.tables.rejected
    rejected = pd.DataFrame(
        {
            "transaction_id": ["1", "x", None],
            "tx_datetime": ["2024-04-01T10:00:00", "not a date", None],
            "tx_amount": [None, "12.50", "abc"],
            "reason": ["negative amount", "bad timestamp", "missing id"],
            "note": [None, None, None],  # all-null: stored as a string column
        }
    )
    wh.replace_partition(table, rejected, DAY1)
    later = rejected.iloc[:1].assign(transaction_id="7", note="now set")
    wh.replace_partition(table, later, DAY2)

    got = wh.read_partitions(table, DAY1, DAY3)

    expected = pd.concat([with_partition(rejected, DAY1), with_partition(later, DAY2)])
    assert records(got, key="reason") == records(expected, key="reason")
    assert all(isinstance(v, str) for v in got["transaction_id"].dropna())


@pytest.mark.parametrize("bad", ["x; DROP TABLE y", 'a"b', "c -- d", "e /* f */", ""])
def test_invalid_column_names_are_rejected_before_any_sql(make_warehouse, bad: str) -> None:
    wh = make_warehouse()
    frame = scores([1], "v1").rename(columns={"score": bad})
    with pytest.raises(InvalidIdentifierError):
        wh.replace_partition(wh.tables.scores, frame, DAY1)
    assert not wh.table_exists(wh.tables.scores)


# --- what validation asks the warehouse (bad input, docs/reliability.md section 1) --------------


def test_rows_outside_a_range_are_counted_and_the_latest_time_is_bounded(make_warehouse) -> None:
    wh = make_warehouse()
    now = pd.Timestamp("2024-06-01", tz="UTC")
    assert wh.count_source_outside(DAY1, now) == 0  # no source table yet
    assert wh.latest_source_time(now) is None
    times = ["2023-12-31T23:59:59", "2024-04-01T10:00:00", "2024-04-02T10:00:00", "2099-06-01"]
    wh.load_source(transactions([*times, None]))
    first = pd.Timestamp(DAY1, tz="UTC")

    assert wh.count_source_outside(first, now) == 2  # 2023 and 2099; NULL is in no range
    assert wh.count_source_outside(pd.Timestamp("2023-12-31 23:59:59", tz="UTC"), now) == 1
    assert wh.latest_source_time(now) == pd.Timestamp("2024-04-02 10:00", tz="UTC")
    assert wh.latest_source_time(first) == pd.Timestamp("2023-12-31 23:59:59", tz="UTC")
    assert wh.latest_source_time(pd.Timestamp("2023-01-01", tz="UTC")) is None


def test_stored_id_kinds_say_integer_or_text(make_warehouse) -> None:
    wh = make_warehouse()
    table = wh.tables.validated
    assert wh.stored_id_kinds(table) == {}  # no table yet
    frame = transactions(["2024-04-01T10:00:00"]).rename(columns=str.lower)
    frame["customer_id"] = frame["customer_id"].astype(str)
    wh.replace_partition(table, frame, DAY1)

    assert wh.stored_id_kinds(table) == {
        "transaction_id": "integer",
        "customer_id": "text",
        "terminal_id": "integer",
    }


@pytest.mark.parametrize("kind", [int, str])
def test_earliest_partitions_of_values_in_a_window(make_warehouse, kind: type) -> None:
    wh = make_warehouse()
    table = wh.tables.validated
    ids = {DAY1: [1, 2, 3], DAY2: [3, 4], DAY3: [5]}
    for day, values in ids.items():
        frame = pd.DataFrame({"transaction_id": [kind(v) for v in values], "n": values})
        wh.replace_partition(table, frame, day)
    asked = pd.Series([kind(v) for v in (3, 4, 5, 9, 4)])

    found = wh.earliest_partitions_of(table, "transaction_id", asked, DAY1, DAY3)

    assert {kind(k): v for k, v in found.items()} == {kind(3): DAY1, kind(4): DAY2}
    assert wh.earliest_partitions_of(table, "transaction_id", asked, DAY3, DAY3).empty
    assert wh.earliest_partitions_of(wh.tables.scores, "transaction_id", asked, DAY1, DAY3).empty
    assert wh.earliest_partitions_of(table, "transaction_id", asked[:0], DAY1, DAY3).empty


def test_a_value_that_does_not_fit_its_column_is_a_permanent_data_error(
    make_warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    wh = make_warehouse()
    table = wh.tables.validated
    wh.replace_partition(table, pd.DataFrame({"transaction_id": [1, 2]}), DAY1)
    huge = "TX-" + "6" * 1_000_000  # the engines quote the value: the message stays bounded

    with pytest.raises(WarehouseDataError) as raised:
        wh.replace_partition(table, pd.DataFrame({"transaction_id": ["7", huge]}), DAY2)

    assert isinstance(raised.value, WarehouseError)  # what the assets fail fast on
    assert len(str(raised.value)) < 1_000
    assert "transient" not in caplog.text  # not retried
    assert wh.partition_counts(table) == {DAY1: 2}  # nothing written
