"""Which deployment this code runs in: LOCAL, BRANCH or PROD, decided in one place for every location.

Dagster+ sets ``DAGSTER_CLOUD_DEPLOYMENT_NAME`` in every deployment and
``DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT=1`` in branch deployments. ``FRAUD_ENV`` overrides both (tests,
and developers pointing a laptop at a Snowflake sandbox). ``FRAUD_WAREHOUSE=snowflake|duckdb`` picks the
warehouse independently of the environment. Every code location (``hybrid_location``,
``monitoring_location``) selects its environment through this module, so they always agree on it.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from typing import TypeVar


class Environment(enum.StrEnum):
    """Where the code location runs."""

    LOCAL = "local"
    BRANCH = "branch"
    PROD = "prod"


class WarehouseKind(enum.StrEnum):
    """Which warehouse engine backs the pipeline."""

    DUCKDB = "duckdb"
    SNOWFLAKE = "snowflake"


E = TypeVar("E", bound=enum.StrEnum)


def _choice(env: Mapping[str, str], key: str, choices: type[E]) -> E | None:
    """The enum member named by ``env[key]`` (case-insensitive), None when unset."""
    value = env.get(key, "").strip().lower()
    if not value:
        return None
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(c.value for c in choices)
        raise ValueError(f"{key}={value!r} is not one of: {allowed}") from None


def current_environment(env: Mapping[str, str] | None = None) -> Environment:
    """The environment from ``FRAUD_ENV`` or the ``DAGSTER_CLOUD_*`` variables (LOCAL by default)."""
    env = os.environ if env is None else env
    override = _choice(env, "FRAUD_ENV", Environment)
    if override is not None:
        return override
    if env.get("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "").strip().lower() in ("1", "true"):
        return Environment.BRANCH
    if env.get("DAGSTER_CLOUD_DEPLOYMENT_NAME"):
        return Environment.PROD
    return Environment.LOCAL


def warehouse_kind(environment: Environment, env: Mapping[str, str] | None = None) -> WarehouseKind:
    """DuckDB for LOCAL, Snowflake for BRANCH/PROD, unless ``FRAUD_WAREHOUSE`` says otherwise."""
    env = os.environ if env is None else env
    override = _choice(env, "FRAUD_WAREHOUSE", WarehouseKind)
    if override is not None:
        return override
    return WarehouseKind.DUCKDB if environment is Environment.LOCAL else WarehouseKind.SNOWFLAKE


def branch_name(env: Mapping[str, str] | None = None) -> str:
    """A stable name for the current branch deployment (PR number, else branch, else deployment)."""
    env = os.environ if env is None else env
    for key in (
        "DAGSTER_CLOUD_PULL_REQUEST_ID",
        "DAGSTER_CLOUD_GIT_BRANCH",
        "DAGSTER_CLOUD_DEPLOYMENT_NAME",
    ):
        value = env.get(key, "").strip()
        if value:
            return f"PR_{value}" if key == "DAGSTER_CLOUD_PULL_REQUEST_ID" else value
    raise ValueError(
        "branch deployment without DAGSTER_CLOUD_PULL_REQUEST_ID, DAGSTER_CLOUD_GIT_BRANCH or "
        "DAGSTER_CLOUD_DEPLOYMENT_NAME: cannot isolate its tables from prod"
    )
