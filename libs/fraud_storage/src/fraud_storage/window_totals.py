"""Per-entity totals over whole days of history, computed inside the warehouse.

A day's features need, for every card and terminal active on that day, the totals of each
window group's measures over the whole days of each window, when each card was last seen, and
when each (card, terminal) pair was last seen. ``fraud_core.features.window_totals_request``
says which totals, derived from the feature registry; this module renders that request as SQL:
one aggregate query per window group plus one for the pairs, each restricted to the day's own
entities by a semi-join on the day's partition of validated transactions, so what travels to
the pipeline grows with the day's entities, not with the window length.

CURRENT groups are totalled from the validated transactions (narrow columns of the partitions in
range; each measure's SQL comes from the registry). The DELAYED (label) group is totalled from
the matured label table (:attr:`TableNames.terminal_labels`): one row per terminal and transaction
day, with the day's measures as known when its labels were due, written once per day by the
pipeline; so no total joins the labels of the whole window. The SQL is written once here for
both engines; each engine supplies its quoting (:class:`SqlNames`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd

from fraud_core.columns import (
    CUSTOMER_ID,
    LAST_TX_DATETIME,
    PARTITION_DATE,
    TERMINAL_ID,
    TRANSACTION_DAY,
    TX_DATETIME,
)
from fraud_core.features import (
    GroupTotalsRequest,
    TotalsSource,
    WindowTotal,
    WindowTotals,
    WindowTotalsRequest,
    empty_totals,
)

__all__ = ["PAIRS", "SqlNames", "totals_from_frames", "totals_queries"]

PAIRS = "pairs"
"""The key of the pair query among :func:`totals_queries`' results."""


@dataclass(frozen=True)
class SqlNames:
    """How one engine spells the parts of the totals queries."""

    validated: str
    """The quoted validated-transactions table."""
    matured: str
    """The quoted matured label table."""
    column: Callable[[str], str]
    """Quotes a (lower-case) column name."""


Query = tuple[str, list[object]]


def _day(value: date) -> str:
    return pd.Timestamp(value).date().isoformat()


class _QuotedColumns(dict[str, str]):
    """``{tx_amount}`` in a measure's SQL becomes the quoted column of the ``v`` alias."""

    def __init__(self, column: Callable[[str], str]) -> None:
        super().__init__()
        self._column = column

    def __missing__(self, key: str) -> str:
        return f"v.{self._column(key)}"


def _measure_sql(total: WindowTotal, source: TotalsSource, names: SqlNames) -> str:
    if source is TotalsSource.MATURED:  # the matured table stores each measure's daily total
        return f"v.{names.column(total.measure.name)}"
    if total.measure.sql is None:
        raise ValueError(f"{total.column}: label counts come from the matured label table only")
    return total.measure.sql.format_map(_QuotedColumns(names.column))


def _group_query(group: GroupTotalsRequest, day: date, names: SqlNames) -> Query:
    c = names.column
    entity = c(group.entity)
    table, day_column = (
        (names.validated, c(PARTITION_DATE))
        if group.source is TotalsSource.VALIDATED
        else (names.matured, c(TRANSACTION_DAY))
    )
    parts = [
        f"SUM(CASE WHEN v.{day_column} >= CAST(? AS DATE) THEN "
        f"{_measure_sql(total, group.source, names)} ELSE 0 END) AS {c(total.column)}"
        for total in group.totals
    ]
    params: list[object] = [_day(total.first_day) for total in group.totals]
    if group.last_seen:
        parts.append(f"MAX(v.{c(TX_DATETIME)}) AS {c(LAST_TX_DATETIME)}")
    sql = (
        f"SELECT v.{entity} AS {entity}, {', '.join(parts)} FROM {table} v "
        f"WHERE v.{day_column} >= CAST(? AS DATE) AND v.{day_column} < CAST(? AS DATE) "
        f"AND v.{entity} IN (SELECT {entity} FROM {names.validated} "
        f"WHERE {c(PARTITION_DATE)} = CAST(? AS DATE)) GROUP BY v.{entity}"
    )
    return sql, [*params, _day(group.first_day), _day(group.end_day), _day(day)]


def _pairs_query(request: WindowTotalsRequest, names: SqlNames) -> Query:
    c = names.column
    pd_, cust, term, v = c(PARTITION_DATE), c(CUSTOMER_ID), c(TERMINAL_ID), names.validated
    sql = (
        f"SELECT v.{cust} AS {cust}, v.{term} AS {term}, MAX(v.{c(TX_DATETIME)}) AS "
        f"{c(LAST_TX_DATETIME)} FROM {v} v JOIN (SELECT DISTINCT {cust}, {term} FROM {v} "
        f"WHERE {pd_} = CAST(? AS DATE)) t ON t.{cust} = v.{cust} AND t.{term} = v.{term} "
        f"WHERE v.{pd_} >= CAST(? AS DATE) AND v.{pd_} < CAST(? AS DATE) "
        f"GROUP BY v.{cust}, v.{term}"
    )
    return sql, [_day(request.day), _day(request.lookback_start), _day(request.day)]


def totals_queries(
    request: WindowTotalsRequest, names: SqlNames, *, with_matured: bool = True
) -> dict[str, Query]:
    """The aggregate queries with their parameters: one per window group, and the pairs.

    ``with_matured=False`` leaves out the groups totalled from the matured label table (it does
    not exist yet: no terminal has label history).
    """
    queries = {
        group.group: _group_query(group, request.day, names)
        for group in request.groups
        if with_matured or group.source is not TotalsSource.MATURED
    }
    queries[PAIRS] = _pairs_query(request, names)
    return queries


def totals_from_frames(
    request: WindowTotalsRequest, frames: dict[str, pd.DataFrame]
) -> WindowTotals:
    """The totals from the frames the queries returned (missing groups are empty)."""
    empty = empty_totals(request)
    return WindowTotals(
        groups={name: frames.get(name, frame) for name, frame in empty.groups.items()},
        pairs=frames.get(PAIRS, empty.pairs),
    )
