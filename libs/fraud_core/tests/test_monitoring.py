"""fraud_core.monitoring on hand-computed cases: PSI, label maturity, realised performance, alerts."""

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from fraud_core.monitoring import (
    DEFAULT_EPSILON,
    HealthStatus,
    HealthThresholds,
    alert_volume,
    assess_health,
    bin_shares,
    drift_table,
    label_maturity_date,
    labels_mature,
    latest_mature_day,
    numeric_feature_columns,
    population_stability_index,
    psi_from_shares,
    quantile_edges,
    realised_performance,
)
from fraud_core.report import daily_report

EPS = DEFAULT_EPSILON


# --------------------------------------------------------------------------------------------
# PSI
# --------------------------------------------------------------------------------------------


def test_textbook_psi_from_shares() -> None:
    # (0.2-0.1) ln 2 + 0 + 0 + (0.3-0.4) ln(0.75) = 0.0693147 + 0.0287682
    psi = psi_from_shares([0.1, 0.2, 0.3, 0.4], [0.2, 0.2, 0.3, 0.3])
    assert psi == pytest.approx(0.0980829, abs=1e-7)
    assert psi_from_shares([0.2, 0.2, 0.3, 0.3], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(psi)
    assert psi_from_shares([0.25] * 4, [0.25] * 4) == 0.0


def test_quantile_edges_and_right_closed_bins() -> None:
    reference = np.arange(100)  # 0..99
    edges = quantile_edges(reference, 4)
    assert edges.tolist() == [24.75, 49.5, 74.25]
    # A value equal to a cut point belongs to the bin that ends there.
    shares = bin_shares([0, 24.75, 25, 49.5, 100], edges)
    assert shares.tolist() == [0.4, 0.4, 0.0, 0.2]
    assert bin_shares(reference, edges).tolist() == [0.25] * 4


def test_psi_of_a_shifted_sample_with_empty_bins_uses_epsilon() -> None:
    # Reference 0..99 in 4 quartile bins; the actual day only fills the two lower bins.
    result = population_stability_index(np.arange(100), np.arange(50), n_bins=4)
    assert result.reference_shares == (0.25, 0.25, 0.25, 0.25)
    assert result.actual_shares == (0.5, 0.5, 0.0, 0.0)
    by_hand = 2 * 0.25 * math.log(2) + 2 * (EPS - 0.25) * math.log(EPS / 0.25)
    assert result.psi == pytest.approx(by_hand, rel=1e-12)
    assert result.psi == pytest.approx(4.257032, abs=1e-6)
    assert (result.n_reference, result.n_actual, result.n_bins) == (100, 50, 4)
    table = result.bins()
    assert table["contribution"].sum() == pytest.approx(result.psi)
    assert table["bin"].iloc[0] == "(-inf, 24.75]"
    # A larger epsilon gives a smaller (finite) penalty for the empty bins.
    assert population_stability_index(np.arange(100), np.arange(50), n_bins=4, epsilon=0.01).psi < (
        result.psi
    )


def test_psi_of_a_binary_feature_collapses_duplicate_edges() -> None:
    # 10 quantile bins of a 90/10 flag: cut points 0 (x8, deduplicated) and 0.1.
    reference = [0] * 90 + [1] * 10
    actual = [0] * 80 + [1] * 20
    result = population_stability_index(reference, actual, n_bins=10)
    assert result.edges == pytest.approx((0.0, 0.1))
    assert result.reference_shares == pytest.approx((0.9, 0.0, 0.1))
    assert result.actual_shares == pytest.approx((0.8, 0.0, 0.2))
    # The bin empty in both samples contributes exactly 0.
    by_hand = (0.8 - 0.9) * math.log(0.8 / 0.9) + (0.2 - 0.1) * math.log(2)
    assert result.psi == pytest.approx(by_hand, rel=1e-12)
    assert result.psi == pytest.approx(0.0810930, abs=1e-7)


def test_missing_values_get_their_own_bin() -> None:
    result = population_stability_index([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, np.nan, None], n_bins=2)
    assert result.missing_bin
    assert result.edges == (2.5,)
    assert result.reference_shares == (0.5, 0.5, 0.0)
    assert result.actual_shares == (0.5, 0.0, 0.5)
    by_hand = 2 * (0.5 - EPS) * math.log(0.5 / EPS)
    assert result.psi == pytest.approx(by_hand, rel=1e-12)
    assert result.bins()["bin"].iloc[-1] == "missing"


def test_identical_samples_have_zero_psi_and_inputs_are_validated() -> None:
    rng = np.random.default_rng(0)
    sample = rng.normal(size=1000)
    assert population_stability_index(sample, sample).psi == pytest.approx(0.0, abs=1e-15)
    shifted = population_stability_index(sample, sample + 1.0).psi
    assert shifted > 0.2  # a one-sigma shift is a significant drift
    assert population_stability_index(sample, rng.normal(size=1000)).psi < 0.1
    with pytest.raises(ValueError, match="reference sample is empty"):
        population_stability_index([], [1.0])
    with pytest.raises(ValueError, match="actual sample is empty"):
        population_stability_index([1.0], [])
    with pytest.raises(ValueError, match="n_bins"):
        quantile_edges([1.0, 2.0], 1)
    with pytest.raises(ValueError, match="epsilon"):
        psi_from_shares([1.0], [1.0], epsilon=0.0)


def test_drift_table_ranks_columns_and_skips_keys() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    reference = pd.DataFrame(
        {
            "transaction_id": np.arange(n),
            "customer_id": rng.integers(0, 50, n),
            "tx_fraud": rng.integers(0, 2, n),
            "tx_amount": rng.gamma(2.0, 30.0, n),
            "tx_during_night": (rng.random(n) < 0.1).astype("int8"),
            "tx_during_weekend": np.zeros(n, dtype="int8"),
            "__index_level_0__": np.arange(n),
            "model_version": ["m1"] * n,
        }
    )
    actual = reference.copy()
    actual["tx_amount"] = actual["tx_amount"] * 3  # strong drift
    assert numeric_feature_columns(actual) == ["tx_amount", "tx_during_night"]
    table = drift_table(reference, actual, threshold=0.2)
    assert table["column"].tolist() == ["tx_amount", "tx_during_night"]
    assert table["drifted"].tolist() == [True, False]
    assert table.loc[1, "psi"] == pytest.approx(0.0)
    assert table.loc[0, "actual_mean"] == pytest.approx(3 * table.loc[0, "reference_mean"])
    direct = population_stability_index(reference["tx_amount"], actual["tx_amount"]).psi
    assert table.loc[0, "psi"] == pytest.approx(direct)
    with pytest.raises(ValueError, match="columns missing"):
        drift_table(reference, actual, ["nope"])


# --------------------------------------------------------------------------------------------
# Label delay
# --------------------------------------------------------------------------------------------


def test_label_maturity() -> None:
    assert label_maturity_date(date(2025, 3, 29), 2) == date(2025, 3, 31)
    assert latest_mature_day("2025-03-31", 2) == date(2025, 3, 29)
    assert labels_mature(date(2025, 3, 29), date(2025, 3, 31), 2)
    assert not labels_mature(date(2025, 3, 30), date(2025, 3, 31), 2)
    assert labels_mature(date(2025, 3, 31), date(2025, 3, 31), 0)
    with pytest.raises(ValueError, match="label_delay_days"):
        labels_mature(date(2025, 3, 31), date(2025, 3, 31), -1)


# --------------------------------------------------------------------------------------------
# Realised performance and alert volume
# --------------------------------------------------------------------------------------------


def _scored_day() -> pd.DataFrame:
    """Six transactions on 2025-03-10 (one unlabelled) and one on another day."""
    rows = [
        # customer, hour, score, label
        ("A", 1, 0.9, 1),
        ("A", 2, 0.2, 0),
        ("B", 3, 0.8, 0),
        ("C", 4, 0.6, 1),
        ("D", 5, 0.3, None),
        ("E", 6, 0.1, 1),
    ]
    frame = pd.DataFrame(
        {
            "transaction_id": range(len(rows)),
            "customer_id": [r[0] for r in rows],
            "tx_datetime": [
                pd.Timestamp("2025-03-10", tz="UTC") + pd.Timedelta(hours=r[1]) for r in rows
            ],
            "terminal_id": [10, 11, 12, 13, 14, 15],
            "tx_amount": [100.0, 20.0, 50.0, 70.0, 10.0, 5.0],
            "tx_fraud": pd.array([r[3] for r in rows], dtype="Int8"),
            "fraud_score": [r[2] for r in rows],
            "model_version": "m1",
        }
    )
    other_day = frame.iloc[[0]].assign(
        transaction_id=99, tx_datetime=pd.Timestamp("2025-03-11 01:00", tz="UTC")
    )
    return pd.concat([frame, other_day], ignore_index=True)


def test_realised_performance_by_hand() -> None:
    perf = realised_performance(
        _scored_day(), date(2025, 3, 10), as_of=date(2025, 3, 12), label_delay_days=2, k=2
    )
    assert perf.labels_mature
    assert (perf.n_transactions, perf.n_labelled, perf.n_fraud) == (6, 5, 3)
    assert perf.label_coverage == pytest.approx(5 / 6)
    # Alerts at 0.5: A(0.9, fraud), B(0.8, genuine), C(0.6, fraud).
    assert (perf.n_alerts, perf.n_alerts_labelled, perf.true_positives) == (3, 3, 2)
    assert perf.precision == pytest.approx(2 / 3)
    assert perf.recall == pytest.approx(2 / 3)  # E's fraud (0.1) is missed
    # Cards on labelled rows: A 0.9 (fraud), B 0.8, C 0.6 (fraud), E 0.1 (fraud); top 2 = A, B.
    assert (perf.n_cards, perf.n_fraud_cards, perf.n_detected_cards) == (5, 3, 1)
    assert perf.card_precision_at_k == pytest.approx(1 / 2)
    assert perf.card_recall_at_k == pytest.approx(1 / 3)
    # Ranking 0.9+ 0.8- 0.6+ 0.2- 0.1+: AP = (1 + 2/3 + 3/5) / 3; AUC = 3 of 6 pairs.
    assert perf.average_precision == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert perf.roc_auc == pytest.approx(0.5)
    record = perf.as_record()
    assert record["day"] == date(2025, 3, 10)
    assert record["card_precision_at_k"] == perf.card_precision_at_k


def test_performance_before_the_labels_mature_is_provisional() -> None:
    perf = realised_performance(
        _scored_day(), "2025-03-10", as_of="2025-03-11", label_delay_days=2, k=2
    )
    assert not perf.labels_mature
    unlabelled = _scored_day().assign(tx_fraud=pd.array([None] * 7, dtype="Int8"))
    empty = realised_performance(unlabelled, "2025-03-10", as_of="2025-03-11", label_delay_days=2)
    assert empty.n_labelled == 0
    assert empty.label_coverage == 0.0
    assert empty.precision is None
    assert empty.recall is None
    assert empty.card_precision_at_k is None
    assert empty.average_precision is None
    assert empty.n_alerts == 3  # alerts do not need labels


def test_alert_volume_against_the_budget() -> None:
    volume = alert_volume(_scored_day(), date(2025, 3, 10), threshold=0.5, budget=2)
    assert (volume.n_transactions, volume.n_cards) == (6, 5)
    assert (volume.n_alert_transactions, volume.n_alert_cards) == (3, 3)
    assert volume.budget_utilisation == pytest.approx(1.5)
    assert volume.over_budget
    assert volume.excess_cards == 1
    relaxed = alert_volume(_scored_day(), date(2025, 3, 10), threshold=0.5, budget=100)
    assert not relaxed.over_budget
    assert relaxed.excess_cards == 0
    with pytest.raises(ValueError, match="budget"):
        alert_volume(_scored_day(), date(2025, 3, 10), budget=0)


def test_alert_volume_agrees_with_the_daily_report() -> None:
    rng = np.random.default_rng(3)
    n = 500
    scores = pd.DataFrame(
        {
            "transaction_id": np.arange(n),
            "tx_datetime": pd.Timestamp("2025-03-10", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
            "customer_id": rng.integers(0, 120, n),
            "terminal_id": rng.integers(0, 300, n),
            "tx_amount": rng.gamma(2.0, 30.0, n),
            "tx_fraud": pd.array(rng.integers(0, 2, n), dtype="Int8"),
            "fraud_score": rng.beta(0.5, 4.0, n),
            "model_version": "m1",
        }
    )
    volume = alert_volume(scores, date(2025, 3, 10), threshold=0.3, budget=10)
    headline = daily_report(scores, date(2025, 3, 10), alert_budget=10, threshold=0.3).headline
    assert volume.n_alert_cards == headline.alerts_threshold_cards > 0
    assert volume.n_alert_transactions == headline.alerts_threshold_tx


# --------------------------------------------------------------------------------------------
# Health
# --------------------------------------------------------------------------------------------


def test_assess_health() -> None:
    t = HealthThresholds(psi_threshold=0.2, precision_floor=0.1, max_budget_utilisation=1.0)
    healthy = assess_health(
        score_psi=0.05,
        max_feature_psi=0.1,
        card_precision=0.3,
        budget_utilisation=0.5,
        thresholds=t,
    )
    assert healthy.status is HealthStatus.HEALTHY
    assert healthy.reasons == ()
    drift = assess_health(
        score_psi=0.25,
        max_feature_psi=0.3,
        card_precision=0.3,
        budget_utilisation=1.2,
        thresholds=t,
        drifted_feature="tx_amount",
    )
    assert drift.status is HealthStatus.WARNING
    assert len(drift.reasons) == 3
    assert "tx_amount" in drift.reasons[1]
    critical = assess_health(
        score_psi=0.25,
        max_feature_psi=None,
        card_precision=0.05,
        budget_utilisation=None,
        thresholds=t,
        precision_day=date(2025, 3, 1),
    )
    assert critical.status is HealthStatus.CRITICAL
    assert critical.reasons[0].startswith("realised card precision@k 0.050 on 2025-03-01")
    assert "feature drift not measured" in critical.notes
    unknown = assess_health(
        score_psi=None, max_feature_psi=None, card_precision=None, budget_utilisation=None
    )
    assert unknown.status is HealthStatus.HEALTHY
    assert len(unknown.notes) == 3
    # Exactly at the threshold/floor is not an alert.
    edge = assess_health(
        score_psi=0.2, max_feature_psi=0.2, card_precision=0.1, budget_utilisation=1.0, thresholds=t
    )
    assert edge.status is HealthStatus.HEALTHY
    with pytest.raises(ValueError, match="precision_floor"):
        HealthThresholds(precision_floor=1.5)
