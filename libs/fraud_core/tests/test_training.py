"""The training and validation windows, the sampled training set, validation by chunk."""

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from fraud_core.columns import TRANSACTION_ID, TX_DATETIME, TX_FRAUD
from fraud_core.training import (
    SamplingRecord,
    TrainingSampler,
    TrainingWindows,
    sample_training_rows,
    training_windows,
)

AS_OF = date(2025, 3, 31)


def test_windows_end_where_labels_are_complete() -> None:
    windows = training_windows(AS_OF, label_delay_days=7, train_days=28, validation_days=7)
    # a day is labelled once its delay has passed: the 24th (+7 = the 31st) is the last one
    assert windows.labelled_end == date(2025, 3, 25)
    assert windows.validation == (date(2025, 3, 18), date(2025, 3, 25))
    assert windows.train == (date(2025, 2, 18), date(2025, 3, 18))
    assert windows.days == (date(2025, 2, 18), date(2025, 3, 25))
    assert (windows.train[1] - windows.train[0]).days == 28
    assert (windows.validation[1] - windows.validation[0]).days == 7
    assert windows.describe_train() == "2025-02-18 .. 2025-03-17"
    assert windows.describe_validation() == "2025-03-18 .. 2025-03-24"


def test_the_small_test_pipeline_windows() -> None:
    """As the location's tests train: 12 simulated days, delay 2, 10 + 3 days."""
    windows = training_windows(AS_OF, label_delay_days=2, train_days=10, validation_days=3)
    assert windows == TrainingWindows(date(2025, 3, 17), date(2025, 3, 27), date(2025, 3, 30))


def test_without_a_label_delay_the_as_of_day_is_labelled() -> None:
    windows = training_windows(AS_OF, label_delay_days=0, train_days=1, validation_days=1)
    assert windows.labelled_end == AS_OF + timedelta(days=1)
    assert windows.validation == (AS_OF, AS_OF + timedelta(days=1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_delay_days": -1}, "label_delay_days"),
        ({"train_days": 0}, "train_days must be positive"),
        ({"validation_days": -3}, "validation_days must be positive"),
    ],
)
def test_invalid_windows_are_refused(kwargs: dict[str, int], message: str) -> None:
    arguments = {"label_delay_days": 7, "train_days": 28, "validation_days": 7, **kwargs}
    with pytest.raises(ValueError, match=message):
        training_windows(AS_OF, **arguments)


# --- the sampled training set -------------------------------------------------------------------


@pytest.fixture(scope="module")
def window(make_labelled_frame: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    return make_labelled_frame(unlabelled=1_000)


def test_sampling_keeps_every_fraud_and_drops_unlabelled_rows(window: pd.DataFrame) -> None:
    sample = sample_training_rows(window, 0.1, seed=7)
    labelled = window[window[TX_FRAUD].notna()]
    frauds = set(labelled.loc[labelled[TX_FRAUD] == 1, TRANSACTION_ID])
    kept = sample.rows
    assert frauds <= set(kept[TRANSACTION_ID])  # all frauds
    assert kept[TX_FRAUD].notna().all()  # no unlabelled row trained on
    assert list(kept.columns) == list(window.columns)
    record = sample.record
    assert record.n_rows == len(window)
    assert record.n_unlabelled == 1_000
    assert record.n_labelled == len(labelled)
    assert record.n_fraud == len(frauds)
    assert record.n_sampled == len(kept) == len(sample.weights)
    assert (record.genuine_rate, record.seed) == (0.1, 7)


@pytest.mark.parametrize("rate", [0.02, 0.1, 0.5])
def test_sampling_respects_the_rate_and_weights_sum_to_the_population(
    window: pd.DataFrame, rate: float
) -> None:
    sample = sample_training_rows(window, rate, seed=1)
    fraud = sample.rows[TX_FRAUD].to_numpy(dtype=int) == 1
    n_genuine = sample.record.n_labelled - sample.record.n_fraud
    kept_share = (~fraud).sum() / n_genuine
    sigma = np.sqrt(rate * (1 - rate) / n_genuine)
    assert abs(kept_share - rate) < 5 * sigma  # binomial: 5 standard deviations
    # frauds weigh 1, sampled genuine rows 1/rate: together they stand for every labelled row
    assert set(sample.weights[fraud]) == {1.0}
    assert np.allclose(sample.weights[~fraud], 1 / rate)
    assert sample.weights.sum() == pytest.approx(sample.record.n_labelled, rel=5 * sigma / rate)
    assert sample.record.genuine_weight == pytest.approx(1 / rate)


def test_sampling_is_deterministic_for_a_seed_and_chunking(window: pd.DataFrame) -> None:
    whole = sample_training_rows(window, 0.1, seed=3)
    again = sample_training_rows(window, 0.1, seed=3)
    pd.testing.assert_frame_equal(whole.rows, again.rows)
    np.testing.assert_array_equal(whole.weights, again.weights)
    other_seed = sample_training_rows(window, 0.1, seed=4)
    assert set(other_seed.rows[TRANSACTION_ID]) != set(whole.rows[TRANSACTION_ID])
    # day by day, in any order: the same rows and weights as sampling the window at once
    days = window[TX_DATETIME].dt.floor("D")
    sampler = TrainingSampler(0.1, seed=3)
    for day in sorted(days.unique(), reverse=True):
        sampler.add(window[days == day])
    chunked = sampler.sample()
    by_id = pd.Series(whole.weights, index=whole.rows[TRANSACTION_ID]).sort_index()
    chunked_by_id = pd.Series(chunked.weights, index=chunked.rows[TRANSACTION_ID]).sort_index()
    pd.testing.assert_series_equal(by_id, chunked_by_id)
    assert chunked.record == whole.record


def test_rate_one_keeps_every_labelled_row_unweighted(window: pd.DataFrame) -> None:
    sample = sample_training_rows(window.drop(columns=[TRANSACTION_ID]), 1.0)
    assert len(sample.rows) == window[TX_FRAUD].notna().sum()
    assert set(sample.weights) == {1.0}


def test_sampling_nothing_labelled_keeps_the_columns(
    make_labelled_frame: Callable[..., pd.DataFrame],
) -> None:
    frame = make_labelled_frame(n=50, unlabelled=50)
    sample = sample_training_rows(frame, 0.5)
    assert sample.rows.empty
    assert list(sample.rows.columns) == list(frame.columns)
    assert (sample.record.n_rows, sample.record.n_unlabelled, sample.record.n_sampled) == (
        50,
        50,
        0,
    )


@pytest.mark.parametrize("rate", [0.0, -0.1, 1.5, float("nan")])
def test_invalid_rates_are_refused(rate: float) -> None:
    with pytest.raises(ValueError, match=r"genuine_rate must be in \(0, 1\]"):
        TrainingSampler(rate)


def test_invalid_seeds_labels_and_missing_ids_are_refused(
    make_labelled_frame: Callable[..., pd.DataFrame],
) -> None:
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        TrainingSampler(0.5, seed=-1)
    bad = make_labelled_frame(n=10).assign(**{TX_FRAUD: pd.array([2] * 10, dtype="Int8")})
    with pytest.raises(ValueError, match="must be 0/1"):
        sample_training_rows(bad, 0.5)
    with pytest.raises(ValueError, match=TRANSACTION_ID):
        sample_training_rows(make_labelled_frame(n=100).drop(columns=[TRANSACTION_ID]), 0.5)
    with pytest.raises(ValueError, match="another rate or seed"):
        SamplingRecord(0.5, 1).plus(SamplingRecord(0.5, 2))
