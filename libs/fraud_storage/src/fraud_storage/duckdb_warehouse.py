"""The embedded default warehouse: a DuckDB file, zero configuration."""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray, ExtensionDtype

from fraud_core.columns import ID_COLUMNS, TRANSACTION_ID, TX_DATETIME
from fraud_core.features import WindowTotals, WindowTotalsRequest, empty_totals
from fraud_core.ids import IdKind
from fraud_storage.identifiers import TableName, validate_identifier
from fraud_storage.tables import PARTITION_COLUMN, TableNames
from fraud_storage.warehouse import (
    FaultHook,
    Warehouse,
    WarehouseDataError,
    WarehouseError,
    normalise_frame,
    partition_filter,
    with_partition,
)
from fraud_storage.window_totals import SqlNames, totals_from_frames, totals_queries

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


LOCK_WAIT_S = 60.0
"""How long :func:`connect_path` waits for another process to release the DuckDB file."""


def _is_lock_conflict(error: duckdb.Error) -> bool:
    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


def connect_path(path: str | Path, *, lock_wait_s: float = LOCK_WAIT_S) -> Connect:
    """A connection factory for a DuckDB file (parent directory created).

    DuckDB admits one read-write process per file at a time, and the warehouse opens a
    connection per operation: when another process holds the file, opening is retried with
    jittered exponential backoff (0.05 s doubling to 2 s) for up to ``lock_wait_s`` seconds, then
    the lock error is raised as a WarehouseError naming the file.
    """

    @contextlib.contextmanager
    def connect() -> Iterator[duckdb.DuckDBPyConnection]:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + lock_wait_s
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(path))
                break
            except duckdb.IOException as error:
                if not _is_lock_conflict(error):
                    raise
                if time.monotonic() >= deadline:
                    raise WarehouseError(
                        f"DuckDB file {path} stayed locked by another process for "
                        f"{lock_wait_s:.0f}s: {error}"
                    ) from error
                time.sleep(
                    min(delay * (1 + random.random()), max(0.0, deadline - time.monotonic()))
                )
                delay = min(delay * 2, 2.0)
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
    def _session(self, obj: object = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection in UTC; a value that does not fit its type raises WarehouseDataError."""
        with self._connect() as con:
            try:
                con.execute("SET TimeZone = 'UTC'")
                yield con
            except _DATA_ERRORS as error:
                con.close()
                raise WarehouseDataError(_data_error_message(obj, error)) from error
            except BaseException:
                # Close on errors too: dagster-duckdb's get_connection closes only on success,
                # and a connection kept alive by the traceback holds the file lock.
                con.close()
                raise

    def _q(self, table: TableName) -> str:
        return table.quoted("duckdb")

    def _exists(self, con: duckdb.DuckDBPyConnection, table: TableName) -> bool:
        rows = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE lower(table_name) = lower(?) AND lower(table_schema) = lower(?)",
            [table.table, table.schema or "main"],
        ).fetchall()  # the whole result: no pending result blocks a register() after it
        return bool(rows and rows[0][0])

    def _ensure_schema(self, con: duckdb.DuckDBPyConnection, table: TableName) -> None:
        if table.schema:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{table.schema}"')

    def table_exists(self, table: TableName) -> bool:
        """Whether ``table`` exists."""
        with self._session() as con:
            return self._exists(con, table)

    def _source_time(self, con: duckdb.DuckDBPyConnection) -> tuple[str, dict[str, str]]:
        """The SQL expression of the source's ``tx_datetime`` as an instant, and its columns
        (lower-case name -> name as stored, e.g. ``TX_DATETIME`` in a table created upper-case).

        ``TIMESTAMP WITH TIME ZONE`` is used as is; naive timestamps (``TIMESTAMP``,
        ``TIMESTAMP_NS``, ...) and dates are cast, naive values being UTC (the session's time
        zone). Any other type, text included, raises a WarehouseError naming the column and its
        type, as on Snowflake: a text time cannot be placed in a day reliably (its zone is a
        guess), and a row that belongs to no day could be neither loaded nor quarantined.
        """
        source = self.tables.source
        columns = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE lower(table_name) = lower(?) AND lower(table_schema) = lower(?) "
            "ORDER BY ordinal_position",
            [source.table, source.schema or "main"],
        ).fetchall()
        types = {str(name).lower(): str(kind).upper() for name, kind in columns}
        names = {str(name).lower(): str(name) for name, _ in columns}
        if not types:
            raise WarehouseError(f"source table {source} does not exist")
        kind = types.get(TX_DATETIME)
        if kind is None:
            raise WarehouseError(
                f"source table {source} has no {TX_DATETIME} column; found {sorted(types)}"
            )
        if kind == "TIMESTAMP WITH TIME ZONE":
            return TX_DATETIME, names
        if kind.startswith(("TIMESTAMP", "DATE")):
            return f"CAST({TX_DATETIME} AS TIMESTAMPTZ)", names
        raise WarehouseError(
            f"source table {source}: column {TX_DATETIME} has type {kind}; expected a timestamp "
            "(TIMESTAMP holding UTC, or TIMESTAMP WITH TIME ZONE)"
        )

    def read_source(
        self, start: datetime, end: datetime, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Source rows with ``start <= tx_datetime < end``, lower-case columns, UTC timestamps.

        ``columns``: only these (lower-case names, in this order); default every column.
        """
        source = self.tables.source
        wanted = list(dict.fromkeys(_column(str(c)) for c in columns or ()))  # before any SQL
        with self._session(source) as con:
            when, names = self._source_time(con)
            keys = (TX_DATETIME, *((TRANSACTION_ID,) if TRANSACTION_ID in names else ()))
            _require_source_columns(source, names, wanted)
            select = ", ".join(f'"{names[c]}"' for c in dict.fromkeys([*wanted, *keys]))
            sql = (
                f"SELECT {select if wanted else '*'} FROM {self._q(source)} "
                f"WHERE {when} >= ? AND {when} < ?"
            )
            if when == TX_DATETIME:  # streamed in table order, sorted here only if needed
                stored = tuple(names[key] for key in keys)  # the frame's names: any case
                frame = _fetch_frame(con, sql, [_utc(start), _utc(end)], order_by=stored)
            else:  # a cast time: DuckDB orders by the instant
                order = ", ".join((when, *keys[1:]))
                frame = _fetch_frame(con, f"{sql} ORDER BY {order}", [_utc(start), _utc(end)])
        frame = normalise_frame(frame)
        return frame[wanted] if wanted and list(frame.columns) != wanted else frame

    def source_time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The earliest and latest ``tx_datetime`` in the source, or None when empty/missing."""
        source = self.tables.source
        with self._session() as con:
            if not self._exists(con, source):
                return None
            when, _ = self._source_time(con)
            low, high = _one_row(
                con.execute(f"SELECT min({when}), max({when}) FROM {self._q(source)}")
            )
        if low is None:
            return None
        return _utc(low), _utc(high)

    def count_source_without_time(self) -> int:
        """Source rows whose ``tx_datetime`` is NULL (no day reads them); 0 when it is missing."""
        source = self.tables.source
        with self._session() as con:
            if not self._exists(con, source):
                return 0
            self._source_time(con)  # the column exists and is a timestamp
            (count,) = _one_row(
                con.execute(f"SELECT count(*) FROM {self._q(source)} WHERE tx_datetime IS NULL")
            )
        return int(count)

    def count_source_outside(self, start: datetime, end: datetime) -> int:
        """Source rows with ``tx_datetime`` before ``start`` or at/after ``end``; 0 if missing."""
        source = self.tables.source
        with self._session(source) as con:
            if not self._exists(con, source):
                return 0
            when, _ = self._source_time(con)
            (count,) = _one_row(
                con.execute(
                    f"SELECT count(*) FROM {self._q(source)} WHERE {when} < ? OR {when} >= ?",
                    [_utc(start), _utc(end)],
                )
            )
        return int(count)

    def latest_source_time(self, before: datetime) -> pd.Timestamp | None:
        """The latest ``tx_datetime`` earlier than ``before``, or None when there is none."""
        source = self.tables.source
        with self._session(source) as con:
            if not self._exists(con, source):
                return None
            when, _ = self._source_time(con)
            (latest,) = _one_row(
                con.execute(
                    f"SELECT max({when}) FROM {self._q(source)} WHERE {when} < ?", [_utc(before)]
                )
            )
        return None if latest is None else _utc(latest)

    def stored_id_kinds(self, table: TableName) -> dict[str, IdKind]:
        """How ``table`` stores each id column it has, "integer" or "text" (empty if no table)."""
        with self._session(table) as con:
            rows = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE lower(table_name) = lower(?) AND lower(table_schema) = lower(?)",
                [table.table, table.schema or "main"],
            ).fetchall()
        kinds = {str(name).lower(): _id_kind(str(kind)) for name, kind in rows}
        return {name: kind for name, kind in kinds.items() if name in ID_COLUMNS and kind}

    def earliest_partitions_of(
        self, table: TableName, column: str, values: pd.Series, start: date, end: date
    ) -> pd.Series:
        """The earliest partition date in ``[start, end)`` whose ``column`` holds each of
        ``values``, indexed by value; values held by none of those partitions are absent."""
        name = _column(column)
        view = f"values_{uuid.uuid4().hex}"
        if not len(values):
            return _partitions_by_value([], [])
        with self._session(table) as con:
            if not self._exists(con, table):
                return _partitions_by_value([], [])
            con.register(view, pd.DataFrame({name: values.to_numpy()}))
            try:
                found = con.execute(
                    f'SELECT v."{name}", min(t.{PARTITION_COLUMN}) FROM {view} v '
                    f'JOIN {self._q(table)} t ON t."{name}" = v."{name}" '
                    f"WHERE t.{PARTITION_COLUMN} >= ? AND t.{PARTITION_COLUMN} < ? GROUP BY 1",
                    [start, end],
                ).fetchnumpy()
            finally:
                con.unregister(view)
        keys, days = found.values()
        return _partitions_by_value(keys, days)

    def load_source(
        self, frame: pd.DataFrame, *, replace: bool = False, if_missing: bool = False
    ) -> int:
        """Bulk-load transactions into the source table (creating it); returns rows loaded.

        ``if_missing`` loads only when the table does not exist, checked in the loading
        transaction itself (DuckDB admits one writing process), so processes that all find an
        empty warehouse seed it once, not once each; returns 0 when the table existed.
        """
        source = self.tables.source
        data = frame.rename(columns=str.lower)
        _check_columns(data.columns)
        data = normalise_frame(data)  # naive timestamps are UTC: store them as TIMESTAMPTZ
        view = f"load_{uuid.uuid4().hex}"
        with self._session(source) as con:
            con.register(view, data)
            try:
                con.begin()
                self._ensure_schema(con, source)
                exists = self._exists(con, source)
                if if_missing and exists:
                    con.rollback()
                    return 0
                if replace or not exists:
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
        with self._session(table) as con:
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
            frame = _fetch_frame(
                con,
                f"SELECT {select} FROM {self._q(table)} "
                f"WHERE {PARTITION_COLUMN} >= ? AND {PARTITION_COLUMN} < ?",
                [start, end],
            )
        return normalise_frame(frame)

    def partition_counts(
        self, table: TableName, start: date | None = None, end: date | None = None
    ) -> dict[date, int]:
        """Row count per partition date of ``table`` in ``[start, end)`` when given (empty if no table)."""
        where, params = partition_filter(PARTITION_COLUMN, start, end)
        with self._session() as con:
            if not self._exists(con, table):
                return {}
            rows = con.execute(
                f"SELECT {PARTITION_COLUMN}, count(*) FROM {self._q(table)}{where} "
                "GROUP BY 1 ORDER BY 1",
                params,
            ).fetchall()
        return {pd.Timestamp(d).date(): int(n) for d, n in rows}

    def entity_window_totals(self, request: WindowTotalsRequest) -> WindowTotals:
        """Whole-day totals of history for the entities active on the request's day."""
        validated, labels = self.tables.validated, self.tables.terminal_labels
        names = SqlNames(
            validated=self._q(validated),
            matured=self._q(labels),
            column=lambda name: f'"{_column(name)}"',
        )
        frames = {}
        with self._session() as con:
            if not self._exists(con, validated):
                return empty_totals(request)
            queries = totals_queries(request, names, with_matured=self._exists(con, labels))
            con.begin()  # the queries read one snapshot
            try:
                for kind, (sql, params) in queries.items():
                    frames[kind] = normalise_frame(con.execute(sql, params).df())
            finally:
                con.rollback()  # read-only
        return totals_from_frames(request, frames)


def _column(name: str) -> str:
    return validate_identifier(name.lower(), what="column name")


def _require_source_columns(source: TableName, stored: dict[str, str], wanted: list[str]) -> None:
    """Raise a WarehouseError naming the ``wanted`` columns the source does not have."""
    missing = [c for c in wanted if c not in stored]
    if missing:
        raise WarehouseError(
            f"source table {source} has no column(s) {missing}; found {sorted(stored)}"
        )


def _typed_select(con: duckdb.DuckDBPyConnection, view: str) -> str:
    """``view``'s columns, with all-null (type NULL) ones as VARCHAR so later rows fit."""
    parts = []
    for name, dtype, *_ in con.execute(f"DESCRIBE {view}").fetchall():
        quoted = f'"{validate_identifier(name, what="column name")}"'
        parts.append(f"CAST({quoted} AS VARCHAR) AS {quoted}" if _is_null_type(dtype) else quoted)
    return ", ".join(parts)


_DATA_ERRORS = (duckdb.DataError, duckdb.InvalidTypeException)
"""DuckDB's conversion, out-of-range and type-mismatch errors: the data, not the moment, is wrong."""

_INTEGER_TYPES = frozenset(
    f"{prefix}{name}"
    for prefix in ("", "U")
    for name in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
)


def _id_kind(data_type: str) -> IdKind | None:
    """The id kind a DuckDB column type holds: integers, text, or neither (None)."""
    kind = data_type.upper()
    if kind in _INTEGER_TYPES or (kind.startswith("DECIMAL(") and kind.endswith(",0)")):
        return "integer"
    return "text" if kind == "VARCHAR" else None


def _data_error_message(obj: object, error: BaseException, limit: int = 400) -> str:
    """A bounded message for a data error (DuckDB quotes the offending value, whatever its size)."""
    text = " ".join(str(error).split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    where = f" on {obj}" if obj is not None else ""
    return f"DuckDB{where}: a value does not fit its column's type, not retried ({text})"


def _partitions_by_value(values: Any, days: Any) -> pd.Series:
    """Partition dates (``date``) indexed by the values found in them."""
    dates = [pd.Timestamp(day).date() for day in days]
    return pd.Series(dates, index=pd.Index(values), dtype=object)


def _one_row(cursor: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The single row an aggregate query returns."""
    row = cursor.fetchone()
    if row is None:  # an aggregate always returns a row
        raise WarehouseError("an aggregate query returned no row")
    return row


def _utc(value: Any) -> pd.Timestamp:
    """A timezone-aware UTC timestamp; naive values are taken to be UTC already."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _is_null_type(dtype: str) -> bool:
    return dtype.strip('"').upper() == "NULL"


def _check_columns(columns: pd.Index) -> None:
    """Reject frame columns that are not plain identifiers before any SQL (they reach DDL)."""
    for name in columns:
        _column(str(name))


FETCH_BATCH_ROWS = 1 << 20
"""Rows per Arrow record batch when a large result is streamed into pandas (:func:`_fetch_frame`)."""


def _fetch_frame(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: list[object],
    *,
    order_by: tuple[str, ...] = (),
    batch_rows: int | None = None,
) -> pd.DataFrame:
    """``con.execute(sql, params).df()``, at a peak of about the frame plus one batch.

    ``.df()`` materialises the whole result inside DuckDB before converting it, so its peak is
    about twice the frame (more with an ``ORDER BY``, which DuckDB also materialises). Here a
    result larger than one batch streams as Arrow record batches; each batch is converted by
    DuckDB's own pandas conversion (the dtypes ``.df()`` gives) and copied into columns allocated
    once for the row count, counted first in the same transaction. With ``order_by`` the frame
    is sorted by those columns (stable, nulls last, as ``ORDER BY``) unless it already is.
    """
    batch_rows = batch_rows or FETCH_BATCH_ROWS
    con.begin()  # the count and the rows read the same snapshot
    try:
        n_rows = con.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()[0][0]
        if n_rows <= batch_rows:
            frame = con.execute(sql, params).df()
        else:
            frame = _stream_frame(con, sql, params, n_rows, batch_rows)
    finally:
        con.rollback()  # read-only
    if order_by and not _is_sorted(frame, order_by):
        frame = frame.sort_values(list(order_by), kind="stable", ignore_index=True)
    return frame


def _stream_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object], n_rows: int, batch_rows: int
) -> pd.DataFrame:
    zone = con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]
    convert = duckdb.connect()  # converts each Arrow batch to pandas exactly as .df() would
    columns: dict[str, _Column] = {}
    pos = 0
    try:
        convert.execute(f"SET TimeZone = '{zone}'")
        for batch in con.sql(sql, params=params).to_arrow_reader(batch_rows):
            chunk = convert.from_arrow(batch).df()
            for name in chunk.columns:
                columns.setdefault(name, _Column(n_rows)).put(pos, chunk[name])
            pos += len(chunk)
            del chunk, batch
    finally:
        convert.close()
    if pos != n_rows:
        raise WarehouseError(f"read {pos} rows where {n_rows} were counted")
    # a frame over these very arrays: no copy, no block consolidation
    series = [pd.Series(c.values, name=name, copy=False) for name, c in columns.items()]
    return pd.concat(series, axis=1, copy=False)


class _Column:
    """A result column of known length, filled chunk by chunk in the chunks' dtype."""

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        self.values: np.ndarray | ExtensionArray | None = None

    def put(self, pos: int, chunk: pd.Series) -> None:
        """Copy ``chunk`` to rows ``pos ..``, widening the dtype if this chunk needs it."""
        values = chunk.array if isinstance(chunk.dtype, ExtensionDtype) else chunk.to_numpy()
        if self.values is None:
            self.values = _empty(values.dtype, self.n_rows)
        elif values.dtype != self.values.dtype:  # e.g. int8, then a chunk with NULLs: Int8
            common = pd.concat([pd.Series(self.values[:0]), pd.Series(values[:0])]).dtype
            if common != self.values.dtype:
                wider = _empty(common, self.n_rows)
                wider[:pos] = self.values[:pos]
                self.values = wider
        self.values[pos : pos + len(values)] = values


def _empty(dtype: np.dtype | ExtensionDtype, n_rows: int) -> np.ndarray | ExtensionArray:
    if isinstance(dtype, ExtensionDtype):
        return dtype.construct_array_type()._empty((n_rows,), dtype)  # type: ignore[attr-defined]
    return np.empty(n_rows, dtype=dtype)


def _is_sorted(frame: pd.DataFrame, keys: tuple[str, ...], chunk: int = 1 << 20) -> bool:
    """Whether ``frame`` is in ``keys`` order (checked in chunks: small temporaries)."""
    if len(frame) < 2:
        return True
    if any(frame[k].isna().any() for k in keys):
        return False
    cols = [_sort_values(frame[k]) for k in keys]
    for s in range(0, len(frame) - 1, chunk):
        e = min(s + chunk + 1, len(frame))
        a, b = [c[s : e - 1] for c in cols], [c[s + 1 : e] for c in cols]
        before = np.zeros(e - 1 - s, dtype=bool)  # a strictly before b on an earlier key
        equal = np.ones(e - 1 - s, dtype=bool)
        for x, y in zip(a, b, strict=True):
            before |= equal & (x < y)
            equal &= x == y
        if not (before | equal).all():
            return False
    return True


def _sort_values(column: pd.Series) -> np.ndarray:
    """The column as a numpy array with the same order (datetimes as int64, no copy)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return pd.DatetimeIndex(column).asi8  # type: ignore[attr-defined]  # not in the stubs
    return column.to_numpy()
