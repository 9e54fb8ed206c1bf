"""Tests for the transaction simulator (fraud_core.simulate)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraud_core.columns import CANONICAL_COLUMNS, TX_DATETIME, TX_FRAUD, TX_FRAUD_SCENARIO
from fraud_core.schema import CANONICAL_DTYPES, validate_transactions
from fraud_core.simulate import (
    COMPROMISED_CUSTOMER_DAYS,
    COMPROMISED_TERMINAL_DAYS,
    FRAUD_AMOUNT_THRESHOLD,
    _compromised_customer_rows,
    _compromised_terminal_mask,
    _terminals_in_radius,
    labels_known_at,
    simulate_transactions,
)

HANDBOOK_PARQUET = Path(
    os.environ.get(
        "FDH_SIMULATED_RAW",
        "/work/shared/data/fdh/simulated_raw_2018-04-01_2018-09-30.parquet",
    )
)
SMALL = {"n_customers": 300, "n_terminals": 600, "n_days": 60, "seed": 3}


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return simulate_transactions(**SMALL)


def _days(df: pd.DataFrame, start: str = "2018-04-01") -> np.ndarray:
    return ((df["tx_datetime"] - pd.Timestamp(start, tz="UTC")).dt.days).to_numpy()


def test_same_seed_gives_identical_frames(small: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(simulate_transactions(**SMALL), small)


def test_different_seeds_differ(small: pd.DataFrame) -> None:
    other = simulate_transactions(**{**SMALL, "seed": 4})
    assert len(other) != len(small) or not other["tx_amount"].equals(small["tx_amount"])


def test_canonical_schema_and_no_rejects(small: pd.DataFrame) -> None:
    assert list(small.columns) == list(CANONICAL_COLUMNS)
    assert {c: str(t) for c, t in small.dtypes.items()} == CANONICAL_DTYPES
    result = validate_transactions(small)
    assert result.n_rejected == 0
    assert result.n_valid == len(small)
    assert small["tx_fraud"].notna().all()
    assert set(small["tx_fraud_scenario"].unique()) <= {0, 1, 2, 3}
    assert (small["tx_amount"] >= 0).all()
    assert (small["tx_amount"] == small["tx_amount"].round(2)).all()


def test_ids_contiguous_and_rows_sorted_by_time(small: pd.DataFrame) -> None:
    assert len(small) > 10_000
    assert small["transaction_id"].tolist() == list(range(len(small)))
    assert small["tx_datetime"].is_monotonic_increasing
    assert small.index.equals(pd.RangeIndex(len(small)))


def test_dates_cover_the_period_at_whole_seconds(small: pd.DataFrame) -> None:
    days = _days(small)
    assert days.min() == 0
    assert days.max() == SMALL["n_days"] - 1
    assert (small["tx_datetime"].dt.nanosecond == 0).all()
    assert (small["tx_datetime"].dt.microsecond == 0).all()
    assert small["customer_id"].between(0, SMALL["n_customers"] - 1).all()
    assert small["terminal_id"].between(0, SMALL["n_terminals"] - 1).all()


def test_start_date_accepts_a_date() -> None:
    df = simulate_transactions(
        n_customers=20, n_terminals=2000, start_date=date(2020, 2, 1), n_days=3
    )
    assert len(df) > 0
    assert df["tx_datetime"].min() >= pd.Timestamp("2020-02-01", tz="UTC")
    assert df["tx_datetime"].max() < pd.Timestamp("2020-02-04", tz="UTC")


def test_fraud_label_matches_scenario(small: pd.DataFrame) -> None:
    fraud = small["tx_fraud"].to_numpy(dtype=int)
    scenario = small["tx_fraud_scenario"].to_numpy(dtype=int)
    assert np.array_equal(fraud == 1, scenario > 0)
    assert {1, 2, 3} <= set(np.unique(scenario))


def test_large_amounts_are_fraud(small: pd.DataFrame) -> None:
    large = small["tx_amount"] > FRAUD_AMOUNT_THRESHOLD
    assert large.any()
    assert (small.loc[large, "tx_fraud"] == 1).all()
    # Scenario 1 only labels large amounts (scenario 3 amounts were x5 after the check).
    scen1 = small["tx_fraud_scenario"] == 1
    assert (small.loc[scen1, "tx_amount"] > FRAUD_AMOUNT_THRESHOLD).all()


def test_scenario_2_covers_whole_terminal_days(small: pd.DataFrame) -> None:
    days = _days(small)
    s2 = (small["tx_fraud_scenario"] == 2).to_numpy()
    keys = small["terminal_id"].to_numpy() * 10_000 + days
    compromised = np.isin(keys, keys[s2])
    # Every transaction on a compromised terminal-day is fraud (scenario 2, or 3 on top).
    assert (small.loc[compromised, "tx_fraud"] == 1).all()
    assert set(small.loc[compromised, "tx_fraud_scenario"].unique()) <= {2, 3}
    n_terminals = small.loc[s2, "terminal_id"].nunique()
    assert 0 < n_terminals <= 2 * SMALL["n_days"]


def test_scenario_3_multiplies_amounts_by_five(small: pd.DataFrame) -> None:
    s3 = small["tx_fraud_scenario"] == 3
    customers = small.loc[s3, "customer_id"].unique()
    assert 0 < len(customers) <= 3 * SMALL["n_days"]
    same_customers = small["customer_id"].isin(customers)
    ratio = small.loc[s3, "tx_amount"].mean() / small.loc[same_customers & ~s3, "tx_amount"].mean()
    assert 3.5 < ratio < 7


def test_terminal_mask_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    n_days, n_terminals = 70, 30
    day = np.sort(rng.integers(0, n_days, 5000))
    terminal = rng.integers(0, n_terminals, 5000)
    schedule = rng.integers(0, n_terminals, (n_days, 2))
    expected = np.zeros(day.size, dtype=bool)
    for d, terminals in enumerate(schedule):
        expected |= (
            np.isin(terminal, terminals) & (day >= d) & (day < d + COMPROMISED_TERMINAL_DAYS)
        )
    mask = _compromised_terminal_mask(terminal, day, schedule)
    assert mask.any()
    assert not mask.all()
    assert np.array_equal(mask, expected)


def test_customer_rows_are_a_third_of_each_window() -> None:
    rng = np.random.default_rng(1)
    n_days = 40
    day = np.sort(rng.integers(0, n_days, 3000))
    customer = rng.integers(0, 50, 3000)
    schedule = np.full((n_days, 3), 49)  # no customer compromised ...
    schedule[5] = [7, 8, 9]  # ... except on day 5
    amount = np.full(day.size, 10.0)
    mask = _compromised_customer_rows(customer, day, schedule, amount, rng)
    window = np.isin(customer, [7, 8, 9]) & (day >= 5) & (day < 5 + COMPROMISED_CUSTOMER_DAYS)
    always = customer == 49  # compromised every other day: overlapping windows
    assert window.sum() > 30
    assert mask[window].sum() == window.sum() // 3
    assert not mask[~window & ~always].any()
    assert np.all(amount[mask & window] == 50.0)
    assert np.all(amount[~mask] == 10.0)
    # Overlapping windows apply sequentially (as in the handbook): some rows get x5 twice.
    assert mask[always].sum() > always.sum() // 3
    assert (amount[always] == 250.0).any()


def test_terminals_in_radius_matches_brute_force() -> None:
    rng = np.random.default_rng(2)
    cust = rng.uniform(0, 100, (400, 2))
    term = rng.uniform(0, 100, (1500, 2))
    offsets, neighbours = _terminals_in_radius(cust, term, 5.0)
    dist2 = ((cust[:, None, :] - term[None, :, :]) ** 2).sum(axis=-1)
    assert offsets[-1] == neighbours.size == int((dist2 < 25).sum())
    for i in range(len(cust)):
        got = np.sort(neighbours[offsets[i] : offsets[i + 1]])
        assert np.array_equal(got, np.flatnonzero(dist2[i] < 25))


def test_customers_without_terminals_make_no_transactions() -> None:
    df = simulate_transactions(n_customers=50, n_terminals=0, n_days=5)
    assert len(df) == 0
    assert {c: str(t) for c, t in df.dtypes.items()} == CANONICAL_DTYPES
    # With very few terminals most customers have none in range and stay silent.
    df = simulate_transactions(n_customers=200, n_terminals=5, n_days=10)
    assert 0 < df["customer_id"].nunique() < 200


@pytest.mark.parametrize("kwargs", [{"n_customers": -1}, {"n_days": 1.5}, {"n_terminals": True}])
def test_invalid_sizes_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        simulate_transactions(**kwargs)  # type: ignore[arg-type]


def test_by_default_every_label_is_known_as_in_the_handbook(small: pd.DataFrame) -> None:
    assert small[TX_FRAUD].notna().all()
    assert small[TX_FRAUD_SCENARIO].notna().all()


def test_late_labels_are_null_until_their_delay_has_passed(small: pd.DataFrame) -> None:
    late = simulate_transactions(**SMALL, label_delay_days=7)
    # The same transactions; only the labels of the last 7 days are unknown yet ("now" is the
    # day after the last simulated day, so those days' transactions are younger than 7 days).
    others = [c for c in small.columns if c not in (TX_FRAUD, TX_FRAUD_SCENARIO)]
    pd.testing.assert_frame_equal(late[others], small[others])
    assert {c: str(t) for c, t in late.dtypes.items()} == CANONICAL_DTYPES
    recent = _days(late) >= SMALL["n_days"] - 7
    assert late.loc[recent, TX_FRAUD].isna().all()
    assert late.loc[recent, TX_FRAUD_SCENARIO].isna().all()
    pd.testing.assert_series_equal(late.loc[~recent, TX_FRAUD], small.loc[~recent, TX_FRAUD])
    assert small.loc[recent, TX_FRAUD].sum() > 0  # frauds were there, just not known yet
    assert validate_transactions(late).n_rejected == 0  # a NULL label is a valid row


def test_labels_known_at_a_moment_per_transaction(small: pd.DataFrame) -> None:
    times = small[TX_DATETIME]
    now = times.iloc[len(times) // 2] + pd.Timedelta(days=3)
    known = labels_known_at(small, now, 3)
    due = (times <= now - pd.Timedelta(days=3)).to_numpy()
    assert 0 < due.sum() < len(small)
    assert known.loc[due, TX_FRAUD].notna().all()
    assert known.loc[~due, TX_FRAUD].isna().all()
    assert small[TX_FRAUD].notna().all()  # the input is left as it was
    # A naive frame (e.g. the handbook's parquet) and a day as "now" work the same way.
    naive = small.assign(**{TX_DATETIME: times.dt.tz_localize(None)})
    day = date(2018, 4, 30)
    pd.testing.assert_series_equal(
        labels_known_at(naive, day, 7)[TX_FRAUD], labels_known_at(small, day, 7)[TX_FRAUD]
    )
    assert labels_known_at(small, times.max() + pd.Timedelta(seconds=1), 0)[TX_FRAUD].notna().all()


@pytest.mark.parametrize("delay", [-1, 1.5, True])
def test_a_label_delay_must_be_a_whole_number_of_days(delay: object) -> None:
    with pytest.raises(ValueError, match="label_delay_days must be a non-negative integer"):
        simulate_transactions(n_customers=5, n_terminals=5, n_days=2, label_delay_days=delay)  # type: ignore[arg-type]


def test_fraud_rate_plausible_at_moderate_size() -> None:
    df = simulate_transactions(n_customers=5000, n_terminals=10000, n_days=30, seed=1)
    assert 250_000 < len(df) < 330_000
    rate = df["tx_fraud"].astype(float).mean()
    # Scenarios 2 and 3 ramp up over their 28- and 14-day windows: ~0.6 % after 30 days.
    assert 0.004 < rate < 0.009, rate


@pytest.mark.slow
def test_published_size_fraud_share_and_daily_rate() -> None:
    """The handbook's 5,000 customers / 10,000 terminals / 183 days (~1.77M rows)."""
    df = simulate_transactions(seed=11)
    assert 1_700_000 < len(df) < 1_850_000
    assert abs(df["tx_fraud"].astype(float).mean() - 0.0084) < 0.0008
    per_customer_day = len(df) / (df["customer_id"].nunique() * 183)
    # Poisson mean ~U(0, 4) is 2 a day, minus the ~3 % of times of day drawn outside the day.
    assert 1.85 < per_customer_day < 2.05, per_customer_day


@pytest.mark.data
@pytest.mark.slow
def test_matches_handbook_dataset_totals() -> None:
    if not HANDBOOK_PARQUET.exists():
        pytest.skip(f"handbook data not found at {HANDBOOK_PARQUET}")
    ref = pd.read_parquet(HANDBOOK_PARQUET)
    ref.columns = ref.columns.str.lower()
    sim = simulate_transactions()

    def summary(df: pd.DataFrame) -> dict[str, float]:
        scenario = df["tx_fraud_scenario"].astype(int).value_counts()
        return {
            "rows": len(df),
            "fraud": df["tx_fraud"].astype(float).mean(),
            **{f"s{k}": scenario.get(k, 0) / len(df) for k in (1, 2, 3)},
            "mean": df["tx_amount"].mean(),
            "median": df["tx_amount"].median(),
            "per_day": len(df) / df["tx_datetime"].dt.floor("D").nunique(),
        }

    got, want = summary(sim), summary(ref)
    tolerance = {
        "rows": 0.03,
        "fraud": 0.10,
        "s1": 0.30,
        "s2": 0.15,
        "s3": 0.15,
        "mean": 0.04,
        "median": 0.05,
        "per_day": 0.03,
    }
    for key, rel in tolerance.items():
        assert abs(got[key] - want[key]) <= rel * want[key], (key, got[key], want[key])
