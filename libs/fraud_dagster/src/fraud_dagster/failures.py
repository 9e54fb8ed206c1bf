"""Fail fast on deterministic errors: a Dagster ``Failure`` the retry policy does not retry."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import dagster as dg

__all__ = ["fail_fast_on"]

F = TypeVar("F", bound=Callable[..., Any])


def fail_fast_on(*errors: type[BaseException]) -> Callable[[F], F]:
    """Decorator: turn ``errors`` raised by the wrapped asset into a non-retryable ``dg.Failure``.

    Transient errors (anything else) still propagate unchanged, so the asset's ``RetryPolicy``
    retries them with backoff.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except errors as error:
                raise dg.Failure(
                    description=f"{type(error).__name__}: {error}", allow_retries=False
                ) from error

        return cast(F, wrapper)

    return decorate
