"""The warehouse interface the pipeline's assets use, identical for DuckDB and Snowflake.

Frames going in and out use lower-case column names and timezone-aware UTC timestamps, whatever the
engine stores. Every output table is partitioned by a DATE column (:data:`PARTITION_COLUMN`), and
:meth:`Warehouse.replace_partition` swaps one partition in a single transaction: re-running a day replaces
it, and a failure at any step leaves the previous rows in place.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, ClassVar

import pandas as pd
import pyarrow as pa

from fraud_storage.identifiers import Dialect, TableName
from fraud_storage.tables import PARTITION_COLUMN, TableNames

WRITE_STEPS = ("staged", "before_swap", "during_swap", "after_swap")
"""Named points of a partition write; a fault hook may raise at any of them (crash-safety tests)."""

if TYPE_CHECKING:
    from fraud_core.features import WindowTotals, WindowTotalsRequest
    from fraud_core.ids import IdKind

FaultHook = Callable[[str], None]


class WarehouseError(RuntimeError):
    """A warehouse operation failed; the message names the object involved."""


class WarehouseDataError(WarehouseError):
    """A value does not fit its column's type (a conversion or range error): permanent, since
    the same data fails the same way on every attempt, so it is never retried."""


class Warehouse(ABC):
    """Reads the source transactions and replaces daily partitions of output tables."""

    dialect: ClassVar[Dialect]

    def __init__(self, tables: TableNames | None = None, fault_hook: FaultHook | None = None):
        self.tables = tables or TableNames()
        self._fault_hook = fault_hook

    def _step(self, name: str) -> None:
        if self._fault_hook is not None:
            self._fault_hook(name)

    @abstractmethod
    def read_source(
        self, start: datetime, end: datetime, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Source rows with ``start <= tx_datetime < end``, lower-case columns, UTC timestamps.

        ``columns``: only these (lower-case names, in this order; a name the source does not
        have raises WarehouseError); default every column.
        """

    @abstractmethod
    def source_time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The earliest and latest ``tx_datetime`` in the source, or None when it is empty/missing."""

    @abstractmethod
    def count_source_without_time(self) -> int:
        """Source rows whose ``tx_datetime`` is NULL (no day reads them); 0 when it is missing."""

    @abstractmethod
    def count_source_outside(self, start: datetime, end: datetime) -> int:
        """Source rows with ``tx_datetime`` before ``start`` or at/after ``end`` (no day in that
        range reads them); 0 when the source is missing."""

    @abstractmethod
    def latest_source_time(self, before: datetime) -> pd.Timestamp | None:
        """The latest ``tx_datetime`` earlier than ``before``, or None when there is none."""

    @abstractmethod
    def stored_id_kinds(self, table: TableName) -> dict[str, IdKind]:
        """How ``table`` stores each id column it has, "integer" or "text" (empty if no table)."""

    @abstractmethod
    def earliest_partitions_of(
        self, table: TableName, column: str, values: pd.Series, start: date, end: date
    ) -> pd.Series:
        """The earliest partition date in ``[start, end)`` whose ``column`` holds each of
        ``values``, indexed by value; values held by none of those partitions are absent."""

    @abstractmethod
    def load_source(self, frame: pd.DataFrame, *, replace: bool = False) -> int:
        """Bulk-load transactions into the source table (creating it); returns rows loaded."""

    @abstractmethod
    def replace_partition(self, table: TableName, frame: pd.DataFrame, partition: date) -> int:
        """Atomically make ``frame`` the only rows of ``partition`` in ``table``; returns rows written."""

    @abstractmethod
    def read_partitions(
        self, table: TableName, start: date, end: date, columns: list[str] | None = None
    ) -> pd.DataFrame:
        """Rows of ``table`` whose partition date is in ``[start, end)`` (empty if no table)."""

    @abstractmethod
    def partition_counts(
        self, table: TableName, start: date | None = None, end: date | None = None
    ) -> dict[date, int]:
        """Row count per partition date of ``table`` in ``[start, end)`` when given (empty if no table)."""

    @abstractmethod
    def table_exists(self, table: TableName) -> bool:
        """Whether ``table`` exists."""

    @abstractmethod
    def entity_window_totals(self, request: WindowTotalsRequest) -> WindowTotals:
        """Whole-day totals of history for the entities active on the request's day.

        Computed inside the engine (see :mod:`fraud_storage.window_totals`): CURRENT window
        groups and pairs from the validated transactions, the label group from the matured
        label table. Empty frames where a table does not exist yet.
        """


def with_partition(frame: pd.DataFrame, partition: date) -> pd.DataFrame:
    """A copy of ``frame`` with lower-case columns and the partition date column set.

    The column is typed DATE even when ``frame`` is empty (a column of Python dates would have no
    type then, and the table created by an empty first partition would get a text partition_date
    that later date filters cannot compare with).
    """
    out = frame.rename(columns=str.lower)
    out[PARTITION_COLUMN] = date_column(partition, out.index)
    return out


def date_column(day: date, index: pd.Index) -> pd.Series:
    """``day`` on every row of ``index``, typed DATE even when there are no rows."""
    value = pd.Timestamp(day).date()
    return pd.Series([value] * len(index), index=index, dtype=pd.ArrowDtype(pa.date32()))


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Lower-case the columns and turn every timestamp column into UTC-aware values, in place."""
    frame.columns = [str(c).lower() for c in frame.columns]
    for column in frame.columns:
        dtype = frame[column].dtype
        if isinstance(dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_convert("UTC")
        elif pd.api.types.is_datetime64_dtype(dtype):
            frame[column] = frame[column].dt.tz_localize("UTC")
    if PARTITION_COLUMN in frame.columns:
        frame[PARTITION_COLUMN] = pd.to_datetime(frame[PARTITION_COLUMN]).dt.date
    return frame


def partition_filter(column: str, start: date | None, end: date | None) -> tuple[str, list[str]]:
    """A ``WHERE`` clause on the (already quoted) partition ``column`` for ``[start, end)``.

    Either bound may be None; the dates are bound parameters (ISO strings cast to DATE), so the
    engine prunes by partition instead of scanning the whole table.
    """
    conditions, params = [], []
    if start is not None:
        conditions.append(f"{column} >= CAST(? AS DATE)")
        params.append(pd.Timestamp(start).date().isoformat())
    if end is not None:
        conditions.append(f"{column} < CAST(? AS DATE)")
        params.append(pd.Timestamp(end).date().isoformat())
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), params
