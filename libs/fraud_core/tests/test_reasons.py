"""Reason codes: CatBoost's SHAP contributions, the top features per row, their words."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from catboost import Pool

from fraud_core.columns import (
    CUSTOMER_ID,
    FRAUD_SCORE,
    REASON_COLUMNS,
    REASON_COUNT,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_FRAUD,
    reason_contribution,
    reason_feature,
    reason_text,
    reason_value,
)
from fraud_core.features import FeatureConfig, build_features, feature_columns
from fraud_core.model import (
    FraudModel,
    TrainConfig,
    describe_feature,
    feature_matrix,
    reason_codes,
    shap_contributions,
    train_model,
)
from fraud_core.scoring import SCORE_COLUMNS, reasons_floor, score_transactions
from fraud_core.simulate import simulate_transactions

DEFAULT_FEATURES = feature_columns(FeatureConfig())
DOMINANT = "customer_id_amount_to_avg_30day_window"
STR_COLUMNS = [c(r) for r in range(1, REASON_COUNT + 1) for c in (reason_feature, reason_text)]
FLOAT_COLUMNS = [
    c(r) for r in range(1, REASON_COUNT + 1) for c in (reason_value, reason_contribution)
]


def _config(**overrides: object) -> TrainConfig:
    params: dict[str, object] = {
        "iterations": 40,
        "learning_rate": 0.2,
        "depth": 4,
        "thread_count": 1,
        "device": "cpu",
        "log_period": 20,
    }
    params.update(overrides)
    return TrainConfig(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    """Features of the default shape built from a small simulation."""
    transactions = simulate_transactions(n_customers=300, n_terminals=600, n_days=40, seed=3)
    return build_features(transactions, FeatureConfig())


@pytest.fixture(scope="module")
def model(features: pd.DataFrame) -> FraudModel:
    return train_model(features, _config(), log=lambda _m: None)


def _dominated(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Every default feature is noise except ``DOMINANT``: fraud exactly when it exceeds 3."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=n) for name in DEFAULT_FEATURES})
    frame[DOMINANT] = rng.uniform(0.2, 6.0, n)
    frame[TX_FRAUD] = pd.array((frame[DOMINANT] > 3.0).astype("int8"), dtype="Int8")
    return frame


def test_contributions_add_up_to_the_raw_score(model: FraudModel, features: pd.DataFrame) -> None:
    rows = features.iloc[:3000]
    shap = shap_contributions(model, rows, thread_count=1)
    assert shap.shape == (len(rows), len(model.features) + 1)  # + the expected value
    pool = Pool(feature_matrix(rows, model.features), feature_names=model.features)
    raw = model.classifier.predict(pool, prediction_type="RawFormulaVal", thread_count=1)
    np.testing.assert_allclose(shap.sum(axis=1), raw, rtol=0, atol=1e-6)
    probability = 1.0 / (1.0 + np.exp(-shap.sum(axis=1)))
    np.testing.assert_allclose(probability, model.predict(rows).to_numpy(), rtol=0, atol=1e-6)
    assert np.ptp(shap[:, -1]) == 0.0  # one expected value for every row


def test_reasons_are_the_largest_contributions_in_order(
    model: FraudModel, features: pd.DataFrame
) -> None:
    rows = features.iloc[:500]
    shap = shap_contributions(model, rows, thread_count=1)[:, :-1]
    reasons = reason_codes(model, rows, thread_count=1)
    top = np.sort(np.abs(shap), axis=1)[:, ::-1][:, :REASON_COUNT]
    got = np.column_stack(
        [reasons[reason_contribution(r)].abs() for r in range(1, REASON_COUNT + 1)]
    )
    np.testing.assert_allclose(got, top, rtol=0, atol=1e-12)
    for rank in range(1, REASON_COUNT + 1):
        names = reasons[reason_feature(rank)]
        column = {n: model.features.index(n) for n in names.unique()}
        position = names.map(column).to_numpy(dtype=int)
        expected = shap[np.arange(len(rows)), position]
        np.testing.assert_array_equal(reasons[reason_contribution(rank)].to_numpy(), expected)


def test_one_dominant_feature_is_reason_one_with_its_sign() -> None:
    train = _dominated()
    model = train_model(train, _config(features=tuple(DEFAULT_FEATURES)), log=lambda _m: None)
    test = _dominated(n=400, seed=1)
    test[DOMINANT] = np.r_[np.full(200, 5.5), np.full(200, 0.5)]  # clearly fraud, clearly not
    reasons = reason_codes(model, test, thread_count=1)
    assert (reasons[reason_feature(1)] == DOMINANT).all()
    contribution = reasons[reason_contribution(1)].to_numpy()
    assert (contribution[:200] > 0).all()
    assert (contribution[200:] < 0).all()
    assert reasons[reason_value(1)].tolist() == test[DOMINANT].tolist()
    assert reasons[reason_text(1)].iloc[0] == "amount 5.5x the card's 30-day average"
    # the noise features never outweigh it
    assert (reasons[reason_contribution(2)].abs() < np.abs(contribution) / 5).all()


def test_min_score_leaves_lower_rows_null(model: FraudModel, features: pd.DataFrame) -> None:
    rows = features.iloc[:3000]
    scores = model.predict(rows)
    cut = float(scores.quantile(0.9))
    reasons = reason_codes(model, rows, scores=scores, min_score=cut, thread_count=1)
    high = (scores >= cut).to_numpy()
    assert 0 < high.sum() < len(rows)
    assert reasons.loc[high].notna().all().all()
    assert reasons.loc[~high].isna().all().all()
    # the same reasons as when every row gets them
    every = reason_codes(model, rows, thread_count=1)
    pd.testing.assert_frame_equal(reasons.loc[high], every.loc[high])
    # scores computed by the model when not given
    pd.testing.assert_frame_equal(reason_codes(model, rows, min_score=cut), reasons)
    assert reason_codes(model, rows, min_score=None).isna().all().all()


def test_reason_columns_are_typed_and_in_order(model: FraudModel, features: pd.DataFrame) -> None:
    for min_score in (0.0, None, 1.1):  # every row, none, none above the threshold
        reasons = reason_codes(model, features.iloc[:50], min_score=min_score)
        assert list(reasons.columns) == list(REASON_COLUMNS)
        assert all(reasons[c].dtype == object for c in STR_COLUMNS)
        assert all(reasons[c].dtype == np.float64 for c in FLOAT_COLUMNS)
    computed = reason_codes(model, features.iloc[:50])
    assert all(isinstance(v, str) for c in STR_COLUMNS for v in computed[c])


def test_rows_stay_aligned_with_any_index_and_chunk_size(
    model: FraudModel, features: pd.DataFrame
) -> None:
    rows = features.iloc[:400]
    reference = reason_codes(model, rows, thread_count=1)
    shuffled = rows.sample(frac=1.0, random_state=7)
    shuffled.index = [f"tx-{i}" for i in shuffled.index]  # a non-default, non-integer index
    reasons = reason_codes(model, shuffled, chunk_rows=37, thread_count=1)
    assert reasons.index.equals(shuffled.index)
    for rank in range(1, REASON_COUNT + 1):
        for label in reasons.index[:50]:
            name = reasons.at[label, reason_feature(rank)]
            assert reasons.at[label, reason_value(rank)] == pytest.approx(
                float(shuffled.at[label, name])
            )
    back = reasons.set_axis(shuffled.index.str.removeprefix("tx-").astype(int)).loc[rows.index]
    pd.testing.assert_frame_equal(back, reference)


def test_every_feature_of_any_shape_has_words() -> None:
    for config in (FeatureConfig(), FeatureConfig(windows_days=(2, 14, 90), label_delay_days=3)):
        for name in feature_columns(config):
            text = describe_feature(name, 1.0)
            assert not text.startswith(f"{name} ="), (name, text)
    assert describe_feature("mystery_feature", 2.5) == "mystery_feature = 2.5"
    assert describe_feature(TX_AMOUNT, float("nan")) == f"{TX_AMOUNT} = nan"


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("customer_id_amount_to_avg_30day_window", 6.2, "amount 6.2x the card's 30-day average"),
        ("terminal_id_risk_7day_window", 0.43, "terminal risk 7-day window 0.43"),
        ("customer_id_nb_tx_1day_window", 12, "12 transactions on the card in 1 day"),
        ("customer_id_nb_tx_7day_window", 1, "1 transaction on the card in 7 days"),
        ("terminal_id_nb_tx_30day_window", 40, "40 transactions at the terminal in its 30-day "
         "risk window"),
        ("customer_id_amount_zscore_30day_window", -2.04, "amount 2.0 standard deviations below "
         "the card's 30-day mean"),
        ("terminal_id_avg_amount_7day_window", 1234.5, "the terminal's 7-day average amount "
         "1,234.50"),
        (TX_AMOUNT, 57.125, "amount 57.12"),
        ("tx_during_night", 1, "at night (before 07:00 UTC)"),
        ("customer_terminal_first_use", 1, "first use of the card at this terminal"),
        ("customer_id_seconds_since_prev_tx", 45, "45 s since the card's previous transaction"),
        ("customer_id_seconds_since_prev_tx", 5400, "90 min since the card's previous transaction"),
    ],
)  # fmt: skip
def test_words(name: str, value: float, text: str) -> None:
    assert describe_feature(name, value) == text


def _scoring_frame(features: pd.DataFrame) -> pd.DataFrame:
    rows = features.iloc[:2000].copy()
    rows.index = pd.RangeIndex(500, 500 + len(rows))  # not the scores' own index
    return rows


def test_score_transactions_adds_typed_reason_columns(
    model: FraudModel, features: pd.DataFrame
) -> None:
    rows = _scoring_frame(features)
    scores = score_transactions(model, rows, model_version="v1", reasons_min_score=0.0)
    assert tuple(scores.columns) == SCORE_COLUMNS
    assert scores.index.equals(pd.RangeIndex(len(rows)))
    assert scores[list(REASON_COLUMNS)].notna().all().all()
    assert scores[TRANSACTION_ID].tolist() == rows[TRANSACTION_ID].tolist()
    expected = reason_codes(model, rows).reset_index(drop=True)
    pd.testing.assert_frame_equal(scores[list(REASON_COLUMNS)], expected)

    off = score_transactions(model, rows, model_version="v1", reasons_min_score=None)
    assert tuple(off.columns) == SCORE_COLUMNS
    assert off[list(REASON_COLUMNS)].isna().all().all()
    assert all(off[c].dtype == np.float64 for c in FLOAT_COLUMNS)
    pd.testing.assert_series_equal(off[FRAUD_SCORE], scores[FRAUD_SCORE])


def test_the_top_cards_get_reasons_whatever_the_min_score(
    model: FraudModel, features: pd.DataFrame
) -> None:
    rows = _scoring_frame(features)
    budget = 5
    scores = score_transactions(
        model, rows, model_version="v1", reasons_min_score=1.0, reasons_top_cards=budget
    )
    top_cards = scores.groupby(CUSTOMER_ID)[FRAUD_SCORE].max().nlargest(budget).index
    top_rows = scores.loc[scores.groupby(CUSTOMER_ID)[FRAUD_SCORE].idxmax()]
    alerted = top_rows[top_rows[CUSTOMER_ID].isin(top_cards)]
    assert alerted[reason_feature(1)].notna().all()
    has_reasons = scores[reason_feature(1)].notna()
    assert budget <= has_reasons.sum() < len(scores)
    floor = reasons_floor(scores, 1.0, budget)
    assert floor is not None
    assert has_reasons.equals(scores[FRAUD_SCORE] >= floor)


def test_reasons_floor() -> None:
    scores = pd.DataFrame({CUSTOMER_ID: [1, 1, 2, 3, 3], FRAUD_SCORE: [0.9, 0.1, 0.5, 0.2, 0.3]})
    assert reasons_floor(scores, 0.7, 0) == 0.7
    assert reasons_floor(scores, None, 0) is None
    assert reasons_floor(scores, 0.7, 2) == 0.5  # cards 1 (0.9) and 2 (0.5)
    assert reasons_floor(scores, 0.1, 2) == 0.1  # already lower
    assert reasons_floor(scores, None, 10) == 0.3  # every card: the lowest card max
    assert reasons_floor(scores.iloc[:0], 0.7, 2) == 0.7
    with pytest.raises(ValueError, match="top_cards"):
        reasons_floor(scores, 0.5, -1)


def test_importing_scoring_does_not_import_catboost() -> None:
    probe = "import sys, fraud_core.scoring; print('catboost' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_empty_input_gets_empty_typed_reasons(model: FraudModel, features: pd.DataFrame) -> None:
    empty = features.iloc[:0]
    scores = score_transactions(model, empty, model_version="v1", reasons_top_cards=3)
    assert tuple(scores.columns) == SCORE_COLUMNS
    assert len(scores) == 0
    assert all(scores[c].dtype == np.float64 for c in FLOAT_COLUMNS)
