"""The catalog: every table asset says what it holds, where, who owns it and which code made it."""

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from fraud_core.columns import CUSTOMER_ID, PARTITION_DATE, TERMINAL_ID
from fraud_core.shape import PipelineShape
from fraud_dagster import catalog
from fraud_dagster.builders import tables_config
from fraud_dagster.catalog import DEFAULT_OWNER, OWNERS_VARIABLE, source_closure
from fraud_dagster.environment import Environment
from fraud_dagster.shape import PIPELINE_SHAPE
from fraud_testing.pipeline import SMALL_SHAPE
from hybrid_location.catalog import (
    REPORT_FRESHNESS,
    TABLE_ASSETS,
    catalogued_assets,
    column_schema,
)
from hybrid_location.cli import run_pipeline
from hybrid_location.definitions import defs as load_defs

DAY = date(2025, 3, 31)  # the last simulated day (conftest)
BRANCH_ENV = {
    "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1",
    "DAGSTER_CLOUD_DEPLOYMENT_NAME": "pr-42",
    "DAGSTER_CLOUD_PULL_REQUEST_ID": "42",
    "FRAUD_MODEL_STORE": "s3://bucket/models",
}
PII_ASSETS = {
    "raw_customer_transactions",
    "matured_terminal_labels",
    "transformed_transactions",
    "fraud_scores",
    "fraud_alerts",
}
"""The assets whose tables hold card or terminal ids."""
CODE_REFERENCES = "dagster/code_references"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for key in (
        "FRAUD_ENV",
        "FRAUD_WAREHOUSE",
        "FRAUD_MODEL_STORE",
        "FRAUD_SOURCE_TABLE",
        "FRAUD_OUTPUT_SCHEMA",
        OWNERS_VARIABLE,
        "FRAUD_GIT_URL",
        "FRAUD_GIT_REF",
        *(k for k in BRANCH_ENV if k.startswith("DAGSTER_CLOUD")),
        "DAGSTER_CLOUD_GIT_REPO",
        "DAGSTER_CLOUD_GIT_SHA",
        "DAGSTER_CLOUD_GIT_BRANCH",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def _specs(defs: dg.Definitions) -> dict[str, dg.AssetSpec]:
    return {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}


def _schema(spec: dg.AssetSpec) -> dg.TableSchema:
    return spec.metadata["dagster/column_schema"].schema


def _table_specs(defs: dg.Definitions) -> dict[str, dg.AssetSpec]:
    specs = _specs(defs)
    present = {name: specs[name] for name in TABLE_ASSETS if name in specs}
    assert set(present) >= set(TABLE_ASSETS) - {"fraud_alerts"}
    return present


def _reference(spec: dg.AssetSpec) -> Any:
    (reference,) = spec.metadata[CODE_REFERENCES].code_references
    return reference


@pytest.mark.slow
def test_every_table_asset_is_described_owned_and_versioned(env) -> None:
    defs = load_defs()
    tables = tables_config(Environment.LOCAL).table_names()
    specs = _specs(defs)
    for name, spec in _table_specs(defs).items():
        entry = TABLE_ASSETS[name]
        schema = _schema(spec)
        assert [c.name for c in schema.columns] == entry.columns(PIPELINE_SHAPE), name
        undescribed = [c.name for c in schema.columns if not c.description]
        assert not undescribed, (name, undescribed)
        assert spec.metadata["dagster/table_name"] == str(getattr(tables, entry.role)), name
        assert spec.metadata["dagster/storage_kind"] == "duckdb"
        assert spec.tags["domain"] == "fraud"
        assert spec.tags["stage"] == entry.stage
        # personal data: the ids are tagged on the asset and on the columns themselves
        assert ("pii" in spec.tags) == (name in PII_ASSETS), name
        tagged = {c.name: c.tags.get("pii") for c in schema.columns if c.tags.get("pii")}
        ids = {CUSTOMER_ID: "card_id", TERMINAL_ID: "terminal_id"}
        assert tagged == {c: kind for c, kind in ids.items() if c in _names(schema)}, name
    for name in ("fraud_detection_model", *_table_specs(defs)):
        spec = specs[name]
        assert spec.owners == [DEFAULT_OWNER], name
        assert len(spec.code_version or "") == 12, name
        reference = _reference(spec)
        assert isinstance(reference, dg.LocalFileCodeReference)
        # the asset's own module and the line of its decorator (not the fail-fast wrapper's file)
        source = Path(reference.file_path).read_text().splitlines()
        assert source[reference.line_number - 1].startswith("@dg.asset("), (name, reference)
        assert f"def {name}(" in "\n".join(source[reference.line_number - 1 :])
    assert "pii" not in specs["fraud_detection_model"].tags
    assert specs["fraud_detection_model"].tags["stage"] == "training"
    # the pipeline's assets, catalogued on their own, carry the same code versions
    from hybrid_location.pipeline import PIPELINE_ASSETS

    for assets_def in catalogued_assets(PIPELINE_ASSETS):
        (spec,) = assets_def.specs
        assert spec.code_version == specs[spec.key.to_user_string()].code_version


def _names(schema: dg.TableSchema) -> set[str]:
    return {c.name for c in schema.columns}


@pytest.mark.slow
def test_the_report_must_exist_by_six_utc_and_nothing_else_has_a_deadline(env) -> None:
    specs = _specs(load_defs())
    policy = specs["daily_fraud_report"].freshness_policy
    assert policy == REPORT_FRESHNESS
    assert isinstance(policy, dg.FreshnessPolicy)
    assert policy.deadline_cron == "0 6 * * *"
    assert policy.timezone == "UTC"
    assert policy.lower_bound_delta == timedelta(hours=6)  # materialized after 00:00 UTC
    assert [n for n, s in specs.items() if s.freshness_policy is not None] == ["daily_fraud_report"]


@pytest.mark.slow
def test_a_branch_deployment_names_its_own_schema(env) -> None:
    for key, value in BRANCH_ENV.items():
        env.setenv(key, value)
    specs = _table_specs(load_defs())
    assert specs["fraud_scores"].metadata["dagster/table_name"] == "FRAUD_PR_42.FRAUD_SCORES"
    for spec in specs.values():
        assert spec.metadata["dagster/table_name"].startswith("FRAUD_PR_42.")
        assert spec.metadata["dagster/storage_kind"] == "snowflake"


@pytest.mark.slow
def test_code_references_link_to_git_when_the_deployment_says_where(env) -> None:
    env.setenv("FRAUD_GIT_URL", "https://github.com/acme/fraud/")
    env.setenv("FRAUD_GIT_REF", "0123abc")
    reference = _reference(_specs(load_defs())["fraud_scores"])
    assert isinstance(reference, dg.UrlCodeReference)
    prefix = (
        "https://github.com/acme/fraud/tree/0123abc/"
        "code_locations/hybrid-location/src/hybrid_location/defs/scoring.py#L"
    )
    assert reference.url.startswith(prefix), reference.url
    # Dagster+ branch deployments: the repository and commit it sets
    env.delenv("FRAUD_GIT_URL")
    env.delenv("FRAUD_GIT_REF")
    env.setenv("DAGSTER_CLOUD_GIT_REPO", "acme/fraud")
    env.setenv("DAGSTER_CLOUD_GIT_SHA", "feedbeef")
    url = _reference(_specs(load_defs())["fraud_scores"]).url
    assert url.startswith("https://github.com/acme/fraud/tree/feedbeef/code_locations/")
    # a host Dagster cannot link to: the references stay local, the location still loads
    env.delenv("DAGSTER_CLOUD_GIT_REPO")
    env.setenv("FRAUD_GIT_URL", "https://git.example.com/fraud")
    assert isinstance(_reference(_specs(load_defs())["fraud_scores"]), dg.LocalFileCodeReference)


def test_owners_come_from_the_environment_and_bad_ones_fail_clearly() -> None:
    assert catalog.owners({}) == [DEFAULT_OWNER]
    assert catalog.owners({OWNERS_VARIABLE: "a@acme.com, team:risk"}) == ["a@acme.com", "team:risk"]
    with pytest.raises(ValueError, match=OWNERS_VARIABLE):
        catalog.owners({OWNERS_VARIABLE: "bob"})


def test_code_versions_follow_the_code_each_asset_runs_and_the_shape() -> None:
    features = source_closure("hybrid_location.defs.features")
    report = source_closure("hybrid_location.defs.reporting")
    assert "fraud_core.features.registry" in features
    assert "fraud_storage.shaped_partitions" in features
    assert not any(m.startswith("fraud_core.report") for m in features)  # the report is not read
    assert "fraud_core.report.summary" in report
    version = catalog.code_version
    assert version("hybrid_location.defs.features", SMALL_SHAPE) == version(
        "hybrid_location.defs.features", PipelineShape(windows_days=(1, 7), label_delay_days=2)
    )
    assert version("hybrid_location.defs.features", SMALL_SHAPE) != version(
        "hybrid_location.defs.features", PipelineShape(windows_days=(1, 7), label_delay_days=3)
    )
    assert version("hybrid_location.defs.features", SMALL_SHAPE) != version(
        "hybrid_location.defs.reporting", SMALL_SHAPE
    )


@pytest.mark.slow
def test_the_schemas_are_what_a_materialization_writes_and_the_row_counts_what_it_stored(
    resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    run_pipeline(resources, instance, days=1)
    wh = resources["warehouse"].get_warehouse()
    seen = 0
    for name, entry in TABLE_ASSETS.items():
        table = entry.table(wh.tables)
        event = instance.get_latest_materialization_event(dg.AssetKey(name))
        if table is None or event is None:
            assert name == "fraud_alerts", name  # the only table an older tree may lack
            continue
        seen += 1
        stored = wh.read_partitions(table, DAY, DAY + timedelta(days=1))
        schema = column_schema(entry.columns(SMALL_SHAPE), SMALL_SHAPE)
        assert list(stored.columns) == [c.name for c in schema.columns], name
        assert all(c.description for c in schema.columns), name
        metadata = event.asset_materialization.metadata
        counts = wh.partition_counts(table)
        assert counts[DAY] == len(stored) > 0, name
        assert metadata["dagster/partition_row_count"].value == counts[DAY], name
        assert metadata["dagster/row_count"].value == sum(counts.values()), name
        assert metadata["dagster/table_name"].value == str(table), name
        assert PARTITION_DATE in stored.columns
    assert seen >= 5
