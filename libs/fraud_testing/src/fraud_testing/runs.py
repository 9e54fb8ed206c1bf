"""Running assets in tests and reading what failed: one place for what every asset test needs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import dagster as dg

__all__ = ["failure_message", "materialize", "retries"]


def materialize(
    assets: Sequence[dg.AssetsDefinition],
    selection: Sequence[dg.AssetsDefinition],
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    day: date | None = None,
    **kwargs: Any,
) -> dg.ExecuteInProcessResult:
    """Materialize ``selection`` of ``assets`` (for ``day`` when given), never raising on failure."""
    return dg.materialize(
        list(assets),
        selection=list(selection),
        partition_key=day.isoformat() if day else None,
        resources=resources,
        instance=instance,
        raise_on_error=False,
        **kwargs,
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The first step failure's message, with its causes (retries wrap the original error)."""
    failures = result.get_step_failure_events()
    assert failures, "expected a step failure"
    error = failures[0].step_failure_data.error
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return " <- ".join(parts)


def retries(result: dg.ExecuteInProcessResult) -> int:
    """How many times the run's steps were retried."""
    return sum(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)
