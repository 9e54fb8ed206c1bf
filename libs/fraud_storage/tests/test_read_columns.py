"""Reading only the columns a reader needs: ``read_source(columns=...)`` and the shaped readers
(DuckDB and the Snowflake emulator), so that training reads a few columns of a wide window."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from fraud_core.columns import (
    PARTITION_DATE,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
)
from fraud_core.shape import PipelineShape, ShapeMismatchError
from fraud_storage.identifiers import InvalidIdentifierError
from fraud_storage.shaped_partitions import (
    iter_shaped_days,
    read_shaped_partitions,
    replace_shaped_partition,
)
from fraud_storage.warehouse import WarehouseError

START, END = pd.Timestamp("2024-04-01", tz="UTC"), pd.Timestamp("2024-04-02", tz="UTC")
SHAPE = PipelineShape(windows_days=(1, 7), label_delay_days=2)
OTHER = PipelineShape(windows_days=(1, 7), label_delay_days=3)
DAYS = [date(2025, 3, 28) + timedelta(days=i) for i in range(4)]
END_DAY = DAYS[-1] + timedelta(days=1)


def source() -> pd.DataFrame:
    """Upper-case source rows stored out of time order (ids and times disagree)."""
    times = ["2024-04-01T13:00", "2024-04-01T01:00", "2024-04-01T07:00", "2024-04-02T00:00"]
    return pd.DataFrame(
        {
            "TRANSACTION_ID": [3, 1, 2, 4],
            "TX_DATETIME": pd.to_datetime(times).tz_localize("UTC"),
            "CUSTOMER_ID": [10, 11, 12, 13],
            "TERMINAL_ID": [100, 101, 102, 103],
            "TX_AMOUNT": [30.0, 10.0, 20.0, 40.0],
            "TX_FRAUD": [1, 0, None, 0],
        }
    )


def test_read_source_reads_only_the_columns_asked_for_in_time_order(make_warehouse) -> None:
    wh = make_warehouse()
    wh.load_source(source())
    everything = wh.read_source(START, END)

    labels = wh.read_source(START, END, columns=[TRANSACTION_ID, TX_FRAUD])

    assert list(labels.columns) == [TRANSACTION_ID, TX_FRAUD]
    assert labels[TRANSACTION_ID].tolist() == [1, 2, 3]  # time order, as the full read
    pd.testing.assert_frame_equal(labels, everything[[TRANSACTION_ID, TX_FRAUD]])
    # any order, the time column included or not, upper-case names accepted
    amounts = wh.read_source(START, END, columns=["TX_AMOUNT", TX_DATETIME])
    assert list(amounts.columns) == [TX_AMOUNT, TX_DATETIME]
    pd.testing.assert_frame_equal(amounts, everything[[TX_AMOUNT, TX_DATETIME]])
    assert str(amounts[TX_DATETIME].dt.tz) == "UTC"


def test_read_source_columns_of_an_empty_window(make_warehouse) -> None:
    wh = make_warehouse()
    wh.load_source(source())
    got = wh.read_source(
        pd.Timestamp("2030-01-01", tz="UTC"),
        pd.Timestamp("2030-01-02", tz="UTC"),
        columns=[TRANSACTION_ID, TX_FRAUD],
    )
    assert got.empty
    assert list(got.columns) == [TRANSACTION_ID, TX_FRAUD]


def test_read_source_refuses_unknown_and_unsafe_columns(make_warehouse) -> None:
    wh = make_warehouse()
    wh.load_source(source())
    with pytest.raises(WarehouseError, match=r"has no column\(s\) \['no_such_column'\]"):
        wh.read_source(START, END, columns=[TRANSACTION_ID, "no_such_column"])
    with pytest.raises(InvalidIdentifierError):
        wh.read_source(START, END, columns=["tx_fraud; DROP TABLE x"])
    assert len(wh.read_source(START, END)) == 3  # nothing dropped


def features(day: date, n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            TRANSACTION_ID: [day.day * 10 + i for i in range(n)],
            "feature_a": [0.5 + i for i in range(n)],
            "feature_b": [1.0] * n,
            "wide": ["unused text"] * n,
        }
    )


def test_shaped_reads_of_some_columns_equal_the_full_read(make_warehouse) -> None:
    wh = make_warehouse()
    table = wh.tables.transformed
    for day in DAYS:
        replace_shaped_partition(wh, table, features(day), day, SHAPE)
    full = read_shaped_partitions(wh, table, DAYS[0], END_DAY, SHAPE, rebuild="x")
    columns = ["feature_b", TRANSACTION_ID]

    some = read_shaped_partitions(wh, table, DAYS[0], END_DAY, SHAPE, rebuild="x", columns=columns)
    by_day = list(
        iter_shaped_days(wh, table, DAYS[0], END_DAY, SHAPE, rebuild="x", columns=columns)
    )

    assert list(some.columns) == columns
    key = [TRANSACTION_ID]
    expected = full[columns].sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(some.sort_values(key, ignore_index=True), expected)
    assert [day for day, _ in by_day] == DAYS
    for day, rows in by_day:
        assert list(rows.columns) == columns
        assert rows[TRANSACTION_ID].tolist() == features(day)[TRANSACTION_ID].tolist()
    # every column but the shape's when no columns are asked for
    (_, first_day), *_ = iter_shaped_days(wh, table, DAYS[0], END_DAY, SHAPE, rebuild="x")
    assert set(first_day.columns) == {*features(DAYS[0]).columns, PARTITION_DATE}


def test_iterating_days_names_every_day_of_another_shape(make_warehouse) -> None:
    wh = make_warehouse()
    table = wh.tables.transformed
    for day, shape in zip(DAYS, (SHAPE, OTHER, SHAPE, OTHER), strict=True):
        replace_shaped_partition(wh, table, features(day), day, shape)
    yielded: list[date] = []
    days = iter_shaped_days(
        wh, table, DAYS[0], END_DAY, SHAPE, rebuild="features", columns=["feature_a"]
    )
    with pytest.raises(ShapeMismatchError) as caught:
        yielded.extend(day for day, _rows in days)
    assert yielded == [DAYS[0]]  # nothing after the first day of another shape
    message = str(caught.value)
    assert "holds 2 day(s) built with another pipeline shape" in message
    assert "2025-03-29" in message
    assert "2025-03-31" in message


def test_a_table_lacking_a_column_is_refused_by_shape_not_by_the_engine(make_warehouse) -> None:
    """Rows written before shapes were recorded, or by a shape with other features, lack the
    columns asked for: the reader says which shape to rebuild instead of failing in SQL."""
    wh = make_warehouse()
    table = wh.tables.transformed
    wh.replace_partition(table, features(DAYS[0]), DAYS[0])  # no shape column at all
    with pytest.raises(ShapeMismatchError, match="no recorded pipeline shape"):
        read_shaped_partitions(
            wh, table, DAYS[0], END_DAY, SHAPE, rebuild="x", columns=["feature_a"]
        )
    with pytest.raises(ShapeMismatchError, match="no recorded pipeline shape"):
        list(iter_shaped_days(wh, table, DAYS[0], END_DAY, SHAPE, rebuild="x", columns=["new"]))
    # a day with no rows yet: nothing to disagree with, the columns asked for
    empty = read_shaped_partitions(
        wh, table, DAYS[1], END_DAY, SHAPE, rebuild="x", columns=["new", "feature_a"]
    )
    assert empty.empty
    assert list(empty.columns) == ["new", "feature_a"]
    missing_table = wh.tables.terminal_labels
    nothing = read_shaped_partitions(
        wh, missing_table, DAYS[0], END_DAY, SHAPE, rebuild="x", columns=["feature_a"]
    )
    assert nothing.empty
    assert list(nothing.columns) == ["feature_a"]
