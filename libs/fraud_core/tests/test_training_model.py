"""Training on a sampled window: the weights keep scores calibrated, the metadata records the
sampling; validating a window chunk by chunk gives the numbers of validating it at once."""

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("catboost")  # the model extra

from fraud_core.columns import TX_DATETIME, TX_FRAUD
from fraud_core.model import ModelMetadata, TrainConfig, train_model
from fraud_core.promotion import validation_metrics
from fraud_core.training import sample_training_rows, validation_metrics_by_chunk

FEATURES = ("signal", "noise")


def small_config() -> TrainConfig:
    return TrainConfig(
        iterations=60,
        learning_rate=0.3,
        depth=3,
        features=FEATURES,
        device="cpu",
        thread_count=2,
        log_period=1000,
    )


@pytest.fixture(scope="module")
def population(make_labelled_frame: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    return make_labelled_frame(n=60_000, fraud_rate=0.02, seed=5)


def test_weighted_sample_keeps_scores_calibrated_and_is_recorded(
    population: pd.DataFrame,
) -> None:
    sample = sample_training_rows(population, 0.1, seed=11)
    weighted = train_model(
        sample.rows, small_config(), weights=sample.weights, sampling=sample.record
    )
    unweighted = train_model(sample.rows, small_config())
    fraud_rate = population[TX_FRAUD].astype(float).mean()
    # weighted back, the scores are probabilities of the population; unweighted they are not
    assert weighted.predict(population).mean() == pytest.approx(fraud_rate, rel=0.15)
    assert unweighted.predict(population).mean() > 3 * fraud_rate
    meta = weighted.metadata
    assert (meta.genuine_sample_rate, meta.sample_seed) == (0.1, 11)
    assert meta.n_labelled_before_sampling == len(population)
    assert meta.n_labelled == len(sample.rows) < len(population) // 5
    assert meta.n_rows == len(population)
    assert meta.n_fraud == sample.record.n_fraud
    assert meta.data_hash != unweighted.metadata.data_hash  # weights are part of the data
    assert ModelMetadata.from_json(meta.to_json()) == meta
    plain = unweighted.metadata  # trained on what it was given: no sampling recorded
    assert (plain.genuine_sample_rate, plain.sample_seed) == (1.0, None)
    assert plain.n_labelled_before_sampling == plain.n_labelled == len(sample.rows)


def test_weights_must_fit_the_rows(population: pd.DataFrame) -> None:
    rows = population.head(2_000)
    with pytest.raises(ValueError, match="1999 weights for 2000 rows"):
        train_model(rows, small_config(), weights=np.ones(1_999))
    with pytest.raises(ValueError, match="finite and positive"):
        train_model(rows, small_config(), weights=np.zeros(2_000))


def test_an_empty_sample_names_the_rows_it_read(
    make_labelled_frame: Callable[..., pd.DataFrame],
) -> None:
    sample = sample_training_rows(make_labelled_frame(n=40, unlabelled=40), 0.5)
    with pytest.raises(ValueError, match=r"no labelled rows to train on \(40 rows"):
        train_model(sample.rows, small_config(), weights=sample.weights, sampling=sample.record)


def test_validation_by_chunk_equals_validating_the_whole_window(
    population: pd.DataFrame,
) -> None:
    model = train_model(population.head(30_000), small_config())
    valid = population.iloc[30_000:].copy()
    valid.loc[valid.index[:500], TX_FRAUD] = pd.NA  # not labelled yet: not evaluated
    whole = validation_metrics(model, valid, k=50)
    days = valid[TX_DATETIME].dt.floor("D")
    chunked = validation_metrics_by_chunk(
        model, (valid[days == day] for day in days.unique()), k=50
    )
    assert chunked.keys() == whole.keys() >= {"roc_auc", "average_precision", "card_precision@50"}
    for name, value in whole.items():
        assert chunked[name] == pytest.approx(value, abs=1e-12), name
    assert validation_metrics_by_chunk(model, iter([]), k=50) == {}
    unlabelled = valid.assign(**{TX_FRAUD: pd.array([pd.NA] * len(valid), dtype="Int8")})
    assert validation_metrics_by_chunk(model, [unlabelled], k=50) == validation_metrics(
        model, unlabelled, k=50
    )
