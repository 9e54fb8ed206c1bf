"""Warehouse factories for the storage tests: DuckDB on a temp file, Snowflake on the emulator.

The Snowflake factories connect through the real ``snowflake.connector`` to the fakesnow server of
the root ``conftest.py`` (one fresh database per test); nothing in the connector is patched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fraud_storage.duckdb_warehouse import DuckDBWarehouse, connect_path
from fraud_storage.tables import TableNames
from fraud_storage.warehouse import FaultHook, Warehouse

WarehouseFactory = Callable[..., Warehouse]

ENGINES = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("snowflake", id="snowflake", marks=pytest.mark.snowflake),
]


def _fast_retry() -> Any:
    from fraud_storage.snowflake_config import RetryConfig

    return RetryConfig(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.05)


@pytest.fixture
def make_duckdb_warehouse(tmp_path: Path) -> WarehouseFactory:
    """``make(fault_hook=None, tables=None)``: DuckDB warehouses sharing one temp file."""
    path = tmp_path / "warehouse.duckdb"

    def make(fault_hook: FaultHook | None = None, tables: TableNames | None = None) -> Warehouse:
        return DuckDBWarehouse(connect_path(path), tables, fault_hook)

    return make


@pytest.fixture
def make_snowflake_warehouse(snowflake_database: Any) -> WarehouseFactory:
    """``make(fault_hook=None, tables=None, retry=None, **connect_overrides)`` on a fresh database."""
    from fraud_storage.snowflake_config import connection_factory
    from fraud_storage.snowflake_warehouse import SnowflakeWarehouse

    def make(
        fault_hook: FaultHook | None = None,
        tables: TableNames | None = None,
        retry: Any = None,
        **connect_overrides: Any,
    ) -> Warehouse:
        connect = connection_factory(**snowflake_database.connect_kwargs(**connect_overrides))
        return SnowflakeWarehouse(connect, tables, fault_hook, retry=retry or _fast_retry())

    return make


@pytest.fixture(params=ENGINES)
def make_warehouse(request: pytest.FixtureRequest) -> WarehouseFactory:
    """The same factory for each engine: the contract suite runs once per engine."""
    return request.getfixturevalue(f"make_{request.param}_warehouse")


@pytest.fixture
def resource_warehouse(snowflake_resource: Any) -> Warehouse:
    """A SnowflakeWarehouse connected through ``dagster_snowflake.SnowflakeResource``."""
    from fraud_storage.snowflake_warehouse import SnowflakeWarehouse

    return SnowflakeWarehouse(snowflake_resource.get_connection, retry=_fast_retry())
