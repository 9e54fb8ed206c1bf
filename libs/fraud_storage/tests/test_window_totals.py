"""Warehouse.entity_window_totals on both engines, against the same totals computed in pandas."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from fraud_storage.warehouse import WarehouseError
from fraud_storage.window_totals import LAST_SEEN, WindowTotalsRequest

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
    """Write each day's rows as validated, labels unknown at ingestion; return them all."""
    rows = source.rename(columns=str.lower).assign(tx_fraud=pd.array([pd.NA] * len(source), "Int8"))
    day = rows["tx_datetime"].dt.date
    for k in sorted(day.unique()):
        warehouse.replace_partition(warehouse.tables.validated, rows[day == k], k)
    return rows.assign(_k=day)


def expected(rows: pd.DataFrame, source: pd.DataFrame, request: WindowTotalsRequest) -> dict:
    """The totals in pandas: validated rows, source labels (0/1, else unknown)."""
    label = source.set_index("TRANSACTION_ID")["TX_FRAUD"]
    label = pd.to_numeric(label, errors="coerce").where(lambda s: s.isin([0, 1]))
    rows = rows.assign(_label=rows["transaction_id"].map(label))
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
    term = hist[hist["terminal_id"].isin(today["terminal_id"])]
    term = term[term["_k"] < request.terminal_end]
    terminals = pd.DataFrame(
        index=pd.Index(sorted(term["terminal_id"].unique()), name="terminal_id")
    )
    for s, first in request.terminal_windows.items():
        part = term[term["_k"] >= first]
        terminals[f"nb_tx_{s}"] = part.groupby("terminal_id").size()
        terminals[f"nb_labelled_{s}"] = part["_label"].notna().groupby(part["terminal_id"]).sum()
        terminals[f"nb_fraud_{s}"] = (part["_label"] == 1).groupby(part["terminal_id"]).sum()
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


def test_totals_cover_whole_days_of_the_days_entities_with_source_labels(make_warehouse) -> None:
    warehouse = make_warehouse()
    source = source_rows()
    warehouse.load_source(source)
    rows = validated_partitions(warehouse, source)
    totals = warehouse.entity_window_totals(REQUEST)
    want = expected(rows, source, REQUEST)
    _compare(totals.customers, want["customers"], ["customer_id"])
    _compare(totals.terminals, want["terminals"], ["terminal_id"])
    _compare(totals.pairs, want["pairs"], ["customer_id", "terminal_id"])
    assert (totals.terminals.filter(like="nb_labelled").to_numpy() > 0).any()


def test_a_label_arriving_late_in_the_source_changes_the_terminal_counts(make_warehouse) -> None:
    warehouse = make_warehouse()
    source = source_rows(seed=1)
    source.loc[:, "TX_FRAUD"] = 0
    warehouse.load_source(source)
    validated_partitions(warehouse, source)
    before = warehouse.entity_window_totals(REQUEST).terminals.set_index("terminal_id")
    assert before["nb_fraud_5d"].sum() == 0
    # a chargeback arrives for a transaction inside the 5-day terminal window
    in_window = source["TX_DATETIME"].dt.date.between(DAY - timedelta(days=5), DAY - timedelta(2))
    active = source[source["TX_DATETIME"].dt.date == DAY]["TERMINAL_ID"].unique()
    late = source[in_window & source["TERMINAL_ID"].isin(active)].index[0]
    source.loc[late, "TX_FRAUD"] = 1
    warehouse.load_source(source, replace=True)
    after = warehouse.entity_window_totals(REQUEST).terminals.set_index("terminal_id")
    assert after.loc[source.loc[late, "TERMINAL_ID"], "nb_fraud_5d"] == 1
    assert after["nb_fraud_5d"].sum() == 1


def test_text_labels_are_read_as_numbers_and_junk_as_unknown(make_warehouse) -> None:
    warehouse = make_warehouse()
    source = source_rows(seed=2)
    text = source.assign(TX_FRAUD=source["TX_FRAUD"].map({0: "0", 1: "1", 2: "x"}))
    warehouse.load_source(text)
    rows = validated_partitions(warehouse, source)
    totals = warehouse.entity_window_totals(REQUEST)
    want = expected(rows, text, REQUEST)
    _compare(totals.terminals, want["terminals"], ["terminal_id"])


def test_without_validated_history_the_totals_are_empty(make_warehouse) -> None:
    warehouse = make_warehouse()
    totals = warehouse.entity_window_totals(REQUEST)
    assert len(totals.customers) == len(totals.terminals) == len(totals.pairs) == 0
    assert "nb_fraud_5d" in totals.terminals.columns
    assert LAST_SEEN in totals.customers.columns


def test_a_source_without_labels_is_a_clear_error(make_warehouse) -> None:
    warehouse = make_warehouse()
    source = source_rows(seed=3)
    warehouse.load_source(source.drop(columns="TX_FRAUD"))
    validated_partitions(warehouse, source)
    with pytest.raises(WarehouseError, match=r"(?i)tx_fraud"):
        warehouse.entity_window_totals(REQUEST)


def test_requests_are_validated() -> None:
    with pytest.raises(ValueError, match="lookback_start"):
        WindowTotalsRequest(DAY, DAY, customer_windows={"3d": DAY - timedelta(days=2)})
    with pytest.raises(ValueError, match="terminal_end"):
        WindowTotalsRequest(DAY, FIRST, terminal_windows={"3d": DAY - timedelta(days=2)})
    with pytest.raises(ValueError, match="identifier"):
        WindowTotalsRequest(DAY, FIRST, customer_windows={'3d"; DROP': DAY})
