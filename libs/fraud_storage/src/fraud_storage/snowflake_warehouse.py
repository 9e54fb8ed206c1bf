"""The Warehouse interface on Snowflake: bulk Parquet loads and one transaction per partition swap.

Timestamps are stored **NTZ-as-UTC**: every timestamp column this module creates is
``TIMESTAMP_NTZ(9)`` holding the UTC wall-clock time, and every frame read back has timezone-aware UTC
timestamps. An NTZ value never depends on the session's ``TIMEZONE`` parameter, so neither do
reads, writes or date filters. Tables made by other tools may use ``TIMESTAMP_TZ``/``TIMESTAMP_LTZ``:
those values are converted to UTC on read, and a filter on such a column is bound as an
explicit-offset ``TIMESTAMP_TZ``. Naive timestamps in input frames are taken to be UTC (as in
:func:`fraud_storage.warehouse.normalise_frame`); sub-microsecond digits are truncated on write.

Writing a partition (:meth:`SnowflakeWarehouse.replace_partition`), over one connection from the
``connect`` factory:

1. outside any transaction (DDL commits implicitly in Snowflake): create the schema and the target
   table with explicit column types if missing, or add the frame's new columns;
2. write the frame as Parquet files (pyarrow, timestamps as UTC-naive microseconds), ``PUT`` them on
   a temporary stage, ``COPY INTO`` a temporary staging table ``LIKE`` the target, casting every
   column explicitly, then check that the staging table holds exactly ``len(frame)`` rows;
3. ``BEGIN``; ``DELETE`` the partition; ``INSERT ... SELECT`` from staging; ``COMMIT``
   (``ROLLBACK`` on any error), so readers see the old rows or the new rows, never a mix.

The fault hook runs at :data:`~fraud_storage.warehouse.WRITE_STEPS`: "staged" after the staging
load, "before_swap" after ``BEGIN``, "during_swap" after ``DELETE``, "after_swap" after ``COMMIT``.
Temporary objects live in the target's schema (the operation runs ``USE SCHEMA`` on its own
connection) and vanish with the session.

Every operation runs with a fresh connection and is retried as a whole with exponential backoff
(:class:`~fraud_storage.snowflake_config.RetryConfig`) when :func:`is_transient` says the error is
transient (network, expired session/token, statement or lock timeouts). A partition swap is safe to
repeat, being a transactional replace; an append (``load_source(replace=False)``) is not retried
once its ``INSERT`` was sent and the connection was lost. Permanent errors (authentication, missing
object, missing privilege) fail at once with a :class:`~fraud_storage.warehouse.WarehouseError`
naming the operation and object. Messages never contain credentials: the connection factory is
opaque to this module and error texts pass through the connector's secret masker.

Identifiers only reach SQL through :meth:`TableName.quoted` / :func:`quote_identifier` (validated,
upper-cased, double-quoted); values only as bind parameters, in the connection's paramstyle
(``pyformat`` by default, ``qmark``/``numeric`` when the connection was opened with them).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from snowflake.connector import errors as sf_errors
from snowflake.connector.constants import FIELD_ID_TO_NAME
from snowflake.connector.secret_detector import SecretDetector

from fraud_core.columns import ID_COLUMNS, TRANSACTION_ID, TX_DATETIME
from fraud_core.features import WindowTotals, WindowTotalsRequest
from fraud_core.ids import IdKind
from fraud_storage.identifiers import (
    InvalidIdentifierError,
    TableName,
    quote_identifier,
    validate_identifier,
)
from fraud_storage.snowflake_config import Connect, RetryConfig, connection_factory
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

_TIME = TX_DATETIME.upper()  # Snowflake stores unquoted names upper-case
_ID = TRANSACTION_ID.upper()

__all__ = [
    "Connect",
    "RetryConfig",
    "SnowflakeWarehouse",
    "arrow_batches_to_frame",
    "arrow_to_snowflake_type",
    "connection_factory",
    "describe_failure",
    "frame_to_arrow",
    "is_transient",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

# --- error classification -------------------------------------------------------------------

ER_FAILED_TO_CONNECT_TO_DB = 250001
"""Connector code for a failed login: network (OperationalError) or rejected (with 08001/28000)."""

CONNECTION_LOST_ERRNOS = frozenset({250002, 250003, 251011})
"""Connection closed, HTTP request failed after the connector's retries, connect timeout."""

TRANSIENT_ERRNOS = CONNECTION_LOST_ERRNOS | {
    390111,  # session no longer exists: log in again
    390112,  # session expired
    390114,  # authentication token expired
    625,  # statement aborted waiting for a table lock held by another transaction
    630,  # statement, warehouse queueing or statement-queued timeout
}
PRIVILEGE_ERRNOS = frozenset({3001})  # insufficient privileges
NOT_FOUND_ERRNOS = frozenset({2003, 2043})  # does not exist or not authorized
AUTH_SQLSTATES = frozenset({"08001", "08004", "28000"})
TRANSIENT_SQLSTATES = frozenset({"08003", "08006", "08S01"})  # connection gone / link failure

_RETRYABLE_HTTP_ERRORS: tuple[type[sf_errors.Error], ...] = (
    sf_errors.ServiceUnavailableError,
    sf_errors.GatewayTimeoutError,
    sf_errors.BadGatewayError,
    sf_errors.RequestTimeoutError,
    sf_errors.TooManyRequests,
    sf_errors.OtherHTTPRetryableError,
    sf_errors.InternalServerError,
)


ER_HTTP_UNAUTHORIZED = 290401
"""Connector code for an HTTP 401 answer (``ER_HTTP_GENERAL_ERROR + 401``)."""


def _session_rejected(error: BaseException) -> bool:
    """An HTTP 401 to a request of a logged-in session (not to a login): the server no longer
    knows the session (it restarted, or dropped the session), so the transaction is gone and a new
    connection logs in again; wrong credentials fail that new login with their own error."""
    return (
        isinstance(error, sf_errors.HttpError)
        and error.errno == ER_HTTP_UNAUTHORIZED
        and "login-request" not in str(error.msg)
    )


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` may go away when the whole operation is retried on a new connection."""
    if isinstance(error, sf_errors.Error):
        if isinstance(error, _RETRYABLE_HTTP_ERRORS) or _session_rejected(error):
            return True
        if isinstance(error, sf_errors.ForbiddenError):
            return False
        if error.errno in TRANSIENT_ERRNOS or error.sqlstate in TRANSIENT_SQLSTATES:
            return True
        if error.errno == ER_FAILED_TO_CONNECT_TO_DB:
            # "Could not connect to Snowflake backend": refused or unreachable, no login answer
            return isinstance(error, sf_errors.OperationalError) and (
                error.sqlstate not in AUTH_SQLSTATES
            )
        return False
    return isinstance(error, ConnectionError | TimeoutError)


def _is_data_error(error: BaseException) -> bool:
    """A value that does not fit its type (SQLSTATE class 22, e.g. 22018 "not recognized")."""
    return isinstance(error, sf_errors.Error) and str(error.sqlstate or "").startswith("22")


def _is_authentication_error(error: BaseException) -> bool:
    if not isinstance(error, sf_errors.Error) or is_transient(error):
        return False
    return (
        error.sqlstate in AUTH_SQLSTATES
        or 390000 <= error.errno < 391000
        or error.errno == ER_FAILED_TO_CONNECT_TO_DB
        or isinstance(error, sf_errors.ForbiddenError)
    )


def _connection_lost(error: BaseException) -> bool:
    if isinstance(error, sf_errors.Error):
        return (
            error.errno in CONNECTION_LOST_ERRNOS
            or error.sqlstate in TRANSIENT_SQLSTATES
            or _session_rejected(error)
        )
    return isinstance(error, ConnectionError)


def _error_text(error: BaseException, limit: int = 400) -> str:
    if isinstance(error, sf_errors.Error):
        text = f"{type(error).__name__}: {error.msg}"
    else:
        text = f"{type(error).__name__}: {error}"
    masked = SecretDetector.mask_secrets(text).masked_text or text
    masked = " ".join(masked.split())
    return masked if len(masked) <= limit else masked[: limit - 3] + "..."


def describe_failure(
    action: str, obj: str, error: BaseException, role: str | None = None, attempts: int = 1
) -> str:
    """A one-line message naming the operation, the object, the cause and the role; no secrets."""
    who = f"role {role}" if role else "the session's role"
    errno = getattr(error, "errno", None)
    sqlstate = getattr(error, "sqlstate", None)
    if errno in PRIVILEGE_ERRNOS or sqlstate == "42501":
        reason = f"insufficient privileges for {who}"
    elif errno in NOT_FOUND_ERRNOS or sqlstate == "42S02":
        reason = f"object does not exist or is not authorized for {who}"
    elif _is_authentication_error(error):
        reason = (
            "authentication was rejected; check the configured user, password or key pair, "
            "and role (credentials are not shown)"
        )
    elif is_transient(error):
        reason = f"transient error, gave up after {attempts} attempt(s)"
    else:
        reason = "failed"
    return f"{action} on {obj}: {reason} ({_error_text(error)})"


# --- frames, Arrow and Snowflake types ----------------------------------------------------------


def _check_column_names(columns: Sequence[Any]) -> list[str]:
    names = [validate_identifier(str(c).lower(), what="column name") for c in columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidIdentifierError(f"duplicate column names {duplicates} (case-insensitive)")
    return names


def _storage_column(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    try:
        if pa.types.is_timestamp(kind):
            # the instant in UTC, without zone: NTZ-as-UTC (naive input is taken as UTC)
            return column.cast(pa.timestamp("us"), safe=False)
        if pa.types.is_date64(kind):
            return column.cast(pa.date32())
        if pa.types.is_null(kind):
            return column.cast(pa.string())
        if pa.types.is_unsigned_integer(kind):
            return column.cast(pa.int64())
        if pa.types.is_large_string(kind):
            return column.cast(pa.string())
        if pa.types.is_large_binary(kind):
            return column.cast(pa.binary())
        if pa.types.is_float16(kind):
            return column.cast(pa.float32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise WarehouseDataError(
            f"column {name!r}: cannot store {kind} values ({_error_text(exc)})"
        ) from exc
    arrow_to_snowflake_type(kind, column=name)  # raises for anything else unsupported
    return column


def frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table ready for Parquet: upper-case validated names, NTZ-as-UTC."""
    names = _check_column_names(list(frame.columns))
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)  # names set below, no copy
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise WarehouseDataError(
            f"cannot convert the frame to Arrow for loading: {_error_text(exc)}"
        ) from exc
    columns = [_storage_column(n, c) for n, c in zip(names, table.columns, strict=True)]
    return pa.table(columns, names=[n.upper() for n in names])


def arrow_to_snowflake_type(kind: pa.DataType, *, column: str = "?") -> str:
    """The explicit Snowflake column type used to store an Arrow type (see frame_to_arrow)."""
    if pa.types.is_boolean(kind):
        return "BOOLEAN"
    if pa.types.is_integer(kind):
        digits = {8: 3, 16: 5, 32: 10}.get(kind.bit_width, 38)
        return f"NUMBER({digits},0)"
    if pa.types.is_floating(kind):
        return "FLOAT"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
        return "VARCHAR"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return "BINARY"
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMP_NTZ(9)"
    if pa.types.is_decimal128(kind):
        return f"NUMBER({kind.precision},{kind.scale})"
    raise WarehouseError(f"column {column!r} has type {kind}, which this warehouse cannot store")


def _write_parquet(table: pa.Table, directory: str, rows_per_file: int) -> list[Path]:
    paths = []
    for index, offset in enumerate(range(0, table.num_rows, rows_per_file)):
        path = Path(directory) / f"part-{index:05d}.parquet"
        pq.write_table(table.slice(offset, rows_per_file), path, compression="snappy")
        paths.append(path)
    return paths


def _result_type(kind: str | None, scale: int | None) -> pa.DataType | None:
    """The Arrow type a result column is conformed to, matching the DuckDB warehouse's frames."""
    if kind == "FIXED":
        return pa.int64() if not scale else pa.float64()
    return {
        "REAL": pa.float64(),
        "TEXT": pa.string(),
        "DATE": pa.timestamp("us"),
        "TIMESTAMP_NTZ": pa.timestamp("us"),
        "TIMESTAMP_LTZ": pa.timestamp("us", tz="UTC"),
        "TIMESTAMP_TZ": pa.timestamp("us", tz="UTC"),
        "BOOLEAN": pa.bool_(),
        "BINARY": pa.binary(),
        "VARIANT": pa.string(),
        "OBJECT": pa.string(),
        "ARRAY": pa.string(),
    }.get(kind or "")


_PANDAS_TYPES = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


def _conform(table: pa.Table, targets: Sequence[pa.DataType | None]) -> pa.Table:
    columns = []
    for column, target in zip(table.columns, targets, strict=True):
        if target is not None and column.type != target:
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                column = column.cast(target)  # safe cast: a NUMBER(38,0) beyond int64 stays
        columns.append(column)
    return pa.table(columns, names=[n.lower() for n in table.column_names])


def arrow_batches_to_frame(
    batches: Iterable[pa.Table], columns: Sequence[tuple[str, str | None, int | None]]
) -> pd.DataFrame:
    """One normalised frame from result batches; ``columns`` are (name, Snowflake type, scale).

    Snowflake sizes integer columns per result chunk (int8 in one, int64 in the next) and the
    emulator returns small NUMBERs as decimals, so each batch is cast to one schema as it arrives
    (integers Int64, timestamps in microseconds, NTZ naive and TZ/LTZ in UTC, DATE as timestamps
    like DuckDB), the batches are concatenated without copying and converted to pandas once.
    """
    targets = [_result_type(kind, scale) for _, kind, scale in columns]
    tables = [_conform(batch, targets) for batch in batches]
    if not tables:
        empty = [pa.array([], type=t or pa.string()) for t in targets]
        tables = [pa.table(empty, names=[name.lower() for name, _, _ in columns])]
    table = pa.concat_tables(tables, promote_options="permissive")
    return normalise_frame(table.to_pandas(types_mapper=_PANDAS_TYPES.get))


def _utc(value: datetime | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.ceil("us")  # data is stored in microseconds: ts <= x  <=>  ceil(ts) <= x


def _timestamp_literal(ts: pd.Timestamp, column_type: str) -> tuple[str, str]:
    """(cast, value) binding a UTC instant for comparison with a column of ``column_type``."""
    text = ts.strftime("%Y-%m-%d %H:%M:%S.%f")
    if column_type.startswith(("TIMESTAMP_TZ", "TIMESTAMP_LTZ")):
        return "TIMESTAMP_TZ", f"{text}+00:00"  # the connector's own format
    return "TIMESTAMP_NTZ", text


def _id_kind(data_type: str, scale: Any) -> IdKind | None:
    """The id kind a Snowflake column type holds: integers, text, or neither (None)."""
    kind = data_type.upper()
    if kind in ("NUMBER", "DECIMAL", "NUMERIC", "FIXED", "INT", "INTEGER", "BIGINT"):
        return "integer" if not scale else None
    return "text" if kind in ("TEXT", "VARCHAR", "STRING") else None


def _to_utc_timestamp(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


# --- sessions and retries -----------------------------------------------------------------------


class _StatementFailed(Exception):
    """A Snowflake error with the statement's action and object attached (internal)."""

    def __init__(self, action: str, obj: str, error: BaseException, role: str | None):
        super().__init__(f"{action} on {obj}")
        self.action, self.obj, self.error, self.role = action, obj, error, role


@dataclass
class _Attempt:
    """Per-attempt state: set ``non_idempotent`` before sending a statement unsafe to repeat."""

    non_idempotent: bool = False


@dataclass
class _Session:
    """One connection's cursor, with statements rendered in the connection's paramstyle."""

    con: Any
    cur: Any = field(init=False)
    paramstyle: str = field(init=False)
    role: str | None = field(init=False)
    in_transaction: bool = False

    def __post_init__(self) -> None:
        self.cur = self.con.cursor()
        self.paramstyle = (getattr(self.con, "_paramstyle", None) or "pyformat").lower()
        self.role = getattr(self.con, "role", None)

    def render(self, sql: str) -> str:
        if self.paramstyle in ("pyformat", "format"):
            return sql.replace("?", "%s")
        if self.paramstyle == "numeric":
            parts = sql.split("?")
            return "".join(f"{p}:{i}" for i, p in enumerate(parts[:-1], start=1)) + parts[-1]
        return sql

    def execute(self, action: str, obj: object, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            self.cur.execute(self.render(sql), list(params) if params else None)
        except sf_errors.Error as exc:
            raise _StatementFailed(action, str(obj), exc, self.role) from exc
        return self.cur

    def query(self, action: str, obj: object, sql: str, params: Sequence[Any] = ()) -> list:
        cur = self.execute(action, obj, sql, params)
        try:
            return cur.fetchall()
        except sf_errors.Error as exc:
            raise _StatementFailed(action, str(obj), exc, self.role) from exc

    def fetch_frame(self, obj: object) -> pd.DataFrame:
        """The current result as one frame: Arrow batches conformed, concatenated, converted once."""
        description = self.cur.description or []
        columns = [(d.name, FIELD_ID_TO_NAME.get(d.type_code), d.scale) for d in description]
        try:
            batches = self.cur.fetch_arrow_batches(force_microsecond_precision=True)
            return arrow_batches_to_frame(batches, columns)
        except sf_errors.NotSupportedError:  # the account returns JSON result sets
            names = [d.name.lower() for d in description]
            return normalise_frame(pd.DataFrame.from_records(self.cur.fetchall(), columns=names))
        except sf_errors.Error as exc:
            raise _StatementFailed("SELECT", str(obj), exc, self.role) from exc

    def begin(self, obj: object) -> None:
        self.execute("BEGIN", obj, "BEGIN")
        self.in_transaction = True

    def commit(self, obj: object) -> None:
        self.execute("COMMIT", obj, "COMMIT")
        self.in_transaction = False

    def abandon(self, error: BaseException) -> None:
        """End an open transaction after an error: ROLLBACK, or close a connection that broke.

        A session whose connection broke mid-transaction keeps the transaction (and its table
        locks) open on the server; closing the session is the only way left to abort it.
        """
        if not self.in_transaction:
            return
        self.in_transaction = False
        cause = error.error if isinstance(error, _StatementFailed) else error
        try:
            if _connection_lost(cause):
                self.con.close(retry=False)
            else:
                self.cur.execute("ROLLBACK")
        except Exception as exc:  # best effort: the original error is what the caller needs
            logger.warning("could not end the transaction after an error: %s", _error_text(exc))


def _schema_ref(table: TableName) -> str | None:
    parts = [p for p in (table.database, table.schema) if p is not None]
    return ".".join(quote_identifier(p, "snowflake") for p in parts) if table.schema else None


def _qualified(table: TableName, name: str) -> str:
    schema = _schema_ref(table)
    own = quote_identifier(name, "snowflake")
    return f"{schema}.{own}" if schema else own


def _file_url(directory: str) -> str:
    path = Path(directory).resolve().as_posix().replace("\\", "\\\\").replace("'", "\\'")
    return f"file://{path}" if path.startswith("/") else f"file:///{path}"


class SnowflakeWarehouse(Warehouse):
    """The Warehouse interface on Snowflake (NTZ-as-UTC timestamps, bulk COPY, swap per partition).

    ``connect`` returns a context manager yielding a ``snowflake.connector`` connection, e.g.
    ``dagster_snowflake.SnowflakeResource(...).get_connection``; every operation (and every retry)
    opens its own. The role needs USAGE on the database and schemas, SELECT on the source,
    SELECT/INSERT/DELETE on output tables, CREATE TABLE and CREATE STAGE on output schemas (the
    temporary staging objects), and CREATE SCHEMA/TABLE where outputs do not exist yet.
    """

    dialect = "snowflake"

    def __init__(
        self,
        connect: Connect,
        tables: TableNames | None = None,
        fault_hook: FaultHook | None = None,
        *,
        retry: RetryConfig | None = None,
        rows_per_file: int = 1_000_000,
    ):
        super().__init__(tables, fault_hook)
        if rows_per_file < 1:
            raise ValueError(f"rows_per_file must be positive, got {rows_per_file}")
        self._connect = connect
        self._retry = retry or RetryConfig()
        self._rows_per_file = rows_per_file

    @property
    def retry(self) -> RetryConfig:
        """The retry policy applied to each operation."""
        return self._retry

    # -- plumbing ------------------------------------------------------------------------------

    def _run(self, operation: str, obj: TableName, fn: Callable[[_Session, _Attempt], T]) -> T:
        """Run ``fn`` on a fresh connection, retrying the whole operation on transient errors."""
        retry = self._retry
        attempt = 0
        while True:
            attempt += 1
            state = _Attempt()
            try:
                return self._attempt(fn, state)
            except _StatementFailed as exc:
                action, name, error, role = exc.action, exc.obj, exc.error, exc.role
            except sf_errors.Error as exc:  # from connect() (login) or the factory's exit
                action, name, error, role = f"{operation} (connect)", str(obj), exc, None
            except (ConnectionError, TimeoutError) as exc:
                action, name, error, role = operation, str(obj), exc, None
            in_doubt = state.non_idempotent and _connection_lost(error)
            if is_transient(error) and attempt < retry.max_attempts and not in_doubt:
                delay = retry.backoff(attempt)
                logger.warning(
                    "%s on %s: transient error on attempt %d/%d, retrying in %.1fs: %s",
                    action,
                    name,
                    attempt,
                    retry.max_attempts,
                    delay,
                    _error_text(error),
                )
                retry.sleep(delay)
                continue
            message = describe_failure(action, name, error, role, attempts=attempt)
            if in_doubt:
                message += (
                    "; not retried: the connection was lost after the append was sent, so it may"
                    " or may not have been applied"
                )
            failure = WarehouseDataError if _is_data_error(error) else WarehouseError
            raise failure(message) from error

    def _attempt(self, fn: Callable[[_Session, _Attempt], T], state: _Attempt) -> T:
        with self._connect() as con:
            session = _Session(con)
            try:
                return fn(session, state)
            except BaseException as exc:
                session.abandon(exc)
                raise

    def _column_types(self, s: _Session, table: TableName) -> dict[str, str]:
        """Upper-case column name -> Snowflake data type; empty when the table does not exist."""
        catalog = f"{quote_identifier(table.database, 'snowflake')}." if table.database else ""
        if table.schema:
            where, params = "table_schema = ? AND table_name = ?", [table.schema.upper()]
        else:
            where, params = "table_schema = CURRENT_SCHEMA() AND table_name = ?", []
        rows = s.query(
            "DESCRIBE",
            table,
            f"SELECT column_name, data_type FROM {catalog}INFORMATION_SCHEMA.COLUMNS "
            f"WHERE {where} ORDER BY ordinal_position",
            [*params, table.table.upper()],
        )
        return {str(name).upper(): str(kind).upper() for name, kind in rows}

    def _ensure_schema(self, s: _Session, table: TableName) -> None:
        schema = _schema_ref(table)
        if schema:
            s.execute("CREATE SCHEMA", schema, f"CREATE SCHEMA IF NOT EXISTS {schema}")

    def _prepare_target(self, s: _Session, table: TableName, schema: pa.Schema) -> None:
        """Create the table with explicit types if missing, or add the frame's new columns."""
        target = table.quoted("snowflake")
        existing = self._column_types(s, table)
        if not existing:
            self._ensure_schema(s, table)
            columns = ", ".join(
                f"{quote_identifier(f.name, 'snowflake')} {arrow_to_snowflake_type(f.type)}"
                for f in schema
            )
            s.execute("CREATE TABLE", table, f"CREATE TABLE IF NOT EXISTS {target} ({columns})")
            return
        for f in schema:
            if f.name.upper() not in existing:
                s.execute(
                    "ALTER TABLE",
                    table,
                    f"ALTER TABLE {target} ADD COLUMN IF NOT EXISTS "
                    f"{quote_identifier(f.name, 'snowflake')} {arrow_to_snowflake_type(f.type)}",
                )

    def _load_staging(
        self,
        s: _Session,
        table: TableName,
        schema: pa.Schema,
        files: list[Path],
        expected_rows: int,
        *,
        like_target: bool = True,
    ) -> str:
        """Load the Parquet files into a new temporary table; returns its quoted name."""
        token = uuid.uuid4().hex[:16].upper()
        staging = quote_identifier(f"FRAUD_STAGING_{token}", "snowflake")
        stage = _qualified(table, f"FRAUD_STAGE_{token}")
        schema_ref = _schema_ref(table)
        if schema_ref:  # temporary tables go to the current schema: make it the target's
            s.execute("USE SCHEMA", schema_ref, f"USE SCHEMA {schema_ref}")
        if like_target:
            definition = f"LIKE {table.quoted('snowflake')}"
        else:
            definition = "({})".format(
                ", ".join(
                    f"{quote_identifier(f.name, 'snowflake')} {arrow_to_snowflake_type(f.type)}"
                    for f in schema
                )
            )
        s.execute("CREATE TEMPORARY TABLE", table, f"CREATE TEMPORARY TABLE {staging} {definition}")
        if files:
            s.execute("CREATE TEMPORARY STAGE", stage, f"CREATE TEMPORARY STAGE {stage}")
            directory = _file_url(str(files[0].parent))
            uploaded = s.query(
                "PUT",
                stage,
                f"PUT '{directory}/*.parquet' @{stage} AUTO_COMPRESS=FALSE OVERWRITE=TRUE",
            )
            done = [row for row in uploaded if len(row) > 6 and str(row[6]).upper() == "UPLOADED"]
            if len(done) != len(files):
                raise WarehouseError(
                    f"PUT to the stage for {table} uploaded {len(done)} of {len(files)} files"
                )
            columns = ", ".join(quote_identifier(f.name, "snowflake") for f in schema)
            values = ", ".join(
                f'$1:"{validate_identifier(f.name)}"::{arrow_to_snowflake_type(f.type)}'
                for f in schema
            )
            results = s.query(
                "COPY INTO",
                table,
                f"COPY INTO {staging} ({columns}) FROM (SELECT {values} FROM @{stage}) "
                "FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE BINARY_AS_TEXT = FALSE) "
                "ON_ERROR = ABORT_STATEMENT PURGE = TRUE",
            )
            failed = [r for r in results if len(r) > 1 and str(r[1]).upper() != "LOADED"]
            if failed:
                raise WarehouseError(f"COPY INTO staging for {table} did not load: {failed[:3]}")
        ((loaded,),) = s.query("COPY INTO", table, f"SELECT COUNT(*) FROM {staging}")
        if int(loaded) != expected_rows:
            raise WarehouseError(
                f"staging {table}: loaded {loaded} rows but the frame has {expected_rows};"
                " the target was not changed"
            )
        return staging

    # -- Warehouse interface -------------------------------------------------------------------

    def table_exists(self, table: TableName) -> bool:
        """Whether ``table`` exists (and is visible to the session's role)."""
        return self._run("table_exists", table, lambda s, _: bool(self._column_types(s, table)))

    def read_source(
        self, start: datetime, end: datetime, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Source rows with ``start <= tx_datetime < end``, lower-case columns, UTC timestamps.

        ``columns``: only these (lower-case names, in this order); default every column.
        """
        source = self.tables.source
        low, high = _utc(start), _utc(end)
        wanted = _check_column_names(columns) if columns else []
        select = ", ".join(quote_identifier(n, "snowflake") for n in wanted) if wanted else "*"

        def op(s: _Session, _: _Attempt) -> pd.DataFrame:
            types = self._column_types(s, source)
            if not types:
                raise WarehouseError(f"source table {source} does not exist (or is not visible)")
            time_type = types.get(_TIME)
            if time_type is None:
                raise WarehouseError(f"source table {source} has no {_TIME} column")
            if not time_type.startswith(("TIMESTAMP", "DATE")):
                # an implicit cast would read text in the session's time zone and drop offsets
                raise WarehouseError(
                    f"source table {source}: column {_TIME} has type "
                    f"{time_type}; expected TIMESTAMP_NTZ holding UTC (or _TZ/_LTZ)"
                )
            missing = [n for n in wanted if n.upper() not in types]
            if missing:
                raise WarehouseError(
                    f"source table {source} has no column(s) {missing}; "
                    f"found {sorted(t.lower() for t in types)}"
                )
            cast, low_value = _timestamp_literal(low, time_type)
            _high_cast, high_value = _timestamp_literal(high, time_type)
            order = f'"{_TIME}"' + (f', "{_ID}"' if _ID in types else "")
            s.execute(
                "SELECT",
                source,
                f"SELECT {select} FROM {source.quoted('snowflake')} "
                f'WHERE "{_TIME}" >= CAST(? AS {cast}) AND "{_TIME}" < CAST(? AS {cast}) '
                f"ORDER BY {order}",
                [low_value, high_value],
            )
            return s.fetch_frame(source)

        return self._run("read_source", source, op)

    def source_time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The earliest and latest ``tx_datetime`` in the source, or None when empty/missing."""
        source = self.tables.source

        def op(s: _Session, _: _Attempt) -> tuple[Any, Any] | None:
            if not self._column_types(s, source):
                return None
            rows = s.query(
                "SELECT",
                source,
                f'SELECT MIN("{_TIME}"), MAX("{_TIME}") FROM {source.quoted("snowflake")}',
            )
            return rows[0] if rows else None

        row = self._run("source_time_range", source, op)
        if row is None or row[0] is None:
            return None
        return _to_utc_timestamp(row[0]), _to_utc_timestamp(row[1])

    def count_source_without_time(self) -> int:
        """Source rows whose ``tx_datetime`` is NULL (no day reads them); 0 when it is missing."""
        source = self.tables.source

        def op(s: _Session, _: _Attempt) -> int:
            if not self._column_types(s, source):
                return 0
            rows = s.query(
                "SELECT",
                source,
                f'SELECT COUNT(*) FROM {source.quoted("snowflake")} WHERE "{_TIME}" IS NULL',
            )
            return int(rows[0][0]) if rows else 0

        return self._run("count_source_without_time", source, op)

    def _source_time_type(self, s: _Session) -> str | None:
        """The source's time column type (None when the source is missing), checked usable."""
        source = self.tables.source
        types = self._column_types(s, source)
        if not types:
            return None
        time_type = types.get(_TIME)
        if time_type is None or not time_type.startswith(("TIMESTAMP", "DATE")):
            raise WarehouseError(
                f"source table {source}: column {_TIME} has type {time_type}; expected "
                "TIMESTAMP_NTZ holding UTC (or _TZ/_LTZ)"
            )
        return time_type

    def count_source_outside(self, start: datetime, end: datetime) -> int:
        """Source rows with ``tx_datetime`` before ``start`` or at/after ``end``; 0 if missing."""
        source = self.tables.source

        def op(s: _Session, _: _Attempt) -> int:
            time_type = self._source_time_type(s)
            if time_type is None:
                return 0
            cast, low = _timestamp_literal(_utc(start), time_type)
            high = _timestamp_literal(_utc(end), time_type)[1]
            rows = s.query(
                "SELECT",
                source,
                f"SELECT COUNT(*) FROM {source.quoted('snowflake')} "
                f'WHERE "{_TIME}" < CAST(? AS {cast}) OR "{_TIME}" >= CAST(? AS {cast})',
                [low, high],
            )
            return int(rows[0][0]) if rows else 0

        return self._run("count_source_outside", source, op)

    def latest_source_time(self, before: datetime) -> pd.Timestamp | None:
        """The latest ``tx_datetime`` earlier than ``before``, or None when there is none."""
        source = self.tables.source

        def op(s: _Session, _: _Attempt) -> Any:
            time_type = self._source_time_type(s)
            if time_type is None:
                return None
            cast, bound = _timestamp_literal(_utc(before), time_type)
            rows = s.query(
                "SELECT",
                source,
                f'SELECT MAX("{_TIME}"), COUNT("{_TIME}") FROM {source.quoted("snowflake")} '
                f'WHERE "{_TIME}" < CAST(? AS {cast})',
                [bound],
            )
            # the count, not the maximum, says "none": a NULL maximum may come back as 1970
            return rows[0][0] if rows and rows[0][1] else None

        latest = self._run("latest_source_time", source, op)
        return None if latest is None else _to_utc_timestamp(latest)

    def stored_id_kinds(self, table: TableName) -> dict[str, IdKind]:
        """How ``table`` stores each id column it has, "integer" or "text" (empty if no table)."""
        catalog = f"{quote_identifier(table.database, 'snowflake')}." if table.database else ""
        if table.schema:
            where, params = "table_schema = ? AND table_name = ?", [table.schema.upper()]
        else:
            where, params = "table_schema = CURRENT_SCHEMA() AND table_name = ?", []

        def op(s: _Session, _: _Attempt) -> list:
            return s.query(
                "DESCRIBE",
                table,
                f"SELECT column_name, data_type, numeric_scale FROM {catalog}"
                f"INFORMATION_SCHEMA.COLUMNS WHERE {where}",
                [*params, table.table.upper()],
            )

        kinds: dict[str, IdKind] = {}
        for name, data_type, scale in self._run("stored_id_kinds", table, op):
            kind = _id_kind(str(data_type), scale)
            if str(name).lower() in ID_COLUMNS and kind is not None:
                kinds[str(name).lower()] = kind
        return kinds

    def earliest_partitions_of(
        self, table: TableName, column: str, values: pd.Series, start: date, end: date
    ) -> pd.Series:
        """The earliest partition date in ``[start, end)`` whose ``column`` holds each of
        ``values``, indexed by value; values held by none of those partitions are absent.

        The values are loaded (Parquet, ``PUT``, ``COPY``) into a temporary table and joined in
        Snowflake: a day's millions of ids never go through bind parameters.
        """
        (name,) = _check_column_names([column])
        data = frame_to_arrow(pd.DataFrame({name: values.to_numpy()}))
        quoted = quote_identifier(name, "snowflake")
        partition_column = quote_identifier(PARTITION_COLUMN, "snowflake")

        def op(s: _Session, _: _Attempt) -> pd.DataFrame:
            if not self._column_types(s, table):
                return pd.DataFrame({name: [], PARTITION_COLUMN: []})
            staging = self._load_staging(
                s, table, data.schema, files, data.num_rows, like_target=False
            )
            s.execute(
                "SELECT",
                table,
                f"SELECT v.{quoted}, MIN(t.{partition_column}) AS {partition_column} "
                f"FROM {staging} v JOIN {table.quoted('snowflake')} t ON t.{quoted} = v.{quoted} "
                f"WHERE t.{partition_column} >= CAST(? AS DATE) "
                f"AND t.{partition_column} < CAST(? AS DATE) GROUP BY 1",
                [pd.Timestamp(start).date().isoformat(), pd.Timestamp(end).date().isoformat()],
            )
            return s.fetch_frame(table)

        if not len(values):
            return pd.Series([], index=pd.Index([]), dtype=object)
        with tempfile.TemporaryDirectory(prefix="fraud_sf_values_") as directory:
            files = _write_parquet(data, directory, self._rows_per_file)
            found = self._run("earliest_partitions_of", table, op)
        days = [pd.Timestamp(day).date() for day in found[PARTITION_COLUMN]]
        return pd.Series(days, index=pd.Index(found[name]), dtype=object)

    def load_source(self, frame: pd.DataFrame, *, replace: bool = False) -> int:
        """Bulk-load transactions into the source table (creating it); returns rows loaded."""
        source = self.tables.source
        table = frame_to_arrow(frame)  # validates names and types before any SQL

        def op(s: _Session, state: _Attempt) -> None:
            target = source.quoted("snowflake")
            if replace:
                if not self._column_types(s, source):
                    self._ensure_schema(s, source)
                staging = self._load_staging(
                    s, source, table.schema, files, table.num_rows, like_target=False
                )
                s.execute(
                    "CREATE TABLE",
                    source,
                    f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {staging}",
                )
                return
            self._prepare_target(s, source, table.schema)
            staging = self._load_staging(s, source, table.schema, files, table.num_rows)
            columns = ", ".join(quote_identifier(f.name, "snowflake") for f in table.schema)
            state.non_idempotent = True
            s.execute(
                "INSERT",
                source,
                f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {staging}",
            )

        with tempfile.TemporaryDirectory(prefix="fraud_sf_load_") as directory:
            files = _write_parquet(table, directory, self._rows_per_file)
            self._run("load_source", source, op)
        return table.num_rows

    def replace_partition(self, table: TableName, frame: pd.DataFrame, partition: date) -> int:
        """Atomically make ``frame`` the only rows of ``partition`` in ``table``; returns rows written."""
        day = pd.Timestamp(partition).date()
        data = frame_to_arrow(with_partition(frame, day))  # validates before any SQL
        partition_column = quote_identifier(PARTITION_COLUMN, "snowflake")

        def op(s: _Session, _: _Attempt) -> None:
            target = table.quoted("snowflake")
            self._prepare_target(s, table, data.schema)
            staging = self._load_staging(s, table, data.schema, files, data.num_rows)
            self._step("staged")
            columns = ", ".join(quote_identifier(f.name, "snowflake") for f in data.schema)
            s.begin(table)
            self._step("before_swap")
            s.execute(
                "DELETE",
                table,
                f"DELETE FROM {target} WHERE {partition_column} = CAST(? AS DATE)",
                [day.isoformat()],
            )
            self._step("during_swap")
            s.execute(
                "INSERT", table, f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {staging}"
            )
            s.commit(table)
            self._step("after_swap")  # temporary objects go with the session

        with tempfile.TemporaryDirectory(prefix="fraud_sf_partition_") as directory:
            files = _write_parquet(data, directory, self._rows_per_file)
            self._run("replace_partition", table, op)
        return data.num_rows

    def read_partitions(
        self, table: TableName, start: date, end: date, columns: list[str] | None = None
    ) -> pd.DataFrame:
        """Rows of ``table`` whose partition date is in ``[start, end)`` (empty if no table)."""
        names = _check_column_names(columns) if columns else []
        select = ", ".join(quote_identifier(n, "snowflake") for n in names) if names else "*"
        partition_column = quote_identifier(PARTITION_COLUMN, "snowflake")
        bounds = [pd.Timestamp(start).date().isoformat(), pd.Timestamp(end).date().isoformat()]

        def op(s: _Session, _: _Attempt) -> pd.DataFrame:
            if not self._column_types(s, table):
                return pd.DataFrame(columns=names)
            s.execute(
                "SELECT",
                table,
                f"SELECT {select} FROM {table.quoted('snowflake')} "
                f"WHERE {partition_column} >= CAST(? AS DATE) AND {partition_column} < CAST(? AS DATE)",
                bounds,
            )
            return s.fetch_frame(table)

        return self._run("read_partitions", table, op)

    def partition_counts(
        self, table: TableName, start: date | None = None, end: date | None = None
    ) -> dict[date, int]:
        """Row count per partition date of ``table`` in ``[start, end)`` when given (empty if no table)."""
        partition_column = quote_identifier(PARTITION_COLUMN, "snowflake")
        where, params = partition_filter(partition_column, start, end)

        def op(s: _Session, _: _Attempt) -> list:
            if not self._column_types(s, table):
                return []
            return s.query(
                "SELECT",
                table,
                f"SELECT {partition_column}, COUNT(*) FROM {table.quoted('snowflake')}{where} "
                "GROUP BY 1 ORDER BY 1",
                params,
            )

        rows = self._run("partition_counts", table, op)
        return {pd.Timestamp(d).date(): int(n) for d, n in rows}

    def entity_window_totals(self, request: WindowTotalsRequest) -> WindowTotals:
        """Whole-day totals of history for the entities active on the request's day."""
        validated, labels = self.tables.validated, self.tables.terminal_labels
        names = SqlNames(
            validated=validated.quoted("snowflake"),
            matured=labels.quoted("snowflake"),
            column=lambda name: quote_identifier(name, "snowflake"),
        )

        def op(s: _Session, _: _Attempt) -> dict[str, pd.DataFrame]:
            if not self._column_types(s, validated):
                return {}
            with_matured = bool(self._column_types(s, labels))
            frames = {}
            for kind, (sql, params) in totals_queries(
                request, names, with_matured=with_matured
            ).items():
                s.execute("SELECT", validated, sql, params)
                frames[kind] = s.fetch_frame(validated)
            return frames

        return totals_from_frames(request, self._run("entity_window_totals", validated, op))
