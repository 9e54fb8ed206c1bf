"""How the per-day monitoring records store and report their numbers.

A stored column holds NaN for a number that was not measured (never None: an all-NULL column would
be created as VARCHAR); a reported number is ``None`` then. Small frames are reported as Markdown.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["NOT_COMPUTED", "Metadata", "markdown_table", "optional_number", "stored_number"]

NOT_COMPUTED = "not computed"
"""Reported in place of a drift number that was not computed (too few rows)."""

Metadata = dict[str, Any]
"""Reported numbers by name: floats, ints, text, lists of text, or None when not measured."""


def stored_number(value: Any) -> float:
    """``value`` as a float for a stored column: NaN when missing."""
    return math.nan if value is None or pd.isna(value) else float(value)


def optional_number(value: Any) -> float | None:
    """``value`` as a float for a reported number: None when missing."""
    return None if value is None or pd.isna(value) else float(value)


def markdown_table(frame: pd.DataFrame) -> str:
    """A small frame as a Markdown table (floats with 4 significant digits, NaN as n/a)."""

    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            return "n/a" if math.isnan(value) else f"{value:.4g}"
        return str(value)

    lines = [
        "| " + " | ".join(map(str, frame.columns)) + " |",
        "| " + " | ".join("---" for _ in frame.columns) + " |",
        *("| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)),
    ]
    return "\n".join(lines)
