"""Monitoring over time as charts: score and feature PSI, realised precision (matplotlib).

Each chart reads the rows a monitoring table holds for a span of days (one row per day, or per
feature and day) and is drawn with matplotlib's object API (no global pyplot state; matplotlib is
imported only when a chart is drawn). :func:`chart_markdown` embeds a figure as a base64 PNG in
Markdown, :func:`history_markdown` gives the plotted numbers as a Markdown table, so a UI that
renders Markdown shows both.

Days whose number was not measured (PSI not computed, no labelled alert) are gaps in the line and
``n/a`` in the table, never 0. Realised precision is drawn solid where the day's labels matured and
hollow and dashed where it is still provisional (labels not all known yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fraud_core.monitoring.reporting import markdown_table
from fraud_core.report.charts import png_base64

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "CHART_FEATURES",
    "DAY",
    "chart_markdown",
    "feature_psi_chart",
    "history_markdown",
    "precision_chart",
    "psi_chart",
    "top_features",
]

DAY = "day"
"""The monitored day: the column every monitoring table carries."""
_PSI = "psi"
_FEATURE = "feature"
_CARD_PRECISION = "card_precision_at_k"
_PRECISION = "precision"
_MATURE = "labels_mature"
CHART_FEATURES = 5
"""Features a feature-drift chart draws: those with the highest PSI over the span."""
_SIZE = (8.0, 2.8)


def _by_day(rows: pd.DataFrame, numbers: Sequence[str], others: Sequence[str] = ()) -> pd.DataFrame:
    """``rows`` sorted by day, the day as a timestamp, ``numbers`` as floats (NaN: not measured)."""
    columns = [DAY, *numbers, *others]
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise KeyError(f"monitoring rows lack the column(s) {missing}")
    out = rows.loc[:, columns].copy()
    out[DAY] = pd.to_datetime(out[DAY])
    for column in numbers:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out.sort_values(DAY, kind="stable").reset_index(drop=True)


def _figure(title: str) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=_SIZE)
    ax = fig.add_subplot()
    ax.set_title(title, loc="left", fontsize=10)
    ax.grid(alpha=0.3)
    return fig, ax


def _dated(fig: Figure) -> Figure:
    """``fig`` with its day labels slanted so that a month of days stays readable."""
    fig.autofmt_xdate(rotation=30)
    return fig


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} measured yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _limit(ax: Axes, label: str, value: float) -> None:
    """A dashed horizontal line at ``value``, labelled at its right end."""
    ax.axhline(value, color="#e45756", linestyle="--", linewidth=1)
    ax.annotate(
        f"{label} {value:g}",
        xy=(1.0, value),
        xycoords=("axes fraction", "data"),
        xytext=(-4, 2),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=8,
        color="#e45756",
    )


def _legend(ax: Axes) -> None:
    """The legend to the right of the plot, clear of the lines."""
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def psi_chart(rows: pd.DataFrame, *, threshold: float, title: str = "Score PSI by day") -> Figure:
    """PSI by day (``day``, ``psi``; NaN where not computed) against the drift threshold."""
    history = _by_day(rows, [_PSI])
    fig, ax = _figure(title)
    if history[_PSI].notna().sum() == 0:
        _no_data(ax, "PSI")
        return fig
    ax.plot(history[DAY], history[_PSI], marker="o", markersize=4, color="#4c78a8", label="PSI")
    _limit(ax, "threshold", threshold)
    ax.set_ylim(bottom=0, top=max(threshold, float(history[_PSI].max())) * 1.15)
    ax.set_ylabel("PSI")
    return _dated(fig)


def top_features(rows: pd.DataFrame, top: int = CHART_FEATURES) -> pd.DataFrame:
    """The feature drift rows (``day``, ``feature``, ``psi``) of the ``top`` features with the
    highest PSI over the span, highest first, each feature's days in order."""
    history = _by_day(rows, [_PSI], [_FEATURE])
    peaks = history.groupby(_FEATURE)[_PSI].max().dropna()
    chosen = list(peaks.sort_values(ascending=False, kind="stable").index[:top])
    kept = history[history[_FEATURE].isin(chosen)].copy()
    kept["rank"] = kept[_FEATURE].map({feature: i for i, feature in enumerate(chosen)})
    kept = kept.sort_values(["rank", DAY], kind="stable")
    return kept.drop(columns="rank").reset_index(drop=True)


def feature_psi_chart(rows: pd.DataFrame, *, threshold: float, top: int = CHART_FEATURES) -> Figure:
    """PSI by day of the ``top`` features that drifted most over the span (rows per feature, day)."""
    history = top_features(rows, top)
    fig, ax = _figure(f"Feature PSI by day (the {top} features that drifted most)")
    if history.empty:
        _no_data(ax, "feature PSI")
        return fig
    for feature, line in history.groupby(_FEATURE, sort=False):
        ax.plot(line[DAY], line[_PSI], marker="o", markersize=3, label=str(feature))
    _limit(ax, "threshold", threshold)
    ax.set_ylim(bottom=0, top=max(threshold, float(history[_PSI].max())) * 1.15)
    ax.set_ylabel("PSI")
    _legend(ax)
    return _dated(fig)


def precision_chart(rows: pd.DataFrame, *, floor: float, k: int | None = None) -> Figure:
    """Realised card precision@k by day, solid where labels matured, hollow where provisional;
    transaction precision at the threshold in a lighter line; the precision floor marked."""
    history = _by_day(rows, [_CARD_PRECISION, _PRECISION], [_MATURE])
    at_k = f"card precision@{k}" if k else "card precision@k"
    fig, ax = _figure(f"Realised precision by day ({at_k})")
    if history[[_CARD_PRECISION, _PRECISION]].notna().to_numpy().sum() == 0:
        _no_data(ax, "precision")
        return fig
    mature = history[_MATURE].eq(True).to_numpy()  # NULL: not mature
    ax.plot(history[DAY], history[_CARD_PRECISION], color="#4c78a8", linestyle=":", linewidth=1)
    solid = np.where(mature, history[_CARD_PRECISION], np.nan)
    ax.plot(history[DAY], solid, marker="o", markersize=4, color="#4c78a8", label=at_k)
    provisional = history.loc[~mature]
    ax.scatter(
        provisional[DAY],
        provisional[_CARD_PRECISION],
        s=18,
        facecolors="white",
        edgecolors="#4c78a8",
        zorder=3,
        label="provisional (labels not mature)",
    )
    ax.plot(
        history[DAY],
        history[_PRECISION],
        color="#72b7b2",
        linewidth=1,
        marker=".",
        label="precision at the alert threshold",
    )
    _limit(ax, "floor", floor)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("precision")
    _legend(ax)
    return _dated(fig)


def chart_markdown(fig: Figure, alt: str) -> str:
    """``fig`` as a Markdown image (an inline base64 PNG) with ``alt`` as its text."""
    return f"![{alt}](data:image/png;base64,{png_base64(fig)})"


def history_markdown(rows: pd.DataFrame, numbers: Sequence[str], others: Sequence[str] = ()) -> str:
    """The plotted numbers as a Markdown table: ``day``, ``numbers`` and ``others``, oldest first."""
    history = _by_day(rows, numbers, others)
    history[DAY] = history[DAY].dt.date
    return markdown_table(history)
