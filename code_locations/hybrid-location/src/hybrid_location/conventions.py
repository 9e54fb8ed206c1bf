"""Conventions every asset of the hybrid location shares: group, retries, fail-fast errors."""

import time
from datetime import date, timedelta

import dagster as dg

from fraud_dagster.failures import fail_fast_on
from fraud_storage import TableName, Warehouse, WarehouseError
from fraud_storage.model_store import ModelNotFoundError
from fraud_storage.models import (
    NoPromotedModelError,
)

GROUP = "fraud_detection"
RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)


PERMANENT_ERRORS = (ValueError, KeyError, NoPromotedModelError, ModelNotFoundError, WarehouseError)
"""Deterministic failures: retrying the step cannot help (transient warehouse errors are retried
with backoff inside the warehouse layer before they surface as WarehouseError)."""

fail_fast_on_permanent_errors = fail_fast_on(*PERMANENT_ERRORS)
"""Turn a permanent error into a Dagster Failure that the retry policy does not retry."""


def stored_rows(warehouse: Warehouse, table: TableName, day: date) -> int:
    """Rows of ``day`` in ``table``, counted in that partition only."""
    return warehouse.partition_counts(table, day, day + timedelta(days=1)).get(day, 0)


def elapsed(start: float) -> float:
    """Seconds since ``start`` (a ``perf_counter`` reading), rounded to the millisecond."""
    return round(time.perf_counter() - start, 3)
