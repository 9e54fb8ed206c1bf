"""Tests of fraud_core.window_state: a day from state + boundary rows equals build_features."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from fraud_core.features import FeatureConfig, build_features, lookback_days
from fraud_core.schema import empty_transactions
from fraud_core.window_state import (
    DailyAggregates,
    WindowState,
    advance_state,
    aggregate_days_for_advance,
    aggregate_days_for_state,
    apply_late_labels,
    boundary_days,
    build_day_features,
    build_state,
    daily_aggregates,
    labels_due_days,
    labels_due_on,
    state_from_totals,
    state_windows,
    terminal_label_totals,
)

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


def _aggregates(df: pd.DataFrame, n_days: int) -> dict[date, DailyAggregates]:
    out = {}
    for i in range(-8, n_days):
        k = FIRST_DAY + timedelta(days=i)
        out[k] = daily_aggregates(_rows_of(df, [k]), k)
    return out


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


def _assert_states_equal(a: WindowState, b: WindowState) -> None:
    assert a.day == b.day
    for x, y in ((a.customers, b.customers), (a.terminals, b.terminals)):
        pd.testing.assert_frame_equal(
            x.sort_index(), y.sort_index(), check_exact=False, rtol=1e-9, atol=1e-6
        )
    pd.testing.assert_frame_equal(a.pairs_frame(), b.pairs_frame())


@pytest.mark.parametrize("entities", [(12, 8), (300, 60)], ids=["dense", "sparse"])
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_days_from_state_equal_full_recomputation(
    config: FeatureConfig, entities: tuple[int, int]
) -> None:
    n_days = 16
    n_customers, n_terminals = entities
    df = _random_transactions(
        2500, days=n_days, n_customers=n_customers, n_terminals=n_terminals, seed=1
    )
    full = build_features(df, config)
    aggs = _aggregates(df, n_days)
    first = FIRST_DAY + timedelta(days=3)  # a state over partly empty history
    state = build_state(aggs, first, config)
    for i in range(3, n_days):
        day = FIRST_DAY + timedelta(days=i)
        assert state.day == day
        got = build_day_features(
            _rows_of(df, [day]), state, _rows_of(df, boundary_days(day, config))
        )
        _assert_frames_equal(got, _expected_day(full, day))
        _assert_states_equal(state, build_state(aggs, day, config))
        state = advance_state(state, aggs)


def test_string_ids_and_unsorted_boundary_rows() -> None:
    config = CONFIGS[0]
    df = _random_transactions(1500, days=10, seed=2)
    df["customer_id"] = "c" + df["customer_id"].astype(str)
    df["terminal_id"] = "t" + df["terminal_id"].astype(str)
    full = build_features(df, config)
    aggs = _aggregates(df, 10)
    day = FIRST_DAY + timedelta(days=8)
    state = advance_state(build_state(aggs, day - timedelta(days=1), config), aggs)
    assert state.pairs.key_dtype.kind == "O"
    boundary = _rows_of(df, boundary_days(day, config)).sample(frac=1.0, random_state=0)
    got = build_day_features(_rows_of(df, [day]), state, boundary)
    _assert_frames_equal(got, _expected_day(full, day))


def test_late_labels_applied_to_the_state_match_full_recomputation() -> None:
    config = FeatureConfig(windows_days=(1, 4), label_delay_days=1)
    df = _random_transactions(1500, days=10, seed=3)
    day = FIRST_DAY + timedelta(days=9)
    relabelled = FIRST_DAY + timedelta(days=6)  # a whole day inside the 4-day terminal window
    old = df.copy()
    in_day = _rows_of(df, [relabelled]).index
    old.loc[in_day, "tx_fraud"] = pd.NA  # not known when the state was built
    old_aggs = _aggregates(old, 10)
    state = build_state(old_aggs, day, config)
    new_aggs = _aggregates(df, 10)
    state = apply_late_labels(state, old_aggs[relabelled], new_aggs[relabelled])
    got = build_day_features(_rows_of(df, [day]), state, _rows_of(df, boundary_days(day, config)))
    _assert_frames_equal(got, _expected_day(build_features(df, config), day))
    _assert_states_equal(state, build_state(new_aggs, day, config))
    # without the correction the risks differ
    stale = build_state(old_aggs, day, config)
    stale_out = build_day_features(
        _rows_of(df, [day]), stale, _rows_of(df, boundary_days(day, config))
    )
    assert not stale_out["terminal_id_risk_4day_window"].equals(got["terminal_id_risk_4day_window"])


def test_day_list_helpers() -> None:
    config = FeatureConfig(windows_days=(1, 7, 30), label_delay_days=7)
    day = date(2024, 3, 31)
    offsets = sorted((day - k).days for k in boundary_days(day, config))
    assert offsets == [1, 7, 8, 14, 30, 37]
    assert len(aggregate_days_for_state(day, config)) == lookback_days(config)
    assert sorted((day - k).days for k in aggregate_days_for_advance(day, config)) == [
        0,
        6,
        7,
        13,
        29,
        36,
    ]
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
    aggs = _aggregates(df, 12)
    full = build_features(df, config)
    state = build_state(aggs, FIRST_DAY + timedelta(days=5), config)
    empty = build_day_features(empty_transactions(), state, df.iloc[0:0])
    assert len(empty) == 0
    assert list(empty.columns) == list(full.columns)
    for i in range(5, 12):
        day = FIRST_DAY + timedelta(days=i)
        got = build_day_features(
            _rows_of(df, [day]), state, _rows_of(df, boundary_days(day, config))
        )
        _assert_frames_equal(got, _expected_day(full, day))
        state = advance_state(state, aggs)


def test_invalid_inputs_raise() -> None:
    config = CONFIGS[0]
    df = _random_transactions(300, days=6, seed=5)
    aggs = _aggregates(df, 6)
    day = FIRST_DAY + timedelta(days=5)
    state = build_state(aggs, day, config)
    with pytest.raises(ValueError, match="must all lie in the UTC day"):
        build_day_features(_rows_of(df, [day - timedelta(days=1), day]), state, df)
    with pytest.raises(ValueError, match="must all lie in the UTC day"):
        daily_aggregates(df, day)
    with pytest.raises(KeyError, match="aggregates of"):
        build_state({}, day, config)
    with pytest.raises(ValueError, match="lack required columns"):
        build_day_features(_rows_of(df, [day]).drop(columns="tx_amount"), state, df)


def _totals(df: pd.DataFrame, day: date, config: FeatureConfig) -> dict[str, pd.DataFrame]:
    """What a warehouse returns for ``state_windows``: per-entity sums over whole days (pandas)."""
    windows = state_windows(day, config)
    days = (df["tx_datetime"] - BASE) // pd.Timedelta(days=1)
    k = pd.Series([FIRST_DAY + timedelta(days=int(i)) for i in days], index=df.index)
    today = df[k == day]
    rows = df.assign(_k=k, _sq=df["tx_amount"] ** 2, _lab=df["tx_fraud"].notna().astype(int))
    rows["_fraud"] = (rows["tx_fraud"] == 1).fillna(False).astype(int)
    hist = rows[(rows["_k"] >= windows.lookback_start) & (rows["_k"] < day)]
    cust = hist[hist["customer_id"].isin(today["customer_id"])]
    customers = cust.groupby("customer_id").agg(last_tx_datetime=("tx_datetime", "max"))
    for s, first in windows.customer_windows.items():
        part = cust[cust["_k"] >= first].groupby("customer_id")
        customers[f"nb_tx_{s}"] = part.size()
        customers[f"amount_sum_{s}"] = part["tx_amount"].sum()
        customers[f"amount_sq_sum_{s}"] = part["_sq"].sum()
    term = hist[hist["terminal_id"].isin(today["terminal_id"])]
    term = term[term["_k"] < windows.terminal_end]
    terminals = pd.DataFrame(index=pd.Index(term["terminal_id"].unique(), name="terminal_id"))
    for s, first in windows.terminal_windows.items():
        part = term[term["_k"] >= first].groupby("terminal_id")
        terminals[f"nb_tx_{s}"] = part.size()
        terminals[f"nb_labelled_{s}"] = part["_lab"].sum()
        terminals[f"nb_fraud_{s}"] = part["_fraud"].sum()
    keys = today[["customer_id", "terminal_id"]].drop_duplicates()
    pairs = hist.merge(keys, on=["customer_id", "terminal_id"])
    pairs = pairs.groupby(["customer_id", "terminal_id"], as_index=False)["tx_datetime"].max()
    return {
        "customers": customers.fillna(0).reset_index(),
        "terminals": terminals.dropna(how="all").fillna(0).reset_index(),
        "pairs": pairs.rename(columns={"tx_datetime": "last_tx_datetime"}),
    }


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_state_from_warehouse_style_totals_gives_the_full_recomputation(
    config: FeatureConfig,
) -> None:
    df = _random_transactions(2500, days=14, n_customers=40, n_terminals=20, seed=5)
    full = build_features(df, config)
    for i in (2, 9, 13):
        day = FIRST_DAY + timedelta(days=i)
        state = state_from_totals(day, config, **_totals(df, day, config))
        got = build_day_features(
            _rows_of(df, [day]), state, _rows_of(df, boundary_days(day, config))
        )
        _assert_frames_equal(got, _expected_day(full, day))


def test_state_windows_name_whole_day_ranges() -> None:
    config = FeatureConfig(windows_days=(1, 7, 30), label_delay_days=7)
    day = date(2024, 3, 31)
    windows = state_windows(day, config)
    assert windows.lookback_start == day - timedelta(days=37)
    assert windows.customer_windows == {"7d": date(2024, 3, 25), "30d": date(2024, 3, 2)}
    assert windows.terminal_windows == {"7d": date(2024, 3, 18), "30d": date(2024, 2, 24)}
    assert windows.terminal_end == date(2024, 3, 24)


def test_state_from_totals_rejects_missing_columns_and_duplicate_ids() -> None:
    config = FeatureConfig(windows_days=(1, 3), label_delay_days=1)
    day = date(2024, 3, 31)
    pairs = pd.DataFrame(columns=["customer_id", "terminal_id", "last_tx_datetime"])
    good = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "nb_tx_3d": [1, 2],
            "amount_sum_3d": [1.0, 2.0],
            "amount_sq_sum_3d": [1.0, 4.0],
            "last_tx_datetime": pd.to_datetime(["2024-03-30", "2024-03-29"], utc=True),
        }
    )
    terminals = pd.DataFrame(
        {"terminal_id": [5], "nb_tx_3d": [3], "nb_labelled_3d": [2], "nb_fraud_3d": [1]}
    )
    state = state_from_totals(day, config, good, terminals, pairs)
    assert state.customers.loc[2, "nb_tx_3d"] == 2
    assert state.customers.loc[1, "last_tx_ns"] == pd.Timestamp("2024-03-30", tz="UTC").value
    with pytest.raises(ValueError, match="amount_sq_sum_3d"):
        state_from_totals(day, config, good.drop(columns="amount_sq_sum_3d"), terminals, pairs)
    with pytest.raises(ValueError, match="one row per"):
        state_from_totals(day, config, pd.concat([good, good]), terminals, pairs)


def test_labels_are_due_the_first_day_a_whole_terminal_window_day_counts_them() -> None:
    config = FeatureConfig(windows_days=(1, 7, 30), label_delay_days=7)
    day = date(2024, 3, 31)
    windows = state_windows(day, config)
    due = labels_due_days(day, config)
    last_whole = windows.terminal_end - timedelta(days=1)
    assert labels_due_on(last_whole, config) == day == due[-1]
    assert due[0] == labels_due_on(windows.terminal_windows["30d"], config)
    assert len(due) == 29  # the whole days of the 30-day window
    assert labels_due_days(day, FeatureConfig(windows_days=(1,), label_delay_days=3)) == []


def test_terminal_label_totals_are_the_days_terminal_aggregates() -> None:
    df = _random_transactions(800, days=6, seed=6)
    day = FIRST_DAY + timedelta(days=4)
    rows = _rows_of(df, [day])
    got = terminal_label_totals(rows, day).set_index("terminal_id")
    want = daily_aggregates(rows, day).terminals
    pd.testing.assert_frame_equal(got, want)
    assert got["nb_labelled"].sum() == rows["tx_fraud"].notna().sum()
    assert got["nb_fraud"].sum() == (rows["tx_fraud"] == 1).sum()
    with pytest.raises(ValueError, match="UTC day"):
        terminal_label_totals(df, day)
