"""Which deployment this code runs in: LOCAL, BRANCH or PROD, decided in one place for every location.

Dagster+ sets ``DAGSTER_CLOUD_DEPLOYMENT_NAME`` in every deployment and
``DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT=1`` in branch deployments: those decide (BRANCH, else PROD).
Outside Dagster+ (tests, a laptop pointed at a Snowflake sandbox) ``FRAUD_ENV`` says which
environment to act as, LOCAL by default. Inside Dagster+ ``FRAUD_ENV`` may only repeat what Dagster+
says; any other value raises :class:`EnvironmentConflictError`, naming the variables and the fix:
``prod`` in a branch deployment (a ``FRAUD_ENV=prod`` from a ConfigMap shared with prod would
otherwise send a pull request's writes to the PROD tables and promotions to the PROD model store),
``local`` in any deployment (no branch schema, a promotion gate that may be lowered, files on the
code server's disk) and ``branch`` in a full deployment (prod would write a side schema and model
prefix while its real tables go stale). So does a branch without a name to isolate it by, or a
branch flag that is neither true nor false. Every code location resolves its environment through
this module while its definitions load, so a refused combination is a load error of both
locations, shown in Dagster+, before any run. ``FRAUD_WAREHOUSE=snowflake|duckdb`` picks the
warehouse independently of the environment.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from typing import TypeVar

ENVIRONMENT_VARIABLE = "FRAUD_ENV"
BRANCH_DEPLOYMENT_VARIABLE = "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT"
DEPLOYMENT_NAME_VARIABLE = "DAGSTER_CLOUD_DEPLOYMENT_NAME"
BRANCH_NAME_VARIABLES = (
    "DAGSTER_CLOUD_PULL_REQUEST_ID",
    "DAGSTER_CLOUD_GIT_BRANCH",
    DEPLOYMENT_NAME_VARIABLE,
)
"""Where a branch deployment's name comes from, first set wins."""

_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"", "0", "false", "no"})


class EnvironmentConflictError(ValueError):
    """The variables contradict each other on where this code runs: the location must not load."""


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
    """The environment from the ``DAGSTER_CLOUD_*`` variables, else ``FRAUD_ENV``, else LOCAL.

    Raises :class:`EnvironmentConflictError` when they contradict each other (module docstring).
    """
    env = os.environ if env is None else env
    override = _choice(env, ENVIRONMENT_VARIABLE, Environment)
    deployment = _dagster_plus_environment(env)
    if override is not None and deployment is not None and override is not deployment:
        raise EnvironmentConflictError(_conflict(env, override, deployment))
    environment = deployment or override or Environment.LOCAL
    if environment is Environment.BRANCH:
        try:
            branch_name(env)
        except ValueError as error:
            raise EnvironmentConflictError(str(error)) from None
    return environment


def _dagster_plus_environment(env: Mapping[str, str] | None = None) -> Environment | None:
    """What Dagster+'s variables say (BRANCH or PROD), None outside Dagster+."""
    env = os.environ if env is None else env
    if is_branch_deployment(env):
        return Environment.BRANCH
    if env.get(DEPLOYMENT_NAME_VARIABLE, "").strip():
        return Environment.PROD
    return None


def is_branch_deployment(env: Mapping[str, str] | None = None) -> bool:
    """Whether Dagster+ says this is a branch deployment (``1``/``true``/``yes``, any case).

    An unrecognised value is refused rather than read as "not a branch", which would mean PROD.
    """
    env = os.environ if env is None else env
    value = env.get(BRANCH_DEPLOYMENT_VARIABLE, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise EnvironmentConflictError(
        f"{BRANCH_DEPLOYMENT_VARIABLE}={env[BRANCH_DEPLOYMENT_VARIABLE]!r} is neither true "
        "(1, true, yes) nor false (0, false, no, empty): cannot tell a branch deployment from prod"
    )


def _conflict(env: Mapping[str, str], override: Environment, deployment: Environment) -> str:
    """Why ``FRAUD_ENV=<override>`` is refused in a Dagster+ ``deployment``, and what to do."""
    name = env.get(DEPLOYMENT_NAME_VARIABLE, "").strip()
    where = (
        f"a branch deployment ({BRANCH_DEPLOYMENT_VARIABLE}="
        f"{env[BRANCH_DEPLOYMENT_VARIABLE].strip()!r}, {DEPLOYMENT_NAME_VARIABLE}={name!r})"
        if deployment is Environment.BRANCH
        else f"the full deployment {name!r} ({BRANCH_DEPLOYMENT_VARIABLE} not set)"
    )
    danger = {
        Environment.PROD: "a branch deployment must never write the PROD tables or promote into "
        "the PROD model store",
        Environment.LOCAL: "LOCAL means no branch schema, a promotion gate that may be lowered "
        "and a model store and reports on the code server's disk, never right in Dagster+",
        Environment.BRANCH: "prod would write a schema and model-store prefix of its own while "
        "its real tables go stale",
    }[override]
    return (
        f"{ENVIRONMENT_VARIABLE}={override.value} inside a Dagster+ deployment: {where}. Refusing "
        f"to load: {danger}. To fix it, remove FRAUD_ENV from this deployment's environment: "
        "Dagster+'s variables already tell prod from branch deployments (FRAUD_ENV is for "
        "running outside Dagster+). If it must stay set, scope it to one kind of deployment "
        f"(here FRAUD_ENV={deployment.value}), never in a ConfigMap, Secret or Dagster+ variable "
        "that prod and branch deployments share."
    )


def warehouse_kind(environment: Environment, env: Mapping[str, str] | None = None) -> WarehouseKind:
    """DuckDB for LOCAL, Snowflake for BRANCH/PROD, unless ``FRAUD_WAREHOUSE`` says otherwise."""
    env = os.environ if env is None else env
    override = _choice(env, "FRAUD_WAREHOUSE", WarehouseKind)
    if override is not None:
        return override
    return WarehouseKind.DUCKDB if environment is Environment.LOCAL else WarehouseKind.SNOWFLAKE


def branch_name(env: Mapping[str, str] | None = None) -> str:
    """A stable name for the current branch deployment (PR number, else branch, else deployment).

    The raw name: :func:`fraud_storage.branches.branch_identifier` turns it into the one name of
    the branch's schema, model-store prefix and report directory.
    """
    env = os.environ if env is None else env
    for key in BRANCH_NAME_VARIABLES:
        value = env.get(key, "").strip()
        if value:
            return f"PR_{value}" if key == "DAGSTER_CLOUD_PULL_REQUEST_ID" else value
    raise ValueError(
        f"branch deployment without {', '.join(BRANCH_NAME_VARIABLES[:-1])} or "
        f"{BRANCH_NAME_VARIABLES[-1]}: cannot isolate its tables, models and reports from prod. "
        "Dagster+ sets them in branch deployments; outside Dagster+ set DAGSTER_CLOUD_GIT_BRANCH "
        "to act as a branch, or do not set FRAUD_ENV=branch."
    )
