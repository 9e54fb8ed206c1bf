"""DuckDB-specific behaviour (the shared contract is in test_warehouse_contract.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from fraud_storage.duckdb_warehouse import DuckDBWarehouse
from fraud_storage.identifiers import InvalidIdentifierError

DAY1, DAY2, DAY3 = date(2024, 4, 1), date(2024, 4, 2), date(2024, 4, 3)


def test_at_path_creates_the_directory_and_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "warehouse.duckdb"
    wh = DuckDBWarehouse.at_path(path)

    wh.replace_partition(wh.tables.scores, pd.DataFrame({"transaction_id": [1]}), DAY1)

    assert path.exists()
    with duckdb.connect(str(path)) as con:
        rows = con.execute('SELECT transaction_id FROM "FRAUD"."FRAUD_SCORES"').fetchall()
    assert rows == [(1,)]


def test_all_null_columns_are_text_so_later_values_fit(tmp_path: Path) -> None:
    wh = DuckDBWarehouse.at_path(tmp_path / "w.duckdb")
    table = wh.tables.rejected
    wh.replace_partition(table, pd.DataFrame({"reason": ["x"], "note": [None]}), DAY1)
    wh.replace_partition(table, pd.DataFrame({"reason": ["y"], "extra": [None]}), DAY2)
    wh.replace_partition(
        table, pd.DataFrame({"reason": ["z"], "note": ["n"], "extra": ["e"]}), DAY3
    )

    got = wh.read_partitions(table, DAY1, date(2024, 4, 4)).sort_values("reason")

    assert got["note"].tolist() == [None, None, "n"]
    assert got["extra"].tolist() == [None, None, "e"]
    source = pd.DataFrame({"tx_datetime": [pd.Timestamp("2024-04-01", tz="UTC")], "memo": [None]})
    wh.load_source(source)
    wh.load_source(source.assign(memo="later"))
    assert wh.source_time_range() is not None


def test_injection_through_a_column_name_is_refused(tmp_path: Path) -> None:
    wh = DuckDBWarehouse.at_path(tmp_path / "w.duckdb")
    wh.replace_partition(wh.tables.scores, pd.DataFrame({"transaction_id": [1]}), DAY1)
    evil = 'x" INTEGER); DROP TABLE "FRAUD"."FRAUD_SCORES"; --'

    with pytest.raises(InvalidIdentifierError):
        wh.replace_partition(
            wh.tables.scores, pd.DataFrame({"transaction_id": [2], evil: [1]}), DAY2
        )
    with pytest.raises(InvalidIdentifierError):
        wh.load_source(pd.DataFrame({"tx_datetime": [pd.Timestamp("2024-04-01")], evil: [1]}))

    assert wh.partition_counts(wh.tables.scores) == {DAY1: 1}
    assert not wh.table_exists(wh.tables.source)
