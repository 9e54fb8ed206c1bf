"""One day's features from its rows, its boundary days and a window state equal build_features."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from fraud_core.columns import CUSTOMER_ID, LAST_TX_DATETIME, TERMINAL_ID, TX_AMOUNT, TX_FRAUD
from fraud_core.features import (
    FeatureConfig,
    TotalsSource,
    WindowTotals,
    boundary_days,
    build_day_features,
    build_features,
    empty_totals,
    labels_due_days,
    labels_due_on,
    lookback_days,
    matured_totals,
    state_from_totals,
    window_totals_from_rows,
    window_totals_request,
)
from fraud_core.schema import empty_transactions

DAY_NS = 86_400 * 10**9
BASE = pd.Timestamp("2018-04-01", tz="UTC")
FIRST_DAY = BASE.date()
CONFIGS = [
    FeatureConfig(windows_days=(1, 3, 5), label_delay_days=2),
    FeatureConfig(windows_days=(1, 2), label_delay_days=0),
    FeatureConfig(windows_days=(2, 4), label_delay_days=1),
    FeatureConfig(windows_days=(1,), label_delay_days=1),
]
CONFIG_IDS = ["w135-d2", "w12-d0", "w24-d1", "w1-d1"]


def _random_transactions(
    n: int, *, days: int, n_customers: int = 12, n_terminals: int = 8, seed: int = 0
) -> pd.DataFrame:
    """Shuffled transactions with same-instant ties, unknown labels, rows on window edges."""
    rng = np.random.default_rng(seed)
    unit = 60 * 10**9
    offsets = rng.integers(0, days * DAY_NS // unit, n) * unit
    offsets[: n // 10] = offsets[n // 10 : 2 * (n // 10)]  # exact ties
    offsets[2 * (n // 10) : 2 * (n // 10) + n // 20] = rng.integers(0, days, n // 20) * DAY_NS
    fraud = (rng.random(n) < 0.3).astype(float)
    fraud[rng.random(n) < 0.2] = np.nan
    df = pd.DataFrame(
        {
            "transaction_id": rng.permutation(n).astype(np.int64) * 3 + 1,
            "tx_datetime": (BASE + pd.to_timedelta(offsets, unit="ns")).as_unit("ns"),
            "customer_id": rng.integers(0, n_customers, n).astype(np.int64) * 1000,
            "terminal_id": rng.integers(0, n_terminals, n).astype(np.int64) + 7,
            "tx_amount": np.round(rng.gamma(2.0, 30.0, n), 2),
            "tx_fraud": pd.array(fraud, dtype="Int8"),
            "tx_fraud_scenario": pd.array(rng.integers(0, 4, n), dtype="Int8"),
        }
    )
    # copies of some rows exactly k days later: rows on every window's edge
    echo = df.sample(frac=0.1, random_state=seed).copy()
    echo["tx_datetime"] += pd.to_timedelta(rng.integers(1, 10, len(echo)), unit="D")
    echo["transaction_id"] = np.arange(len(echo), dtype=np.int64) * 3 + 3 * n + 2
    df = pd.concat([df, echo[echo["tx_datetime"] < BASE + pd.Timedelta(days=days)]])
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _rows_of(df: pd.DataFrame, days: list[date]) -> pd.DataFrame:
    day = (df["tx_datetime"] - BASE) // pd.Timedelta(days=1)
    wanted = [(k - FIRST_DAY).days for k in days]
    return df[day.isin(wanted)]


def _assert_frames_equal(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Exact for every non-float column, rtol 1e-9 for floats (as the features tests)."""
    floats = [c for c in got.columns if got[c].dtype == np.float64]
    others = [c for c in got.columns if c not in floats]
    pd.testing.assert_frame_equal(got[others], expected[others], check_exact=True)
    pd.testing.assert_frame_equal(got[floats], expected[floats], check_exact=False, rtol=1e-9)


def _expected_day(full: pd.DataFrame, day: date) -> pd.DataFrame:
    start = pd.Timestamp(day, tz="UTC")
    in_day = (full["tx_datetime"] >= start) & (full["tx_datetime"] < start + pd.Timedelta(days=1))
    return full[in_day].reset_index(drop=True)


def _day_features(df: pd.DataFrame, day: date, config: FeatureConfig) -> pd.DataFrame:
    state = state_from_totals(day, config, window_totals_from_rows(df, day, config))
    return build_day_features(_rows_of(df, [day]), state, _rows_of(df, boundary_days(day, config)))


@pytest.mark.parametrize("entities", [(12, 8), (300, 60)], ids=["dense", "sparse"])
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_days_from_state_equal_full_recomputation(
    config: FeatureConfig, entities: tuple[int, int]
) -> None:
    n_customers, n_terminals = entities
    df = _random_transactions(2500, days=16, n_customers=n_customers, n_terminals=n_terminals)
    full = build_features(df, config)
    for i in (0, 3, 9, 15):  # from an empty history to a full lookback
        day = FIRST_DAY + timedelta(days=i)
        _assert_frames_equal(_day_features(df, day, config), _expected_day(full, day))


def test_string_ids_and_unsorted_boundary_rows() -> None:
    config = CONFIGS[0]
    df = _random_transactions(1500, days=10, seed=2)
    df[CUSTOMER_ID] = "c" + df[CUSTOMER_ID].astype(str)
    df[TERMINAL_ID] = "t" + df[TERMINAL_ID].astype(str)
    day = FIRST_DAY + timedelta(days=8)
    state = state_from_totals(day, config, window_totals_from_rows(df, day, config))
    assert state.pairs.key_dtype.kind == "O"
    boundary = _rows_of(df, boundary_days(day, config)).sample(frac=1.0, random_state=0)
    got = build_day_features(_rows_of(df, [day]), state, boundary)
    _assert_frames_equal(got, _expected_day(build_features(df, config), day))


def test_labels_of_the_state_decide_the_terminal_risk() -> None:
    """Totals computed with stale labels give other risks: the state really carries labels."""
    config = FeatureConfig(windows_days=(1, 4), label_delay_days=1)
    df = _random_transactions(1500, days=10, seed=3)
    day = FIRST_DAY + timedelta(days=9)
    stale = df.copy()
    stale.loc[_rows_of(df, [FIRST_DAY + timedelta(days=6)]).index, TX_FRAUD] = pd.NA
    boundary = _rows_of(df, boundary_days(day, config))
    fresh = _day_features(df, day, config)
    _assert_frames_equal(fresh, _expected_day(build_features(df, config), day))
    stale_state = state_from_totals(day, config, window_totals_from_rows(stale, day, config))
    stale_out = build_day_features(_rows_of(df, [day]), stale_state, boundary)
    risk = "terminal_id_risk_4day_window"
    assert not stale_out[risk].equals(fresh[risk])
    # the label-free features do not depend on labels at all
    assert stale_out["terminal_id_avg_amount_4day_window"].equals(
        fresh["terminal_id_avg_amount_4day_window"]
    )


def test_day_list_helpers() -> None:
    config = FeatureConfig(windows_days=(1, 7, 30), label_delay_days=7)
    day = date(2024, 3, 31)
    offsets = sorted((day - k).days for k in boundary_days(day, config))
    assert offsets == [1, 7, 8, 14, 30, 37]
    # the rows a day reads do not grow with the windows
    longer = FeatureConfig(windows_days=(1, 7, 90), label_delay_days=7)
    assert len(boundary_days(day, longer)) == len(boundary_days(day, config))


def test_empty_day_and_days_without_transactions() -> None:
    config = CONFIGS[0]
    df = _random_transactions(600, days=12, seed=4)
    df = df[
        (df["tx_datetime"] < BASE + pd.Timedelta(days=5))
        | (df["tx_datetime"] >= BASE + pd.Timedelta(days=7))
    ]
    full = build_features(df, config)
    day = FIRST_DAY + timedelta(days=5)
    state = state_from_totals(day, config, window_totals_from_rows(df, day, config))
    empty = build_day_features(empty_transactions(), state, df.iloc[0:0])
    assert len(empty) == 0
    assert list(empty.columns) == list(full.columns)
    for i in range(7, 12):
        day = FIRST_DAY + timedelta(days=i)
        _assert_frames_equal(_day_features(df, day, config), _expected_day(full, day))


def test_invalid_inputs_raise() -> None:
    config = CONFIGS[0]
    df = _random_transactions(300, days=6, seed=5)
    day = FIRST_DAY + timedelta(days=5)
    state = state_from_totals(day, config, window_totals_from_rows(df, day, config))
    with pytest.raises(ValueError, match="must all lie in the UTC day"):
        build_day_features(_rows_of(df, [day - timedelta(days=1), day]), state, df)
    with pytest.raises(ValueError, match="must all lie in the UTC day"):
        matured_totals(df, day, config)
    with pytest.raises(ValueError, match="lack required columns"):
        build_day_features(_rows_of(df, [day]).drop(columns=TX_AMOUNT), state, df)


def test_the_request_names_whole_day_ranges() -> None:
    config = FeatureConfig(windows_days=(1, 7, 30), label_delay_days=7)
    day = date(2024, 3, 31)
    request = window_totals_request(day, config)
    assert (
        request.lookback_start == day - timedelta(days=lookback_days(config)) == date(2024, 2, 23)
    )
    groups = {g.group: g for g in request.groups}
    assert list(groups) == ["customer_current", "terminal_current", "terminal_delayed"]
    cards = groups["customer_current"]
    assert (cards.source, cards.first_day, cards.end_day, cards.last_seen) == (
        TotalsSource.VALIDATED,
        date(2024, 2, 23),  # last seen looks over the whole lookback
        day,
        True,
    )
    assert {t.column: t.first_day for t in cards.totals} == {
        "nb_tx_7d": date(2024, 3, 25),
        "amount_sum_7d": date(2024, 3, 25),
        "nb_tx_30d": date(2024, 3, 2),
        "amount_sum_30d": date(2024, 3, 2),
        "amount_sq_sum_30d": date(2024, 3, 2),  # only the deviation window needs squares
    }
    labels = groups["terminal_delayed"]
    assert (labels.source, labels.end_day) == (TotalsSource.MATURED, date(2024, 3, 24))
    assert {t.column: t.first_day for t in labels.totals if t.column.startswith("nb_fraud")} == {
        "nb_fraud_7d": date(2024, 3, 18),
        "nb_fraud_30d": date(2024, 2, 24),
    }
    spend = groups["terminal_current"]
    assert [t.column for t in spend.totals] == [
        "nb_tx_7d",
        "amount_sum_7d",
        "nb_tx_30d",
        "amount_sum_30d",
    ]
    # one-day windows need no state: only the cards' last seen is totalled
    short = window_totals_request(day, FeatureConfig(windows_days=(1,), label_delay_days=3))
    assert [(g.group, g.totals) for g in short.groups] == [("customer_current", ())]


def test_state_from_totals_rejects_missing_columns_and_duplicate_ids() -> None:
    config = FeatureConfig(windows_days=(1, 3), label_delay_days=1)
    day = date(2024, 3, 31)
    empty = empty_totals(window_totals_request(day, config))
    cards = pd.DataFrame(
        {
            CUSTOMER_ID: [1, 2],
            "nb_tx_3d": [1, 2],
            "amount_sum_3d": [1.0, 2.0],
            "amount_sq_sum_3d": [1.0, 4.0],
            LAST_TX_DATETIME: pd.to_datetime(["2024-03-30", "2024-03-29"], utc=True),
        }
    )
    groups = {**empty.groups, "customer_current": cards}
    state = state_from_totals(day, config, WindowTotals(groups, empty.pairs))
    frame = state.groups["customer_current"]
    assert frame.loc[2, "nb_tx_3d"] == 2
    assert frame.loc[1, "last_tx_ns"] == pd.Timestamp("2024-03-30", tz="UTC").value
    broken = {**groups, "customer_current": cards.drop(columns="amount_sq_sum_3d")}
    with pytest.raises(ValueError, match="amount_sq_sum_3d"):
        state_from_totals(day, config, WindowTotals(broken, empty.pairs))
    doubled = {**groups, "customer_current": pd.concat([cards, cards])}
    with pytest.raises(ValueError, match="one row per"):
        state_from_totals(day, config, WindowTotals(doubled, empty.pairs))
    with pytest.raises(ValueError, match="pair totals lack"):
        state_from_totals(day, config, WindowTotals(groups, empty.pairs.drop(columns=CUSTOMER_ID)))


def test_labels_are_due_the_first_day_a_whole_label_window_day_counts_them() -> None:
    config = FeatureConfig(windows_days=(1, 7, 30), label_delay_days=7)
    day = date(2024, 3, 31)
    labels = next(
        g for g in window_totals_request(day, config).groups if g.group == "terminal_delayed"
    )
    due = labels_due_days(day, config)
    last_whole = labels.end_day - timedelta(days=1)
    assert labels_due_on(last_whole, config) == day == due[-1]
    assert due[0] == labels_due_on(labels.first_day, config)
    assert len(due) == 29  # the whole days of the 30-day window
    assert labels_due_days(day, FeatureConfig(windows_days=(1,), label_delay_days=3)) == []


def test_matured_totals_count_a_days_labels_per_terminal() -> None:
    config = CONFIGS[0]
    df = _random_transactions(800, days=6, seed=6)
    day = FIRST_DAY + timedelta(days=4)
    rows = _rows_of(df, [day])
    got = matured_totals(rows, day, config).set_index(TERMINAL_ID).sort_index()
    assert list(got.columns) == ["nb_tx", "nb_labelled", "nb_fraud"]
    by_terminal = rows.groupby(TERMINAL_ID)
    np.testing.assert_array_equal(got["nb_tx"], by_terminal.size().sort_index())
    np.testing.assert_array_equal(got["nb_labelled"], by_terminal[TX_FRAUD].count().sort_index())
    np.testing.assert_array_equal(
        got["nb_fraud"], by_terminal[TX_FRAUD].apply(lambda s: int((s == 1).sum())).sort_index()
    )
