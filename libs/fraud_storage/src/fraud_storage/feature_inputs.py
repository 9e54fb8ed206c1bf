"""What one day's features read from the warehouse: a bounded amount, whatever the windows.

Instead of the whole ``max(window) + delay`` days of history, a day reads

* its own validated rows and those of its few *boundary days*
  (``fraud_core.features.boundary_days``: at most ``2 * len(windows) + 1`` days), with the
  labels the source holds now;
* per-entity totals over the whole days inside each window, for the day's cards, terminals and
  (card, terminal) pairs only, computed in the warehouse (``Warehouse.entity_window_totals`` of
  ``fraud_core.features.window_totals_request``): CURRENT windows from the validated
  transactions, label windows from the matured label table (per terminal and day, labels
  counted when they were due), so no label of the whole window is re-read.

``fraud_core.features.build_day_features`` turns these into exactly the features
``build_features`` gives on the full history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from fraud_core.columns import TRANSACTION_ID, TX_FRAUD
from fraud_core.features import (
    FeatureConfig,
    WindowState,
    boundary_days,
    state_from_totals,
    window_totals_request,
)
from fraud_core.scoring import refresh_labels
from fraud_storage.warehouse import Warehouse

__all__ = ["FeatureInputs", "day_runs", "read_days", "read_feature_inputs"]


@dataclass(frozen=True)
class FeatureInputs:
    """A day's validated rows, its boundary days' rows and the window state as of the day."""

    day_rows: pd.DataFrame
    boundary_rows: pd.DataFrame
    state: WindowState

    @property
    def rows_read(self) -> int:
        """Transaction rows read for the day (its own and its boundary days')."""
        return len(self.day_rows) + len(self.boundary_rows)


def day_runs(days: list[date]) -> list[tuple[date, date]]:
    """Contiguous ``[first, end)`` ranges covering ``days`` (one read per range)."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] == day:
            runs[-1] = (runs[-1][0], day + timedelta(days=1))
        else:
            runs.append((day, day + timedelta(days=1)))
    return runs


def _midnight(day: date) -> datetime:
    return pd.Timestamp(day, tz="UTC").to_pydatetime()


def read_days(warehouse: Warehouse, first: date, end: date) -> pd.DataFrame:
    """Validated rows of days ``[first, end)`` with the labels the source holds now."""
    rows = warehouse.read_partitions(warehouse.tables.validated, first, end)
    if len(rows) == 0:
        return rows
    # labels arrive days late: take the ones the source holds now, as a full recomputation does
    labels = warehouse.read_source(_midnight(first), _midnight(end))
    return refresh_labels(rows, labels[[TRANSACTION_ID, TX_FRAUD]])


def read_feature_inputs(warehouse: Warehouse, day: date, config: FeatureConfig) -> FeatureInputs:
    """Read what ``build_day_features`` needs for ``day``: rows of a few days, entity totals."""
    day_rows = read_days(warehouse, day, day + timedelta(days=1))
    frames = [read_days(warehouse, *run) for run in day_runs(boundary_days(day, config))]
    frames = [f for f in frames if len(f)]
    boundary_rows = pd.concat(frames, ignore_index=True) if frames else day_rows.iloc[:0]
    totals = warehouse.entity_window_totals(window_totals_request(day, config))
    return FeatureInputs(day_rows, boundary_rows, state_from_totals(day, config, totals))
