"""Warehouse.entity_window_totals on both engines, against the same totals computed in memory.

The registry's request (``fraud_core.features.window_totals_request``) is rendered as SQL by
``fraud_storage.window_totals``; ``fraud_core.features.window_totals_from_rows`` is its
specification, computed with pandas from the same rows.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from fraud_core.columns import (
    CUSTOMER_ID,
    LAST_TX_DATETIME,
    TERMINAL_ID,
    TRANSACTION_DAY,
    TX_DATETIME,
)
from fraud_core.features import (
    FeatureConfig,
    GroupTotalsRequest,
    TotalsSource,
    WindowTotal,
    matured_totals,
    window_totals_from_rows,
    window_totals_request,
)
from fraud_core.features.registry import NB_LABELLED, NB_TX
from fraud_storage.warehouse import date_column
from fraud_storage.window_totals import PAIRS, SqlNames, totals_queries

FIRST = date(2024, 4, 1)
DAY = FIRST + timedelta(days=9)
CONFIG = FeatureConfig(windows_days=(1, 3, 6), label_delay_days=1)


def source_rows(n_days: int = 10, per_day: int = 30, seed: int = 0) -> pd.DataFrame:
    """Validated-style transactions over ``n_days`` (some labels unknown)."""
    rng = np.random.default_rng(seed)
    n = n_days * per_day
    day = np.repeat(np.arange(n_days), per_day)
    seconds = rng.integers(0, 86_400, n)
    fraud = rng.choice([0.0, 1.0, np.nan], n, p=[0.6, 0.3, 0.1])
    return pd.DataFrame(
        {
            "transaction_id": np.arange(1, n + 1, dtype=np.int64),
            "tx_datetime": pd.Timestamp(FIRST, tz="UTC")
            + pd.to_timedelta(day, unit="D")
            + pd.to_timedelta(seconds, unit="s"),
            "customer_id": rng.integers(0, 8, n).astype(np.int64),
            "terminal_id": rng.integers(100, 106, n).astype(np.int64),
            "tx_amount": np.round(rng.gamma(2.0, 20.0, n), 2),
            "tx_fraud": pd.array(fraud, dtype="Int8"),
        }
    )


def _days(rows: pd.DataFrame) -> pd.Series:
    return rows[TX_DATETIME].dt.date


def write_validated(warehouse, rows: pd.DataFrame) -> None:
    """Each day's rows as its validated partition."""
    for k, part in rows.groupby(_days(rows)):
        warehouse.replace_partition(warehouse.tables.validated, part, k)


def write_matured(warehouse, rows: pd.DataFrame, maturity_days: int = 2) -> None:
    """Per-terminal totals of each transaction day k into partition k + maturity_days."""
    for k, part in rows.groupby(_days(rows)):
        frame = matured_totals(part, k, CONFIG)
        frame[TRANSACTION_DAY] = date_column(k, frame.index)
        warehouse.replace_partition(
            warehouse.tables.terminal_labels, frame, k + timedelta(days=maturity_days)
        )


def _compare(got: pd.DataFrame, want: pd.DataFrame, key: list[str]) -> None:
    got = got.set_index(key).sort_index()
    want = want.set_index(key).sort_index()
    assert list(got.index) == list(want.index)
    assert set(got.columns) == set(want.columns)
    for column in want.columns:
        a, b = got[column], want[column]
        if column == LAST_TX_DATETIME:
            assert list(pd.to_datetime(a, utc=True)) == list(pd.to_datetime(b, utc=True)), column
        else:
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-12, err_msg=column)


def test_totals_equal_the_in_memory_specification(make_warehouse) -> None:
    warehouse = make_warehouse()
    rows = source_rows()
    write_validated(warehouse, rows)
    write_matured(warehouse, rows)
    request = window_totals_request(DAY, CONFIG)
    totals = warehouse.entity_window_totals(request)
    want = window_totals_from_rows(rows, DAY, CONFIG)
    assert set(totals.groups) == {g.group for g in request.groups}
    for group in request.groups:
        _compare(totals.groups[group.group], want.groups[group.group], [group.entity])
    _compare(totals.pairs, want.pairs, [CUSTOMER_ID, TERMINAL_ID])
    labels = totals.groups["terminal_delayed"]
    assert (labels.filter(like="nb_fraud").to_numpy() > 0).any()
    cards = totals.groups["customer_current"]
    assert len(cards) < rows[CUSTOMER_ID].nunique() or len(totals.pairs) < len(
        rows[[CUSTOMER_ID, TERMINAL_ID]].drop_duplicates()
    )  # only the day's entities


def test_label_totals_come_from_the_matured_label_table(make_warehouse) -> None:
    warehouse = make_warehouse()
    rows = source_rows(seed=1)
    write_validated(warehouse, rows)
    request = window_totals_request(DAY, CONFIG)
    before = warehouse.entity_window_totals(request)
    assert len(before.groups["terminal_delayed"]) == 0  # no label table yet: no label history
    assert len(before.groups["terminal_current"]) > 0  # amounts need no labels
    write_matured(warehouse, rows.assign(tx_fraud=pd.array([0] * len(rows), dtype="Int8")))
    labels = warehouse.entity_window_totals(request).groups["terminal_delayed"]
    assert labels.filter(like="nb_fraud").to_numpy().sum() == 0
    # a later maturity partition of one day replaces that day's counts
    day = DAY - timedelta(days=3)
    part = matured_totals(rows[_days(rows) == day], day, CONFIG)
    part["nb_fraud"] = 1
    part[TRANSACTION_DAY] = date_column(day, part.index)
    warehouse.replace_partition(warehouse.tables.terminal_labels, part, day + timedelta(days=2))
    after = warehouse.entity_window_totals(request).groups["terminal_delayed"]
    after = after.set_index(TERMINAL_ID)
    active = set(rows.loc[_days(rows) == DAY, TERMINAL_ID]) & set(part[TERMINAL_ID])
    assert after["nb_fraud_3d"].sum() == after["nb_fraud_6d"].sum() == len(active) > 0


def test_without_validated_history_the_totals_are_empty(make_warehouse) -> None:
    warehouse = make_warehouse()
    totals = warehouse.entity_window_totals(window_totals_request(DAY, CONFIG))
    assert all(len(frame) == 0 for frame in totals.groups.values())
    assert len(totals.pairs) == 0
    assert "nb_fraud_6d" in totals.groups["terminal_delayed"].columns
    assert LAST_TX_DATETIME in totals.groups["customer_current"].columns


def test_the_sql_is_derived_from_the_request() -> None:
    names = SqlNames(validated='"V"', matured='"M"', column=lambda c: f'"{c}"')
    queries = totals_queries(window_totals_request(DAY, CONFIG), names)
    assert list(queries) == ["customer_current", "terminal_current", "terminal_delayed", PAIRS]
    sql, params = queries["customer_current"]
    assert 'v."tx_amount" * v."tx_amount"' in sql  # the registry's SQL of amount_sq_sum
    assert 'AS "amount_sq_sum_6d"' in sql
    assert 'AS "amount_sq_sum_3d"' not in sql  # squares only where the deviation needs them
    assert sql.count("?") == len(params)
    labels, _ = queries["terminal_delayed"]
    assert 'FROM "M" v' in labels
    assert 'v."nb_labelled"' in labels  # a stored daily total, summed
    without = totals_queries(window_totals_request(DAY, CONFIG), names, with_matured=False)
    assert "terminal_delayed" not in without


def test_requests_are_validated() -> None:
    with pytest.raises(ValueError, match="on or after"):
        GroupTotalsRequest(
            "customer_current",
            CUSTOMER_ID,
            TotalsSource.VALIDATED,
            DAY,
            DAY,
            (WindowTotal("nb_tx_3d", NB_TX, DAY - timedelta(days=2)),),
            last_seen=False,
        )
    with pytest.raises(ValueError, match="matured label table"):
        GroupTotalsRequest(
            "terminal_current",
            TERMINAL_ID,
            TotalsSource.VALIDATED,
            FIRST,
            DAY,
            (WindowTotal("nb_labelled_3d", NB_LABELLED, DAY - timedelta(days=2)),),
            last_seen=False,
        )
