"""The model card: its curves agree with the evaluation protocol, its importances with CatBoost's,
its data hash with the sample's content; it renders as a self-contained page and a short summary."""

import base64
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("catboost")  # the model extra

from fraud_core.columns import CUSTOMER_ID, FRAUD_SCORE, TRANSACTION_ID, TX_DATETIME, TX_FRAUD
from fraud_core.evaluation import card_precision_at_k
from fraud_core.model import FraudModel, TrainConfig, train_model
from fraud_core.model.card import (
    PR_CURVE_POINTS,
    ModelCard,
    build_model_card,
    card_precision_curve,
    model_card_markdown,
    pr_curve_markdown,
    precision_at_k_markdown,
    precision_recall_points,
    render_model_card_html,
)
from fraud_core.promotion import PromotionPolicy, decide_promotion
from fraud_core.training import (
    Validation,
    sample_hash,
    sample_training_rows,
    training_windows,
    validate_by_chunk,
    validation_metrics_by_chunk,
)

FEATURES = ("signal", "noise")
BUDGET = 100
PNG = "data:image/png;base64,"


@pytest.fixture(scope="module")
def population(make_labelled_frame: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    return make_labelled_frame(n=40_000, fraud_rate=0.03, seed=9)


@pytest.fixture(scope="module")
def model(population: pd.DataFrame) -> FraudModel:
    config = TrainConfig(
        iterations=40, depth=3, features=FEATURES, device="cpu", thread_count=2, log_period=1000
    )
    sample = sample_training_rows(population.head(20_000), 0.5, seed=3)
    return train_model(sample.rows, config, weights=sample.weights, sampling=sample.record)


@pytest.fixture(scope="module")
def validation(model: FraudModel, population: pd.DataFrame) -> Validation:
    valid = population.iloc[20_000:]
    days = valid[TX_DATETIME].dt.floor("D")
    return validate_by_chunk(model, (valid[days == d] for d in days.unique()), k=BUDGET)


@pytest.fixture(scope="module")
def card(model: FraudModel, validation: Validation, population: pd.DataFrame) -> ModelCard:
    decision = decide_promotion(validation.metrics, None, PromotionPolicy())
    return build_model_card(
        model,
        validation,
        decision,
        windows=training_windows(pd.Timestamp("2025-03-20").date(), 7, 10, 3),
        data_hash=sample_hash(population.head(20_000)),
        alert_budget=BUDGET,
        policy=PromotionPolicy().describe(),
    )


def test_validation_returns_the_scored_rows_behind_its_metrics(
    model: FraudModel, validation: Validation, population: pd.DataFrame
) -> None:
    valid = population.iloc[20_000:]
    assert validation.metrics == validation_metrics_by_chunk(model, [valid], k=BUDGET)
    scored = validation.scored
    assert list(scored.columns) == [CUSTOMER_ID, TX_DATETIME, TX_FRAUD, FRAUD_SCORE]
    assert len(scored) == valid[TX_FRAUD].notna().sum()
    assert np.allclose(scored[FRAUD_SCORE].to_numpy(), model.predict(valid).to_numpy())
    assert validate_by_chunk(model, iter([])).scored.empty


def test_pr_curve_runs_from_no_recall_to_full_recall(card: ModelCard) -> None:
    curve = card.pr_curve
    assert 3 <= len(curve) <= PR_CURVE_POINTS + 1
    recall = curve["recall"].to_numpy()
    assert recall[0] == 0.0
    assert recall[-1] == 1.0
    assert (np.diff(recall) >= 0).all()
    assert curve["precision"].between(0, 1).all()
    # the last point is the lowest threshold: every row flagged, precision is the fraud rate
    assert curve["precision"].iloc[-1] == pytest.approx(
        card.validation.frauds / card.validation.rows
    )


def test_pr_curve_of_a_small_case() -> None:
    curve = precision_recall_points([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    assert curve["recall"].tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert curve["precision"].tolist() == pytest.approx([1.0, 1.0, 0.5, 2 / 3, 0.5])
    assert curve["threshold"].tolist()[1:] == [0.9, 0.8, 0.7, 0.1]
    assert precision_recall_points([0, 0], [0.2, 0.4]).empty  # no fraud: no recall


def test_card_precision_at_k_is_the_handbooks_for_every_k(
    card: ModelCard, validation: Validation
) -> None:
    curve = card.precision_at_k
    assert curve["k"].tolist() == list(range(1, BUDGET + 1))
    scored = validation.scored
    assert curve["card_precision"].iloc[-1] == pytest.approx(
        card_precision_at_k(scored, BUDGET, score_column=FRAUD_SCORE), abs=1e-12
    )
    assert curve["card_precision"].iloc[-1] == pytest.approx(
        validation.metrics[f"card_precision@{BUDGET}"], abs=1e-12
    )
    # ties (scores rounded) and cards detected on earlier days, at a few k
    tied = scored.assign(**{FRAUD_SCORE: scored[FRAUD_SCORE].round(1)})
    tied_curve = card_precision_curve(tied, 40)
    for k in (1, 7, 23, 40):
        expected = card_precision_at_k(tied, k, score_column=FRAUD_SCORE)
        assert tied_curve["card_precision"].iloc[k - 1] == pytest.approx(expected, abs=1e-12), k


def test_importances_are_catboosts_and_sum_to_100(card: ModelCard, model: FraudModel) -> None:
    importances = model.feature_importances()
    assert list(importances.index) == list(FEATURES)
    assert importances.sum() == pytest.approx(100.0)
    assert card.importances.index[0] == "signal"  # the feature that predicts fraud
    assert card.importances.is_monotonic_decreasing


def test_data_hash_follows_the_content_not_the_order(population: pd.DataFrame) -> None:
    rows = population.head(2_000)
    shuffled = rows.sample(frac=1.0, random_state=1)
    assert sample_hash(shuffled) == sample_hash(rows)
    flipped = rows.copy()
    flipped.loc[flipped.index[17], TX_FRAUD] = 1 - flipped[TX_FRAUD].iloc[17]
    assert sample_hash(flipped) != sample_hash(rows)
    other = rows.assign(**{TRANSACTION_ID: rows[TRANSACTION_ID] + 1})
    assert sample_hash(other) != sample_hash(rows)
    assert sample_hash(rows.drop(index=rows.index[0])) != sample_hash(rows)
    with pytest.raises(ValueError, match="missing columns"):
        sample_hash(rows.drop(columns=[TRANSACTION_ID]))


def test_the_html_card_is_self_contained_with_its_figures(card: ModelCard) -> None:
    page = render_model_card_html(card)
    assert page.startswith("<!DOCTYPE html>")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3  # PR curve, precision@k, importances
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert "http" not in page.replace('name="viewport"', "")  # nothing fetched from elsewhere
    for text in (card.version, card.data_hash, card.decision.reason, "signal", card.train_window):
        assert text in page
    assert render_model_card_html(card) == page  # reproducible bytes


def test_the_markdown_summary_and_tables(card: ModelCard) -> None:
    summary = model_card_markdown(card)
    assert card.version in summary
    assert card.decision.reason in summary
    assert "| 1 | signal |" in summary
    pr_rows = pr_curve_markdown(card).splitlines()[2:]
    assert len(pr_rows) == 11  # recall 0, 0.1, .., 1
    assert pr_rows[0].startswith("| 0.00 | 1.0000 |")
    assert pr_rows[-1].startswith("| 1.00 |")
    k_rows = precision_at_k_markdown(card).splitlines()[2:]
    assert len(k_rows) == 12
    assert k_rows[0].startswith("| 1 |")
    assert k_rows[-1].startswith(f"| {BUDGET} |")


def test_a_card_without_labelled_validation_rows_still_renders(
    model: FraudModel, population: pd.DataFrame
) -> None:
    unlabelled = population.iloc[20_000:].assign(
        **{TX_FRAUD: pd.array([pd.NA] * 20_000, dtype="Int8")}
    )
    validation = validate_by_chunk(model, [unlabelled], k=BUDGET)
    assert validation.scored.empty
    decision = decide_promotion(validation.metrics, None, PromotionPolicy())
    card = build_model_card(
        model,
        validation,
        decision,
        windows=training_windows(pd.Timestamp("2025-03-20").date(), 7, 10, 3),
        data_hash="0" * 64,
    )
    assert card.pr_curve.empty
    assert card.precision_at_k.empty
    assert not card.decision.promote
    assert render_model_card_html(card).count(PNG) == 3
    assert "no precision-recall curve" in pr_curve_markdown(card)
    assert "no card precision@k" in precision_at_k_markdown(card)
