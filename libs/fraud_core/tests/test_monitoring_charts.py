"""Monitoring charts: PSI and realised precision by day, drawn from monitoring table rows."""

import base64
import math
import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from fraud_core.monitoring.charts import (
    chart_markdown,
    feature_psi_chart,
    history_markdown,
    precision_chart,
    psi_chart,
    top_features,
)

FIRST = date(2025, 3, 1)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _days(n: int) -> list[date]:
    return [FIRST + timedelta(days=i) for i in range(n)]


def _png(markdown: str) -> bytes:
    match = re.fullmatch(r"!\[([^\]]*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match is not None, markdown[:80]
    return base64.b64decode(match.group(2))


def _line_values(fig, index: int = 0) -> np.ndarray:
    return np.asarray(fig.axes[0].lines[index].get_ydata(), dtype=float)


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]  # annotations included


def test_psi_chart_plots_each_day_in_order_with_gaps_and_the_threshold() -> None:
    days = _days(4)
    rows = pd.DataFrame({"day": days[::-1], "psi": [0.30, 0.05, math.nan, 0.02]})
    fig = psi_chart(rows, threshold=0.2)
    line = _line_values(fig)
    # oldest day first; the day whose PSI was not computed is a gap (NaN), never 0
    assert line[[0, 2, 3]] == pytest.approx([0.02, 0.05, 0.30])
    assert math.isnan(line[1])
    threshold = fig.axes[0].lines[1]
    assert list(threshold.get_ydata()) == [0.2, 0.2]
    assert fig.axes[0].get_ylim()[1] >= 0.30


def test_charts_say_when_nothing_was_measured() -> None:
    rows = pd.DataFrame({"day": _days(2), "psi": [math.nan, math.nan]})
    assert _texts(psi_chart(rows, threshold=0.2)) == ["no PSI measured yet"]
    perf = pd.DataFrame(
        {
            "day": _days(2),
            "card_precision_at_k": [None, None],
            "precision": [None, None],
            "labels_mature": [False, False],
        }
    )
    assert _texts(precision_chart(perf, floor=0.1)) == ["no precision measured yet"]


def test_chart_markdown_is_an_inline_png_and_reproducible() -> None:
    rows = pd.DataFrame({"day": _days(3), "psi": [0.01, 0.02, 0.5]})
    first = chart_markdown(psi_chart(rows, threshold=0.2), "score PSI by day")
    again = chart_markdown(psi_chart(rows, threshold=0.2), "score PSI by day")
    assert first.startswith("![score PSI by day](")
    assert _png(first).startswith(PNG_SIGNATURE)
    assert first == again  # no timestamp in the PNG: the same rows give the same bytes


def test_top_features_are_those_with_the_highest_psi_over_the_span() -> None:
    days = _days(3)
    psi = {"a": [0.01, 0.02, 0.03], "b": [0.5, 0.0, 0.0], "c": [0.1, 0.2, 0.1], "d": [math.nan] * 3}
    rows = pd.DataFrame(
        [
            {"day": day, "feature": f, "psi": v}
            for f, values in psi.items()
            for day, v in zip(days, values, strict=True)
        ]
    )
    top = top_features(rows.sample(frac=1.0, random_state=0), top=2)
    assert list(top["feature"]) == ["b"] * 3 + ["c"] * 3  # highest peak first, days in order
    assert list(top["day"].dt.date) == days * 2
    fig = feature_psi_chart(rows, threshold=0.2, top=2)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels[:2] == ["b", "c"]
    assert _line_values(fig, 0) == pytest.approx([0.5, 0.0, 0.0])


def test_precision_chart_separates_mature_from_provisional_days() -> None:
    days = _days(4)
    rows = pd.DataFrame(
        {
            "day": days,
            "card_precision_at_k": [0.2, None, 0.4, 0.1],
            "precision": [0.5, 0.6, None, 0.3],
            "labels_mature": [True, True, False, None],
        }
    )
    fig = precision_chart(rows, floor=0.15, k=100)
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Realised precision by day (card precision@100)"
    by_label = {line.get_label(): np.asarray(line.get_ydata(), float) for line in ax.lines}
    mature = by_label["card precision@100"]
    assert mature[0] == pytest.approx(0.2)
    assert all(math.isnan(v) for v in mature[1:])  # no number on day 2; days 3-4 provisional
    assert by_label["precision at the alert threshold"][[0, 1, 3]] == pytest.approx([0.5, 0.6, 0.3])
    provisional = ax.collections[0].get_offsets()
    assert len(provisional) == 2  # days 3 and 4: not (yet) mature
    assert np.asarray(provisional)[:, 1] == pytest.approx([0.4, 0.1])
    assert [0.15, 0.15] in [list(line.get_ydata()) for line in ax.lines]  # the floor
    assert "floor 0.15" in _texts(fig)


def test_history_markdown_lists_the_plotted_numbers_oldest_first() -> None:
    rows = pd.DataFrame({"day": _days(2)[::-1], "psi": [0.25, math.nan], "drifted": [True, False]})
    table = history_markdown(rows, ["psi"], ["drifted"])
    assert table.splitlines() == [
        "| day | psi | drifted |",
        "| --- | --- | --- |",
        "| 2025-03-01 | n/a | False |",
        "| 2025-03-02 | 0.25 | True |",
    ]


def test_missing_columns_are_named() -> None:
    with pytest.raises(KeyError, match="psi"):
        psi_chart(pd.DataFrame({"day": _days(1)}), threshold=0.2)
