"""Per-entity tables of one day's scores: cards (customers) for the alerts, top terminals/customers.

A card's score is the max of its transactions' scores that day. Its label is 1 when any of its
transactions is labelled fraud, 0 when all are labelled genuine, and unknown otherwise.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pandas.api.extensions import ExtensionArray

from fraud_core.alerts import ALERT_CARRY, ALERT_COLUMNS, card_ranking
from fraud_core.columns import (
    ALERT_RANK,
    CUSTOMER_ID,
    FRAUD_SCORE,
    N_TRANSACTIONS,
    TX_AMOUNT,
    TX_FRAUD,
)

__all__ = [
    "ENTITY_COLUMNS",
    "LABEL_COLUMNS",
    "REPORT_ALERT_COLUMNS",
    "card_table",
    "known_fraud",
    "labelled_alerts",
    "top_entities",
]

LABEL_COLUMNS = ["n_labelled", "n_fraud", "card_fraud", "fraud_amount"]
"""What the report adds to a card or an alert: its labels known at report time."""
REPORT_ALERT_COLUMNS = [*ALERT_COLUMNS, *LABEL_COLUMNS]
"""The report's alert table: the alerts table's columns, then the alerted cards' labels."""
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


def _card_labels(cards: pd.DataFrame, n_transactions: pd.Series) -> ExtensionArray:
    card_fraud = pd.array([pd.NA] * len(cards), dtype="Int8")
    known_genuine = (cards["n_fraud"] == 0) & (cards["n_labelled"] == n_transactions)
    card_fraud[known_genuine.to_numpy()] = 0
    card_fraud[(cards["n_fraud"] > 0).to_numpy()] = 1
    return card_fraud


def _label_counts(rows: pd.DataFrame) -> pd.DataFrame:
    """Per card: labelled transactions, known frauds and their amount, indexed by card."""
    fraud = known_fraud(rows)
    counts = (
        rows.assign(
            _lab=rows[TX_FRAUD].notna().to_numpy(),
            _fraud=fraud.to_numpy(),
            _fraud_amt=rows[TX_AMOUNT].where(fraud, 0.0),
        )
        .groupby(CUSTOMER_ID, dropna=False, sort=False)
        .agg(
            n_labelled=("_lab", "sum"),
            n_fraud=("_fraud", "sum"),
            fraud_amount=("_fraud_amt", "sum"),
        )
    )
    for col in ("n_labelled", "n_fraud"):
        counts[col] = counts[col].astype("int64")
    return counts


def card_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per card (customer) of one day, ranked as the alerts are, with its labels.

    Columns: :data:`fraud_core.alerts.CARD_COLUMNS`, what an alert carries from the card's top
    transaction where ``rows`` has it, and :data:`LABEL_COLUMNS`.
    """
    cards = card_ranking(rows, carry=ALERT_CARRY)
    counts = _label_counts(rows).reindex(cards[CUSTOMER_ID]).reset_index(drop=True)
    counts["card_fraud"] = _card_labels(counts, cards[N_TRANSACTIONS])
    return pd.concat([cards, counts[LABEL_COLUMNS]], axis=1)


def labelled_alerts(alerts: pd.DataFrame, cards: pd.DataFrame) -> pd.DataFrame:
    """``alerts`` (the alerts table of the day) in rank order, with their cards' labels
    (:data:`REPORT_ALERT_COLUMNS`); a card missing from ``cards`` has no known label."""
    ordered = alerts.sort_values(ALERT_RANK, kind="mergesort").reset_index(drop=True)
    labels = cards.set_index(CUSTOMER_ID)[LABEL_COLUMNS].reindex(ordered[CUSTOMER_ID])
    labels = labels.reset_index(drop=True)
    for col in ("n_labelled", "n_fraud"):
        labels[col] = labels[col].fillna(0).astype("int64")
    labels["fraud_amount"] = labels["fraud_amount"].fillna(0.0).astype("float64")
    labels["card_fraud"] = labels["card_fraud"].astype("Int8")
    return pd.concat([ordered[list(ALERT_COLUMNS)], labels], axis=1)


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
