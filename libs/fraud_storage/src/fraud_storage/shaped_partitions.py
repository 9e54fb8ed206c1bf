"""Partitions that depend on the pipeline shape, written with it and checked when read.

``TRANSFORMED_TRANSACTIONS`` (features) and ``MATURED_TERMINAL_LABELS`` (label counts of the day
whose labels are due) hold what the shape (windows, label delay, feature list) makes of the
transactions. Every row is written with the shape's fingerprint in the
:data:`~fraud_core.columns.PIPELINE_SHAPE` column, and a reader that finds another fingerprint (or
none: a row written before shapes were recorded) on a day it reads raises
:class:`~fraud_core.shape.ShapeMismatchError` naming the table, the shapes found on which days, the
running shape, and what to rebuild for which days. The error is a ``ValueError``: permanent, never
worth a retry.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, timedelta

import pandas as pd

from fraud_core.columns import PARTITION_DATE, PIPELINE_SHAPE
from fraud_core.shape import PipelineShape, ShapeMismatchError
from fraud_storage.identifiers import TableName
from fraud_storage.warehouse import Warehouse

__all__ = [
    "iter_shaped_days",
    "read_shaped_partitions",
    "recorded_shapes",
    "replace_shaped_partition",
    "require_shape",
]


def replace_shaped_partition(
    warehouse: Warehouse, table: TableName, frame: pd.DataFrame, day: date, shape: PipelineShape
) -> int:
    """Replace ``day`` of ``table`` with ``frame``, every row marked with ``shape``'s fingerprint."""
    return warehouse.replace_partition(
        table, frame.assign(**{PIPELINE_SHAPE: shape.fingerprint}), day
    )


def read_shaped_partitions(
    warehouse: Warehouse,
    table: TableName,
    first: date,
    end: date,
    shape: PipelineShape,
    *,
    rebuild: str,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows of days ``[first, end)`` of ``table``, all of ``shape`` (without the shape column).

    ``columns``: only these, in this order (the shape is checked all the same); default every
    column. Raises ShapeMismatchError, telling to rebuild ``rebuild`` (the asset that writes
    ``table``) for the days concerned, when a row of another shape is read.
    """
    selection = _selection(warehouse, table, first, columns, [PARTITION_DATE, PIPELINE_SHAPE])
    frame = warehouse.read_partitions(table, first, end, selection)
    _raise_on_mismatch(table, frame, shape, rebuild)
    return _without_shape(frame, columns)


def iter_shaped_days(
    warehouse: Warehouse,
    table: TableName,
    first: date,
    end: date,
    shape: PipelineShape,
    *,
    rebuild: str,
    columns: Sequence[str] | None = None,
) -> Iterator[tuple[date, pd.DataFrame]]:
    """Each day of ``[first, end)`` with its rows, as :func:`read_shaped_partitions` reads them,
    one day read at a time (a window that would not fit in memory can be reduced day by day).

    Every day is checked: from the first day of another shape on, no more days are yielded, the
    remaining days are only checked, and a ShapeMismatchError then names all such days.
    """
    selection = _selection(warehouse, table, first, columns, [PIPELINE_SHAPE])  # one day: no date
    found: dict[str | None, list[date]] = {}
    for offset in range((end - first).days):
        day = first + timedelta(days=offset)
        if found:  # failing already: which shapes the remaining days hold, nothing else
            check = [PIPELINE_SHAPE] if selection is not None else None
            frame = warehouse.read_partitions(table, day, day + timedelta(days=1), check)
        else:
            frame = warehouse.read_partitions(table, day, day + timedelta(days=1), selection)
        other = _shapes_of_day(frame, day)
        other.pop(shape.fingerprint, None)
        for fingerprint, days in other.items():
            found.setdefault(fingerprint, []).extend(days)
        if not found:
            yield day, _without_shape(frame, columns)
    if found:
        raise ShapeMismatchError.for_table(str(table), found, shape, rebuild=rebuild)


def _shapes_of_day(frame: pd.DataFrame, day: date) -> dict[str | None, list[date]]:
    """The fingerprints recorded in ``frame``, rows of ``day`` (None: none recorded)."""
    if frame.empty:
        return {}
    if PIPELINE_SHAPE not in frame.columns:  # a table created before shapes were recorded
        return {None: [day]}
    recorded = frame[PIPELINE_SHAPE]
    found: dict[str | None, list[date]] = {str(f): [day] for f in recorded.dropna().unique()}
    if recorded.isna().any():
        found[None] = [day]
    return found


def _selection(
    warehouse: Warehouse,
    table: TableName,
    first: date,
    columns: Sequence[str] | None,
    check: list[str],
) -> list[str] | None:
    """The columns to read for ``columns`` and the shape ``check`` (None: every column).

    Every column when the table lacks one of them (a table written before shapes were recorded
    has no shape column; one built with another feature set lacks the running one's features):
    then no row of the running shape exists, and reading all tells which shapes the rows have.
    """
    if columns is None:
        return None
    wanted = list(dict.fromkeys([*columns, *check]))
    stored = warehouse.read_partitions(table, first, first).columns  # no rows: the columns
    return wanted if set(wanted) <= set(stored) else None


def _without_shape(frame: pd.DataFrame, columns: Sequence[str] | None) -> pd.DataFrame:
    """``frame`` without the shape column; with ``columns``, exactly those, in that order."""
    if columns is None:
        return frame.drop(columns=[PIPELINE_SHAPE], errors="ignore")
    wanted = list(columns)
    for extra in set(frame.columns) - set(wanted):
        del frame[extra]  # the frame was read for this call: no copy of the other columns
    return frame if list(frame.columns) == wanted else frame.reindex(columns=wanted)


def require_shape(
    warehouse: Warehouse,
    table: TableName,
    first: date,
    end: date,
    shape: PipelineShape,
    *,
    rebuild: str,
) -> None:
    """Raise ShapeMismatchError when a row of days ``[first, end)`` of ``table`` is of another shape.

    For readers that use a narrow table through the warehouse (e.g. in its window totals) without
    reading its rows. Every column is read: a table written before shapes were recorded has no
    shape column to select.
    """
    frame = warehouse.read_partitions(table, first, end)
    _raise_on_mismatch(table, frame, shape, rebuild)


def recorded_shapes(frame: pd.DataFrame) -> dict[str | None, list[date]]:
    """The fingerprints recorded in ``frame`` (None: none recorded), each with its days."""
    if frame.empty:
        return {}
    if PIPELINE_SHAPE in frame.columns:
        recorded = frame[PIPELINE_SHAPE]
    else:  # a table created before shapes were recorded
        recorded = pd.Series(None, index=frame.index, dtype=object)
    pairs = pd.DataFrame(
        {"shape": recorded.astype(object), "day": frame[PARTITION_DATE]}
    ).drop_duplicates()
    found: dict[str | None, set[date]] = {}
    for fingerprint, day in pairs.itertuples(index=False):
        key = None if fingerprint is None or pd.isna(fingerprint) else str(fingerprint)
        found.setdefault(key, set()).add(pd.Timestamp(day).date())
    return {key: sorted(days) for key, days in found.items()}


def _raise_on_mismatch(
    table: TableName, frame: pd.DataFrame, shape: PipelineShape, rebuild: str
) -> None:
    found = recorded_shapes(frame)
    found.pop(shape.fingerprint, None)
    if found:
        raise ShapeMismatchError.for_table(str(table), found, shape, rebuild=rebuild)
