"""The alerts table (``FRAUD_ALERTS``): cards at the review budget, ranked, with their reasons."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from fraud_core.alerts import ALERT_COLUMNS, build_alerts, card_ranking, with_reason_columns
from fraud_core.columns import (
    ALERT_RANK,
    CUSTOMER_ID,
    EXPECTED_FRAUD_AMOUNT,
    FRAUD_SCORE,
    MAX_SCORE,
    MODEL_VERSION,
    N_TRANSACTIONS,
    REASON_COLUMNS,
    REASON_COUNT,
    TERMINAL_ID,
    TOP_TRANSACTION_ID,
    TOTAL_AMOUNT,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
    reason_contribution,
    reason_feature,
    reason_text,
    reason_value,
)
from fraud_core.scores import REQUIRED_COLUMNS

DAY = date(2024, 5, 7)
NA = pd.NA

# (transaction_id, customer_id, tx_amount, fraud_score, tx_fraud)
# Hand-computed:
#   cards (max score): A 0.9, B 0.8, C 0.8, D 0.1 -> tie B/C broken by id -> A, B, C, D
#   transactions: A 2, B 2, C 1, D 1; amounts: A 100+50=150, B 200+20=220, C 10, D 40
#   expected fraud amount (score x amount): A 0.9*100 + 0.3*50 = 90 + 15 = 105,
#   B 0.8*200 + 0.2*20 = 160 + 4 = 164, C 0.8*10 = 8, D 0.1*40 = 4
#   top transactions: A t1, B t3, C t4, D t5
ROWS = [
    ("t1", "A", 100.0, 0.9, 1),
    ("t2", "A", 50.0, 0.3, 0),
    ("t3", "B", 200.0, 0.8, NA),
    ("t4", "C", 10.0, 0.8, 0),
    ("t5", "D", 40.0, 0.1, NA),
    ("t6", "B", 20.0, 0.2, 0),
]


def reasons_of(transaction_id: str) -> dict[str, object]:
    """Reason columns naming the transaction they belong to, so a test can tell whose they are."""
    out: dict[str, object] = {}
    for rank in range(1, REASON_COUNT + 1):
        out[reason_feature(rank)] = f"feature_{rank}_of_{transaction_id}"
        out[reason_value(rank)] = float(rank)
        out[reason_contribution(rank)] = 1.0 / rank
        out[reason_text(rank)] = f"reason {rank} of {transaction_id}"
    return out


def make_scores(
    rows: list[tuple], day: date = DAY, reasons: bool = True, version: str = "v1"
) -> pd.DataFrame:
    """A scores frame as ``fraud_scores`` writes it, all on ``day``, with reasons when asked."""
    frame = pd.DataFrame(
        rows, columns=[TRANSACTION_ID, CUSTOMER_ID, TX_AMOUNT, FRAUD_SCORE, TX_FRAUD]
    )
    start = pd.Timestamp(day).tz_localize("UTC") + pd.Timedelta(hours=1)
    frame[TX_DATETIME] = pd.date_range(start, periods=len(frame), freq="min")
    frame[TERMINAL_ID] = "T1"
    frame[TX_FRAUD] = frame[TX_FRAUD].astype("Int8")
    frame[MODEL_VERSION] = version
    if reasons:
        extra = pd.DataFrame([reasons_of(t) for t in frame[TRANSACTION_ID]], index=frame.index)
        frame = pd.concat([frame, extra], axis=1)
    return frame


def test_cards_are_ranked_by_max_score_with_hand_computed_totals() -> None:
    alerts = build_alerts(make_scores(ROWS), DAY, alert_budget=10)
    assert list(alerts.columns) == list(ALERT_COLUMNS)
    assert list(alerts[ALERT_RANK]) == [1, 2, 3, 4]
    assert list(alerts[CUSTOMER_ID]) == ["A", "B", "C", "D"]  # B and C tie at 0.8: B by id
    assert list(alerts[MAX_SCORE]) == pytest.approx([0.9, 0.8, 0.8, 0.1])
    assert list(alerts[N_TRANSACTIONS]) == [2, 2, 1, 1]
    assert list(alerts[TOTAL_AMOUNT]) == pytest.approx([150.0, 220.0, 10.0, 40.0])
    assert list(alerts[EXPECTED_FRAUD_AMOUNT]) == pytest.approx([105.0, 164.0, 8.0, 4.0])
    assert list(alerts[TOP_TRANSACTION_ID]) == ["t1", "t3", "t4", "t5"]
    assert list(alerts[MODEL_VERSION]) == ["v1"] * 4


def test_the_budget_keeps_the_top_cards() -> None:
    scores = make_scores(ROWS)
    assert list(build_alerts(scores, DAY, alert_budget=2)[CUSTOMER_ID]) == ["A", "B"]
    assert list(build_alerts(scores, DAY, alert_budget=3)[CUSTOMER_ID]) == ["A", "B", "C"]
    none = build_alerts(scores, DAY, alert_budget=0)
    assert none.empty
    assert list(none.columns) == list(ALERT_COLUMNS)
    with pytest.raises(ValueError, match="alert_budget"):
        build_alerts(scores, DAY, alert_budget=-1)


def test_ties_are_deterministic_whatever_the_input_order() -> None:
    rows = [(f"t{c}", c, 10.0, 0.7, NA) for c in ["Z", "M", "B", "X"]]
    # a card whose two transactions tie on its max score: the smaller id is its top transaction
    rows += [("u9", "Q", 5.0, 0.7, NA), ("u2", "Q", 7.0, 0.7, NA)]
    scores = make_scores(rows)
    alerts = build_alerts(scores, DAY, alert_budget=3)
    assert list(alerts[CUSTOMER_ID]) == ["B", "M", "Q"]
    assert alerts.loc[alerts[CUSTOMER_ID] == "Q", TOP_TRANSACTION_ID].item() == "u2"
    for seed in range(5):
        shuffled = scores.sample(frac=1.0, random_state=seed)
        pd.testing.assert_frame_equal(build_alerts(shuffled, DAY, alert_budget=3), alerts)


def test_a_cards_reasons_are_those_of_its_top_transaction() -> None:
    alerts = build_alerts(make_scores(ROWS), DAY, alert_budget=2).set_index(CUSTOMER_ID)
    for card, top in (("A", "t1"), ("B", "t3")):  # not t2 or t6, the cards' other transactions
        expected = reasons_of(top)
        assert {c: alerts.loc[card, c] for c in REASON_COLUMNS} == expected, card
    assert alerts[reason_text(1)].dtype == "string"
    assert alerts[reason_contribution(1)].dtype == "Float64"


def test_scores_without_reasons_give_alerts_with_null_reasons() -> None:
    alerts = build_alerts(make_scores(ROWS, reasons=False), DAY, alert_budget=2)
    assert list(alerts.columns) == list(ALERT_COLUMNS)
    assert alerts[list(REASON_COLUMNS)].isna().all().all()
    assert list(alerts[CUSTOMER_ID]) == ["A", "B"]
    # a scores frame holding only some reasons: the others are NULL, the typed ones kept
    partial = make_scores(ROWS).drop(columns=[reason_text(3), reason_value(2)])
    alerts = build_alerts(partial, DAY, alert_budget=1)
    assert alerts[reason_text(3)].isna().all()
    assert alerts[reason_value(2)].isna().all()
    assert alerts[reason_text(1)].tolist() == ["reason 1 of t1"]


def test_an_empty_day_has_no_alerts() -> None:
    elsewhere = make_scores(ROWS, day=DAY - timedelta(days=1))
    for scores in (elsewhere, elsewhere.iloc[:0], make_scores(ROWS, reasons=False).iloc[:0]):
        alerts = build_alerts(scores, DAY, alert_budget=100)
        assert alerts.empty
        assert list(alerts.columns) == list(ALERT_COLUMNS)


def test_rows_of_other_days_are_ignored() -> None:
    day = make_scores(ROWS)
    before = make_scores([("x1", "Z", 1_000.0, 0.99, NA)], day=DAY - timedelta(days=1))
    after = make_scores([("x2", "Y", 1_000.0, 0.98, NA)], day=DAY + timedelta(days=1))
    mixed = pd.concat([before, day, after], ignore_index=True)
    pd.testing.assert_frame_equal(
        build_alerts(mixed, DAY, alert_budget=10), build_alerts(day, DAY, alert_budget=10)
    )


def test_expected_fraud_amount_is_the_sum_of_score_times_amount() -> None:
    rng = np.random.default_rng(7)
    n = 500
    rows = [
        (f"t{i:04d}", f"c{rng.integers(0, 40):02d}", float(rng.uniform(1, 500)), float(s), NA)
        for i, s in enumerate(rng.uniform(0, 1, n))
    ]
    scores = make_scores(rows, reasons=False)
    alerts = build_alerts(scores, DAY, alert_budget=10).set_index(CUSTOMER_ID)
    for card, alert in alerts.iterrows():
        own = scores[scores[CUSTOMER_ID] == card]
        assert alert[EXPECTED_FRAUD_AMOUNT] == pytest.approx(
            sum(s * a for s, a in zip(own[FRAUD_SCORE], own[TX_AMOUNT], strict=True))
        )
        assert alert[MAX_SCORE] == own[FRAUD_SCORE].max()
        assert alert[N_TRANSACTIONS] == len(own)
    assert alerts[MAX_SCORE].is_monotonic_decreasing


def test_a_card_ranking_carries_only_the_columns_the_rows_have() -> None:
    rows = make_scores(ROWS, reasons=False)
    cards = card_ranking(rows, carry=(*REASON_COLUMNS, MODEL_VERSION))
    assert list(cards.columns) == [
        CUSTOMER_ID,
        MAX_SCORE,
        N_TRANSACTIONS,
        TOTAL_AMOUNT,
        EXPECTED_FRAUD_AMOUNT,
        TOP_TRANSACTION_ID,
        MODEL_VERSION,
    ]
    typed = with_reason_columns(rows)
    assert set(REASON_COLUMNS) <= set(typed.columns)
    assert set(REQUIRED_COLUMNS) <= set(typed.columns)


def test_invalid_scores_are_refused() -> None:
    scores = make_scores(ROWS)
    with pytest.raises(ValueError, match="missing required columns"):
        build_alerts(scores.drop(columns=FRAUD_SCORE), DAY, alert_budget=2)
    with pytest.raises(ValueError, match="probability"):
        build_alerts(scores.assign(**{FRAUD_SCORE: 1.5}), DAY, alert_budget=2)
