"""The streamed DuckDB fetch gives what ``.df()`` gives: dtypes, values, order."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from fraud_storage import duckdb_warehouse as dw
from fraud_storage.duckdb_warehouse import DuckDBWarehouse


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE t AS SELECT i AS id, "
        "TIMESTAMPTZ '2024-04-01 00:00:00+00' + i * INTERVAL 1 MINUTE AS ts, "
        "CASE WHEN i > 7 AND i % 3 = 0 THEN NULL ELSE (i % 2)::TINYINT END AS label, "
        "'s' || i AS text, DATE '2024-01-01' + i::INTEGER AS day, i / 4 AS amount, "
        "NULL AS nothing FROM range(20) r(i)"
    )
    yield con
    con.close()


@pytest.mark.parametrize("batch_rows", [3, 7, 100])
def test_streamed_frame_equals_df(con: duckdb.DuckDBPyConnection, batch_rows: int) -> None:
    sql = "SELECT * FROM t WHERE id >= ?"
    expected = con.execute(sql, [2]).df()
    got = dw._fetch_frame(con, sql, [2], batch_rows=batch_rows)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got["label"].dtype == "Int8"  # NULLs only in later batches: nullable, as .df()


def test_order_by_sorts_only_when_needed(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE u AS SELECT * FROM t ORDER BY (id * 7) % 20")
    expected = con.execute("SELECT * FROM u ORDER BY ts, id").df()
    got = dw._fetch_frame(con, "SELECT * FROM u", [], order_by=("ts", "id"), batch_rows=4)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert dw._is_sorted(got, ("ts", "id"), chunk=3)
    assert not dw._is_sorted(con.execute("SELECT * FROM u").df(), ("ts", "id"), chunk=3)


def test_is_sorted_breaks_ties_on_the_next_key() -> None:
    frame = pd.DataFrame({"a": [1, 1, 2, 2], "b": [5, 6, 1, 2]})
    assert dw._is_sorted(frame, ("a", "b"), chunk=2)
    assert not dw._is_sorted(frame.iloc[[1, 0, 2, 3]], ("a", "b"), chunk=2)
    assert not dw._is_sorted(frame.assign(b=[5, None, 1, 2]), ("a", "b"))


def test_read_source_streams_large_reads_in_time_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dw, "FETCH_BATCH_ROWS", 5)
    wh = DuckDBWarehouse.at_path(tmp_path / "w.duckdb")
    rng = np.random.default_rng(0)
    n = 40
    source = pd.DataFrame(
        {
            "TRANSACTION_ID": rng.permutation(n),
            "TX_DATETIME": pd.Timestamp("2024-04-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 3, n), unit="h"),  # ties broken by id
            "CUSTOMER_ID": rng.integers(0, 5, n),
            "TERMINAL_ID": rng.integers(0, 5, n),
            "TX_AMOUNT": rng.random(n),
            "TX_FRAUD": pd.array(np.where(rng.random(n) < 0.3, None, 1), dtype="Int8"),
        }
    )
    wh.load_source(source)
    got = wh.read_source(pd.Timestamp("2024-04-01", tz="UTC"), pd.Timestamp("2024-04-02", tz="UTC"))
    expected = source.rename(columns=str.lower).sort_values(["tx_datetime", "transaction_id"])
    assert got["transaction_id"].tolist() == expected["transaction_id"].tolist()
    assert str(got["tx_datetime"].dt.tz) == "UTC"
    assert list(got.columns) == list(expected.columns)
