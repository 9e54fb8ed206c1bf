"""The report rendered as one self-contained HTML page (inline CSS, base64 PNG charts)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from fraud_core.columns import CUSTOMER_ID, TERMINAL_ID
from fraud_core.report.charts import alerts_chart, histogram_chart, png_base64, trend_chart
from fraud_core.report.compute import TRAILING_DAYS, DailyReport
from fraud_core.report.formatting import (
    NA,
    Col,
    alert_cols,
    entity_cols,
    fmt_pct,
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

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BASE_CSS", "render_html"]

BASE_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: #1f2933; background: #f5f7fa; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 32px 0 8px; border-bottom: 2px solid #d9e2ec; padding-bottom: 4px; }
.sub { color: #52606d; margin: 0 0 16px; }
"""
"""The page style every HTML page of fraud_core shares (the report, the model card)."""

_CSS = (
    BASE_CSS
    + """
.notes { background: #fff8e1; border-left: 4px solid #f0b429; padding: 8px 16px; margin: 16px 0; }
.notes li { margin: 4px 0; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 12px; }
.kpi { background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 3px #0002; }
.kpi .t { color: #52606d; font-size: 0.85rem; }
.kpi .v { font-size: 1.5rem; font-weight: 600; margin: 4px 0; font-variant-numeric: tabular-nums; }
.kpi .d { color: #7b8794; font-size: 0.8rem; }
table { border-collapse: collapse; background: #fff; width: 100%; margin: 8px 0;
  font-size: 0.9rem; box-shadow: 0 1px 3px #0002; }
th, td { padding: 6px 10px; border-bottom: 1px solid #e4e7eb; text-align: left; }
th { background: #f0f4f8; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.today td { font-weight: 600; background: #e3f2fd; }
.chart { background: #fff; border-radius: 8px; padding: 8px; box-shadow: 0 1px 3px #0002; }
.chart img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
.muted { color: #7b8794; }
footer { color: #7b8794; font-size: 0.8rem; margin-top: 32px; }
@media print { body { background: #fff; } .kpi, table, .chart { box-shadow: none; } }
"""
)


_FOOTER = (
    "<footer>Scores are calibrated fraud probabilities; expected values are sums of "
    "score &times; amount. A card is one customer; its score is the maximum of its "
    "transactions' scores that day. Realised figures use only labels known at report "
    "time.</footer>"
)


def _h(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _html_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Sequence[bool],
    highlight_last: bool = False,
) -> str:
    def cls(r: bool) -> str:
        return ' class="num"' if r else ""

    head = "".join(f"<th{cls(r)}>{_h(h)}</th>" for h, r in zip(headers, right, strict=True))
    body = []
    for i, row in enumerate(rows):
        tr = '<tr class="today">' if highlight_last and i == len(rows) - 1 else "<tr>"
        cells = "".join(f"<td{cls(r)}>{_h(c)}</td>" for c, r in zip(row, right, strict=True))
        body.append(f"{tr}{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _html_frame(frame: pd.DataFrame, cols: list[Col], highlight_last: bool = False) -> str:
    return _html_table(*frame_cells(frame, cols), highlight_last=highlight_last)


def _img(fig: Figure, alt: str) -> str:
    return (
        f'<div class="chart"><img alt="{_h(alt)}" '
        f'src="data:image/png;base64,{png_base64(fig)}"></div>'
    )


def _muted(text: str) -> str:
    return f'<p class="muted">{text}</p>'


def _header(report: DailyReport) -> list[str]:
    day = report.day.isoformat()
    versions = ", ".join(report.headline.model_versions) or NA
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Daily fraud report {_h(day)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>Daily fraud report: {_h(day)} (UTC)</h1>",
        f'<p class="sub">Model version(s): {_h(versions)} &middot; alert budget '
        f"{report.alert_budget:,} cards &middot; threshold {report.threshold:g} &middot; "
        f"amounts in {_h(report.currency)}</p>",
    ]
    if report.notes:
        items = "".join(f"<li>{_h(note)}</li>" for note in report.notes)
        parts.append(f'<div class="notes"><ul>{items}</ul></div>')
    return parts


def _kpi_tiles(report: DailyReport) -> str:
    tiles = "".join(
        f'<div class="kpi"><div class="t">{_h(t)}</div><div class="v">{_h(v)}</div>'
        f'<div class="d">{_h(d)}</div></div>'
        for t, v, d in kpis(report)
    )
    return f'<div class="kpis">{tiles}</div>'


def _score_distribution(report: DailyReport) -> list[str]:
    if report.is_empty:
        return [_muted("No scores on this day.")]
    return [
        f"<p>Scores: {_h(score_line(report))}.</p>",
        _img(histogram_chart(report), "Histogram of fraud scores, log scale"),
    ]


def _alerts(report: DailyReport) -> list[str]:
    if report.alerts.empty:
        return [_muted("No alerts.")]
    s, n = report.headline, report.top_n
    shown = min(n, len(report.alerts))
    return [
        f"<p>Cards ranked by their highest transaction score of the day; showing {shown:,} "
        f"of {len(report.alerts):,} alerted cards. Expected precision "
        f"{_h(fmt_pct(s.expected_precision))}, realised precision "
        f"{_h(fmt_pct(s.realised_precision))} ({s.n_alerted_cards_labelled:,} alerted "
        f"cards with a known label).</p>",
        _img(alerts_chart(report), "Scores of the top alerted cards"),
        _html_frame(alert_rows(report), alert_cols(report.currency)),
    ]


def _top_entities(frame: pd.DataFrame, cols: list[Col], empty: str) -> str:
    return _muted(empty) if frame.empty else _html_frame(frame, cols)


def _trailing(report: DailyReport) -> list[str]:
    parts = [
        _img(trend_chart(report), "Transactions and threshold alerts per day"),
        _html_frame(trend_with_day(report), trend_cols(report.currency), highlight_last=True),
    ]
    if report.missing_days:
        days = ", ".join(d.isoformat() for d in report.missing_days)
        parts.append(_muted(f"Days with no data (omitted): {_h(days)}."))
    right = [False] + [True] * 5
    parts.append(_html_table(COMPARISON_HEADERS, comparison_cells(report), right))
    return parts


def render_html(report: DailyReport) -> str:
    """Render the report as one self-contained HTML page (inline CSS, base64 PNG charts)."""
    cur, n = report.currency, report.top_n
    parts = _header(report)
    parts.append(_kpi_tiles(report))
    parts.append("<h2>Score distribution</h2>")
    parts += _score_distribution(report)
    parts.append(f"<h2>Alerts at the budget ({report.alert_budget:,} cards)</h2>")
    parts += _alerts(report)
    parts.append(f"<h2>Top {n} terminals by expected fraud amount</h2>")
    parts.append(
        _top_entities(
            report.top_terminals, entity_cols(TERMINAL_ID, "Terminal", cur, False), "No terminals."
        )
    )
    parts.append(f"<h2>Top {n} customers by expected fraud amount</h2>")
    parts.append(
        _top_entities(
            report.top_customers, entity_cols(CUSTOMER_ID, "Customer", cur, True), "No customers."
        )
    )
    parts.append(f"<h2>Trailing {TRAILING_DAYS} days</h2>")
    parts += _trailing(report)
    parts.append(_FOOTER)
    parts.append("</main></body></html>")
    return "\n".join(parts)
