"""The embedded default warehouse: a DuckDB file, zero configuration."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from fraud_storage.identifiers import TableName, validate_identifier
from fraud_storage.tables import PARTITION_COLUMN, TableNames
from fraud_storage.warehouse import (
    FaultHook,
    Warehouse,
    WarehouseError,
    normalise_frame,
    with_partition,
)

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


def connect_path(path: str | Path) -> Connect:
    """A connection factory for a DuckDB file (parent directory created)."""

    @contextlib.contextmanager
    def connect() -> Iterator[duckdb.DuckDBPyConnection]:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path))
        try:
            yield con
        finally:
            con.close()

    return connect


class DuckDBWarehouse(Warehouse):
    """The Warehouse interface on DuckDB; writes are one transaction per partition."""

    dialect = "duckdb"

    def __init__(
        self,
        connect: Connect,
        tables: TableNames | None = None,
        fault_hook: FaultHook | None = None,
    ):
        super().__init__(tables, fault_hook)
        self._connect = connect

    @classmethod
    def at_path(cls, path: str | Path, tables: TableNames | None = None) -> DuckDBWarehouse:
        """A warehouse on the DuckDB file at ``path``."""
        return cls(connect_path(path), tables)

    @contextlib.contextmanager
    def _session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            yield con

    def _q(self, table: TableName) -> str:
        return table.quoted("duckdb")

    def _exists(self, con: duckdb.DuckDBPyConnection, table: TableName) -> bool:
        row = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE lower(table_name) = lower(?) AND lower(table_schema) = lower(?)",
            [table.table, table.schema or "main"],
        ).fetchone()
        return bool(row and row[0])

    def _ensure_schema(self, con: duckdb.DuckDBPyConnection, table: TableName) -> None:
        if table.schema:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{table.schema}"')

    def table_exists(self, table: TableName) -> bool:
        """Whether ``table`` exists."""
        with self._session() as con:
            return self._exists(con, table)

    def read_source(self, start: datetime, end: datetime) -> pd.DataFrame:
        """Source rows with ``start <= tx_datetime < end``, lower-case columns, UTC timestamps."""
        source = self.tables.source
        with self._session() as con:
            if not self._exists(con, source):
                raise WarehouseError(f"source table {source} does not exist")
            frame = con.execute(
                f"SELECT * FROM {self._q(source)} "
                "WHERE tx_datetime >= ? AND tx_datetime < ? ORDER BY tx_datetime, transaction_id",
                [_utc(start), _utc(end)],
            ).df()
        return normalise_frame(frame)

    def source_time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The earliest and latest ``tx_datetime`` in the source, or None when empty/missing."""
        source = self.tables.source
        with self._session() as con:
            if not self._exists(con, source):
                return None
            low, high = con.execute(
                f"SELECT min(tx_datetime), max(tx_datetime) FROM {self._q(source)}"
            ).fetchone()
        if low is None:
            return None
        return _utc(low), _utc(high)

    def load_source(self, frame: pd.DataFrame, *, replace: bool = False) -> int:
        """Bulk-load transactions into the source table (creating it); returns rows loaded."""
        source = self.tables.source
        data = frame.rename(columns=str.lower)
        _check_columns(data.columns)
        data = normalise_frame(data)  # naive timestamps are UTC: store them as TIMESTAMPTZ
        view = f"load_{uuid.uuid4().hex}"
        with self._session() as con:
            con.register(view, data)
            try:
                con.begin()
                self._ensure_schema(con, source)
                if replace or not self._exists(con, source):
                    con.execute(
                        f"CREATE OR REPLACE TABLE {self._q(source)} AS "
                        f"SELECT {_typed_select(con, view)} FROM {view}"
                    )
                else:
                    con.execute(f"INSERT INTO {self._q(source)} BY NAME SELECT * FROM {view}")
                con.commit()
            finally:
                con.unregister(view)
        return len(frame)

    def replace_partition(self, table: TableName, frame: pd.DataFrame, partition: date) -> int:
        """Atomically make ``frame`` the only rows of ``partition`` in ``table``; returns rows written."""
        data = with_partition(frame, partition)
        _check_columns(data.columns)
        view = f"stage_{uuid.uuid4().hex}"
        target = self._q(table)
        with self._session() as con:
            con.register(view, data)
            self._step("staged")
            con.begin()
            try:
                self._ensure_schema(con, table)
                con.execute(
                    f"CREATE TABLE IF NOT EXISTS {target} AS "
                    f"SELECT {_typed_select(con, view)} FROM {view} LIMIT 0"
                )
                self._add_missing_columns(con, table, view)
                self._step("before_swap")
                con.execute(
                    f"DELETE FROM {target} WHERE {PARTITION_COLUMN} = ?",
                    [pd.Timestamp(partition).date()],
                )
                self._step("during_swap")
                con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {view}")
                con.commit()
            except BaseException:
                con.rollback()
                raise
            finally:
                con.unregister(view)
        self._step("after_swap")
        return len(data)

    def _add_missing_columns(
        self, con: duckdb.DuckDBPyConnection, table: TableName, view: str
    ) -> None:
        existing = {r[0].lower() for r in con.execute(f"DESCRIBE {self._q(table)}").fetchall()}
        for name, dtype, *_ in con.execute(f"DESCRIBE {view}").fetchall():
            if name.lower() not in existing:
                dtype = (
                    "VARCHAR" if _is_null_type(dtype) else dtype
                )  # all-null column: as Snowflake
                con.execute(f'ALTER TABLE {self._q(table)} ADD COLUMN "{name}" {dtype}')

    def read_partitions(
        self, table: TableName, start: date, end: date, columns: list[str] | None = None
    ) -> pd.DataFrame:
        """Rows of ``table`` whose partition date is in ``[start, end)`` (empty if no table)."""
        select = ", ".join(f'"{_column(c)}"' for c in columns) if columns else "*"
        with self._session() as con:
            if not self._exists(con, table):
                return pd.DataFrame(columns=columns or [])
            frame = con.execute(
                f"SELECT {select} FROM {self._q(table)} "
                f"WHERE {PARTITION_COLUMN} >= ? AND {PARTITION_COLUMN} < ?",
                [start, end],
            ).df()
        return normalise_frame(frame)

    def partition_counts(self, table: TableName) -> dict[date, int]:
        """Row count per partition date of ``table`` (empty if the table does not exist)."""
        with self._session() as con:
            if not self._exists(con, table):
                return {}
            rows = con.execute(
                f"SELECT {PARTITION_COLUMN}, count(*) FROM {self._q(table)} GROUP BY 1 ORDER BY 1"
            ).fetchall()
        return {pd.Timestamp(d).date(): int(n) for d, n in rows}


def _column(name: str) -> str:
    return validate_identifier(name.lower(), what="column name")


def _typed_select(con: duckdb.DuckDBPyConnection, view: str) -> str:
    """``view``'s columns, with all-null (type NULL) ones as VARCHAR so later rows fit."""
    parts = []
    for name, dtype, *_ in con.execute(f"DESCRIBE {view}").fetchall():
        quoted = f'"{validate_identifier(name, what="column name")}"'
        parts.append(f"CAST({quoted} AS VARCHAR) AS {quoted}" if _is_null_type(dtype) else quoted)
    return ", ".join(parts)


def _utc(value: object) -> pd.Timestamp:
    """A timezone-aware UTC timestamp; naive values are taken to be UTC already."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _is_null_type(dtype: str) -> bool:
    return dtype.strip('"').upper() == "NULL"


def _check_columns(columns: pd.Index) -> None:
    """Reject frame columns that are not plain identifiers before any SQL (they reach DDL)."""
    for name in columns:
        _column(str(name))
