"""The shared business knobs, and the policy and report directory built from the environment."""

from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from pydantic import ValidationError

from fraud_core.promotion import PromotionPolicy
from fraud_dagster.builders import promotion_policy_resource, report_directory_resource
from fraud_dagster.environment import Environment
from fraud_dagster.resources import ReportDirectory, fixed_resource
from fraud_dagster.settings import FraudSettings


def test_business_knobs_defaults_and_validation() -> None:
    settings = FraudSettings()
    assert (settings.alert_budget, settings.alert_threshold) == (100, 0.5)
    assert settings.reasons_min_score == 0.05
    for overrides in (
        {"alert_budget": 0},
        {"alert_threshold": 1.0},
        {"alert_threshold": 0.0},
        {"reasons_min_score": -0.1},
        {"reasons_min_score": 1.5},
    ):
        with pytest.raises(ValidationError):
            FraudSettings(**overrides)
    # the shape, the gate and the reports are not run config: not fields here
    assert set(FraudSettings.model_fields) == {
        "alert_budget",
        "alert_threshold",
        "reasons_min_score",
    }


def _value(resource: dg.ResourceDefinition) -> object:
    with dg.build_resources({"value": resource}) as ready:
        return ready.value


def test_the_policy_comes_from_the_environment_and_prod_only_tightens_it() -> None:
    low = {"FRAUD_MIN_AVERAGE_PRECISION": "0.05", "FRAUD_MIN_ROC_AUC": "0.6"}
    for environment in (Environment.LOCAL, Environment.BRANCH):
        policy = _value(promotion_policy_resource(environment, low))
        assert policy == PromotionPolicy(min_average_precision=0.05, min_roc_auc=0.6)
    assert _value(promotion_policy_resource(Environment.PROD, {})) == PromotionPolicy()
    with pytest.raises(ValueError, match=r"FRAUD_MIN_AVERAGE_PRECISION='0\.05' would lower"):
        promotion_policy_resource(Environment.PROD, low)
    stricter = _value(promotion_policy_resource(Environment.PROD, {"FRAUD_MIN_ROC_AUC": "0.8"}))
    assert stricter == PromotionPolicy(min_roc_auc=0.8)


def test_the_report_directory_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path))
    local = _value(report_directory_resource({}))
    assert local == ReportDirectory(str(tmp_path / "reports"))
    remote = _value(report_directory_resource({"FRAUD_REPORT_DIR": "gs://bucket/reports/"}))
    assert remote.html_path(date(2025, 3, 31)) == "gs://bucket/reports/fraud_report_2025-03-31.html"
    with pytest.raises(ValueError, match="must not be empty"):
        ReportDirectory(" ")


def test_a_fixed_resource_refuses_run_config() -> None:
    @dg.asset
    def gate(policy: dg.ResourceParam[PromotionPolicy]) -> None:
        assert policy.min_roc_auc == 0.7

    resources = {"policy": fixed_resource(PromotionPolicy(), "the gate")}
    assert dg.materialize([gate], resources=resources).success
    with pytest.raises(dg.DagsterInvalidConfigError, match='unexpected config entry "min_roc_auc"'):
        dg.materialize(
            [gate],
            resources=resources,
            run_config={"resources": {"policy": {"config": {"min_roc_auc": 0.0}}}},
        )
