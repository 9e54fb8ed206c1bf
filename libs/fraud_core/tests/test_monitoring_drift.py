"""The per-day drift records of fraud_core.monitoring on hand-computed cases: reference windows and
their sampling, score drift and feature drift rows, statuses and numbers, Markdown tables."""

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from fraud_core.columns import FRAUD_SCORE
from fraud_core.monitoring import (
    DRIFT_COLUMNS,
    NOT_COMPUTED,
    DriftSettings,
    FeatureDrift,
    Reference,
    ScoreDrift,
    markdown_table,
    not_computed_drift_table,
    reference_days,
    sample_reference_day,
    tracked_features,
)

DAY = date(2025, 3, 10)
EVALUATED_AT = pd.Timestamp("2025-03-11 06:00", tz="UTC")
# PSI of 0..49 against 0..99 on 4 quartile bins (shares 0.5, 0.5, 0, 0 against 0.25 each).
EPS = 1e-4
HALF_RANGE_PSI = 2 * 0.25 * math.log(2) + 2 * (EPS - 0.25) * math.log(EPS / 0.25)

SCORE_DRIFT_COLUMNS = [
    "day",
    "psi",
    "psi_computed",
    "drifted",
    "psi_threshold",
    "n_bins",
    "n_actual",
    "n_reference",
    "reference_first_day",
    "reference_last_day",
    "reference_days_with_data",
    "actual_mean",
    "reference_mean",
    "evaluated_at",
]
FEATURE_DRIFT_COLUMNS = [
    "feature",
    *DRIFT_COLUMNS[1:],
    "day",
    "psi_computed",
    "psi_threshold",
    "reference_first_day",
    "reference_last_day",
    "reference_days_with_data",
    "evaluated_at",
]


def _scores(values) -> pd.DataFrame:
    return pd.DataFrame({FRAUD_SCORE: np.asarray(values, dtype="float64")})


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def test_markdown_table_of_a_small_frame() -> None:
    frame = pd.DataFrame(
        {
            "feature": ["a", "b"],
            "psi": [0.123456, np.nan],
            "drifted": [True, False],
            "mean": [12345.678, 20.0],
            "n": [3, 4],
        }
    )
    assert markdown_table(frame) == (
        "| feature | psi | drifted | mean | n |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| a | 0.1235 | True | 1.235e+04 | 3 |\n"
        "| b | n/a | False | 20 | 4 |"
    )
    assert markdown_table(frame.head(0)) == (
        "| feature | psi | drifted | mean | n |\n| --- | --- | --- | --- | --- |"
    )


# --------------------------------------------------------------------------------------------
# Reference window
# --------------------------------------------------------------------------------------------


def test_reference_days_are_the_days_before_oldest_first() -> None:
    assert reference_days(DAY, 3) == [date(2025, 3, 7), date(2025, 3, 8), date(2025, 3, 9)]
    assert reference_days(DAY, 1) == [date(2025, 3, 9)]


def test_a_reference_day_is_sampled_the_same_way_on_every_run() -> None:
    rows = pd.DataFrame({"x": range(10)})
    first = sample_reference_day(rows, DAY, 4)
    assert len(first) == 4
    pd.testing.assert_frame_equal(first, sample_reference_day(rows, DAY, 4))
    pd.testing.assert_frame_equal(first, rows.sample(n=4, random_state=DAY.toordinal()))
    other_day = sample_reference_day(rows, date(2025, 3, 11), 4)
    assert other_day.index.tolist() != first.index.tolist()
    assert sample_reference_day(rows, DAY, 0) is rows  # 0: every row
    assert sample_reference_day(rows, DAY, 10) is rows  # not more rows than the cap


def test_reference_skips_days_without_rows_and_keeps_the_window() -> None:
    samples = {
        date(2025, 3, 7): _scores([0.1, 0.2]),
        date(2025, 3, 8): _scores([]),
        date(2025, 3, 9): _scores([0.3]),
    }
    reference = Reference.before(DAY, 3, samples, [FRAUD_SCORE])
    assert reference.rows[FRAUD_SCORE].tolist() == [0.1, 0.2, 0.3]  # oldest day first
    assert reference.rows.index.tolist() == [0, 1, 2]
    window = reference.window
    assert (window.first_day, window.last_day, window.days_with_data) == (
        date(2025, 3, 7),
        date(2025, 3, 9),
        2,
    )
    assert window.describe("scores") == "2025-03-07 .. 2025-03-09 (2 days with scores)"
    # A day that is not read at all counts like a day without rows.
    assert Reference.before(DAY, 3, {date(2025, 3, 9): _scores([0.3])}, [FRAUD_SCORE]).window == (
        type(window)(date(2025, 3, 7), date(2025, 3, 9), 1)
    )


def test_an_empty_reference_has_the_columns_and_no_rows() -> None:
    reference = Reference.before(DAY, 2, {}, [FRAUD_SCORE, "x"])
    assert reference.rows.columns.tolist() == [FRAUD_SCORE, "x"]
    assert reference.rows.empty
    assert reference.window.describe("features") == (
        "2025-03-08 .. 2025-03-09 (0 days with features)"
    )
    with pytest.raises(ValueError, match="outside"):
        Reference.before(DAY, 2, {DAY: _scores([0.1])}, [FRAUD_SCORE])
    with pytest.raises(ValueError, match="at least one day"):
        Reference.before(DAY, 0, {}, [FRAUD_SCORE])


def test_enough_rows_needs_min_rows_and_at_least_one_row_each() -> None:
    settings = DriftSettings(min_rows=100)
    assert settings.enough_rows(100, 100)
    assert not settings.enough_rows(100, 99)
    assert not settings.enough_rows(99, 1000)
    anything = DriftSettings(min_rows=0)
    assert anything.enough_rows(1, 1)
    assert not anything.enough_rows(0, 5)


# --------------------------------------------------------------------------------------------
# Score drift
# --------------------------------------------------------------------------------------------


def test_score_drift_of_a_shifted_day() -> None:
    reference = Reference.before(
        DAY,
        3,
        {
            date(2025, 3, 8): _scores(np.arange(60) / 100),
            date(2025, 3, 9): _scores(np.arange(60, 100) / 100),
        },
        [FRAUD_SCORE],
    )
    settings = DriftSettings(n_bins=4, threshold=0.2, min_rows=50)
    drift = ScoreDrift.measure(DAY, _scores(np.arange(50) / 100), reference, settings)
    assert drift.computed
    assert drift.psi == pytest.approx(HALF_RANGE_PSI, rel=1e-12)
    assert drift.drifted
    assert drift.status == "drift"
    assert (drift.n_actual, drift.n_reference) == (50, 100)
    assert drift.actual_mean == pytest.approx(0.245)
    assert drift.reference_mean == pytest.approx(0.495)
    assert drift.numbers() == {
        "psi": pytest.approx(HALF_RANGE_PSI),
        "psi_threshold": 0.2,
        "n_actual": 50,
        "n_reference": 100,
        "reference_window": "2025-03-07 .. 2025-03-09 (2 days with scores)",
    }
    frame = drift.frame(EVALUATED_AT)
    assert frame.columns.tolist() == SCORE_DRIFT_COLUMNS
    row = frame.iloc[0].to_dict()
    assert row == {
        "day": DAY,
        "psi": pytest.approx(HALF_RANGE_PSI),
        "psi_computed": True,
        "drifted": True,
        "psi_threshold": 0.2,
        "n_bins": 4,
        "n_actual": 50,
        "n_reference": 100,
        "reference_first_day": date(2025, 3, 7),
        "reference_last_day": date(2025, 3, 9),
        "reference_days_with_data": 2,
        "actual_mean": pytest.approx(0.245),
        "reference_mean": pytest.approx(0.495),
        "evaluated_at": EVALUATED_AT,
    }
    bins = drift.bins_markdown()
    assert bins is not None
    assert bins.splitlines()[0] == (
        "| bin | lower | upper | reference_share | actual_share | contribution |"
    )
    assert bins.splitlines()[2] == "| (-inf, 0.2475] | -inf | 0.2475 | 0.25 | 0.5 | 0.1733 |"
    # Same day, a threshold above the PSI: computed, not drifted.
    calm = ScoreDrift.measure(
        DAY,
        _scores(np.arange(50) / 100),
        reference,
        DriftSettings(n_bins=4, threshold=5.0, min_rows=50),
    )
    assert calm.status == "ok"
    assert not calm.drifted


def test_score_drift_with_too_few_rows_is_not_computed() -> None:
    reference = Reference.before(
        DAY, 3, {date(2025, 3, 9): _scores(np.linspace(0, 1, 120))}, [FRAUD_SCORE]
    )
    drift = ScoreDrift.measure(DAY, _scores([0.2, 0.4]), reference, DriftSettings(min_rows=100))
    assert not drift.computed
    assert drift.psi is None
    assert not drift.drifted
    assert drift.status == NOT_COMPUTED == "not computed"
    assert drift.bins_markdown() is None
    assert drift.numbers()["psi"] is None
    assert drift.not_computed_reason() == (
        "score PSI for 2025-03-10 not computed: 120 reference rows (1 days), 2 day rows, "
        "min_rows=100"
    )
    row = drift.frame(EVALUATED_AT).iloc[0]
    assert math.isnan(row["psi"])
    assert (row["psi_computed"], row["drifted"], row["n_bins"]) == (False, False, 0)
    assert row["actual_mean"] == pytest.approx(0.3)
    assert row["reference_mean"] == pytest.approx(0.5)


def test_score_drift_without_any_reference_day() -> None:
    drift = ScoreDrift.measure(
        DAY, _scores([0.2, 0.4]), Reference.before(DAY, 7, {}, [FRAUD_SCORE]), DriftSettings()
    )
    frame = drift.frame(EVALUATED_AT)
    assert frame["psi"].dtype == "float64"  # NaN, never None: the stored column stays numeric
    assert math.isnan(frame.loc[0, "reference_mean"])
    assert (frame.loc[0, "n_reference"], frame.loc[0, "reference_days_with_data"]) == (0, 0)
    assert drift.numbers()["reference_window"] == "2025-03-03 .. 2025-03-09 (0 days with scores)"


# --------------------------------------------------------------------------------------------
# Feature drift
# --------------------------------------------------------------------------------------------


def _day_features() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "transaction_id": [1, 2, 3, 4],
            "tx_amount": [10.0, 20.0, None, 30.0],
            "flag": pd.array([0, 1, 1, 0], dtype="int8"),
        }
    )


def test_tracked_features_are_the_requested_or_every_numeric_feature() -> None:
    features = _day_features()
    assert tracked_features(features, ["flag"]) == ["flag"]
    assert tracked_features(features, []) == ["tx_amount", "flag"]
    with pytest.raises(ValueError, match=r"no numeric feature column in FRAUD\.T"):
        tracked_features(features[["transaction_id"]], [], source="FRAUD.T")


def test_the_not_computed_drift_table_holds_the_days_side_only() -> None:
    table = not_computed_drift_table(_day_features(), ["tx_amount", "flag"], n_reference=7)
    assert table.columns.tolist() == DRIFT_COLUMNS
    assert table["column"].tolist() == ["tx_amount", "flag"]
    assert table["psi"].isna().all()
    assert table["reference_mean"].isna().all()
    assert table["reference_missing_share"].isna().all()
    assert table["drifted"].tolist() == [False, False]
    assert table["n_bins"].tolist() == [0, 0]
    assert table["n_reference"].tolist() == [7, 7]
    assert table["n_actual"].tolist() == [4, 4]
    assert table["actual_mean"].tolist() == [20.0, 0.5]
    assert table["actual_missing_share"].tolist() == [0.25, 0.0]


def test_feature_drift_not_computed() -> None:
    reference = Reference.before(DAY, 2, {}, ["tx_amount", "flag"])
    drift = FeatureDrift.measure(
        DAY, _day_features(), reference, ["tx_amount", "flag"], DriftSettings(min_rows=1)
    )
    assert not drift.computed
    assert drift.drifted_features == []
    assert (
        drift.not_computed_reason() == "feature PSI for 2025-03-10 not computed: 0 reference rows"
    )
    assert drift.numbers() == {
        "max_psi": None,
        "most_drifted_feature": "not computed",
        "drifted_features": [],
        "n_features": 2,
        "psi_threshold": 0.2,
        "n_reference": 0,
        "n_actual": 4,
        "reference_window": "2025-03-08 .. 2025-03-09 (0 days with features)",
    }
    frame = drift.frame(EVALUATED_AT)
    assert frame.columns.tolist() == FEATURE_DRIFT_COLUMNS
    assert frame["psi"].dtype == "float64"
    assert not frame["psi_computed"].any()
    assert frame["day"].tolist() == [DAY, DAY]
    assert drift.top_markdown() == (
        "| feature | psi | drifted | reference_mean | actual_mean |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| tx_amount | n/a | False | n/a | 20 |\n"
        "| flag | n/a | False | n/a | 0.5 |"
    )


def test_feature_drift_ranks_the_drifted_feature_first() -> None:
    reference = pd.DataFrame({"a": np.arange(100.0), "b": np.tile([0.0, 1.0], 50)})
    actual = pd.DataFrame({"a": np.arange(50.0), "b": np.tile([0.0, 1.0], 25)})
    drift = FeatureDrift.measure(
        DAY,
        actual,
        Reference.before(DAY, 1, {date(2025, 3, 9): reference}, ["b", "a"]),
        ["b", "a"],
        DriftSettings(n_bins=4, threshold=0.2, min_rows=50),
    )
    assert drift.computed
    assert drift.table["feature"].tolist() == ["a", "b"]
    assert drift.table["psi"].tolist() == [pytest.approx(HALF_RANGE_PSI), 0.0]
    assert drift.drifted_features == ["a"]
    numbers = drift.numbers()
    assert numbers["max_psi"] == pytest.approx(HALF_RANGE_PSI)
    assert numbers["most_drifted_feature"] == "a"
    assert numbers["reference_window"] == "2025-03-09 .. 2025-03-09 (1 days with features)"
    frame = drift.frame(EVALUATED_AT)
    assert frame["psi_computed"].all()
    assert frame["reference_days_with_data"].tolist() == [1, 1]
    assert drift.top_markdown(1).splitlines()[2] == "| a | 4.257 | True | 49.5 | 24.5 |"
