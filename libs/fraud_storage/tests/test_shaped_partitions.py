"""Shape-dependent partitions: written with the shape's fingerprint, refused when read by another
shape (DuckDB and the Snowflake emulator), with a message naming the table, days and remedy."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from fraud_core.columns import PARTITION_DATE, PIPELINE_SHAPE
from fraud_core.shape import PipelineShape, ShapeMismatchError
from fraud_storage.shaped_partitions import (
    read_shaped_partitions,
    recorded_shapes,
    replace_shaped_partition,
    require_shape,
)

OLD = PipelineShape(windows_days=(1, 7), label_delay_days=2)
NEW = PipelineShape(windows_days=(1, 7), label_delay_days=3)
DAYS = [date(2025, 3, 29), date(2025, 3, 30), date(2025, 3, 31)]
END = DAYS[-1] + timedelta(days=1)


def rows(day: date, n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"transaction_id": range(n), "feature": [0.5] * n, "day_no": day.day})


def test_rows_carry_the_shape_and_read_back_without_it(make_warehouse) -> None:
    warehouse = make_warehouse()
    table = warehouse.tables.transformed
    for day in DAYS:
        assert replace_shaped_partition(warehouse, table, rows(day), day, NEW) == 3
    stored = warehouse.read_partitions(table, DAYS[0], END)
    assert set(stored[PIPELINE_SHAPE]) == {NEW.fingerprint}
    assert recorded_shapes(stored) == {NEW.fingerprint: DAYS}
    read = read_shaped_partitions(warehouse, table, DAYS[0], END, NEW, rebuild="features")
    assert len(read) == 9
    assert PIPELINE_SHAPE not in read.columns
    assert PARTITION_DATE in read.columns
    require_shape(warehouse, table, DAYS[0], END, NEW, rebuild="features")  # no error
    empty = read_shaped_partitions(warehouse, table, END, END + timedelta(1), OLD, rebuild="x")
    assert empty.empty  # nothing read, nothing to disagree with


def test_days_of_another_shape_are_refused_with_what_to_rebuild(make_warehouse) -> None:
    warehouse = make_warehouse()
    table = warehouse.tables.transformed
    replace_shaped_partition(warehouse, table, rows(DAYS[0]), DAYS[0], OLD)
    replace_shaped_partition(warehouse, table, rows(DAYS[1]), DAYS[1], OLD)
    replace_shaped_partition(warehouse, table, rows(DAYS[2]), DAYS[2], NEW)
    with pytest.raises(ShapeMismatchError) as caught:
        read_shaped_partitions(
            warehouse, table, DAYS[0], END, NEW, rebuild="transformed_transactions"
        )
    message = str(caught.value)
    assert message.startswith(f"{table} holds 2 day(s) built with another pipeline shape")
    assert f"{OLD.fingerprint} on 2025-03-29 .. 2025-03-30" in message
    assert NEW.describe() in message
    assert "Rebuild transformed_transactions for 2025-03-29 .. 2025-03-30 (2 day(s)" in message
    # the day of the running shape alone reads fine
    alone = read_shaped_partitions(warehouse, table, DAYS[2], END, NEW, rebuild="x")
    assert len(alone) == 3
    with pytest.raises(ShapeMismatchError, match="Rebuild matured_terminal_labels for 2025-03-29"):
        require_shape(warehouse, table, DAYS[0], DAYS[1], NEW, rebuild="matured_terminal_labels")


def test_rows_written_before_shapes_were_recorded_are_refused(make_warehouse) -> None:
    warehouse = make_warehouse()
    table = warehouse.tables.terminal_labels
    warehouse.replace_partition(table, rows(DAYS[0]), DAYS[0])  # no shape column at all
    with pytest.raises(ShapeMismatchError, match=r"no recorded pipeline shape .* on 2025-03-29"):
        require_shape(warehouse, table, DAYS[0], END, NEW, rebuild="matured_terminal_labels")
    # a new partition adds the column; the old day's rows have none (NULL): still refused
    replace_shaped_partition(warehouse, table, rows(DAYS[1]), DAYS[1], NEW)
    with pytest.raises(ShapeMismatchError) as caught:
        read_shaped_partitions(warehouse, table, DAYS[0], END, NEW, rebuild="labels")
    assert "holds 1 day(s)" in str(caught.value)
    assert "Rebuild labels for 2025-03-29 (1 day(s)" in str(caught.value)
