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
