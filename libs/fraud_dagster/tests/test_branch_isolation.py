"""A branch deployment's tables, models and reports all carry ONE collision-free name (issue 15)."""

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from fraud_dagster.builders import (
    REPORT_DIR_VARIABLE,
    model_store_resource,
    report_directory_resource,
    tables_config,
)
from fraud_dagster.environment import Environment
from fraud_dagster.resources import ReportDirectory
from fraud_storage.branches import branch_identifier

DAGSTER_PLUS = (
    "FRAUD_ENV",
    "DAGSTER_CLOUD_DEPLOYMENT_NAME",
    "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT",
    "DAGSTER_CLOUD_PULL_REQUEST_ID",
    "DAGSTER_CLOUD_GIT_BRANCH",
    "FRAUD_OUTPUT_SCHEMA",
    "FRAUD_SOURCE_TABLE",
)


@pytest.fixture
def deployment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Set the variables of a deployment: ``deployment(branch=...)`` or ``deployment()`` (prod)."""
    for key in DAGSTER_PLUS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FRAUD_MODEL_STORE", "s3://bucket/models/")
    monkeypatch.setenv(REPORT_DIR_VARIABLE, "s3://bucket/reports/")

    def set_up(branch: str | None = None) -> None:
        if branch is None:
            monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", "prod")
            monkeypatch.delenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", raising=False)
            monkeypatch.delenv("DAGSTER_CLOUD_GIT_BRANCH", raising=False)
            return
        monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", "branch-deployment")
        monkeypatch.setenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "1")
        monkeypatch.setenv("DAGSTER_CLOUD_GIT_BRANCH", branch)

    return set_up


def _report_root() -> str:
    with dg.build_resources({"reports": report_directory_resource()}) as ready:
        reports: ReportDirectory = ready.reports
        return reports.root


def _isolation(branch: str | None) -> tuple[str, str, str]:
    """The output schema, model store root and report directory of the current deployment."""
    environment = Environment.PROD if branch is None else Environment.BRANCH
    schema = tables_config(environment).table_names().scores.schema or ""
    return schema, model_store_resource(environment).root, _report_root()


def test_one_branch_carries_one_name_in_tables_models_and_reports(deployment) -> None:
    deployment(branch="feature/new-model")
    name = branch_identifier("feature/new-model")
    assert name != "feature/new-model"  # sanitised (a '/' would nest the store's prefix)
    schema, models, reports = _isolation("feature/new-model")
    assert schema == f"FRAUD_{name}"
    assert models == f"s3://bucket/models/branches/{name}"
    assert reports == f"s3://bucket/reports/branches/{name}"


def test_branches_that_sanitise_alike_share_nothing(deployment) -> None:
    seen: dict[str, tuple[str, str, str]] = {}
    for branch in ("feature-a", "feature_a", "Feature.A"):
        deployment(branch=branch)
        seen[branch] = _isolation(branch)
    for part in range(3):  # schema, model store root, report directory
        values = {isolation[part] for isolation in seen.values()}
        assert len(values) == 3, values


def test_prod_keeps_its_schema_models_and_reports(deployment) -> None:
    deployment()
    assert _isolation(None) == ("FRAUD", "s3://bucket/models/", "s3://bucket/reports/")


def test_a_branch_report_lands_under_its_own_prefix(deployment, tmp_path: Path) -> None:
    local_root = str(tmp_path / "reports")
    branch_env = {
        "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1",
        "DAGSTER_CLOUD_PULL_REQUEST_ID": "42",
        REPORT_DIR_VARIABLE: local_root,
    }
    with dg.build_resources({"reports": report_directory_resource(branch_env)}) as ready:
        path = ready.reports.html_path(date(2025, 3, 31))
    assert path == f"{local_root}/branches/PR_42/fraud_report_2025-03-31.html"
    # the environment a builder was given wins over the variables (as for the model store)
    local = report_directory_resource(branch_env, environment=Environment.LOCAL)
    with dg.build_resources({"reports": local}) as ready:
        assert ready.reports.root == local_root


def test_run_config_cannot_move_a_branch_run_onto_prod_tables_or_models(deployment) -> None:
    """The launchpad route: a branch run configured with PROD's tables or store fails first."""
    from fraud_dagster.builders import warehouse_resource
    from fraud_dagster.resources import BranchIsolationError, ModelStoreResource, TablesConfig

    deployment(branch="feature-a")
    own = warehouse_resource(Environment.BRANCH)
    assert own.table_names().scores.schema == f"FRAUD_{branch_identifier('feature-a')}"
    for tables in (
        TablesConfig(branch=None),  # PROD's schema
        TablesConfig(branch="feature_b"),  # another branch's
    ):
        moved = own.model_copy(update={"tables": tables})
        with pytest.raises(BranchIsolationError, match=r"tables\.branch="):
            moved.table_names()
    store = model_store_resource(Environment.BRANCH).get_store()
    assert str(store.root).endswith(f"/branches/{branch_identifier('feature-a')}")
    for root in ("s3://bucket/models", f"s3://bucket/models/branches/{branch_identifier('b')}"):
        with pytest.raises(BranchIsolationError, match=r"model_store\.root="):
            ModelStoreResource(root=root).get_store()
    deployment()  # PROD: its own configuration is not second-guessed
    assert (
        str(ModelStoreResource(root="s3://bucket/models").get_store().root) == "s3://bucket/models"
    )
