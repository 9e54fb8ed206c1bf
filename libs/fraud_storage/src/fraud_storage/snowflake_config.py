"""Retry policy and a plain connection factory for the Snowflake warehouse.

In a Dagster deployment the connection factory is ``SnowflakeResource(...).get_connection``; the
:func:`connection_factory` here is for scripts, developer sandboxes and tests, and takes the same
keyword arguments as ``snowflake.connector.connect``. Nothing here logs or formats its arguments, so
passwords and private keys never reach a message.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snowflake.connector import SnowflakeConnection

Connect = Callable[[], AbstractContextManager["SnowflakeConnection"]]
"""A factory returning a context manager that yields a ``snowflake.connector`` connection."""


@dataclass(frozen=True)
class RetryConfig:
    """Exponential backoff for transient Snowflake errors, applied to each whole operation.

    Attempt ``n`` (1-based) that fails transiently sleeps ``initial_backoff_s * multiplier**(n-1)``
    seconds, capped at ``max_backoff_s``, with up to ``jitter`` (a fraction) added at random.
    """

    max_attempts: int = 4
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.1
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("backoff times must not be negative")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be at least 1, got {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter}")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (attempt - 1))
        return base * (1 + self.jitter * random.random())


def connection_factory(**connect_kwargs: Any) -> Connect:
    """A factory opening a new ``snowflake.connector`` connection per call, closed on exit."""

    @contextlib.contextmanager
    def connect() -> Iterator[SnowflakeConnection]:
        import snowflake.connector

        con = snowflake.connector.connect(**connect_kwargs)
        try:
            yield con
        finally:
            with contextlib.suppress(Exception):
                con.close()

    return connect
