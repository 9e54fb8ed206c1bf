"""Warehouse.entity_window_totals on both engines, against the same totals computed in pandas."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from fraud_storage.warehouse import date_column
from fraud_storage.window_totals import LAST_SEEN, TRANSACTION_DAY, WindowTotalsRequest

FIRST = date(2024, 4, 1)
DAY = FIRST + timedelta(days=9)
REQUEST = WindowTotalsRequest(
    day=DAY,
    lookback_start=FIRST + timedelta(days=2),
    customer_windows={"3d": DAY - timedelta(days=2), "6d": DAY - timedelta(days=5)},
    terminal_windows={"3d": DAY - timedelta(days=3), "5d": DAY - timedelta(days=5)},
    terminal_end=DAY - timedelta(days=1),
)


def source_rows(n_days: int = 10, per_day: int = 30, seed: int = 0) -> pd.DataFrame:
    """Source transactions over ``n_days`` (UPPER-case columns, as Snowflake stores them)."""
    rng = np.random.default_rng(seed)
    n = n_days * per_day
    day = np.repeat(np.arange(n_days), per_day)
    seconds = rng.integers(0, 86_400, n)
    return pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(1, n + 1, dtype=np.int64),
            "TX_DATETIME": pd.Timestamp(FIRST, tz="UTC")
            + pd.to_timedelta(day, unit="D")
            + pd.to_timedelta(seconds, unit="s"),
            "CUSTOMER_ID": rng.integers(0, 8, n).astype(np.int64),
            "TERMINAL_ID": rng.integers(100, 106, n).astype(np.int64),
            "TX_AMOUNT": np.round(rng.gamma(2.0, 20.0, n), 2),
            "TX_FRAUD": rng.choice([0, 1, 2], n, p=[0.6, 0.3, 0.1]).astype(np.int64),
        }
    )


def validated_partitions(warehouse, source: pd.DataFrame) -> pd.DataFrame:
    """Write each day's rows as validated; return them all with their day."""
    rows = source.rename(columns=str.lower)
    day = rows["tx_datetime"].dt.date
    for k in sorted(day.unique()):
        warehouse.replace_partition(warehouse.tables.validated, rows[day == k], k)
    return rows.assign(_k=day)


def label_partitions(warehouse, rows: pd.DataFrame, maturity_days: int = 3) -> pd.DataFrame:
    """Write per-terminal counts of each transaction day k into partition k + maturity_days."""
    label = rows["tx_fraud"].where(rows["tx_fraud"].isin([0, 1]))
    counts = (
        rows.assign(nb_labelled=label.notna(), nb_fraud=label == 1)
        .groupby(["_k", "terminal_id"])
        .agg(
            nb_tx=("tx_amount", "size"),
            nb_labelled=("nb_labelled", "sum"),
            nb_fraud=("nb_fraud", "sum"),
        )
        .reset_index()
    )
    for k, part in counts.groupby("_k"):
        frame = part.drop(columns="_k").reset_index(drop=True)
        frame[TRANSACTION_DAY] = date_column(k, frame.index)
        warehouse.replace_partition(
            warehouse.tables.terminal_labels, frame, k + timedelta(days=maturity_days)
        )
    return counts


def expected(rows: pd.DataFrame, counts: pd.DataFrame, request: WindowTotalsRequest) -> dict:
    """The totals in pandas: customers and pairs from the rows, terminals from the counts."""
    today = rows[rows["_k"] == request.day]
    hist = rows[(rows["_k"] >= request.lookback_start) & (rows["_k"] < request.day)]
    cust = hist[hist["customer_id"].isin(today["customer_id"])]
    customers = cust.groupby("customer_id").agg(**{LAST_SEEN: ("tx_datetime", "max")})
    for s, first in request.customer_windows.items():
        part = cust[cust["_k"] >= first]
        customers[f"nb_tx_{s}"] = part.groupby("customer_id").size()
        customers[f"amount_sum_{s}"] = part.groupby("customer_id")["tx_amount"].sum()
        customers[f"amount_sq_sum_{s}"] = (
            (part["tx_amount"] ** 2).groupby(part["customer_id"]).sum()
        )
    term = counts[counts["terminal_id"].isin(today["terminal_id"])]
    term = term[
        (term["_k"] < request.terminal_end) & (term["_k"] >= min(request.terminal_windows.values()))
    ]
    terminals = pd.DataFrame(
        index=pd.Index(sorted(term["terminal_id"].unique()), name="terminal_id")
    )
    for s, first in request.terminal_windows.items():
        part = term[term["_k"] >= first].groupby("terminal_id")
        for count in ("nb_tx", "nb_labelled", "nb_fraud"):
            terminals[f"{count}_{s}"] = part[count].sum()
    pairs = hist.merge(today[["customer_id", "terminal_id"]].drop_duplicates())
    pairs = pairs.groupby(["customer_id", "terminal_id"])["tx_datetime"].max().rename(LAST_SEEN)
    return {
        "customers": customers.fillna(0),
        "terminals": terminals.fillna(0),
        "pairs": pairs.reset_index().set_index(["customer_id", "terminal_id"]),
    }


def _compare(got: pd.DataFrame, want: pd.DataFrame, key: list[str]) -> None:
    got = got.set_index(key).sort_index()
    want = want.sort_index()
    assert list(got.index) == list(want.index)
    for column in want.columns:
        a, b = got[column], want[column]
        if column == LAST_SEEN:
            assert list(pd.to_datetime(a, utc=True)) == list(pd.to_datetime(b, utc=True)), column
        else:
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-12, err_msg=column)


def test_totals_cover_whole_days_of_the_days_entities(make_warehouse) -> None:
    warehouse = make_warehouse()
    rows = validated_partitions(warehouse, source_rows())
    counts = label_partitions(warehouse, rows)
    totals = warehouse.entity_window_totals(REQUEST)
    want = expected(rows, counts, REQUEST)
    _compare(totals.customers, want["customers"], ["customer_id"])
    _compare(totals.terminals, want["terminals"], ["terminal_id"])
    _compare(totals.pairs, want["pairs"], ["customer_id", "terminal_id"])
    assert (totals.terminals.filter(like="nb_fraud").to_numpy() > 0).any()
    assert len(totals.customers) < rows["customer_id"].nunique() or len(totals.pairs) < len(
        rows[["customer_id", "terminal_id"]].drop_duplicates()
    )  # only the day's entities


def test_terminal_counts_come_from_the_matured_label_table(make_warehouse) -> None:
    warehouse = make_warehouse()
    rows = validated_partitions(warehouse, source_rows(seed=1))
    before = warehouse.entity_window_totals(REQUEST)
    assert len(before.terminals) == 0  # no label table yet: no terminal history
    assert len(before.customers) > 0
    counts = label_partitions(warehouse, rows.assign(tx_fraud=0))
    assert (
        warehouse.entity_window_totals(REQUEST).terminals.filter(like="nb_fraud").sum().sum() == 0
    )
    # a later maturity partition of one day replaces that day's counts
    day = DAY - timedelta(days=3)
    part = counts[counts["_k"] == day].drop(columns="_k").reset_index(drop=True)
    part["nb_fraud"] = 1
    part[TRANSACTION_DAY] = date_column(day, part.index)
    warehouse.replace_partition(warehouse.tables.terminal_labels, part, day + timedelta(days=3))
    after = warehouse.entity_window_totals(REQUEST).terminals.set_index("terminal_id")
    active = set(rows.loc[rows["_k"] == DAY, "terminal_id"]) & set(part["terminal_id"])
    assert after["nb_fraud_3d"].sum() == after["nb_fraud_5d"].sum() == len(active) > 0


def test_without_validated_history_the_totals_are_empty(make_warehouse) -> None:
    warehouse = make_warehouse()
    totals = warehouse.entity_window_totals(REQUEST)
    assert len(totals.customers) == len(totals.terminals) == len(totals.pairs) == 0
    assert "nb_fraud_5d" in totals.terminals.columns
    assert LAST_SEEN in totals.customers.columns


def test_requests_are_validated() -> None:
    with pytest.raises(ValueError, match="lookback_start"):
        WindowTotalsRequest(DAY, DAY, customer_windows={"3d": DAY - timedelta(days=2)})
    with pytest.raises(ValueError, match="terminal_end"):
        WindowTotalsRequest(DAY, FIRST, terminal_windows={"3d": DAY - timedelta(days=2)})
    with pytest.raises(ValueError, match="identifier"):
        WindowTotalsRequest(DAY, FIRST, customer_windows={'3d"; DROP': DAY})
