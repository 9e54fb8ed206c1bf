"""The report's matplotlib figures (matplotlib is imported only when a chart is drawn)."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from fraud_core.columns import CUSTOMER_ID, MAX_SCORE
from fraud_core.report.compute import TRAILING_DAYS, DailyReport
from fraud_core.report.formatting import is_missing
from fraud_core.report.sections import trend_with_day

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["alerts_chart", "histogram_chart", "png_base64", "trend_chart"]


def png_base64(fig: Figure) -> str:
    """The figure as a base64 PNG (no software metadata, so the bytes are reproducible)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _short(value: Any, width: int = 24) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def histogram_chart(report: DailyReport) -> Figure:
    """Bars of the day's score histogram (log scale), known frauds overlaid, threshold marked."""
    from matplotlib.figure import Figure

    hist = report.score_histogram
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    widths = hist["bin_right"] - hist["bin_left"]
    ax.bar(
        hist["bin_left"],
        hist["count"],
        width=widths,
        align="edge",
        color="#4c78a8",
        edgecolor="white",
        label="all scored transactions",
    )
    if hist["n_fraud_labelled"].sum() > 0:
        ax.bar(
            hist["bin_left"],
            hist["n_fraud_labelled"],
            width=widths,
            align="edge",
            color="#e45756",
            edgecolor="white",
            label="known fraud",
        )
    ax.set_yscale("log", nonpositive="clip")
    ax.set_ylim(bottom=0.8)
    ax.axvline(report.threshold, color="#333", linestyle="--", linewidth=1)
    ax.text(
        report.threshold,
        1.0,
        f" threshold {report.threshold:g}",
        transform=ax.get_xaxis_transform(),
        va="top",
        ha="left",
        fontsize=8,
        parse_math=False,
    )
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraud score")
    ax.set_ylabel("transactions (log scale)")
    ax.set_title(f"Score distribution, {report.day.isoformat()}", loc="left", fontsize=10)
    ax.legend(fontsize=8, loc="upper right", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def trend_chart(report: DailyReport) -> Figure:
    """Transactions per day (bars) and cards at the threshold (line), trailing days and the day."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    trend = trend_with_day(report).set_index("day")
    days = [report.day - timedelta(days=TRAILING_DAYS - i) for i in range(TRAILING_DAYS + 1)]
    x = np.arange(len(days))
    present = [d in trend.index for d in days]
    tx_by_day = trend["n_transactions"].astype("float64").to_dict()
    alerts_by_day = trend["alerts_threshold_cards"].astype("float64").to_dict()
    n_tx = [tx_by_day[d] if p else 0.0 for d, p in zip(days, present, strict=True)]
    alerts = [alerts_by_day[d] if p else np.nan for d, p in zip(days, present, strict=True)]
    colors = ["#4c78a8"] * TRAILING_DAYS + ["#f58518"]
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    ax.bar(x, n_tx, color=colors, label="transactions scored")
    top = max(n_tx) if max(n_tx) > 0 else 1.0
    for xi, p in zip(x, present, strict=True):
        if not p:
            ax.text(
                float(xi),
                top * 0.02,
                "no data",
                ha="center",
                va="bottom",
                fontsize=8,
                color="#7b8794",
                rotation=90,
                parse_math=False,
            )
    ax.set_ylim(0, top * 1.15)
    ax.set_ylabel("transactions")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xticks(x, [d.strftime("%a %d %b") for d in days], fontsize=8)
    ax2 = ax.twinx()
    ax2.plot(x, alerts, color="#e45756", marker="o", label=f"cards ≥ {report.threshold:g}")
    ax2.set_ylabel("cards at threshold", color="#e45756")
    ax2.set_ylim(0, max(np.nanmax(alerts), 1.0) * 1.25 if any(present) else 1.0)
    ax2.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax.legend(
        handles,
        labels,
        fontsize=8,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=2,
        frameon=False,
    )
    ax.set_title(
        f"Trailing {TRAILING_DAYS} days and the report day (orange)", loc="left", fontsize=10
    )
    ax.grid(axis="y", alpha=0.3)
    return fig


def alerts_chart(report: DailyReport) -> Figure:
    """Horizontal bars of the top alerted cards' scores, coloured by their label."""
    from matplotlib.figure import Figure

    top = report.alerts.head(report.top_n)
    palette = {1: "#e45756", 0: "#9aa5b1"}
    colors = ["#4c78a8" if is_missing(v) else palette[int(v)] for v in top["card_fraud"].tolist()]
    fig = Figure(figsize=(9, 0.5 + 0.32 * max(len(top), 3)))
    ax = fig.add_subplot()
    y = np.arange(len(top))
    ax.barh(y, top[MAX_SCORE], color=colors)
    # Ids are data: escape "$" so matplotlib never parses them as mathtext.
    ids = [_short(c).replace("$", r"\$") for c in top[CUSTOMER_ID].tolist()]
    ax.set_yticks(y, ids, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.axvline(report.threshold, color="#333", linestyle="--", linewidth=1)
    ax.set_xlabel("card score (max of the day's transaction scores)")
    ax.set_title(
        f"Top {len(top)} alerted cards (red: fraud, grey: genuine, blue: label unknown)",
        loc="left",
        fontsize=10,
    )
    ax.grid(axis="x", alpha=0.3)
    return fig
