"""Per-entity totals over whole days of history, computed inside the warehouse.

A day's features need, for every customer and terminal active on that day, totals over the whole
days of each window (counts, amount sums, label counts) and when each customer and (customer,
terminal) pair was last seen. :meth:`Warehouse.entity_window_totals` computes them with one
aggregate query per entity kind, restricted to the day's own entities by a semi-join on the day's
partition of validated transactions, so what travels to the pipeline grows with the day's
entities, not with the window length.

Customer and pair totals come from the validated transactions (narrow columns of the partitions
in range). Terminal totals come from the matured terminal label table
(:attr:`TableNames.terminal_labels`): one row per terminal and transaction day, with the day's
transaction count and its label counts as known when its labels were due, written by the
pipeline once per day; so no terminal total joins the labels of the whole window. The SQL is
written once here for both engines; each engine supplies its quoting (:class:`SqlNames`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from fraud_storage.tables import PARTITION_COLUMN

LAST_SEEN = "last_tx_datetime"
"""The column of the latest ``tx_datetime`` in the customer and pair totals."""


@dataclass(frozen=True)
class WindowTotalsRequest:
    """Which totals to compute for the entities active on ``day``.

    ``customer_windows`` maps a column suffix to the first day of a customer window that ends
    with ``day - 1``; ``terminal_windows`` maps a suffix to the first day of a terminal window
    that ends with ``terminal_end - 1`` (the label delay). Last-seen times cover
    ``[lookback_start, day)``.
    """

    day: date
    lookback_start: date
    customer_windows: Mapping[str, date] = field(default_factory=dict)
    terminal_windows: Mapping[str, date] = field(default_factory=dict)
    terminal_end: date | None = None

    def __post_init__(self) -> None:
        firsts = [*self.customer_windows.values(), *self.terminal_windows.values()]
        if any(first < self.lookback_start for first in firsts):
            raise ValueError("every window must start on or after lookback_start")
        if self.terminal_windows and self.terminal_end is None:
            raise ValueError("terminal windows need terminal_end")
        for suffix in [*self.customer_windows, *self.terminal_windows]:
            if not suffix.replace("_", "").isalnum():
                raise ValueError(f"window suffix {suffix!r} is not a plain identifier part")


@dataclass(frozen=True)
class EntityWindowTotals:
    """The totals of a :class:`WindowTotalsRequest`, one frame per entity kind.

    ``customers``: ``customer_id``, per suffix ``nb_tx_<s>``, ``amount_sum_<s>``,
    ``amount_sq_sum_<s>``, and ``last_tx_datetime``; ``terminals``: ``terminal_id``, per suffix
    ``nb_tx_<s>``, ``nb_labelled_<s>``, ``nb_fraud_<s>``; ``pairs``: ``customer_id``,
    ``terminal_id``, ``last_tx_datetime``. Only entities with a transaction in range appear.
    """

    customers: pd.DataFrame
    terminals: pd.DataFrame
    pairs: pd.DataFrame


@dataclass(frozen=True)
class SqlNames:
    """How one engine spells the parts of the totals queries."""

    validated: str
    """The quoted validated-transactions table."""
    terminal_labels: str
    """The quoted matured terminal label table."""
    column: Callable[[str], str]
    """Quotes a (lower-case) column name."""


Query = tuple[str, list[object]]

TRANSACTION_DAY = "transaction_day"
"""The column of the matured terminal label table naming the day its counts are of."""
TERMINAL_COUNTS = ("nb_tx", "nb_labelled", "nb_fraud")
"""The per-terminal, per-day counts of the matured terminal label table."""


def _day(value: date) -> str:
    return pd.Timestamp(value).date().isoformat()


def totals_queries(
    request: WindowTotalsRequest, names: SqlNames, *, with_terminals: bool = True
) -> dict[str, Query]:
    """The aggregate queries (customers, pairs and, if asked, terminals) with their parameters."""
    c = names.column
    pd_, cust, term = c(PARTITION_COLUMN), c("customer_id"), c("terminal_id")
    v = names.validated
    today = f"SELECT {{key}} FROM {v} WHERE {pd_} = CAST(? AS DATE)"
    in_range = f"v.{pd_} >= CAST(? AS DATE) AND v.{pd_} < CAST(? AS DATE)"

    def summed(name: str, day_column: str, what: str) -> str:
        return (
            f"SUM(CASE WHEN v.{c(day_column)} >= CAST(? AS DATE) THEN {what} ELSE 0 END) "
            f"AS {c(name)}"
        )

    queries: dict[str, Query] = {}

    parts, params = [], []
    for suffix, first in request.customer_windows.items():
        amount = f"v.{c('tx_amount')}"
        parts += [
            summed(f"nb_tx_{suffix}", PARTITION_COLUMN, "1"),
            summed(f"amount_sum_{suffix}", PARTITION_COLUMN, amount),
            summed(f"amount_sq_sum_{suffix}", PARTITION_COLUMN, f"{amount} * {amount}"),
        ]
        params += [_day(first)] * 3
    queries["customers"] = (
        f"SELECT v.{cust} AS {cust}, {''.join(p + ', ' for p in parts)}"
        f"MAX(v.{c('tx_datetime')}) AS {c(LAST_SEEN)} FROM {v} v "
        f"WHERE {in_range} AND v.{cust} IN ({today.format(key=cust)}) GROUP BY v.{cust}",
        [*params, _day(request.lookback_start), _day(request.day), _day(request.day)],
    )

    queries["pairs"] = (
        f"SELECT v.{cust} AS {cust}, v.{term} AS {term}, MAX(v.{c('tx_datetime')}) AS "
        f"{c(LAST_SEEN)} FROM {v} v JOIN (SELECT DISTINCT {cust}, {term} FROM {v} "
        f"WHERE {pd_} = CAST(? AS DATE)) t ON t.{cust} = v.{cust} AND t.{term} = v.{term} "
        f"WHERE {in_range} GROUP BY v.{cust}, v.{term}",
        [_day(request.day), _day(request.lookback_start), _day(request.day)],
    )

    if with_terminals and request.terminal_windows and request.terminal_end is not None:
        label_start = min(request.terminal_windows.values())
        parts, params = [], []
        for suffix, first in request.terminal_windows.items():
            parts += [
                summed(f"{count}_{suffix}", TRANSACTION_DAY, f"v.{c(count)}")
                for count in TERMINAL_COUNTS
            ]
            params += [_day(first)] * len(TERMINAL_COUNTS)
        day_col = c(TRANSACTION_DAY)
        queries["terminals"] = (
            f"SELECT v.{term} AS {term}, {', '.join(parts)} FROM {names.terminal_labels} v "
            f"WHERE v.{day_col} >= CAST(? AS DATE) AND v.{day_col} < CAST(? AS DATE) "
            f"AND v.{term} IN ({today.format(key=term)}) GROUP BY v.{term}",
            [*params, _day(label_start), _day(request.terminal_end), _day(request.day)],
        )
    return queries


def empty_totals(request: WindowTotalsRequest) -> EntityWindowTotals:
    """The totals when there is no history yet: no entity has any."""
    customer_cols = ["customer_id"]
    for suffix in request.customer_windows:
        customer_cols += [f"nb_tx_{suffix}", f"amount_sum_{suffix}", f"amount_sq_sum_{suffix}"]
    terminal_cols = ["terminal_id"]
    for suffix in request.terminal_windows:
        terminal_cols += [f"{count}_{suffix}" for count in TERMINAL_COUNTS]
    return EntityWindowTotals(
        customers=pd.DataFrame(columns=[*customer_cols, LAST_SEEN]),
        terminals=pd.DataFrame(columns=terminal_cols),
        pairs=pd.DataFrame(columns=["customer_id", "terminal_id", LAST_SEEN]),
    )


def totals_from_frames(
    request: WindowTotalsRequest, frames: dict[str, pd.DataFrame]
) -> EntityWindowTotals:
    """The totals from the frames the queries returned (missing kinds are empty)."""
    empty = empty_totals(request)
    return EntityWindowTotals(
        customers=frames.get("customers", empty.customers),
        terminals=frames.get("terminals", empty.terminals),
        pairs=frames.get("pairs", empty.pairs),
    )
