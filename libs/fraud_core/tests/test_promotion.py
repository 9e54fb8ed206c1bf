import math

import pytest

from fraud_core.promotion import PromotionPolicy, decide_promotion

GOOD = {"average_precision": 0.60, "roc_auc": 0.88, "card_precision_at_k": 0.25}


def test_first_model_promoted_when_it_clears_the_floors() -> None:
    decision = decide_promotion(GOOD, None)
    assert decision.promote
    assert "first model" in decision.reason


@pytest.mark.parametrize(
    ("metrics", "fragment"),
    [
        ({"average_precision": 0.10, "roc_auc": 0.9}, "average_precision 0.1000 < floor"),
        ({"average_precision": 0.50, "roc_auc": 0.6}, "roc_auc 0.6000 < floor"),
        ({"average_precision": math.nan, "roc_auc": 0.9}, "no finite"),
    ],
)
def test_first_model_refused_below_floor(metrics: dict[str, float], fragment: str) -> None:
    decision = decide_promotion(metrics, None)
    assert not decision.promote
    assert fragment in decision.reason


def test_worse_candidate_refused_and_equal_within_tolerance_accepted() -> None:
    current = {**GOOD, "average_precision": 0.65}
    assert not decide_promotion(GOOD, current, PromotionPolicy(tolerance=0.01)).promote
    assert decide_promotion(GOOD, current, PromotionPolicy(tolerance=0.06)).promote
    better = {**GOOD, "average_precision": 0.70}
    assert decide_promotion(better, current).promote


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="unknown promotion metric"):
        PromotionPolicy(metric="accuracy")
    with pytest.raises(ValueError, match="tolerance"):
        PromotionPolicy(tolerance=-0.1)


def test_policy_from_the_environment() -> None:
    assert PromotionPolicy.from_env({}) == PromotionPolicy()
    policy = PromotionPolicy.from_env(
        {
            "FRAUD_PROMOTION_TOLERANCE": "0.02",
            "FRAUD_MIN_AVERAGE_PRECISION": "0.05",
            "FRAUD_MIN_ROC_AUC": " 0.6 ",
        }
    )
    assert policy == PromotionPolicy(tolerance=0.02, min_average_precision=0.05, min_roc_auc=0.6)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FRAUD_MIN_ROC_AUC": "high"}, "FRAUD_MIN_ROC_AUC='high' is not a number"),
        ({"FRAUD_MIN_ROC_AUC": "nan"}, "FRAUD_MIN_ROC_AUC='nan' is not a finite number"),
        ({"FRAUD_MIN_AVERAGE_PRECISION": "1.5"}, "FRAUD_MIN_AVERAGE_PRECISION='1.5': .*\\[0, 1\\]"),
        ({"FRAUD_PROMOTION_TOLERANCE": "1"}, "FRAUD_PROMOTION_TOLERANCE='1': tolerance"),
    ],
)
def test_invalid_policy_variables_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PromotionPolicy.from_env(env)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FRAUD_MIN_AVERAGE_PRECISION", "0.19"),
        ("FRAUD_MIN_ROC_AUC", "0"),
        ("FRAUD_PROMOTION_TOLERANCE", "0.99"),
    ],
)
def test_production_may_only_make_the_gate_stricter(variable: str, value: str) -> None:
    assert PromotionPolicy.from_env({variable: value})  # elsewhere (local, branch) it may
    with pytest.raises(ValueError, match=f"{variable}='{value}' would .*may only be made stricter"):
        PromotionPolicy.from_env({variable: value}, only_stricter=True)


def test_production_may_raise_the_floors_and_lower_the_tolerance() -> None:
    env = {
        "FRAUD_MIN_AVERAGE_PRECISION": "0.3",
        "FRAUD_MIN_ROC_AUC": "0.7",
        "FRAUD_PROMOTION_TOLERANCE": "0.0",
    }
    policy = PromotionPolicy.from_env(env, only_stricter=True)
    assert (policy.min_average_precision, policy.min_roc_auc, policy.tolerance) == (0.3, 0.7, 0.0)
    assert policy.describe()["min_average_precision"] == 0.3
