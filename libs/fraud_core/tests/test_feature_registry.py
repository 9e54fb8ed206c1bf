"""The feature registry: names, dtypes, window groups and state columns derive from one layout."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from fraud_core.columns import CUSTOMER_ID, TERMINAL_ID
from fraud_core.features import (
    FeatureConfig,
    boundary_days,
    build_day_features,
    build_features,
    feature_columns,
    feature_dtypes,
    matured_measures,
    state_from_totals,
    window_groups,
    window_totals_from_rows,
)
from fraud_core.features import registry as reg

BASE = pd.Timestamp("2018-04-01", tz="UTC")
DAY_NS = 86_400 * 10**9


def _transactions(n: int = 1500, days: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    offsets = rng.integers(0, days * 1440, n) * 60 * 10**9
    offsets[: n // 10] = offsets[n // 10 : 2 * (n // 10)]  # same-instant ties
    fraud = (rng.random(n) < 0.3).astype(float)
    fraud[rng.random(n) < 0.2] = np.nan
    return pd.DataFrame(
        {
            "transaction_id": rng.permutation(n).astype(np.int64),
            "tx_datetime": (BASE + pd.to_timedelta(offsets, unit="ns")).as_unit("ns"),
            "customer_id": rng.integers(0, 30, n).astype(np.int64),
            "terminal_id": rng.integers(0, 12, n).astype(np.int64),
            "tx_amount": np.round(rng.gamma(2.0, 30.0, n), 2),
            "tx_fraud": pd.array(fraud, dtype="Int8"),
        }
    )


def test_names_and_dtypes_follow_the_layout_order() -> None:
    config = FeatureConfig(windows_days=(2, 5), label_delay_days=1)
    dtypes = feature_dtypes(config)
    assert feature_columns(config) == ["tx_amount", *dtypes]
    expected: list[str] = []
    for item in reg.FEATURE_LAYOUT:
        expected += [item.name] if isinstance(item, reg.PointFeature) else item.columns(config)
    assert list(dtypes) == expected
    assert dtypes["customer_id_nb_tx_5day_window"] == np.int32
    assert dtypes["terminal_id_risk_2day_window"] == np.float64
    assert dtypes["customer_terminal_first_use"] == np.int8
    # the deviation family reports the largest window only
    assert "customer_id_amount_zscore_5day_window" in dtypes
    assert "customer_id_amount_zscore_2day_window" not in dtypes


def test_window_groups_total_only_what_their_windows_need() -> None:
    config = FeatureConfig(windows_days=(1, 7, 30), label_delay_days=7)
    groups = {g.name: g for g in window_groups(config)}
    assert list(groups) == ["customer_current", "terminal_current", "terminal_delayed"]
    cards = groups["customer_current"]
    assert [m.name for m in cards.measures(7, config)] == ["nb_tx", "amount_sum"]
    assert [m.name for m in cards.measures(30, config)] == ["nb_tx", "amount_sum", "amount_sq_sum"]
    assert list(cards.state_columns(config)) == [
        "nb_tx_7d",
        "amount_sum_7d",
        "nb_tx_30d",
        "amount_sum_30d",
        "amount_sq_sum_30d",
        "last_tx_ns",
    ]
    assert cards.keeps_last_seen
    assert not groups["terminal_current"].keeps_last_seen
    labels = groups["terminal_delayed"]
    assert labels.state_windows(config) == (7, 30)  # a one-day window has no whole day inside
    assert [m.name for m in matured_measures(config)] == ["nb_tx", "nb_labelled", "nb_fraud"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {
                "entity": CUSTOMER_ID,
                "alignment": reg.Alignment.CURRENT,
                "features": (reg.WindowFeature("x_{n}", reg.Statistic.FRAUD_RATE, reg.FLOAT64),),
            },
            "labels only in delayed windows",
        ),
        (
            {
                "entity": TERMINAL_ID,
                "alignment": reg.Alignment.DELAYED,
                "features": (reg.WindowFeature("x_{n}", reg.Statistic.MEAN_AMOUNT, reg.FLOAT64),),
            },
            "needs a current window",
        ),
        (
            {
                "entity": CUSTOMER_ID,
                "alignment": reg.Alignment.DELAYED,
                "features": (reg.WindowFeature("x_{n}", reg.Statistic.COUNT, reg.INT32),),
            },
            "matured label table",
        ),
        (
            {
                "entity": TERMINAL_ID,
                "alignment": reg.Alignment.CURRENT,
                "features": (reg.WindowFeature("x", reg.Statistic.COUNT, reg.INT32),),
            },
            "lacks",
        ),
        (
            {"entity": "merchant_id", "alignment": reg.Alignment.CURRENT, "features": ()},
            "describe one of",
        ),
        (
            {"entity": TERMINAL_ID, "alignment": reg.Alignment.CURRENT, "features": ()},
            "at least one feature",
        ),
    ],
)
def test_a_family_that_cannot_be_computed_point_in_time_is_refused(
    kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        reg.WindowAggregate(**kwargs)


# A new family built from existing statistics: what a maintainer adds to FEATURE_LAYOUT.
TERMINAL_ACTIVITY = reg.WindowAggregate(
    TERMINAL_ID,
    reg.Alignment.CURRENT,
    (
        reg.WindowFeature("terminal_id_nb_tx_now_{n}day_window", reg.Statistic.COUNT, reg.INT32),
        reg.WindowFeature(
            "terminal_id_amount_zscore_{n}day_window", reg.Statistic.AMOUNT_ZSCORE, reg.FLOAT64
        ),
    ),
    largest_window_only=True,
)


def test_one_layout_entry_adds_a_family_to_both_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reg, "FEATURE_LAYOUT", (*reg.FEATURE_LAYOUT, TERMINAL_ACTIVITY))
    config = FeatureConfig(windows_days=(1, 4), label_delay_days=1)
    assert feature_columns(config)[-2:] == [
        "terminal_id_nb_tx_now_4day_window",
        "terminal_id_amount_zscore_4day_window",
    ]
    df = _transactions()
    full = build_features(df, config)
    # brute force: the terminal's transactions in (t - 4 days, t], the transaction included
    d = df.sort_values(["tx_datetime", "transaction_id"]).reset_index(drop=True)
    t, term, ids = (
        d["tx_datetime"].astype("int64").to_numpy(),
        d["terminal_id"].to_numpy(),
        d["transaction_id"].to_numpy(),
    )
    counts, zscores = [], []
    for i in range(len(d)):
        upto = (t < t[i]) | ((t == t[i]) & (ids <= ids[i]))
        window = (term == term[i]) & upto & (t > t[i] - 4 * DAY_NS)
        counts.append(window.sum())
        earlier = d["tx_amount"].to_numpy()[window & (ids != ids[i])]
        if len(earlier):
            var = earlier.var(ddof=1) if len(earlier) > 1 else 0.0
            zscores.append((d["tx_amount"].iloc[i] - earlier.mean()) / np.sqrt(var + 1.0))
        else:
            zscores.append(0.0)
    np.testing.assert_array_equal(full["terminal_id_nb_tx_now_4day_window"], counts)
    np.testing.assert_allclose(full["terminal_id_amount_zscore_4day_window"], zscores, rtol=1e-9)
    # the day kernel, from warehouse-style totals the registry asked for, agrees
    day = BASE.date() + timedelta(days=9)
    day_rows = df[df["tx_datetime"].dt.date == day]
    boundary = df[df["tx_datetime"].dt.date.isin(boundary_days(day, config))]
    state = state_from_totals(day, config, window_totals_from_rows(df, day, config))
    assert "amount_sq_sum_4d" in state.groups["terminal_current"].columns
    got = build_day_features(day_rows, state, boundary)
    want = full[full["tx_datetime"].dt.date == day].reset_index(drop=True)
    for col in feature_columns(config):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-9, atol=1e-12, err_msg=col)


def test_defaults_are_the_handbook_configuration() -> None:
    assert FeatureConfig(windows_days=(1, 7, 30), label_delay_days=7) == reg.DEFAULT_CONFIG
