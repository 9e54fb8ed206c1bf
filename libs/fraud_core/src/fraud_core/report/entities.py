"""Per-entity tables of one day's scores: cards (customers) for the alerts, top terminals/customers.

A card's score is the max of its transactions' scores that day. Its label is 1 when any of its
transactions is labelled fraud, 0 when all are labelled genuine, and unknown otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray

from fraud_core.columns import CUSTOMER_ID, FRAUD_SCORE, TX_AMOUNT, TX_FRAUD

__all__ = [
    "ALERT_COLUMNS",
    "ENTITY_COLUMNS",
    "alert_table",
    "card_table",
    "known_fraud",
    "top_entities",
]

ALERT_COLUMNS = [
    "rank",
    CUSTOMER_ID,
    "max_score",
    "n_transactions",
    "amount",
    "expected_fraud_amount",
    "n_labelled",
    "n_fraud",
    "card_fraud",
    "fraud_amount",
]
ENTITY_COLUMNS = [
    "n_transactions",
    "amount",
    "max_score",
    "mean_score",
    "expected_fraud_amount",
    "n_labelled",
    "n_fraud",
]


def known_fraud(rows: pd.DataFrame) -> pd.Series:
    """Whether each row is labelled fraud (an unknown label counts as not fraud)."""
    return rows[TX_FRAUD].eq(1).fillna(False).astype(bool)


def _card_labels(cards: pd.DataFrame) -> ExtensionArray:
    card_fraud = pd.array([pd.NA] * len(cards), dtype="Int8")
    known_genuine = (cards["n_fraud"] == 0) & (cards["n_labelled"] == cards["n_transactions"])
    card_fraud[known_genuine.to_numpy()] = 0
    card_fraud[(cards["n_fraud"] > 0).to_numpy()] = 1
    return card_fraud


def card_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per card (customer) of one day, ordered by max score desc then customer_id."""
    fraud = known_fraud(rows)
    d = rows.assign(
        _efa=rows[FRAUD_SCORE] * rows[TX_AMOUNT],
        _lab=rows[TX_FRAUD].notna().to_numpy(),
        _fraud=fraud.to_numpy(),
        _fraud_amt=rows[TX_AMOUNT].where(fraud, 0.0),
    )
    cards = (
        d.groupby(CUSTOMER_ID, dropna=False, sort=False)
        .agg(
            max_score=(FRAUD_SCORE, "max"),
            n_transactions=(FRAUD_SCORE, "size"),
            amount=(TX_AMOUNT, "sum"),
            expected_fraud_amount=("_efa", "sum"),
            n_labelled=("_lab", "sum"),
            n_fraud=("_fraud", "sum"),
            fraud_amount=("_fraud_amt", "sum"),
        )
        .reset_index()
    )
    for col in ("n_transactions", "n_labelled", "n_fraud"):
        cards[col] = cards[col].astype("int64")
    cards["card_fraud"] = _card_labels(cards)
    return cards.sort_values(
        ["max_score", CUSTOMER_ID], ascending=[False, True], kind="mergesort"
    ).reset_index(drop=True)


def alert_table(cards: pd.DataFrame, alert_budget: int) -> pd.DataFrame:
    """The ``alert_budget`` top cards of :func:`card_table`, ranked from 1."""
    alerts = cards.head(alert_budget).copy()
    alerts.insert(0, "rank", np.arange(1, len(alerts) + 1, dtype="int64"))
    return alerts[ALERT_COLUMNS]


def top_entities(
    rows: pd.DataFrame, key: str, top_n: int, alerted: set[Any] | None = None
) -> pd.DataFrame:
    """Top ``top_n`` entities by expected fraud amount, then max score, then id."""
    fraud = known_fraud(rows)
    d = rows.assign(
        _efa=rows[FRAUD_SCORE] * rows[TX_AMOUNT],
        _lab=rows[TX_FRAUD].notna().to_numpy(),
        _fraud=fraud.to_numpy(),
    )
    table = (
        d.groupby(key, dropna=False, sort=False)
        .agg(
            n_transactions=(FRAUD_SCORE, "size"),
            amount=(TX_AMOUNT, "sum"),
            max_score=(FRAUD_SCORE, "max"),
            mean_score=(FRAUD_SCORE, "mean"),
            expected_fraud_amount=("_efa", "sum"),
            n_labelled=("_lab", "sum"),
            n_fraud=("_fraud", "sum"),
        )
        .reset_index()
    )
    for col in ("n_transactions", "n_labelled", "n_fraud"):
        table[col] = table[col].astype("int64")
    table = (
        table.sort_values(
            ["expected_fraud_amount", "max_score", key],
            ascending=[False, False, True],
            kind="mergesort",
        )
        .head(top_n)
        .reset_index(drop=True)
    )
    table = table[[key, *ENTITY_COLUMNS]]
    if alerted is not None:
        table["alerted"] = table[key].isin(alerted).astype(bool)
    return table
