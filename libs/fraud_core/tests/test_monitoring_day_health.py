"""The per-day health record of fraud_core.monitoring from stored monitoring rows: the latest mature
day (with gaps), the most drifted feature, the stored row and the reported numbers."""

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from fraud_core.columns import PARTITION_DATE
from fraud_core.monitoring import (
    MATURE_LOOKBACK_DAYS,
    DayHealth,
    HealthStatus,
    HealthThresholds,
    latest_mature_performance,
    mature_lookback_start,
    top_feature_drift,
)

DAY = date(2025, 3, 10)
EVALUATED_AT = pd.Timestamp("2025-03-11 06:00", tz="UTC")


def _performance_rows() -> pd.DataFrame:
    """Stored performance rows, unsorted, with gaps (03-02 and 03-07 missing)."""
    return pd.DataFrame(
        {
            PARTITION_DATE: [date(2025, 3, d) for d in (5, 3, 6, 1, 4, 8)],
            "labels_mature": [1, 1, 0, 1, 1, 0],  # 0/1 as some warehouses return booleans
            "card_precision_at_k": [0.4, 0.3, 0.9, 0.2, np.nan, 0.8],
            "n_fraud_cards": [5, 4, 6, 3, 0, 7],
        }
    )


def test_mature_lookback_start() -> None:
    assert MATURE_LOOKBACK_DAYS == 30
    assert mature_lookback_start(date(2025, 3, 31), 7) == date(2025, 2, 22)
    assert mature_lookback_start(DAY, 0) == date(2025, 2, 8)


def test_latest_mature_performance_skips_provisional_days_and_gaps() -> None:
    row = latest_mature_performance(_performance_rows())
    assert row is not None
    assert row[PARTITION_DATE] == date(2025, 3, 5)  # 03-06 and 03-08 are still provisional
    assert row["card_precision_at_k"] == 0.4
    earlier = _performance_rows().iloc[[1, 3]]  # 03-03 and 03-01 only
    assert latest_mature_performance(earlier)[PARTITION_DATE] == date(2025, 3, 3)
    provisional = _performance_rows().iloc[[2, 5]]
    assert latest_mature_performance(provisional) is None
    assert latest_mature_performance(_performance_rows().head(0)) is None


def _feature_rows(psi=(0.1, 0.3, np.nan, 0.3), computed=(True, True, False, True)) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feature": ["a", "b", "c", "d"],
            "psi": list(psi),
            "psi_computed": list(computed),
        }
    )


def test_top_feature_drift_is_the_first_highest_computed_psi() -> None:
    top = top_feature_drift(_feature_rows())
    assert top is not None
    assert (top["feature"], top["psi"]) == ("b", 0.3)  # b and d tie: the first stored wins
    none_computed = _feature_rows(computed=(False,) * 4)
    assert top_feature_drift(none_computed) is None


def _assess(latest_mature, *, score_psi=0.05, features=None, floor=0.1) -> DayHealth:
    return DayHealth.assess(
        DAY,
        score_drift=pd.Series({"psi": score_psi}),
        feature_drift=_feature_rows() if features is None else features,
        performance=pd.Series(
            {"budget_utilisation": 0.5, "n_transactions": 1000, "model_versions": "m1,m2"}
        ),
        latest_mature=latest_mature,
        thresholds=HealthThresholds(psi_threshold=0.2, precision_floor=floor),
    )


def _mature(precision: float, n_fraud_cards: int = 4) -> pd.Series:
    return pd.Series(
        {
            PARTITION_DATE: date(2025, 3, 3),
            "card_precision_at_k": precision,
            "n_fraud_cards": n_fraud_cards,
        }
    )


def test_a_precision_below_the_floor_is_critical() -> None:
    health = _assess(_mature(0.05))
    assert health.status is HealthStatus.CRITICAL
    assert health.health.reasons == (
        "realised card precision@k 0.050 on 2025-03-03 is below the floor 0.100",
        "feature PSI 0.300 (b) above 0.200",
    )
    row = health.frame(EVALUATED_AT).iloc[0].to_dict()
    assert row == {
        "day": DAY,
        "status": "critical",
        "reasons": "; ".join(health.health.reasons),
        "notes": "",
        "score_psi": 0.05,
        "max_feature_psi": 0.3,
        "most_drifted_feature": "b",
        "precision_day": "2025-03-03",
        "card_precision_at_k": 0.05,
        "budget_utilisation": 0.5,
        "n_transactions": 1000,
        "model_versions": "m1,m2",
        "evaluated_at": EVALUATED_AT,
    }
    assert health.numbers() == {
        "status": "critical",
        "reasons": list(health.health.reasons),
        "notes": [],
        "score_psi": 0.05,
        "max_feature_psi": 0.3,
        "most_drifted_feature": "b",
        "realised_card_precision_at_k": 0.05,
        "precision_day": "2025-03-03",
        "precision_floor": 0.1,
        "psi_threshold": 0.2,
        "budget_utilisation": 0.5,
    }


def test_a_mature_day_without_fraud_gives_no_precision() -> None:
    health = _assess(_mature(0.0, n_fraud_cards=0), floor=0.5)
    assert health.card_precision is None
    assert health.status is HealthStatus.WARNING  # the feature drift only, not the precision
    assert "no day with mature labels yet: realised precision not assessed" in health.health.notes
    row = health.frame(EVALUATED_AT).iloc[0]
    assert math.isnan(row["card_precision_at_k"])
    assert row["precision_day"] == "2025-03-03"  # the day looked at is still recorded


def test_nothing_measured_yet_is_healthy_with_notes() -> None:
    health = _assess(None, score_psi=np.nan, features=_feature_rows(computed=(False,) * 4))
    assert health.status is HealthStatus.HEALTHY
    assert len(health.health.notes) == 3
    numbers = health.numbers()
    assert numbers["score_psi"] is None
    assert numbers["max_feature_psi"] is None
    assert numbers["most_drifted_feature"] == "not computed"
    assert numbers["realised_card_precision_at_k"] is None
    assert numbers["precision_day"] == "none yet"
    frame = health.frame(EVALUATED_AT)
    row = frame.iloc[0]
    assert math.isnan(row["score_psi"])
    assert math.isnan(row["max_feature_psi"])
    assert (row["most_drifted_feature"], row["precision_day"]) == ("", "")
    assert frame["score_psi"].dtype == "float64"  # NaN, never None


def test_a_healthy_day() -> None:
    calm = _feature_rows(psi=(0.01, 0.02, np.nan, 0.0))
    health = _assess(_mature(0.7), features=calm)
    assert health.status is HealthStatus.HEALTHY
    assert health.health.reasons == ()
    assert health.numbers()["most_drifted_feature"] == "b"
    assert health.numbers()["realised_card_precision_at_k"] == pytest.approx(0.7)
