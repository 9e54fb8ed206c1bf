"""The location's resources: chosen per environment in defs/resources.py, and what run config
cannot change (pipeline shape, promotion policy, report directory)."""

from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from fraud_core.promotion import PromotionPolicy
from fraud_core.shape import PipelineShape
from fraud_dagster.environment import Environment
from fraud_dagster.resources import (
    DuckDBWarehouseResource,
    ModelStoreResource,
    ReportDirectory,
    SnowflakeWarehouseResource,
)
from fraud_dagster.settings import FraudSettings
from fraud_dagster.shape import PIPELINE_SHAPE
from hybrid_location import pipeline as a
from hybrid_location.defs.resources import build_resources
from hybrid_location.settings import TrainingSettings

PROD_ENV = {"DAGSTER_CLOUD_DEPLOYMENT_NAME": "prod", "FRAUD_MODEL_STORE": "s3://bucket/models"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for key in (
        "FRAUD_ENV",
        "FRAUD_WAREHOUSE",
        "FRAUD_MODEL_STORE",
        "FRAUD_REPORT_DIR",
        "FRAUD_PROMOTION_TOLERANCE",
        "FRAUD_MIN_AVERAGE_PRECISION",
        "FRAUD_MIN_ROC_AUC",
        "DAGSTER_CLOUD_DEPLOYMENT_NAME",
        "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def _values(resources: dict[str, Any]) -> dict[str, Any]:
    """The resources as the assets receive them."""
    with dg.build_resources(
        {k: resources[k] for k in ("shape", "promotion_policy", "report_dir")}
    ) as ready:
        return {"shape": ready.shape, "policy": ready.promotion_policy, "reports": ready.report_dir}


def test_build_resources_of_the_location(env, tmp_path: Path) -> None:
    resources = build_resources(Environment.LOCAL)
    assert set(resources) == {
        "warehouse",
        "model_store",
        "settings",
        "training",
        "shape",
        "promotion_policy",
        "report_dir",
    }
    assert isinstance(resources["warehouse"], DuckDBWarehouseResource)
    assert resources["warehouse"].seed_missing_source  # the pipeline seeds an empty local source
    assert isinstance(resources["model_store"], ModelStoreResource)
    assert isinstance(resources["settings"], FraudSettings)
    assert isinstance(resources["training"], TrainingSettings)
    values = _values(resources)
    assert values["shape"] is PIPELINE_SHAPE
    assert values["policy"] == PromotionPolicy()  # the code's defaults
    assert values["reports"] == ReportDirectory(str(tmp_path / "data" / "reports"))


def test_policy_and_report_directory_come_from_the_environment(env, tmp_path: Path) -> None:
    env.setenv("FRAUD_MIN_AVERAGE_PRECISION", "0.05")
    env.setenv("FRAUD_PROMOTION_TOLERANCE", "0.02")
    env.setenv("FRAUD_REPORT_DIR", "s3://reports/fraud")
    values = _values(build_resources(Environment.LOCAL))
    assert values["policy"] == PromotionPolicy(tolerance=0.02, min_average_precision=0.05)
    report = values["reports"].html_path(date(2025, 3, 31))
    assert report == "s3://reports/fraud/fraud_report_2025-03-31.html"


def test_prod_refuses_lowered_floors_naming_the_variable(env) -> None:
    for key, value in PROD_ENV.items():
        env.setenv(key, value)
    env.setenv("FRAUD_WAREHOUSE", "duckdb")
    assert _values(build_resources())["policy"] == PromotionPolicy()  # PROD by default
    env.setenv("FRAUD_MIN_AVERAGE_PRECISION", "0.3")  # raised: fine
    assert _values(build_resources())["policy"].min_average_precision == 0.3
    env.setenv("FRAUD_MIN_ROC_AUC", "0.5")  # lowered: the location refuses to load
    with pytest.raises(ValueError, match=r"FRAUD_MIN_ROC_AUC='0.5' would lower .*stricter"):
        build_resources()
    assert _values(build_resources(Environment.LOCAL))["policy"].min_roc_auc == 0.5


@pytest.mark.parametrize(
    ("resource", "config"),
    [
        ("settings", {"min_average_precision": 0.0, "min_roc_auc": 0.0}),
        ("settings", {"promotion_tolerance": 0.99}),
        ("settings", {"report_dir": "/tmp/elsewhere"}),
        ("settings", {"windows_days": [1, 3], "label_delay_days": 1}),
        ("training", {"label_delay_days": 1}),
        ("promotion_policy", {"min_roc_auc": 0.0}),
        ("shape", {"label_delay_days": 1}),
        ("report_dir", {"root": "/tmp/elsewhere"}),
    ],
)
def test_run_config_cannot_set_the_gate_the_shape_or_the_reports(
    resource: str, config: dict[str, Any], make_resources, instance
) -> None:
    """The launchpad route of issue 15: such a run fails config validation before any step."""
    with pytest.raises(dg.DagsterInvalidConfigError, match="unexpected config entr"):
        dg.materialize(
            a.PIPELINE_ASSETS,
            selection=[a.fraud_detection_model],
            resources=make_resources(),
            instance=instance,
            run_config={"resources": {resource: {"config": config}}},
        )
    assert instance.get_runs() == []


def test_business_and_training_knobs_stay_run_config(make_resources, instance) -> None:
    """What may change per run still can, validated: a bad value fails, naming the problem."""
    for resource, config, message in (
        ("settings", {"alert_threshold": 1.5}, "must be a probability"),
        ("training", {"train_days": 0}, "must be positive"),
        ("training", {"device": "tpu"}, "must be auto, cpu or gpu"),
    ):
        with pytest.raises(dg.DagsterResourceFunctionError) as caught:
            dg.materialize(
                a.PIPELINE_ASSETS,
                selection=[a.fraud_detection_model],
                resources=make_resources(),
                instance=instance,
                run_config={"resources": {resource: {"config": config}}},
            )
        assert message in str(caught.value.__cause__)


def test_branch_deployment_writes_to_its_own_schema_and_model_prefix(env) -> None:
    for key, value in {
        "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1",
        "DAGSTER_CLOUD_DEPLOYMENT_NAME": "pr-42",
        "DAGSTER_CLOUD_PULL_REQUEST_ID": "42",
        "FRAUD_MODEL_STORE": "s3://bucket/models",
    }.items():
        env.setenv(key, value)
    resources = build_resources(Environment.BRANCH)
    assert isinstance(resources["warehouse"], SnowflakeWarehouseResource)
    tables = resources["warehouse"].tables.table_names()
    assert str(tables.scores) == "FRAUD_PR_42.FRAUD_SCORES"
    assert str(tables.source) == "RAW.CUSTOMER_TRANSACTIONS"  # reads prod's source, writes its own
    assert resources["model_store"].root == "s3://bucket/models/branches/PR_42"


def test_prod_requires_a_model_store_url(env) -> None:
    with pytest.raises(ValueError, match="FRAUD_MODEL_STORE must be set in prod"):
        build_resources(Environment.PROD)


def test_the_partition_mappings_follow_the_deployment_shape() -> None:
    """Lookback, labels-due and terminal-window mappings all derive from PIPELINE_SHAPE."""
    shape: PipelineShape = PIPELINE_SHAPE

    def offsets(asset: dg.AssetsDefinition, upstream: dg.AssetsDefinition) -> tuple[int, int]:
        mapping = asset.get_partition_mapping(upstream.key)
        assert isinstance(mapping, dg.TimeWindowPartitionMapping)
        return mapping.start_offset, mapping.end_offset

    features, labels = a.transformed_transactions, a.matured_terminal_labels
    raw = a.raw_customer_transactions
    assert offsets(features, raw) == (-shape.lookback_days, 0)
    assert offsets(features, labels) == (-shape.terminal_whole_days, 0)
    due = shape.labels_due_after_days
    assert offsets(labels, raw) == (-due, -due)
