"""Environment selection: LOCAL by default, BRANCH/PROD from Dagster+ variables, overrides validated.

Inside Dagster+ ``FRAUD_ENV`` may only repeat what Dagster+ says: never PROD in a branch deployment
(issue 15), never LOCAL, never BRANCH in a full deployment. A contradiction stops both code
locations from loading.
"""

from pathlib import Path

import pytest

from fraud_dagster.environment import (
    BRANCH_DEPLOYMENT_VARIABLE,
    ENVIRONMENT_VARIABLE,
    Environment,
    EnvironmentConflictError,
    WarehouseKind,
    branch_name,
    current_environment,
    warehouse_kind,
)

BRANCH = {
    "DAGSTER_CLOUD_DEPLOYMENT_NAME": "pr-12",
    "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1",
    "DAGSTER_CLOUD_PULL_REQUEST_ID": "12",
}
FULL = {"DAGSTER_CLOUD_DEPLOYMENT_NAME": "prod"}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, Environment.LOCAL),
        (FULL, Environment.PROD),
        ({**FULL, "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "0"}, Environment.PROD),
        ({**FULL, "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "false"}, Environment.PROD),
        ({**FULL, "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": ""}, Environment.PROD),
        (BRANCH, Environment.BRANCH),
        ({**BRANCH, "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": " Yes "}, Environment.BRANCH),  # was PROD
        # FRAUD_ENV confirming what Dagster+ says
        ({**FULL, "FRAUD_ENV": "prod"}, Environment.PROD),
        ({**BRANCH, "FRAUD_ENV": "Branch"}, Environment.BRANCH),
        # outside Dagster+: tests, a laptop on a Snowflake sandbox, a rehearsal of a branch
        ({"FRAUD_ENV": "LOCAL"}, Environment.LOCAL),
        ({"FRAUD_ENV": "prod"}, Environment.PROD),
        ({"FRAUD_ENV": "branch", "DAGSTER_CLOUD_GIT_BRANCH": "feat/x"}, Environment.BRANCH),
    ],
)
def test_current_environment(env: dict[str, str], expected: Environment) -> None:
    assert current_environment(env) is expected


@pytest.mark.parametrize("flag", ["1", "true", "TRUE", "yes", " Yes "])
def test_fraud_env_prod_in_a_branch_deployment_is_refused(flag: str) -> None:
    """The shared-ConfigMap case of issue 15: never PROD tables or PROD models from a branch."""
    env = {**BRANCH, "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": flag, "FRAUD_ENV": "prod"}
    with pytest.raises(EnvironmentConflictError) as caught:
        current_environment(env)
    message = str(caught.value)
    assert ENVIRONMENT_VARIABLE in message
    assert BRANCH_DEPLOYMENT_VARIABLE in message
    assert "pr-12" in message  # which deployment
    assert "remove FRAUD_ENV" in message  # what to do
    assert "FRAUD_ENV=branch" in message


@pytest.mark.parametrize(
    "dagster_plus",
    [BRANCH, FULL, {"DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1", "DAGSTER_CLOUD_GIT_BRANCH": "x"}],
)
def test_fraud_env_local_inside_a_dagster_plus_deployment_is_refused(
    dagster_plus: dict[str, str],
) -> None:
    """LOCAL there means no branch schema, a lax gate and files on the code server's disk."""
    with pytest.raises(EnvironmentConflictError, match="FRAUD_ENV=local inside a Dagster\\+"):
        current_environment({**dagster_plus, "FRAUD_ENV": "local"})


def test_fraud_env_branch_in_a_full_deployment_is_refused() -> None:
    """A shared FRAUD_ENV=branch would silently move prod's writes off its real tables."""
    with pytest.raises(EnvironmentConflictError, match="full deployment 'prod'") as caught:
        current_environment({**FULL, "FRAUD_ENV": "branch"})
    assert "FRAUD_ENV=prod" in str(caught.value)  # what prod would need, if anything


def test_a_branch_without_a_name_is_refused_when_the_environment_is_resolved() -> None:
    for env in ({"FRAUD_ENV": "branch"}, {"DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1"}):
        with pytest.raises(EnvironmentConflictError, match="DAGSTER_CLOUD_GIT_BRANCH") as caught:
            current_environment(env)
        assert "cannot isolate" in str(caught.value)


@pytest.mark.parametrize("flag", ["2", "maybe", "on-ish"])
def test_an_unreadable_branch_flag_is_refused_not_taken_for_prod(flag: str) -> None:
    with pytest.raises(EnvironmentConflictError, match=f"{BRANCH_DEPLOYMENT_VARIABLE}='{flag}'"):
        current_environment({**FULL, "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": flag})


def test_invalid_overrides_are_rejected_with_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="FRAUD_ENV='staging' is not one of: local, branch, prod"):
        current_environment({"FRAUD_ENV": "staging"})
    with pytest.raises(ValueError, match="FRAUD_WAREHOUSE='postgres'"):
        warehouse_kind(Environment.LOCAL, {"FRAUD_WAREHOUSE": "postgres"})


def test_warehouse_kind_per_environment() -> None:
    assert warehouse_kind(Environment.LOCAL, {}) is WarehouseKind.DUCKDB
    assert warehouse_kind(Environment.PROD, {}) is WarehouseKind.SNOWFLAKE
    assert warehouse_kind(Environment.BRANCH, {}) is WarehouseKind.SNOWFLAKE
    assert warehouse_kind(Environment.LOCAL, {"FRAUD_WAREHOUSE": "snowflake"}) is (
        WarehouseKind.SNOWFLAKE
    )


def test_branch_name_prefers_the_pull_request() -> None:
    assert branch_name({"DAGSTER_CLOUD_PULL_REQUEST_ID": "42"}) == "PR_42"
    assert branch_name({"DAGSTER_CLOUD_GIT_BRANCH": "feat/x"}) == "feat/x"
    with pytest.raises(ValueError, match="cannot isolate"):
        branch_name({})


# --- the code locations refuse to load: the error shows in Dagster+, not at the first run --------

REFUSED = {
    "prod in a branch deployment": {**BRANCH, "FRAUD_ENV": "prod"},
    "local in prod": {**FULL, "FRAUD_ENV": "local"},
    "branch in prod": {**FULL, "FRAUD_ENV": "branch"},
}


def _load_error(location: str) -> str:
    """The error (with its causes) that loading ``location``'s definitions raises."""
    if location == "hybrid":
        from hybrid_location.definitions import defs
    else:
        from monitoring_location.definitions import defs
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the message is checked below
        defs()
    messages, error = [], caught.value
    while error is not None:
        messages.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    return " <- ".join(messages)


@pytest.mark.parametrize("location", ["hybrid", "monitoring"])
@pytest.mark.parametrize("case", REFUSED)
def test_a_refused_environment_stops_the_code_location_from_loading(
    location: str, case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in (*BRANCH, "DAGSTER_CLOUD_GIT_BRANCH", "FRAUD_WAREHOUSE", "FRAUD_REPORT_DIR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {
        **REFUSED[case],
        "FRAUD_DATA_DIR": str(tmp_path),
        "FRAUD_MODEL_STORE": "s3://bucket/models",  # everything else a deployment needs is set
    }.items():
        monkeypatch.setenv(key, value)
    message = _load_error(location)
    assert "EnvironmentConflictError" in message
    assert "FRAUD_ENV" in message
