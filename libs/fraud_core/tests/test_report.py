"""Tests of the daily fraud report on small hand-built score frames."""

from __future__ import annotations

import dataclasses
import io
import re
import subprocess
import sys
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

import fraud_core.report
from fraud_core import columns
from fraud_core.alerts import ALERT_COLUMNS, build_alerts
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
from fraud_core.report import (
    REQUIRED_COLUMNS,
    DailyReport,
    daily_report,
    render_html,
    render_markdown,
    report_summary_frame,
)

DAY = date(2024, 5, 7)
NA = pd.NA

# (transaction_id, customer_id, terminal_id, tx_amount, fraud_score, tx_fraud, model_version)
# Hand-computed for budget 2, threshold 0.5:
#   cards (max score): A 0.9, B 0.8, C 0.8, D 0.1 -> tie B/C broken by id -> alerts A, B
#   card labels: A fraud (1, 0), B unknown (NA, 0), C genuine (0), D unknown (NA)
#   expected fraud per tx: 90, 15, 160, 8, 4, 4 -> 281 in all, 269 on A and B
BASE_ROWS = [
    ("t1", "A", "T1", 100.0, 0.9, 1, "v1"),
    ("t2", "A", "T2", 50.0, 0.3, 0, "v1"),
    ("t3", "B", "T1", 200.0, 0.8, NA, "v1"),
    ("t4", "C", "T3", 10.0, 0.8, 0, "v2"),
    ("t5", "D", "T3", 40.0, 0.1, NA, "v1"),
    ("t6", "B", "T2", 20.0, 0.2, 0, "v1"),
]


def make_scores(rows: list[tuple], day: date = DAY, hour: int = 1) -> pd.DataFrame:
    """A scores frame with the pipeline's contract dtypes, one row per tuple, all on ``day``."""
    frame = pd.DataFrame(
        rows,
        columns=[
            TRANSACTION_ID,
            CUSTOMER_ID,
            TERMINAL_ID,
            TX_AMOUNT,
            FRAUD_SCORE,
            TX_FRAUD,
            MODEL_VERSION,
        ],
    )
    start = pd.Timestamp(day).tz_localize("UTC") + pd.Timedelta(hours=hour)
    frame[TX_DATETIME] = pd.date_range(start, periods=len(frame), freq="min")
    frame[TX_FRAUD] = frame[TX_FRAUD].astype("Int8")
    frame[TX_AMOUNT] = frame[TX_AMOUNT].astype("float64")
    frame[FRAUD_SCORE] = frame[FRAUD_SCORE].astype("float64")
    frame["extra_column"] = "ignored"
    return frame[[*REQUIRED_COLUMNS, "extra_column"]]


def unlabelled(frame: pd.DataFrame) -> pd.DataFrame:
    """The same frame with every label unknown."""
    return frame.assign(tx_fraud=pd.array([NA] * len(frame), dtype="Int8"))


@pytest.fixture(scope="module")
def base_report() -> DailyReport:
    return daily_report(make_scores(BASE_ROWS), DAY, alert_budget=2)


@pytest.fixture(scope="module")
def base_html(base_report: DailyReport) -> str:
    return render_html(base_report)


# ------------------------------------------------------------------------------ package


def test_public_api_and_input_contract() -> None:
    assert fraud_core.report.__all__ == [
        "REQUIRED_COLUMNS",
        "TRAILING_DAYS",
        "DailyReport",
        "DayStats",
        "daily_report",
        "render_html",
        "render_markdown",
        "report_summary_frame",
    ]
    assert fraud_core.report.TRAILING_DAYS == 7
    # the transaction contract followed by the score columns, in this order
    contract = (*columns.REQUIRED_COLUMNS, FRAUD_SCORE, MODEL_VERSION)
    assert contract == REQUIRED_COLUMNS


def test_importing_the_report_loads_no_matplotlib() -> None:
    code = (
        "import sys, fraud_core.report\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib')\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------------------ headline


def test_headline_numbers_match_hand_computed_values(base_report: DailyReport) -> None:
    s = base_report.headline
    assert s.day == DAY
    assert (s.n_transactions, s.n_cards, s.n_terminals) == (6, 4, 3)
    assert s.amount == pytest.approx(420.0)
    assert s.model_versions == ("v1", "v2")
    # scores sorted: 0.1 0.2 0.3 0.8 0.8 0.9
    assert s.score_mean == pytest.approx(3.1 / 6)
    assert s.score_median == pytest.approx(0.55)
    assert s.score_p95 == pytest.approx(0.875)  # 0.8 + 0.75 * 0.1 (linear, index 4.75)
    assert s.score_p99 == pytest.approx(0.895)  # 0.8 + 0.95 * 0.1 (index 4.95)
    assert (s.n_labelled, s.n_fraud_labelled) == (4, 1)
    assert s.fraud_amount_known == pytest.approx(100.0)
    assert s.alerts_budget == 2
    assert s.alerted_amount == pytest.approx(150.0 + 220.0)
    assert s.expected_precision == pytest.approx((0.9 + 0.8) / 2)
    # A is fraud, B unknown (one label missing, none fraud): 1 known card, precision 1/1
    assert s.n_alerted_cards_labelled == 1
    assert s.realised_precision == pytest.approx(1.0)
    assert s.fraud_amount_caught == pytest.approx(100.0)
    assert s.expected_fraud_amount == pytest.approx(281.0)
    assert s.expected_fraud_amount_alerted == pytest.approx(269.0)
    assert (s.alerts_threshold_tx, s.alerts_threshold_cards) == (3, 3)
    assert not base_report.is_empty


def test_threshold_counts_include_scores_equal_to_threshold() -> None:
    report = daily_report(make_scores(BASE_ROWS), DAY, alert_budget=2, threshold=0.8)
    assert report.headline.alerts_threshold_tx == 3  # 0.9, 0.8, 0.8
    assert report.headline.alerts_threshold_cards == 3  # A, B, C
    higher = daily_report(make_scores(BASE_ROWS), DAY, alert_budget=2, threshold=0.85)
    assert (higher.headline.alerts_threshold_tx, higher.headline.alerts_threshold_cards) == (1, 1)


def test_rows_outside_the_utc_day_are_ignored() -> None:
    inside = make_scores(BASE_ROWS)
    edge = make_scores(
        [
            ("start", "E", "T9", 1.0, 0.5, NA, "v1"),  # 00:00 UTC on DAY: inside
            ("next", "F", "T9", 1000.0, 0.99, NA, "v1"),  # 00:00 UTC next day: outside
            ("local", "G", "T9", 1000.0, 0.99, NA, "v1"),  # 01:00+02:00 = previous day UTC
        ]
    )
    edge[TX_DATETIME] = pd.to_datetime(
        ["2024-05-07T00:00:00Z", "2024-05-08T00:00:00Z", "2024-05-06T23:00:00Z"], utc=True
    )
    report = daily_report(pd.concat([inside, edge], ignore_index=True), DAY, alert_budget=2)
    assert report.headline.n_transactions == 7
    assert report.headline.amount == pytest.approx(421.0)
    assert "F" not in set(report.top_customers[CUSTOMER_ID])

    # tz-aware non-UTC input is converted; tz-naive input is taken as UTC
    local = edge.assign(tx_datetime=edge[TX_DATETIME].dt.tz_convert("Europe/Brussels"))
    assert daily_report(local, DAY).headline.n_transactions == 1
    naive = edge.assign(tx_datetime=edge[TX_DATETIME].dt.tz_localize(None))
    assert daily_report(naive, DAY).headline.n_transactions == 1


# ------------------------------------------------------------------------------ alerts


def test_budget_alerts_are_top_cards_with_deterministic_ties(base_report: DailyReport) -> None:
    alerts = base_report.alerts
    assert list(alerts[ALERT_RANK]) == [1, 2]
    assert list(alerts[CUSTOMER_ID]) == ["A", "B"]  # B and C tie at 0.8: B first by id
    assert list(alerts[MAX_SCORE]) == pytest.approx([0.9, 0.8])
    assert list(alerts[N_TRANSACTIONS]) == [2, 2]
    assert list(alerts[TOTAL_AMOUNT]) == pytest.approx([150.0, 220.0])
    assert list(alerts[EXPECTED_FRAUD_AMOUNT]) == pytest.approx([105.0, 164.0])
    assert list(alerts[TOP_TRANSACTION_ID]) == ["t1", "t3"]
    assert alerts["card_fraud"].iloc[0] == 1
    assert alerts["card_fraud"].isna().iloc[1]

    # Row order of the input does not change the ranking.
    shuffled = make_scores(BASE_ROWS).sample(frac=1.0, random_state=3)
    again = daily_report(shuffled, DAY, alert_budget=2)
    pd.testing.assert_frame_equal(again.alerts, alerts)


def test_tie_order_is_by_customer_id_not_input_order() -> None:
    rows = [(f"t{c}", c, "T1", 10.0, 0.7, NA, "v1") for c in ["Z", "M", "B", "X"]]
    report = daily_report(make_scores(rows), DAY, alert_budget=3)
    assert list(report.alerts[CUSTOMER_ID]) == ["B", "M", "X"]


def test_realised_precision_counts_only_cards_with_known_labels() -> None:
    report = daily_report(make_scores(BASE_ROWS), DAY, alert_budget=3)
    s = report.headline
    assert list(report.alerts[CUSTOMER_ID]) == ["A", "B", "C"]
    # A fraud, B unknown, C genuine (its only tx labelled 0) -> 1 of 2 known cards
    assert s.n_alerted_cards_labelled == 2
    assert s.realised_precision == pytest.approx(0.5)
    assert s.expected_precision == pytest.approx((0.9 + 0.8 + 0.8) / 3)


def test_realised_precision_is_none_not_zero_when_no_label_is_known() -> None:
    report = daily_report(unlabelled(make_scores(BASE_ROWS)), DAY, alert_budget=2)
    s = report.headline
    assert s.realised_precision is None
    assert s.n_alerted_cards_labelled == 0
    assert s.fraud_amount_caught is None
    assert s.fraud_amount_known is None
    assert s.n_labelled == 0
    assert s.expected_precision == pytest.approx(0.85)  # still available
    assert any("No fraud labels are known" in note for note in report.notes)
    assert pd.isna(report_summary_frame(report).loc[0, "realised_precision"])
    assert "n/a" in render_markdown(report)


def test_realised_precision_is_zero_when_alerted_cards_are_known_genuine() -> None:
    genuine = make_scores(BASE_ROWS).assign(tx_fraud=pd.array([0] * 6, dtype="Int8"))
    s = daily_report(genuine, DAY, alert_budget=2).headline
    assert s.realised_precision == 0.0
    assert s.n_alerted_cards_labelled == 2
    assert s.fraud_amount_caught == 0.0


def test_fewer_cards_than_budget_alerts_every_card() -> None:
    report = daily_report(make_scores(BASE_ROWS), DAY, alert_budget=10)
    assert list(report.alerts[CUSTOMER_ID]) == ["A", "B", "C", "D"]
    assert report.headline.alerts_budget == 4
    assert report.headline.expected_precision == pytest.approx((0.9 + 0.8 + 0.8 + 0.1) / 4)
    assert any("fewer than the alert budget of 10" in note for note in report.notes)


def with_reasons(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with reason columns naming each row's transaction."""
    extra = {}
    for rank in range(1, REASON_COUNT + 1):
        extra[reason_feature(rank)] = [f"f{rank}_{t}" for t in scores[TRANSACTION_ID]]
        extra[reason_value(rank)] = [float(rank)] * len(scores)
        extra[reason_contribution(rank)] = [0.5 / rank] * len(scores)
        extra[reason_text(rank)] = [f"why {rank} of {t}" for t in scores[TRANSACTION_ID]]
    return scores.assign(**extra)


def test_the_report_shows_the_alerts_table_it_is_given_with_the_same_numbers() -> None:
    scores = with_reasons(make_scores(BASE_ROWS))
    built = daily_report(scores, DAY, alert_budget=2)
    stored = build_alerts(scores, DAY, alert_budget=2)
    pd.testing.assert_frame_equal(built.alerts[list(ALERT_COLUMNS)], stored)
    # as read back from the warehouse: a partition column, any row order, plain dtypes
    read_back = stored.sample(frac=1.0, random_state=1).assign(partition_date=DAY)
    read_back = read_back.astype({c: "object" for c in REASON_COLUMNS if "text" in c})
    given = daily_report(scores, DAY, alert_budget=2, alerts=read_back)
    assert given.headline == built.headline  # every count and amount as before
    assert list(given.alerts[CUSTOMER_ID]) == ["A", "B"]
    assert list(given.alerts["card_fraud"].astype("float64").fillna(-1)) == [1.0, -1.0]
    assert given.alerts[reason_text(1)].tolist() == ["why 1 of t1", "why 1 of t3"]


def test_the_alert_tables_show_the_reasons_of_each_cards_top_transaction() -> None:
    scores = with_reasons(make_scores(BASE_ROWS))
    report = daily_report(scores, DAY, alert_budget=2)
    md = render_markdown(report)
    assert "Why flagged" in md
    assert "| fraud | why 1 of t1; why 2 of t1; why 3 of t1 |" in md
    assert "| unknown | why 1 of t3; why 2 of t3; why 3 of t3 |" in md
    assert "of t2" not in md  # A's other transaction
    page = render_html(report)
    assert "why 1 of t1; why 2 of t1; why 3 of t1" in page
    # no words stored: the feature and its value; no reasons at all: n/a
    scores[reason_text(1)] = None
    no_words = daily_report(scores, DAY, alert_budget=2)
    assert r"f1\_t1 = 1; why 2 of t1" in render_markdown(no_words)  # "_" escaped in Markdown
    bare = render_markdown(daily_report(make_scores(BASE_ROWS), DAY, alert_budget=2))
    assert "| fraud | n/a |" in bare


def test_an_alerts_table_that_does_not_match_the_scores_is_refused() -> None:
    scores = make_scores(BASE_ROWS)
    alerts = build_alerts(scores, DAY, alert_budget=2)
    with pytest.raises(ValueError, match="no alerts for 2024-05-07"):
        daily_report(scores, DAY, alert_budget=2, alerts=alerts.iloc[:0])
    stale = alerts.assign(**{CUSTOMER_ID: ["A", "GONE"]})
    with pytest.raises(ValueError, match="1 alerted cards of 2024-05-07 have no scores"):
        daily_report(scores, DAY, alert_budget=2, alerts=stale)
    rescored = scores.assign(**{MODEL_VERSION: "v9"})  # the day scored again by another model
    with pytest.raises(ValueError, match="come from model v1, not the one"):
        daily_report(rescored, DAY, alert_budget=2, alerts=alerts)
    with pytest.raises(ValueError, match="missing columns"):
        daily_report(scores, DAY, alert_budget=2, alerts=alerts.drop(columns=MAX_SCORE))
    empty_day = scores.iloc[:0]
    report = daily_report(empty_day, DAY, alert_budget=2, alerts=alerts.iloc[:0])
    assert report.alerts.empty


# ------------------------------------------------------------------------------ tables


def test_score_histogram_counts(base_report: DailyReport) -> None:
    hist = base_report.score_histogram
    assert len(hist) == 20
    assert hist["count"].sum() == 6
    by_left = hist.set_index(hist["bin_left"].round(2))
    assert by_left.loc[0.8, "count"] == 2
    assert by_left.loc[0.3, "count"] == 1  # 0.3 sits in [0.30, 0.35), not below its edge
    assert by_left.loc[0.9, "n_fraud_labelled"] == 1
    assert hist["n_fraud_labelled"].sum() == 1
    assert hist["share"].sum() == pytest.approx(1.0)
    assert hist["bin_right"].iloc[-1] == 1.0


def test_top_terminals_and_customers_by_expected_fraud_amount() -> None:
    report = daily_report(make_scores(BASE_ROWS), DAY, alert_budget=2, top_n=2)
    terminals = report.top_terminals
    assert list(terminals[TERMINAL_ID]) == ["T1", "T2"]  # 250, 19 (T3: 12 cut by top_n)
    assert list(terminals["expected_fraud_amount"]) == pytest.approx([250.0, 19.0])
    assert list(terminals["max_score"]) == pytest.approx([0.9, 0.3])
    assert list(terminals["mean_score"]) == pytest.approx([0.85, 0.25])
    assert list(terminals["n_fraud"]) == [1, 0]
    customers = report.top_customers
    assert list(customers[CUSTOMER_ID]) == ["B", "A"]  # 164, 105
    assert list(customers["alerted"]) == [True, True]
    full = daily_report(make_scores(BASE_ROWS), DAY, alert_budget=2).top_customers
    assert list(full[CUSTOMER_ID]) == ["B", "A", "C", "D"]
    assert list(full["alerted"]) == [True, True, False, False]


# ------------------------------------------------------------------------------ trailing


def _history() -> pd.DataFrame:
    d1, d3 = DAY - timedelta(days=1), DAY - timedelta(days=3)
    yesterday = make_scores(
        [("h1", "A", "T1", 10.0, 0.6, NA, "v1"), ("h2", "B", "T1", 30.0, 0.2, NA, "v1")], d1
    )
    older = make_scores(
        [
            ("h3", "A", "T1", 100.0, 0.9, 1, "v1"),
            ("h4", "B", "T2", 100.0, 0.7, 0, "v1"),
            ("h5", "C", "T2", 100.0, 0.1, 0, "v1"),
            ("h6", "D", "T2", 100.0, 0.2, 0, "v1"),
        ],
        d3,
    )
    too_old = make_scores([("h7", "A", "T1", 5.0, 0.5, 1, "v1")], DAY - timedelta(days=8))
    same_day = make_scores([("h8", "Q", "T1", 5.0, 0.5, 1, "v1")], DAY)
    return pd.concat([yesterday, older, too_old, same_day], ignore_index=True)


def test_trailing_seven_days_table_and_comparison() -> None:
    report = daily_report(make_scores(BASE_ROWS), DAY, history=_history(), alert_budget=2)
    trailing = report.trailing
    assert list(trailing["day"]) == [DAY - timedelta(days=3), DAY - timedelta(days=1)]
    assert list(trailing["n_transactions"]) == [4, 2]
    assert list(trailing["amount"]) == pytest.approx([400.0, 40.0])
    assert list(trailing["alerts_threshold_tx"]) == [2, 1]
    # older day: alerts A (fraud) and B (genuine) -> 0.5; yesterday: no labels -> NaN
    assert trailing["realised_precision"].iloc[0] == pytest.approx(0.5)
    assert np.isnan(trailing["realised_precision"].iloc[1])
    assert report.missing_days == tuple(
        DAY - timedelta(days=k) for k in (7, 6, 5, 4, 2)
    )  # ascending
    assert any("No data for 5 of the trailing 7 days" in note for note in report.notes)

    cmp = report.comparison.set_index("metric")
    assert cmp.loc["n_transactions", "trailing_mean"] == pytest.approx(3.0)
    assert cmp.loc["n_transactions", "delta"] == pytest.approx(3.0)
    assert cmp.loc["n_transactions", "ratio"] == pytest.approx(2.0)
    assert cmp.loc["n_transactions", "n_days"] == 2
    assert cmp.loc["amount", "ratio"] == pytest.approx(420.0 / 220.0)
    # realised precision is averaged only over days where it is known
    assert cmp.loc["realised_precision", "n_days"] == 1
    assert cmp.loc["realised_precision", "trailing_mean"] == pytest.approx(0.5)
    assert cmp.loc["realised_precision", "delta"] == pytest.approx(0.5)


def test_trailing_days_come_from_scores_when_history_is_none() -> None:
    combined = pd.concat([make_scores(BASE_ROWS), _history()], ignore_index=True)
    from_scores = daily_report(combined, DAY, alert_budget=2)
    from_history = daily_report(make_scores(BASE_ROWS), DAY, history=_history(), alert_budget=2)
    pd.testing.assert_frame_equal(from_scores.trailing, from_history.trailing)
    # ... but the report day itself only counts `scores` rows on that day
    assert from_scores.headline.n_transactions == 7  # BASE_ROWS + same_day row of history
    assert from_history.headline.n_transactions == 6


def test_empty_history_reports_every_trailing_day_missing() -> None:
    empty_history = _history().iloc[:0]
    report = daily_report(make_scores(BASE_ROWS), DAY, history=empty_history)
    assert report.trailing.empty
    assert len(report.missing_days) == 7
    assert report.comparison["trailing_mean"].isna().all()
    assert report.comparison["ratio"].isna().all()
    assert (report.comparison["n_days"] == 0).all()


# ------------------------------------------------------------------------------ edge cases


def test_empty_day_gives_a_valid_report() -> None:
    other_day_only = make_scores(BASE_ROWS, DAY - timedelta(days=1))
    report = daily_report(other_day_only, DAY, alert_budget=2)
    s = report.headline
    assert report.is_empty
    assert (s.n_transactions, s.n_cards, s.amount) == (0, 0, 0.0)
    assert s.score_mean is None
    assert s.score_p99 is None
    assert s.expected_precision is None
    assert s.realised_precision is None
    assert s.model_versions == ()
    assert report.alerts.empty
    assert CUSTOMER_ID in report.alerts.columns
    assert report.top_terminals.empty
    assert report.score_histogram["count"].sum() == 0
    assert report.notes[0] == f"No transactions were scored on {DAY.isoformat()}."
    assert list(report.trailing["n_transactions"]) == [6]  # yesterday came from `scores`

    markdown = render_markdown(report)
    assert "No transactions were scored on 2024-05-07" in markdown
    page = render_html(report)
    assert "No transactions were scored on 2024-05-07" in page
    assert page.count("data:image/png;base64,") == 1  # the trend chart only
    summary = report_summary_frame(report)
    assert len(summary) == 1
    assert summary.loc[0, "n_transactions"] == 0


def test_empty_frame_with_object_columns() -> None:
    report = daily_report(pd.DataFrame(columns=list(REQUIRED_COLUMNS)), DAY)
    assert report.is_empty
    assert len(report.missing_days) == 7


def test_invalid_inputs_raise() -> None:
    scores = make_scores(BASE_ROWS)
    with pytest.raises(ValueError, match="missing required columns"):
        daily_report(scores.drop(columns=FRAUD_SCORE), DAY)
    with pytest.raises(ValueError, match="probability"):
        daily_report(scores.assign(fraud_score=1.5), DAY)
    with pytest.raises(ValueError, match="probability"):
        daily_report(scores.assign(fraud_score=np.nan), DAY)
    with pytest.raises(ValueError, match="alert_budget"):
        daily_report(scores, DAY, alert_budget=-1)
    with pytest.raises(ValueError, match="threshold"):
        daily_report(scores, DAY, threshold=2.0)


def test_report_is_frozen(base_report: DailyReport) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        base_report.day = DAY  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        base_report.headline.n_transactions = 0  # type: ignore[misc]


# ------------------------------------------------------------------------------ summary frame


def test_summary_frame_is_one_flat_storable_row(base_report: DailyReport) -> None:
    summary = report_summary_frame(base_report)
    assert len(summary) == 1
    row = summary.iloc[0]
    assert row["day"] == DAY
    assert row["n_transactions"] == 6
    assert row["amount"] == pytest.approx(420.0)
    assert row["alerts_budget"] == 2
    assert row["alerts_threshold_tx"] == 3
    assert row["expected_precision"] == pytest.approx(0.85)
    assert row["realised_precision"] == pytest.approx(1.0)
    assert row["fraud_amount_caught"] == pytest.approx(100.0)
    assert row["expected_fraud_amount"] == pytest.approx(281.0)
    assert row["model_versions"] == "v1,v2"
    assert row["currency"] == "EUR"
    assert pd.isna(row["trailing_mean_n_transactions"])
    # flat scalar columns only, and the schema is the same on an empty day
    assert all(not isinstance(v, (list, dict, tuple)) for v in row.to_list())
    empty = report_summary_frame(daily_report(make_scores(BASE_ROWS).iloc[:0], DAY))
    assert list(empty.columns) == list(summary.columns)
    assert list(empty.dtypes) == list(summary.dtypes)
    # storable: round-trips through Parquet with the same values
    buf = io.BytesIO()
    summary.to_parquet(buf, index=False)
    back = pd.read_parquet(buf)
    assert back.loc[0, "n_transactions"] == 6
    assert back.loc[0, "realised_precision"] == pytest.approx(1.0)


# ------------------------------------------------------------------------------ rendering


def test_markdown_contains_key_numbers(base_report: DailyReport) -> None:
    md = render_markdown(base_report)
    assert md.startswith("# Daily fraud report: 2024-05-07 (UTC)")
    assert "| Transactions scored | 6 | 4 cards |" in md
    assert "| Amount scored | 420.00 EUR | 3 terminals |" in md
    assert "| Expected precision | 85.0% |" in md
    assert "| Realised precision | 100.0% | 1 of 2 alerted cards labelled |" in md
    assert "| Fraud amount caught | 100.00 EUR |" in md
    assert "| Expected fraud amount | 281.00 EUR |" in md
    assert "| 1 | A | 0.9000 | 2 | 150.00 | 105.00 | fraud |" in md
    assert "| 2 | B | 0.8000 | 2 | 220.00 | 164.00 | unknown |" in md
    assert "median 0.5500, p95 0.8750, p99 0.8950" in md


def test_markdown_uses_thousands_separators_and_currency_label() -> None:
    rows = [("t1", "A", "T1", 1234567.891, 0.5, NA, "v1")]
    md = render_markdown(daily_report(make_scores(rows), DAY, currency="USD"))
    assert "1,234,567.89 USD" in md
    assert "Amount (USD)" in md


def test_html_is_self_contained(base_html: str) -> None:
    assert base_html.startswith("<!DOCTYPE html>")
    assert base_html.count("data:image/png;base64,") == 3  # histogram, alerts, trend
    assert "http://" not in base_html
    assert "https://" not in base_html
    assert "<script" not in base_html.lower()
    assert "<link" not in base_html.lower()
    srcs = re.findall(r'src="([^"]*)"', base_html)
    assert srcs
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<style>" in base_html
    assert "420.00 EUR" in base_html
    assert "85.0%" in base_html


def test_html_and_markdown_escape_data_values() -> None:
    evil = "<script>alert(1)</script>"
    rows = [
        ("t1", evil, '"><img src=x onerror=alert(2)>', 10.0, 0.9, NA, "<b>v9</b>"),
        ("t2", "$x^{$_|*", "T1", 10.0, 0.8, NA, "v1"),  # mathtext and Markdown specials
    ]
    report = daily_report(make_scores(rows), DAY, alert_budget=2)
    page = render_html(report)
    assert evil not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert "<b>v9</b>" not in page
    assert "&lt;b&gt;v9&lt;/b&gt;" in page
    md = render_markdown(report)
    assert evil not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert r"$x^{$\_\|\*" in md  # no raw pipe can break the table


def test_rendered_tables_are_limited_to_top_n() -> None:
    rows = [
        (f"t{i:02d}", f"card-{i:02d}", f"term-{i:02d}", 10.0, 0.99 - i / 100, NA, "v1")
        for i in range(30)
    ]
    report = daily_report(make_scores(rows), DAY, alert_budget=20, top_n=5)
    assert len(report.alerts) == 20  # the data keeps the whole budget
    md = render_markdown(report)
    assert "Showing 5 of 20 alerted cards." in md
    assert "card-04" in md
    assert "card-05" not in md
    assert "term-04" in md
    assert "term-05" not in md
