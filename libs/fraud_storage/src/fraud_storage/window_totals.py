"""Per-entity totals over whole days of validated history, computed inside the warehouse.

A day's features need, for every customer and terminal active on that day, totals over the whole
days of each window (counts, amount sums, label counts) and when each customer and (customer,
terminal) pair was last seen. :meth:`Warehouse.entity_window_totals` computes them with one
aggregate query per entity kind, restricted to the day's own entities by a semi-join on the day's
partition, so what travels to the pipeline grows with the day's entities, not with the window
length; the engine scans only the narrow columns of the partitions in range.

Terminal label counts take the labels the *source* holds now (labels arrive days after the
transaction, and the validated copy keeps the label known at ingestion), with the same rules as
``fraud_core.scoring.refresh_labels``: the latest source row of a transaction_id wins, and a value
other than 0 or 1 is an unknown label. The SQL is written once here for both engines; each engine
supplies its quoting and its source-time predicate (:class:`SqlNames`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from fraud_storage.tables import PARTITION_COLUMN
from fraud_storage.warehouse import WarehouseError

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
    source: str
    """The quoted source table."""
    column: Callable[[str], str]
    """Quotes a (lower-case) column name."""
    source_time: str
    """The source's ``tx_datetime`` as an instant."""
    source_time_bounds: Callable[[date, date], tuple[str, list[object]]]
    """``(sql, params)`` selecting source rows with a time in ``[first day, end day)``."""
    source_label: str
    """The source's ``tx_fraud`` as a number (NULL where it is not one)."""


Query = tuple[str, list[object]]


def _day(value: date) -> str:
    return pd.Timestamp(value).date().isoformat()


def totals_queries(request: WindowTotalsRequest, names: SqlNames) -> dict[str, Query]:
    """The three aggregate queries (customers, terminals, pairs) with their parameters."""
    c = names.column
    pd_, cust, term = c(PARTITION_COLUMN), c("customer_id"), c("terminal_id")
    v = names.validated
    today = f"SELECT {{key}} FROM {v} WHERE {pd_} = CAST(? AS DATE)"
    in_range = f"v.{pd_} >= CAST(? AS DATE) AND v.{pd_} < CAST(? AS DATE)"

    def counted(name: str, what: str, condition: str = "") -> str:
        return (
            f"SUM(CASE WHEN v.{pd_} >= CAST(? AS DATE){condition} THEN {what} ELSE 0 END) "
            f"AS {c(name)}"
        )

    queries: dict[str, Query] = {}

    parts, params = [], []
    for suffix, first in request.customer_windows.items():
        amount = f"v.{c('tx_amount')}"
        parts += [
            counted(f"nb_tx_{suffix}", "1"),
            counted(f"amount_sum_{suffix}", amount),
            counted(f"amount_sq_sum_{suffix}", f"{amount} * {amount}"),
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

    if request.terminal_windows and request.terminal_end is not None:
        label_start = min(request.terminal_windows.values())
        bounds, bound_params = names.source_time_bounds(label_start, request.terminal_end)
        tx_id = c("transaction_id")
        labels = (
            f"SELECT {tx_id} AS {tx_id}, CASE WHEN {names.source_label} IN (0, 1) "
            f"THEN {names.source_label} END AS label FROM {names.source} WHERE {bounds} "
            f"QUALIFY ROW_NUMBER() OVER (PARTITION BY {tx_id} ORDER BY {names.source_time} DESC) = 1"
        )
        parts, params = [], []
        for suffix, first in request.terminal_windows.items():
            parts += [
                counted(f"nb_tx_{suffix}", "1"),
                counted(f"nb_labelled_{suffix}", "1", " AND l.label IS NOT NULL"),
                counted(f"nb_fraud_{suffix}", "1", " AND l.label = 1"),
            ]
            params += [_day(first)] * 3
        queries["terminals"] = (
            f"WITH labels AS ({labels}) SELECT v.{term} AS {term}, {', '.join(parts)} "
            f"FROM {v} v LEFT JOIN labels l ON l.{tx_id} = v.{tx_id} "
            f"WHERE {in_range} AND v.{term} IN ({today.format(key=term)}) GROUP BY v.{term}",
            [
                *bound_params,
                *params,
                _day(label_start),
                _day(request.terminal_end),
                _day(request.day),
            ],
        )
    return queries


def empty_totals(request: WindowTotalsRequest) -> EntityWindowTotals:
    """The totals when there is no validated table yet: no entity has any history."""
    customer_cols = ["customer_id"]
    for suffix in request.customer_windows:
        customer_cols += [f"nb_tx_{suffix}", f"amount_sum_{suffix}", f"amount_sq_sum_{suffix}"]
    terminal_cols = ["terminal_id"]
    for suffix in request.terminal_windows:
        terminal_cols += [f"nb_tx_{suffix}", f"nb_labelled_{suffix}", f"nb_fraud_{suffix}"]
    return EntityWindowTotals(
        customers=pd.DataFrame(columns=[*customer_cols, LAST_SEEN]),
        terminals=pd.DataFrame(columns=terminal_cols),
        pairs=pd.DataFrame(columns=["customer_id", "terminal_id", LAST_SEEN]),
    )


NUMERIC_TYPE_PREFIXES = (
    "TINYINT",
    "SMALLINT",
    "INT",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "DECIMAL",
    "NUMERIC",
    "NUMBER",
    "FLOAT",
    "DOUBLE",
    "REAL",
    "BYTEINT",
)
TEXT_TYPE_PREFIXES = ("VARCHAR", "TEXT", "STRING", "CHAR")


def label_expression(column: str, column_type: str, *, table: object) -> str:
    """``tx_fraud`` as a number: as is when numeric, ``TRY_CAST`` when text; else an error."""
    kind = column_type.upper()
    if kind.startswith(NUMERIC_TYPE_PREFIXES):
        return column
    if kind.startswith(TEXT_TYPE_PREFIXES):
        return f"TRY_CAST({column} AS DOUBLE)"
    raise WarehouseError(
        f"source table {table}: column tx_fraud has type {column_type}; expected a number "
        "(0, 1 or NULL) or text holding one"
    )
