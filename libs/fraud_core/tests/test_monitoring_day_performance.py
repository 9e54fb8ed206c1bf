"""The per-day performance record of fraud_core.monitoring on a hand-computed day: the provisional,
evaluated and fraud-free statuses, the precision floor and the review budget, the stored row."""

import math
from dataclasses import fields
from datetime import date

import pandas as pd
import pytest

from fraud_core.columns import (
    CUSTOMER_ID,
    FRAUD_SCORE,
    MODEL_VERSION,
    TERMINAL_ID,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
)
from fraud_core.monitoring import DayPerformance, HealthThresholds, RealisedPerformance

DAY = date(2025, 3, 10)
EVALUATED_AT = pd.Timestamp("2025-03-13 06:00", tz="UTC")


def _scored(labels=(1, 0, 0, 1, None, 1)) -> pd.DataFrame:
    """Six transactions of 2025-03-10: cards A (0.9, 0.2), B 0.8, C 0.6, D 0.3, E 0.1."""
    customers = ["A", "A", "B", "C", "D", "E"]
    return pd.DataFrame(
        {
            TRANSACTION_ID: range(6),
            TX_DATETIME: [
                pd.Timestamp("2025-03-10", tz="UTC") + pd.Timedelta(hours=h) for h in range(6)
            ],
            CUSTOMER_ID: customers,
            TERMINAL_ID: range(10, 16),
            TX_AMOUNT: [100.0, 20.0, 50.0, 70.0, 10.0, 5.0],
            TX_FRAUD: pd.array(list(labels), dtype="Int8"),
            FRAUD_SCORE: [0.9, 0.2, 0.8, 0.6, 0.3, 0.1],
            MODEL_VERSION: ["m2", "m1", "m2", "m2", "m2", "m2"],
        }
    )


def _measure(scored=None, *, as_of=date(2025, 3, 12), floor=0.1, budget=2, max_use=1.0):
    return DayPerformance.measure(
        _scored() if scored is None else scored,
        DAY,
        as_of=as_of,
        label_delay_days=2,
        threshold=0.5,
        budget=budget,
        thresholds=HealthThresholds(precision_floor=floor, max_budget_utilisation=max_use),
    )


def test_a_day_before_its_labels_mature_is_provisional_and_not_judged() -> None:
    perf = _measure(as_of=date(2025, 3, 11), floor=0.9)
    assert not perf.performance.labels_mature
    assert perf.status == "provisional: labels mature on 2025-03-12"
    assert not perf.judged
    assert not perf.below_floor  # CP@2 = 0.5 < 0.9, but provisional days are not judged
    assert perf.precision_numbers()["status"] == perf.status
    assert perf.precision_numbers()["as_of"] == "2025-03-11"


def test_a_mature_day_is_evaluated_against_the_floor() -> None:
    # Labelled cards by max score: A 0.9 (fraud), B 0.8, C 0.6 (fraud), E 0.1 (fraud): CP@2 = 1/2.
    perf = _measure(floor=0.5)
    assert perf.status == "evaluated"
    assert perf.judged
    assert not perf.below_floor  # exactly at the floor is not below it
    assert _measure(floor=0.6).below_floor
    assert perf.precision_numbers() == {
        "labels_mature": True,
        "as_of": "2025-03-12",
        "label_coverage": pytest.approx(5 / 6),
        "card_precision_at_k": 0.5,
        "k": 2,
        "precision_floor": 0.5,
        "precision_at_threshold": pytest.approx(2 / 3),
        "recall_at_threshold": pytest.approx(2 / 3),
        "card_recall_at_k": pytest.approx(1 / 3),
        "n_fraud_cards": 3,
        "n_detected_cards": 1,
        "status": "evaluated",
    }


def test_a_mature_day_without_fraud_is_not_judged() -> None:
    perf = _measure(_scored(labels=(0, 0, 0, 0, None, 0)), floor=1.0)
    assert perf.performance.n_fraud_cards == 0
    assert perf.performance.card_precision_at_k == 0.0
    assert perf.status == "no fraudulent card that day"
    assert not perf.judged
    assert not perf.below_floor


def test_alerted_cards_against_the_budget() -> None:
    # Cards at or above 0.5: A, B, C -> 3 cards for a budget of 2.
    perf = _measure(budget=2, max_use=1.0)
    assert perf.over_budget
    assert perf.budget_numbers() == {
        "n_alert_cards": 3,
        "alert_budget": 2,
        "budget_utilisation": 1.5,
        "max_budget_utilisation": 1.0,
        "threshold": 0.5,
    }
    assert not _measure(budget=2, max_use=1.5).over_budget  # at the limit is within it
    assert not _measure(budget=3).over_budget


def test_every_reported_number() -> None:
    numbers = _measure().numbers()
    assert set(numbers) == {
        *_measure().precision_numbers(),
        *_measure().budget_numbers(),
        "average_precision",
        "roc_auc",
        "n_transactions",
    }
    assert numbers["average_precision"] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert numbers["roc_auc"] == pytest.approx(0.5)
    assert numbers["n_transactions"] == 6


def test_the_stored_row() -> None:
    frame = _measure().frame(EVALUATED_AT)
    performance_columns = [f.name for f in fields(RealisedPerformance)]
    assert frame.columns.tolist() == [
        *performance_columns,
        "alert_budget",
        "n_alert_cards",
        "budget_utilisation",
        "over_budget",
        "excess_cards",
        "model_versions",
        "evaluated_at",
    ]
    row = frame.iloc[0]
    assert row["day"] == DAY
    assert row["as_of"] == date(2025, 3, 12)
    assert row["labels_mature"]
    assert row["card_precision_at_k"] == 0.5
    assert (row["alert_budget"], row["n_alert_cards"], row["excess_cards"]) == (2, 3, 1)
    assert row["over_budget"]  # more cards than the budget (whatever the allowed utilisation)
    assert row["model_versions"] == "m1,m2"
    assert row["evaluated_at"] == EVALUATED_AT


def test_unmeasured_numbers_are_stored_as_nan_and_reported_as_none() -> None:
    perf = _measure(_scored(labels=(None,) * 6), as_of=date(2025, 3, 11))
    frame = perf.frame(EVALUATED_AT)
    for column in ("precision", "recall", "card_precision_at_k", "average_precision", "roc_auc"):
        assert frame[column].dtype == "float64", column
        assert math.isnan(frame.loc[0, column]), column
    numbers = perf.numbers()
    assert numbers["card_precision_at_k"] is None
    assert numbers["precision_at_threshold"] is None
    assert numbers["roc_auc"] is None
    assert numbers["label_coverage"] == 0.0
    assert numbers["status"] == "provisional: labels mature on 2025-03-12"
