"""The report rendered as a Markdown document."""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd

from fraud_core.columns import CUSTOMER_ID, TERMINAL_ID
from fraud_core.report.compute import TRAILING_DAYS, DailyReport
from fraud_core.report.formatting import (
    NA,
    Col,
    alert_cols,
    entity_cols,
    fmt_int,
    fmt_share,
    frame_cells,
    trend_cols,
)
from fraud_core.report.sections import (
    COMPARISON_HEADERS,
    alert_rows,
    comparison_cells,
    kpis,
    score_line,
    trend_with_day,
)

__all__ = ["render_markdown"]

_MD_SPECIALS = str.maketrans({c: "\\" + c for c in "\\`*_[]|"})


def _md(text: str) -> str:
    """Escape text for a Markdown table cell (HTML-escaped, Markdown specials backslashed)."""
    flat = " ".join(str(text).split())
    return html.escape(flat, quote=False).translate(_MD_SPECIALS)


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    lines = ["| " + " | ".join(_md(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---:" if r else ":---" for r in right) + "|")
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_frame(frame: pd.DataFrame, cols: list[Col]) -> str:
    return _md_table(*frame_cells(frame, cols))


def _header(report: DailyReport) -> list[str]:
    versions = ", ".join(report.headline.model_versions) or NA
    out = [f"# Daily fraud report: {report.day.isoformat()} (UTC)", ""]
    out.append(
        f"Model version(s): {_md(versions)}. Alert budget: {report.alert_budget:,} cards. "
        f"Threshold: {report.threshold:g}. Amounts in {_md(report.currency)}."
    )
    out.append("")
    if report.notes:
        out += ["**Notes**", ""]
        out += [f"- {_md(note)}" for note in report.notes]
        out.append("")
    return out


def _score_distribution(report: DailyReport) -> list[str]:
    if report.is_empty:
        return ["No scores on this day."]
    hist = report.score_histogram[report.score_histogram["count"] > 0]
    rows = [
        [
            f"{r.bin_left:.2f} to {r.bin_right:.2f}",
            fmt_int(r.count),
            fmt_share(r.share),
            fmt_int(r.n_fraud_labelled),
        ]
        for r in hist.itertuples(index=False)
    ]
    table = _md_table(
        ["Score bin (lower edge included)", "Transactions", "Share", "Known frauds"],
        rows,
        [False, True, True, True],
    )
    return [f"Scores: {score_line(report)}.", "", table]


def _alerts(report: DailyReport) -> list[str]:
    if report.alerts.empty:
        return ["No alerts."]
    n, total = report.top_n, len(report.alerts)
    return [
        f"Showing {min(n, total):,} of {total:,} alerted cards.",
        "",
        _md_frame(alert_rows(report), alert_cols(report.currency)),
    ]


def _top_entities(frame: pd.DataFrame, cols: list[Col], empty: str) -> list[str]:
    return [empty] if frame.empty else [_md_frame(frame, cols)]


def _trailing(report: DailyReport) -> list[str]:
    out = [_md_frame(trend_with_day(report), trend_cols(report.currency)), ""]
    if report.missing_days:
        out.append(
            "Days with no data (omitted): "
            + ", ".join(d.isoformat() for d in report.missing_days)
            + "."
        )
        out.append("")
    out.append(_md_table(COMPARISON_HEADERS, comparison_cells(report), [False] + [True] * 5))
    out.append("")
    return out


def render_markdown(report: DailyReport) -> str:
    """Render the report as a Markdown document (tables limited to ``top_n`` rows)."""
    cur, n = report.currency, report.top_n
    out = _header(report)
    out += ["## Headline", ""]
    out.append(_md_table(["Metric", "Value", "Detail"], kpis(report), [False, True, False]))
    out += ["", "## Score distribution", ""]
    out += _score_distribution(report)
    out += ["", f"## Alerts at the budget ({report.alert_budget:,} cards)", ""]
    out += _alerts(report)
    out += ["", f"## Top {n} terminals by expected fraud amount", ""]
    out += _top_entities(
        report.top_terminals, entity_cols(TERMINAL_ID, "Terminal", cur, False), "No terminals."
    )
    out += ["", f"## Top {n} customers by expected fraud amount", ""]
    out += _top_entities(
        report.top_customers, entity_cols(CUSTOMER_ID, "Customer", cur, True), "No customers."
    )
    out += ["", f"## Trailing {TRAILING_DAYS} days", ""]
    out += _trailing(report)
    return "\n".join(out)
