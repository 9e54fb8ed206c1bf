"""Tests of fraud_core.features: hand-computed values, a brute-force reference, properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fraud_core.columns import KEY_COLUMNS
from fraud_core.features import (
    FeatureConfig,
    build_features,
    feature_columns,
    frames,
    lookback_days,
)
from fraud_core.features import table as feat
from fraud_core.schema import empty_transactions

DAY_NS = 86_400 * 10**9
BASE = pd.Timestamp("2018-04-01", tz="UTC")  # a Sunday
DEFAULT_FEATURES = [
    "tx_amount",
    "tx_during_weekend",
    "tx_during_night",
    "customer_id_nb_tx_1day_window",
    "customer_id_avg_amount_1day_window",
    "customer_id_nb_tx_7day_window",
    "customer_id_avg_amount_7day_window",
    "customer_id_nb_tx_30day_window",
    "customer_id_avg_amount_30day_window",
    "terminal_id_nb_tx_1day_window",
    "terminal_id_risk_1day_window",
    "terminal_id_nb_tx_7day_window",
    "terminal_id_risk_7day_window",
    "terminal_id_nb_tx_30day_window",
    "terminal_id_risk_30day_window",
    "tx_hour",
    "customer_id_seconds_since_prev_tx",
    "customer_id_amount_to_avg_30day_window",
    "customer_id_amount_zscore_30day_window",
    "customer_terminal_first_use",
    "terminal_id_avg_amount_1day_window",
    "terminal_id_avg_amount_7day_window",
    "terminal_id_avg_amount_30day_window",
]


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """(id, time offset from BASE as a string, customer, terminal, amount, fraud or None)."""
    ids, times, custs, terms, amounts, frauds = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "transaction_id": np.array(ids, dtype=np.int64),
            "tx_datetime": pd.DatetimeIndex([BASE + pd.Timedelta(x) for x in times]).as_unit("ns"),
            "customer_id": np.array(custs, dtype=np.int64),
            "terminal_id": np.array(terms, dtype=np.int64),
            "tx_amount": np.array(amounts, dtype=np.float64),
            "tx_fraud": pd.array(frauds, dtype="Int8"),
        }
    )


def _random_transactions(
    n: int,
    *,
    days: int,
    n_customers: int = 8,
    n_terminals: int = 6,
    seed: int = 0,
    resolution: str = "min",
) -> pd.DataFrame:
    """Random canonical transactions, shuffled, with same-instant ties and unknown labels."""
    rng = np.random.default_rng(seed)
    unit_ns = {"min": 60 * 10**9, "ns": 1}[resolution]
    offsets = rng.integers(0, days * DAY_NS // unit_ns, n) * unit_ns
    offsets[: n // 10] = offsets[n // 10 : 2 * (n // 10)]  # many exact ties
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
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _reference(df: pd.DataFrame, config: FeatureConfig) -> pd.DataFrame:
    """Brute-force O(n^2) features straight from the documented definitions."""
    d = df.sort_values(["tx_datetime", "transaction_id"]).reset_index(drop=True)
    t = d["tx_datetime"].astype("int64").to_numpy()
    ids = d["transaction_id"].to_numpy()
    cust = d["customer_id"].to_numpy()
    term = d["terminal_id"].to_numpy()
    amt = d["tx_amount"].to_numpy()
    known = d["tx_fraud"].notna().to_numpy()
    fraud = d["tx_fraud"].fillna(0).to_numpy() == 1
    delay = config.label_delay_days
    big_w = max(config.windows_days)
    lookback = lookback_days(config)
    out: dict[str, list] = {c: [] for c in feature_columns(config) if c != "tx_amount"}
    for i in range(len(d)):
        ts = d["tx_datetime"].iloc[i]
        earlier = (t < t[i]) | ((t == t[i]) & (ids < ids[i]))
        upto = earlier | (np.arange(len(d)) == i)
        out["tx_during_weekend"].append(int(ts.weekday() >= 5))
        out["tx_during_night"].append(int(ts.hour <= 6))
        out["tx_hour"].append(ts.hour)
        for n in config.windows_days:
            m = (cust == cust[i]) & upto & (t > t[i] - n * DAY_NS)
            out[f"customer_id_nb_tx_{n}day_window"].append(m.sum())
            out[f"customer_id_avg_amount_{n}day_window"].append(amt[m].mean())
            m = (term == term[i]) & earlier & (t > t[i] - (n + delay) * DAY_NS)
            m &= t <= t[i] - delay * DAY_NS
            out[f"terminal_id_nb_tx_{n}day_window"].append(m.sum())
            labelled = m & known
            risk = fraud[labelled].sum() / labelled.sum() if labelled.any() else 0.0
            out[f"terminal_id_risk_{n}day_window"].append(risk)
            m = (term == term[i]) & upto & (t > t[i] - n * DAY_NS)
            out[f"terminal_id_avg_amount_{n}day_window"].append(amt[m].mean())
        prev = (cust == cust[i]) & earlier
        gaps = t[i] - t[prev]
        since = min(gaps.min(), lookback * DAY_NS) if prev.any() else lookback * DAY_NS
        out["customer_id_seconds_since_prev_tx"].append(since / 1e9)
        hist = amt[prev & (t > t[i] - big_w * DAY_NS)]
        if len(hist):
            var = hist.var(ddof=1) if len(hist) > 1 else 0.0
            ratio = amt[i] / max(hist.mean(), 1.0)
            zscore = (amt[i] - hist.mean()) / math.sqrt(var + 1.0)
        else:
            ratio, zscore = 1.0, 0.0
        out[f"customer_id_amount_to_avg_{big_w}day_window"].append(ratio)
        out[f"customer_id_amount_zscore_{big_w}day_window"].append(zscore)
        seen = (term == term[i]) & prev & (t > t[i] - lookback * DAY_NS)
        out["customer_terminal_first_use"].append(int(not seen.any()))
    ref = d.copy()
    for c, v in out.items():
        ref[c] = np.asarray(v, dtype=np.float64)
    return ref


def _assert_features_equal(
    got: pd.DataFrame, expected: pd.DataFrame, config: FeatureConfig
) -> None:
    assert list(got["transaction_id"]) == list(expected["transaction_id"])
    for col in feature_columns(config):
        np.testing.assert_allclose(
            got[col].to_numpy(np.float64),
            expected[col].to_numpy(np.float64),
            rtol=1e-9,
            atol=1e-9,
            err_msg=col,
        )


def _assert_frames_equal(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Exact for every non-float column, rtol 1e-9 for floats."""
    floats = [c for c in got.columns if got[c].dtype == np.float64]
    others = [c for c in got.columns if c not in floats]
    pd.testing.assert_frame_equal(got[others], expected[others], check_exact=True)
    pd.testing.assert_frame_equal(got[floats], expected[floats], check_exact=False, rtol=1e-9)


# --- configuration -----------------------------------------------------------------------------


def test_config_defaults_sorting_and_lookback() -> None:
    assert FeatureConfig().windows_days == (1, 7, 30)
    assert FeatureConfig().label_delay_days == 7
    assert lookback_days(FeatureConfig()) == 37
    cfg = FeatureConfig(windows_days=(14, 2), label_delay_days=0)
    assert cfg.windows_days == (2, 14)
    assert lookback_days(cfg) == 14


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"windows_days": ()}, "must not be empty"),
        ({"windows_days": 7}, "sequence"),
        ({"windows_days": (1, 0)}, "positive"),
        ({"windows_days": (-3,)}, "positive"),
        ({"windows_days": (1, 7, 1)}, "unique"),
        ({"windows_days": (1.5,)}, "whole days"),
        ({"windows_days": (True,)}, "whole days"),
        ({"label_delay_days": -1}, ">= 0"),
        ({"label_delay_days": 2.0}, "whole days"),
    ],
)
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FeatureConfig(**kwargs)


def test_feature_columns_default_and_custom() -> None:
    assert feature_columns() == DEFAULT_FEATURES
    assert feature_columns(FeatureConfig()) == DEFAULT_FEATURES
    cols = feature_columns(FeatureConfig(windows_days=(3,), label_delay_days=0))
    assert cols == [
        "tx_amount",
        "tx_during_weekend",
        "tx_during_night",
        "customer_id_nb_tx_3day_window",
        "customer_id_avg_amount_3day_window",
        "terminal_id_nb_tx_3day_window",
        "terminal_id_risk_3day_window",
        "tx_hour",
        "customer_id_seconds_since_prev_tx",
        "customer_id_amount_to_avg_3day_window",
        "customer_id_amount_zscore_3day_window",
        "customer_terminal_first_use",
        "terminal_id_avg_amount_3day_window",
    ]


# --- hand-computed values ----------------------------------------------------------------------

# Customer 1: A..F (2018-04-01 is a Sunday); customer 2 interleaved to check separation.
CUSTOMER_ROWS = [
    (1, "0d 10:00:00", 1, 1, 10.0, 0),  # A
    (2, "0d 20:00:00", 1, 2, 20.0, 0),  # B
    (3, "1d 09:00:00", 1, 1, 30.0, 0),  # C
    (4, "1d 10:00:00", 1, 1, 40.0, 0),  # D: A is exactly 1 day before -> outside (t - 1d, t]
    (5, "8d 12:00:00", 1, 2, 100.0, 1),  # E
    (6, "50d 12:00:00", 1, 1, 10.0, 0),  # F: 42 days after E, 49 days after last use of term 1
    (7, "0d 06:59:59", 2, 9, 0.5, 0),
    (8, "6d 07:00:00", 2, 9, 3.0, 0),  # Saturday, not night; amount over a 0.5 history
]


@pytest.mark.parametrize("chunk", [1, 3, 1 << 16])
def test_hand_computed_customer_and_calendar_features(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feat, "_CHUNK", chunk)  # chunk boundaries at the exact-day edges
    out = build_features(_frame(CUSTOMER_ROWS)).set_index("transaction_id")
    cap = 37 * 86_400.0
    expected = {
        # id: weekend, night, hour, nb1, avg1, nb7, avg7, nb30, avg30, since, ratio, zscore, first
        1: (1, 0, 10, 1, 10.0, 1, 10.0, 1, 10.0, cap, 1.0, 0.0, 1),
        2: (1, 0, 20, 2, 15.0, 2, 15.0, 2, 15.0, 36_000.0, 2.0, 10.0, 1),
        3: (0, 0, 9, 3, 20.0, 3, 20.0, 3, 20.0, 46_800.0, 2.0, 15 / math.sqrt(51), 0),
        4: (0, 0, 10, 3, 30.0, 4, 25.0, 4, 25.0, 3_600.0, 2.0, 20 / math.sqrt(101), 0),
        5: (0, 0, 12, 1, 100.0, 1, 100.0, 5, 40.0, 612_000.0, 4.0, 75 / math.sqrt(500 / 3 + 1), 0),
        6: (0, 0, 12, 1, 10.0, 1, 10.0, 1, 10.0, cap, 1.0, 0.0, 1),
        7: (1, 1, 6, 1, 0.5, 1, 0.5, 1, 0.5, cap, 1.0, 0.0, 1),
        8: (1, 0, 7, 1, 3.0, 2, 1.75, 2, 1.75, 518_401.0, 3.0, 2.5, 0),
    }
    cols = [
        "tx_during_weekend",
        "tx_during_night",
        "tx_hour",
        "customer_id_nb_tx_1day_window",
        "customer_id_avg_amount_1day_window",
        "customer_id_nb_tx_7day_window",
        "customer_id_avg_amount_7day_window",
        "customer_id_nb_tx_30day_window",
        "customer_id_avg_amount_30day_window",
        "customer_id_seconds_since_prev_tx",
        "customer_id_amount_to_avg_30day_window",
        "customer_id_amount_zscore_30day_window",
        "customer_terminal_first_use",
    ]
    for tx_id, values in expected.items():
        np.testing.assert_allclose(
            out.loc[tx_id, cols].to_numpy(np.float64), values, rtol=1e-12, err_msg=str(tx_id)
        )


# One terminal, delay 2 days, windows (1, 7): R's label is unknown.
TERMINAL_ROWS = [
    (1, "0d 12:00:00", 1, 5, 10.0, 1),  # P
    (2, "1d 12:00:00", 2, 5, 10.0, 0),  # Q
    (3, "2d 12:00:00", 3, 5, 10.0, None),  # R
    (4, "3d 12:00:00", 4, 5, 10.0, 0),  # S
    (5, "4d 12:00:00", 5, 5, 10.0, 1),  # U: R exactly at t - d is in, Q at t - 3d is out
    (6, "5d 12:00:00", 6, 5, 10.0, 0),  # V
    (7, "5d 12:00:00", 7, 6, 10.0, 1),  # another terminal: sees nothing
]


@pytest.mark.parametrize("chunk", [1, 3, 1 << 16])
def test_hand_computed_terminal_features_with_unknown_labels(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feat, "_CHUNK", chunk)
    cfg = FeatureConfig(windows_days=(1, 7), label_delay_days=2)
    out = build_features(_frame(TERMINAL_ROWS), cfg).set_index("transaction_id")
    cols = [
        "terminal_id_nb_tx_1day_window",
        "terminal_id_risk_1day_window",
        "terminal_id_nb_tx_7day_window",
        "terminal_id_risk_7day_window",
    ]
    expected = {
        1: (0, 0.0, 0, 0.0),
        2: (0, 0.0, 0, 0.0),
        3: (1, 1.0, 1, 1.0),
        4: (1, 0.0, 2, 0.5),
        5: (1, 0.0, 3, 0.5),  # window of 1 day holds only the unknown R: counted, risk 0
        6: (1, 0.0, 4, 1 / 3),  # P, Q, R, S: R counted in nb_tx, not in the risk
        7: (0, 0.0, 0, 0.0),
    }
    for tx_id, values in expected.items():
        np.testing.assert_allclose(out.loc[tx_id, cols].to_numpy(np.float64), values, rtol=1e-12)
    assert out["terminal_id_nb_tx_7day_window"].dtype == np.int32


def test_unknown_labels_count_neither_as_fraud_nor_genuine() -> None:
    cfg = FeatureConfig(windows_days=(7,), label_delay_days=0)
    df = _frame(TERMINAL_ROWS[:6])
    base = build_features(df, cfg).set_index("transaction_id")
    assert base.loc[6, "terminal_id_risk_7day_window"] == pytest.approx(2 / 4)  # P, U of 4 known
    assert base.loc[6, "terminal_id_nb_tx_7day_window"] == 5
    df["tx_fraud"] = pd.array([None] * 6, dtype="Int8")
    unknown = build_features(df, cfg).set_index("transaction_id")
    assert (unknown["terminal_id_risk_7day_window"] == 0.0).all()
    assert unknown.loc[6, "terminal_id_nb_tx_7day_window"] == 5


def test_ties_are_ordered_by_transaction_id() -> None:
    rows = [
        (7, "0d 12:00:00", 1, 4, 70.0, 1),
        (3, "0d 12:00:00", 1, 4, 30.0, 1),
        (5, "0d 12:00:00", 1, 4, 50.0, 0),
        (4, "0d 11:00:00", 2, 8, 1.0, 0),
    ]
    cfg = FeatureConfig(windows_days=(1,), label_delay_days=0)
    out = build_features(_frame(rows), cfg)
    assert list(out["transaction_id"]) == [4, 3, 5, 7]
    out = out.set_index("transaction_id")
    assert list(out.loc[[3, 5, 7], "customer_id_nb_tx_1day_window"]) == [1, 2, 3]
    assert list(out.loc[[3, 5, 7], "customer_id_avg_amount_1day_window"]) == [30.0, 40.0, 50.0]
    assert list(out.loc[[3, 5, 7], "customer_id_seconds_since_prev_tx"]) == [86_400.0, 0.0, 0.0]
    assert list(out.loc[[3, 5, 7], "customer_terminal_first_use"]) == [1, 0, 0]
    # delay 0: the own label and those of later same-instant transactions are never used
    assert list(out.loc[[3, 5, 7], "terminal_id_nb_tx_1day_window"]) == [0, 1, 2]
    assert list(out.loc[[3, 5, 7], "terminal_id_risk_1day_window"]) == [0.0, 1.0, 0.5]


# --- brute-force reference and properties ------------------------------------------------------

CONFIGS = [
    FeatureConfig(),
    FeatureConfig(windows_days=(1, 3), label_delay_days=2),
    FeatureConfig(windows_days=(2,), label_delay_days=0),
]


@pytest.mark.parametrize("config", CONFIGS, ids=["default", "w1-3d2", "w2d0"])
@pytest.mark.parametrize("mode", ["time-key", "rank-key", "numpy-sort"])
def test_matches_brute_force_reference(
    config: FeatureConfig, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mode == "rank-key":  # the fallback used when entity * time span would overflow int64
        monkeypatch.setattr(feat._Timeline, "time_key_fits", lambda self, ngroups: False)
    if mode == "numpy-sort":  # the fallback when pandas' counting sort is not importable
        monkeypatch.setattr(frames, "_groupsort_indexer", None)
    monkeypatch.setattr(feat, "_CHUNK", 37)  # many vectorised steps, partial last one
    df = _random_transactions(300, days=45, seed=1)
    _assert_features_equal(build_features(df, config), _reference(df, config), config)


def test_nanosecond_timestamps_match_reference() -> None:
    cfg = FeatureConfig(windows_days=(1, 3), label_delay_days=1)
    df = _random_transactions(250, days=6, seed=2, resolution="ns")
    _assert_features_equal(build_features(df, cfg), _reference(df, cfg), cfg)


def test_output_contract() -> None:
    df = _random_transactions(200, days=10, seed=3)
    out = build_features(df)
    assert list(out.columns) == [*KEY_COLUMNS, "tx_fraud_scenario", *DEFAULT_FEATURES[1:]]
    assert set(DEFAULT_FEATURES) <= set(out.columns)  # the raw amount is a key column too
    assert isinstance(out.index, pd.RangeIndex)
    assert out.index.equals(pd.RangeIndex(len(df)))
    assert out["tx_fraud"].dtype == "Int8"
    assert out["tx_datetime"].dtype == "datetime64[ns, UTC]"
    assert out[["tx_datetime", "transaction_id"]].equals(
        out[["tx_datetime", "transaction_id"]]
        .sort_values(["tx_datetime", "transaction_id"])
        .reset_index(drop=True)
    )
    # key columns carried unchanged (per transaction)
    merged = out.merge(df, on="transaction_id", suffixes=("", "_in"))
    for col in ["tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_fraud"]:
        assert merged[col].equals(merged[f"{col}_in"]), col
    # input order and index do not matter
    sorted_in = df.sort_values(["tx_datetime", "transaction_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(build_features(sorted_in), out, check_exact=True)
    odd_index = df.set_axis(np.arange(len(df))[::-1] * 7 + 3)
    pd.testing.assert_frame_equal(build_features(odd_index), out, check_exact=True)


def test_point_in_time_appending_future_rows_changes_nothing() -> None:
    cfg = FeatureConfig(windows_days=(1, 5), label_delay_days=2)
    df = _random_transactions(400, days=30, seed=4)
    full = build_features(df, cfg)
    ordered = df.sort_values(["tx_datetime", "transaction_id"]).reset_index(drop=True)
    for cut in (1, 57, 133, 250, 399):  # some cuts fall inside same-instant tie groups
        past = build_features(ordered.iloc[:cut].sample(frac=1.0, random_state=cut), cfg)
        _assert_frames_equal(past, full.iloc[:cut])


def test_label_delay_later_labels_never_change_risk() -> None:
    cfg = FeatureConfig(windows_days=(1, 5), label_delay_days=3)
    df = _random_transactions(400, days=30, seed=5)
    base = build_features(df, cfg)
    cutoff = BASE + pd.Timedelta(days=15, hours=6)
    recent = (df["tx_datetime"] > cutoff - pd.Timedelta(days=3)).to_numpy()
    rng = np.random.default_rng(0)
    changed = df.copy()
    changed.loc[recent, "tx_fraud"] = pd.array(
        rng.choice([0, 1, None], size=recent.sum()), dtype="Int8"
    )
    after = build_features(changed, cfg)
    feats = feature_columns(cfg)
    past = (base["tx_datetime"] <= cutoff).to_numpy()
    pd.testing.assert_frame_equal(base.loc[past, feats], after.loc[past, feats], check_exact=True)
    assert not base.loc[~past, feats].equals(after.loc[~past, feats])  # the change does matter


@pytest.mark.parametrize("config", CONFIGS[:2], ids=["default", "w1-3d2"])
@pytest.mark.parametrize("mode", ["time-key", "rank-key"])
def test_incremental_partition_equals_full_table(
    config: FeatureConfig, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mode == "rank-key":
        monkeypatch.setattr(feat._Timeline, "time_key_fits", lambda self, ngroups: False)
    monkeypatch.setattr(feat, "_CHUNK", 50)
    df = _random_transactions(1500, days=60, n_customers=20, n_terminals=10, seed=6)
    full = build_features(df, config)
    lookback = pd.Timedelta(days=lookback_days(config))
    for day in (40, 47, 59):
        start = BASE + pd.Timedelta(days=day)
        end = start + pd.Timedelta(days=1)
        history = df[(df["tx_datetime"] >= start - lookback) & (df["tx_datetime"] < end)]
        part = build_features(history, config, start=start, end=end)
        in_day = (full["tx_datetime"] >= start) & (full["tx_datetime"] < end)
        expected = full[in_day].reset_index(drop=True)
        assert len(part) == len(expected) > 0
        _assert_frames_equal(part, expected)
    # a day less of history is not enough: some feature differs
    short = df[(df["tx_datetime"] >= start - lookback + pd.Timedelta(days=1))]
    part = build_features(short, config, start=start, end=end)
    assert not part.equals(expected)


def test_start_and_end_select_rows_and_accept_naive_datetimes() -> None:
    df = _random_transactions(300, days=10, seed=7)
    full = build_features(df)
    start, end = BASE + pd.Timedelta(days=3), BASE + pd.Timedelta(days=5, hours=3)
    part = build_features(df, start=start.tz_localize(None).to_pydatetime(), end=end)
    mask = (full["tx_datetime"] >= start) & (full["tx_datetime"] < end)
    _assert_frames_equal(part, full[mask].reset_index(drop=True))
    only_start = build_features(df, start=start)
    assert len(only_start) == (full["tx_datetime"] >= start).sum()
    only_end = build_features(df, end=end)
    assert len(only_end) == (full["tx_datetime"] < end).sum()
    with pytest.raises(ValueError, match="before start"):
        build_features(df, start=end, end=start)


def test_empty_input_and_empty_range() -> None:
    out = build_features(empty_transactions())
    assert len(out) == 0
    assert list(out.columns) == [*KEY_COLUMNS, "tx_fraud_scenario", *DEFAULT_FEATURES[1:]]
    assert set(DEFAULT_FEATURES) <= set(out.columns)  # the raw amount is a key column too
    assert out["tx_fraud"].dtype == "Int8"
    assert out["customer_id_nb_tx_1day_window"].dtype == np.int32
    assert out["customer_terminal_first_use"].dtype == np.int8
    assert out["terminal_id_risk_7day_window"].dtype == np.float64
    df = _random_transactions(50, days=3, seed=8).drop(columns="tx_fraud_scenario")
    none = build_features(df, start=BASE + pd.Timedelta(days=100))
    assert len(none) == 0
    assert list(none.columns) == [*KEY_COLUMNS, *DEFAULT_FEATURES[1:]]
    nonempty = build_features(df)
    assert list(nonempty.columns) == list(none.columns)
    assert nonempty.dtypes.equals(none.dtypes)


def test_string_ids_give_the_same_features() -> None:
    df = _random_transactions(300, days=20, seed=9)
    as_str = df.assign(
        transaction_id=df["transaction_id"].map(lambda i: f"tx-{i:08d}"),  # same order as ints
        customer_id=df["customer_id"].map(lambda i: f"cust-{i}"),
        terminal_id=df["terminal_id"].map(lambda i: f"term-{i}"),
    )
    got = build_features(as_str)
    expected = build_features(df)
    assert got["transaction_id"].tolist() == [f"tx-{i:08d}" for i in expected["transaction_id"]]
    feats = feature_columns()
    pd.testing.assert_frame_equal(got[feats], expected[feats], check_exact=False, rtol=1e-12)


def test_sparse_integer_ids_and_nullable_inputs() -> None:
    df = _random_transactions(200, days=20, seed=10)
    sparse = df.assign(
        customer_id=df["customer_id"] * 10**12 - 5,  # too sparse for direct codes
        terminal_id=df["terminal_id"].astype("Int64"),
    )
    pd.testing.assert_frame_equal(
        build_features(sparse)[feature_columns()], build_features(df)[feature_columns()]
    )


def test_invalid_inputs_raise() -> None:
    df = _random_transactions(20, days=2, seed=11)
    with pytest.raises(ValueError, match="required columns"):
        build_features(df.drop(columns="terminal_id"))
    with pytest.raises(ValueError, match="tx_amount"):
        build_features(df.assign(tx_amount=np.where(df.index == 3, np.nan, df["tx_amount"])))
    with pytest.raises(ValueError, match="datetime"):
        build_features(df.assign(tx_datetime=df["tx_datetime"].astype(str)))
    bad_customer = df["customer_id"].astype("Int64")
    bad_customer.iloc[0] = pd.NA
    with pytest.raises(ValueError, match="customer_id has missing"):
        build_features(df.assign(customer_id=bad_customer))


# --- memory: key columns shared with the input under Copy-on-Write -----------------------------


def _buffers(col: pd.Series) -> list[np.ndarray]:
    """The numpy buffers behind a column (values, and the mask of a nullable column)."""
    arr = col.array
    attrs = ("_data", "_mask", "_ndarray")
    return [getattr(arr, a) for a in attrs if isinstance(getattr(arr, a, None), np.ndarray)]


def _shares_memory(out: pd.DataFrame, df: pd.DataFrame, col: str) -> bool:
    pairs = list(zip(_buffers(out[col]), _buffers(df[col]), strict=True))
    assert pairs, col
    return any(np.shares_memory(x, y) for x, y in pairs)


_KEYS_WITH_SCENARIO = [*KEY_COLUMNS, "tx_fraud_scenario"]
_RANGES = {
    "whole": {},
    "slice": {"start": BASE + pd.Timedelta(days=3), "end": BASE + pd.Timedelta(days=7)},
}


@pytest.mark.parametrize("rows", list(_RANGES), ids=list(_RANGES))
def test_copy_on_write_shares_key_columns_without_coupling(rows: str) -> None:
    df = _random_transactions(300, days=10, seed=11)
    df = df.sort_values(["tx_datetime", "transaction_id"]).reset_index(drop=True)
    with pd.option_context("mode.copy_on_write", True):
        assert frames.copy_on_write_active()
        out = build_features(df, **_RANGES[rows])
        for col in _KEYS_WITH_SCENARIO:
            assert _shares_memory(out, df, col), col
        # writing into the output leaves the input alone
        original = df.copy(deep=True)
        out.loc[out.index[0], "tx_amount"] = -1.0
        out.loc[out.index[0], "customer_id"] = -1
        out.loc[out.index[0], "tx_fraud"] = pd.NA
        out.loc[out.index[0], "tx_datetime"] = BASE - pd.Timedelta(days=1)
        assert out["tx_amount"].iloc[0] == -1.0
        pd.testing.assert_frame_equal(df, original, check_exact=True)

        # and writing into the input leaves the output alone
        out = build_features(df, **_RANGES[rows])
        for col in _KEYS_WITH_SCENARIO:
            assert _shares_memory(out, df, col), col
        expected = out.copy(deep=True)
        row = int(np.flatnonzero(df["transaction_id"].to_numpy() == out["transaction_id"][0])[0])
        fraud = df.loc[row, "tx_fraud"]
        df.loc[row, "tx_amount"] = -2.0
        df.loc[row, "terminal_id"] = -2
        df.loc[row, "tx_fraud"] = 1 if pd.isna(fraud) else pd.NA
        df.loc[row, "tx_datetime"] = BASE - pd.Timedelta(days=2)
        assert df.loc[row, "tx_amount"] == -2.0
        pd.testing.assert_frame_equal(out, expected, check_exact=True)


@pytest.mark.parametrize("rows", list(_RANGES), ids=list(_RANGES))
def test_without_copy_on_write_key_columns_are_copied(rows: str) -> None:
    df = _random_transactions(300, days=10, seed=12)
    df = df.sort_values(["tx_datetime", "transaction_id"]).reset_index(drop=True)
    with pd.option_context("mode.copy_on_write", False):
        assert not frames.copy_on_write_active()
        out = build_features(df, **_RANGES[rows])
    for col in _KEYS_WITH_SCENARIO:
        assert not _shares_memory(out, df, col), col


def test_unordered_input_is_gathered_even_with_copy_on_write() -> None:
    df = _random_transactions(300, days=10, seed=13)  # shuffled: the output needs a gather
    with pd.option_context("mode.copy_on_write", True):
        out = build_features(df)
    for col in _KEYS_WITH_SCENARIO:
        assert not _shares_memory(out, df, col), col


@pytest.mark.parametrize("rows", list(_RANGES), ids=list(_RANGES))
@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "shuffled"])
def test_features_identical_with_and_without_copy_on_write(rows: str, ordered: bool) -> None:
    df = _random_transactions(400, days=12, seed=14)
    if ordered:
        df = df.sort_values(["tx_datetime", "transaction_id"]).reset_index(drop=True)
    df["tx_fraud"] = df["tx_fraud"].astype("float64")  # exercises the Int8 conversion too
    with pd.option_context("mode.copy_on_write", True):
        with_cow = build_features(df, **_RANGES[rows])
    with pd.option_context("mode.copy_on_write", False):
        without = build_features(df, **_RANGES[rows])
    assert len(with_cow) > 0
    assert with_cow["tx_fraud"].dtype == "Int8"
    pd.testing.assert_frame_equal(with_cow, without, check_exact=True)


# --- memory: narrower temporaries give the same output -----------------------------------------


def _in_range(frame: pd.DataFrame, rows: str) -> pd.DataFrame:
    bounds = _RANGES[rows]
    keep = np.ones(len(frame), dtype=bool)
    if "start" in bounds:
        keep &= (frame["tx_datetime"] >= bounds["start"]).to_numpy()
    if "end" in bounds:
        keep &= (frame["tx_datetime"] < bounds["end"]).to_numpy()
    return frame[keep].reset_index(drop=True)


@pytest.mark.parametrize("rows", list(_RANGES), ids=list(_RANGES))
@pytest.mark.parametrize("mode", ["time-key", "rank-key"])
def test_int32_positions_and_counts_give_the_int64_output(
    rows: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mode == "rank-key":
        monkeypatch.setattr(feat._Timeline, "time_key_fits", lambda self, ngroups: False)
    monkeypatch.setattr(feat, "_CHUNK", 97)
    # many entities (codes far beyond int8/int16), shuffled input, unknown labels
    df = _random_transactions(4000, days=40, n_customers=700, n_terminals=1300, seed=16)
    df["customer_id"] *= 5_000_000  # sparse ids: factorized codes instead of id offsets
    assert feat._narrow_positions(np.arange(5), 5).dtype == np.int32
    narrow = build_features(df, **_RANGES[rows])
    monkeypatch.setattr(feat, "MAX_INT32_ROWS", 0)  # int64 positions and label counts
    assert feat._narrow_positions(np.arange(5), 5).dtype == np.int64
    wide = build_features(df, **_RANGES[rows])
    assert len(narrow) > 0
    pd.testing.assert_frame_equal(narrow, wide, check_exact=True)
    _assert_features_equal(
        narrow, _reference(df, FeatureConfig()).pipe(_in_range, rows), FeatureConfig()
    )


def test_time_column_is_read_in_place_not_copied() -> None:
    df = _random_transactions(60, days=3, seed=17)
    col = df["tx_datetime"]
    stored = col.array._ndarray
    view = frames.time_ns(col, copy=False)
    assert np.shares_memory(view, stored)
    assert not view.flags.writeable  # the caller's data: never written through
    copied = frames.time_ns(col)
    assert not np.shares_memory(copied, stored)
    assert copied.flags.writeable
    np.testing.assert_array_equal(view, copied)
    # other units are converted to nanoseconds, a new array
    micro = col.dt.as_unit("us")
    converted = frames.time_ns(micro, copy=False)
    assert not np.shares_memory(converted, micro.array._ndarray)
    np.testing.assert_array_equal(converted, copied)
    original = df.copy(deep=True)
    out = build_features(df)
    pd.testing.assert_frame_equal(df, original, check_exact=True)  # the input is left alone
    out_micro = build_features(df.assign(tx_datetime=micro))
    feats = feature_columns()
    pd.testing.assert_frame_equal(out[feats], out_micro[feats], check_exact=True)
