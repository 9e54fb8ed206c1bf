"""Content of the report's sections as plain (unescaped) text, shared by both renderers."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import pandas as pd

from fraud_core.columns import REASON_COUNT, reason_feature, reason_text, reason_value
from fraud_core.report.compute import DailyReport, trailing_frame
from fraud_core.report.formatting import (
    NA,
    REASONS,
    fmt_delta,
    fmt_int,
    fmt_money,
    fmt_pct,
    fmt_ratio,
    fmt_score,
    is_missing,
    metric_formatter,
)

__all__ = [
    "COMPARISON_HEADERS",
    "alert_rows",
    "comparison_cells",
    "kpis",
    "reason_line",
    "score_line",
    "trend_with_day",
]

COMPARISON_HEADERS = ["Metric", "Day", "7-day mean", "Days in mean", "Delta", "Ratio"]


def trend_with_day(report: DailyReport) -> pd.DataFrame:
    """Trailing rows followed by the report day's row (the day last, even when empty)."""
    day_row = trailing_frame([report.headline])
    if report.trailing.empty:
        return day_row
    return pd.concat([report.trailing, day_row], ignore_index=True)


def comparison_cells(report: DailyReport) -> list[list[str]]:
    """Rows of the day-versus-trailing-mean table, under :data:`COMPARISON_HEADERS`."""
    cells = []
    for rec in report.comparison.itertuples(index=False):
        cells.append(
            [
                str(rec.label),
                metric_formatter(str(rec.metric), is_mean=False)(rec.day_value),
                metric_formatter(str(rec.metric), is_mean=True)(rec.trailing_mean),
                fmt_int(rec.n_days),
                fmt_delta(str(rec.metric), rec.delta),
                fmt_ratio(rec.ratio),
            ]
        )
    return cells


def _realised_detail(report: DailyReport) -> str:
    s = report.headline
    if s.realised_precision is None:
        return "no alerted card has a known label yet" if s.alerts_budget else "no alerts"
    return f"{s.n_alerted_cards_labelled:,} of {s.alerts_budget:,} alerted cards labelled"


def _caught(report: DailyReport) -> tuple[str, str]:
    s, cur = report.headline, report.currency
    if s.fraud_amount_caught is None:
        return NA, "labels not known yet"
    return (
        f"{fmt_money(s.fraud_amount_caught)} {cur}",
        f"of {fmt_money(s.fraud_amount_known)} {cur} known fraud",
    )


def kpis(report: DailyReport) -> list[tuple[str, str, str]]:
    """(title, value, detail) of the headline tiles, as plain (unescaped) text."""
    s, cur = report.headline, report.currency
    return [
        ("Transactions scored", fmt_int(s.n_transactions), f"{s.n_cards:,} cards"),
        ("Amount scored", f"{fmt_money(s.amount)} {cur}", f"{s.n_terminals:,} terminals"),
        (
            "Card alerts (budget)",
            fmt_int(s.alerts_budget),
            f"budget {report.alert_budget:,}; {fmt_money(s.alerted_amount)} {cur}",
        ),
        (
            f"Alerts at score ≥ {report.threshold:g}",
            f"{s.alerts_threshold_tx:,} tx",
            f"{s.alerts_threshold_cards:,} cards",
        ),
        ("Expected precision", fmt_pct(s.expected_precision), "mean score of alerted cards"),
        ("Realised precision", fmt_pct(s.realised_precision), _realised_detail(report)),
        ("Fraud amount caught", *_caught(report)),
        (
            "Expected fraud amount",
            f"{fmt_money(s.expected_fraud_amount)} {cur}",
            f"{fmt_money(s.expected_fraud_amount_alerted)} {cur} on alerted cards",
        ),
    ]


def score_line(report: DailyReport) -> str:
    """The day's score mean and quantiles in one line."""
    s = report.headline
    return (
        f"mean {fmt_score(s.score_mean)}, median {fmt_score(s.score_median)}, "
        f"p95 {fmt_score(s.score_p95)}, p99 {fmt_score(s.score_p99)}"
    )


def _reason(alert: Mapping[Hashable, Any], rank: int) -> str | None:
    """Reason ``rank`` in words; the feature and its value where no words were stored."""
    text, feature = alert.get(reason_text(rank)), alert.get(reason_feature(rank))
    if not is_missing(text):
        return str(text)
    if is_missing(feature):
        return None
    value: Any = alert.get(reason_value(rank))
    return str(feature) if is_missing(value) else f"{feature} = {float(value):.4g}"


def reason_line(alert: Mapping[Hashable, Any]) -> str:
    """An alert's reasons in one line, strongest first ("n/a" when none was computed)."""
    reasons = [_reason(alert, rank) for rank in range(1, REASON_COUNT + 1)]
    return "; ".join(r for r in reasons if r) or NA


def alert_rows(report: DailyReport) -> pd.DataFrame:
    """The alerts the renderers show (the first ``top_n``), with their reasons in one line."""
    shown = report.alerts.head(report.top_n)
    return shown.assign(**{REASONS: [reason_line(a) for a in shown.to_dict("records")]})
