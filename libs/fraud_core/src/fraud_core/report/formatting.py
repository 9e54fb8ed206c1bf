"""Value formatters and the column specs of the report's tables, shared by both renderers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd

from fraud_core.columns import (
    ALERT_RANK,
    CUSTOMER_ID,
    EXPECTED_FRAUD_AMOUNT,
    MAX_SCORE,
    N_TRANSACTIONS,
    TOTAL_AMOUNT,
)

__all__ = [
    "NA",
    "REASONS",
    "Col",
    "alert_cols",
    "entity_cols",
    "fmt_bool",
    "fmt_delta",
    "fmt_int",
    "fmt_label",
    "fmt_money",
    "fmt_pct",
    "fmt_ratio",
    "fmt_score",
    "fmt_share",
    "fmt_text",
    "frame_cells",
    "is_missing",
    "metric_formatter",
    "trend_cols",
]

NA = "n/a"
REASONS = "reasons"
"""The rendered alert table's column with an alert's reasons in one line (not a stored column)."""

# A column of a rendered table: (source column, header, formatter, right-aligned).
Col = tuple[str, str, Callable[[Any], str], bool]


def is_missing(value: Any) -> bool:
    """Whether ``value`` is None or NA/NaN (a string never is)."""
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def fmt_int(value: Any) -> str:
    """An integer with thousands separators."""
    return NA if is_missing(value) else f"{int(value):,}"


def fmt_money(value: Any) -> str:
    """An amount with thousands separators and two decimals."""
    return NA if is_missing(value) else f"{float(value):,.2f}"


def fmt_pct(value: Any) -> str:
    """A share as a percentage with one decimal."""
    return NA if is_missing(value) else f"{float(value):.1%}"


def fmt_share(value: Any) -> str:
    """A share as a percentage, with two decimals below 1%."""
    if is_missing(value):
        return NA
    return f"{float(value):.2%}" if 0 < float(value) < 0.01 else f"{float(value):.1%}"


def fmt_score(value: Any) -> str:
    """A score with four decimals."""
    return NA if is_missing(value) else f"{float(value):.4f}"


def fmt_ratio(value: Any) -> str:
    """A ratio as a multiplier (a multiplication sign, then two decimals)."""
    return NA if is_missing(value) else f"\u00d7{float(value):,.2f}"  # multiplication sign


def fmt_label(value: Any) -> str:
    """A 0/1/NA label as genuine/fraud/unknown."""
    if is_missing(value):
        return "unknown"
    return "fraud" if int(value) == 1 else "genuine"


def fmt_text(value: Any) -> str:
    """A value as plain text."""
    return NA if is_missing(value) else str(value)


def fmt_bool(value: Any) -> str:
    """A flag as "yes" or blank."""
    return "yes" if bool(value) else ""


def _fmt_day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else fmt_text(value)


def _fmt_mean(value: Any) -> str:
    return NA if is_missing(value) else f"{float(value):,.1f}"


def metric_formatter(metric: str, is_mean: bool) -> Callable[[Any], str]:
    """The formatter of a compared metric's day value (or trailing mean)."""
    if metric == "amount":
        return fmt_money
    if metric.endswith("precision"):
        return fmt_pct
    if metric == "score_mean":
        return fmt_score
    if not is_mean:
        return fmt_int
    return _fmt_mean


def fmt_delta(metric: str, value: Any) -> str:
    """A compared metric's signed difference (percentage points for precisions)."""
    if is_missing(value):
        return NA
    if metric.endswith("precision"):
        return f"{float(value) * 100:+.1f} pp"
    if metric == "score_mean":
        return f"{float(value):+.4f}"
    if metric == "amount":
        return f"{float(value):+,.2f}"
    return f"{float(value):+,.1f}"


def alert_cols(currency: str) -> list[Col]:
    """Columns of the alerts table (``reasons``: the top transaction's reasons in one line)."""
    return [
        (ALERT_RANK, "#", fmt_int, True),
        (CUSTOMER_ID, "Card (customer)", fmt_text, False),
        (MAX_SCORE, "Max score", fmt_score, True),
        (N_TRANSACTIONS, "Transactions", fmt_int, True),
        (TOTAL_AMOUNT, f"Amount ({currency})", fmt_money, True),
        (EXPECTED_FRAUD_AMOUNT, f"Expected fraud ({currency})", fmt_money, True),
        ("card_fraud", "Label", fmt_label, False),
        (REASONS, "Why flagged (top transaction)", fmt_text, False),
    ]


def entity_cols(key: str, title: str, currency: str, alerted: bool) -> list[Col]:
    """Columns of a top-terminals or top-customers table keyed by ``key``."""
    cols: list[Col] = [
        (key, title, fmt_text, False),
        ("n_transactions", "Transactions", fmt_int, True),
        ("amount", f"Amount ({currency})", fmt_money, True),
        ("max_score", "Max score", fmt_score, True),
        ("mean_score", "Mean score", fmt_score, True),
        ("expected_fraud_amount", f"Expected fraud ({currency})", fmt_money, True),
        ("n_fraud", "Known frauds", fmt_int, True),
    ]
    if alerted:
        cols.append(("alerted", "Alerted", fmt_bool, False))
    return cols


def trend_cols(currency: str) -> list[Col]:
    """Columns of the trailing-days trend table."""
    return [
        ("day", "Day", _fmt_day, False),
        ("n_transactions", "Transactions", fmt_int, True),
        ("amount", f"Amount ({currency})", fmt_money, True),
        ("score_mean", "Mean score", fmt_score, True),
        ("alerts_threshold_tx", "Tx ≥ threshold", fmt_int, True),
        ("alerts_threshold_cards", "Cards ≥ threshold", fmt_int, True),
        ("expected_precision", "Expected precision", fmt_pct, True),
        ("realised_precision", "Realised precision", fmt_pct, True),
        ("n_alerted_cards_labelled", "Alerted cards labelled", fmt_int, True),
    ]


def frame_cells(
    frame: pd.DataFrame, cols: list[Col]
) -> tuple[list[str], list[list[str]], list[bool]]:
    """(headers, formatted rows, right-aligned flags) of ``frame`` shown as ``cols``."""
    rows = [[fmt(rec[c]) for c, _, fmt, _ in cols] for rec in frame.to_dict("records")]
    return [h for _, h, _, _ in cols], rows, [r for *_, r in cols]
