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

from datetime import date

import pandas as pd

from fraud_core.columns import PARTITION_DATE, PIPELINE_SHAPE
from fraud_core.shape import PipelineShape, ShapeMismatchError
from fraud_storage.identifiers import TableName
from fraud_storage.warehouse import Warehouse

__all__ = [
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
) -> pd.DataFrame:
    """Rows of days ``[first, end)`` of ``table``, all of ``shape`` (without the shape column).

    Raises ShapeMismatchError, telling to rebuild ``rebuild`` (the asset that writes ``table``)
    for the days concerned, when a row of another shape is read.
    """
    frame = warehouse.read_partitions(table, first, end)
    _raise_on_mismatch(table, frame, shape, rebuild)
    return frame.drop(columns=[PIPELINE_SHAPE], errors="ignore")


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
