"""Reason codes: the features that pushed a transaction's score most, with their values, in words.

Contributions are CatBoost's own SHAP values (``get_feature_importance(type="ShapValues")``): per
row, one signed contribution per feature to the raw score (log-odds) plus, in the last column, the
expected value; they add up to the raw score exactly (CatBoost's property, tested). A row's reasons
are its :data:`~fraud_core.columns.REASON_COUNT` features of largest ``|contribution|``, largest
first (ties: the model's feature order), in the columns :data:`~fraud_core.columns.REASON_COLUMNS`.

SHAP costs about a hundred times a prediction (``benchmarks/RESULTS.md``), so reasons are bounded:
only rows scoring at least ``min_score`` get them (NULL elsewhere), and the values are computed
``chunk_rows`` rows at a time, so memory stays a few MiB whatever the day's volume.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd
from catboost import Pool

from fraud_core.columns import (
    REASON_COLUMNS,
    REASON_COUNT,
    reason_contribution,
    reason_feature,
    reason_text,
    reason_value,
)
from fraud_core.features.registry import (
    FEATURE_LAYOUT,
    RAW_AMOUNT,
    STATISTIC_WORDS,
    PointFeature,
    WindowAggregate,
    WindowValue,
)
from fraud_core.model.classifier import FraudModel, feature_matrix

__all__ = [
    "REASON_CHUNK_ROWS",
    "describe_feature",
    "empty_reasons",
    "reason_codes",
    "shap_contributions",
]

REASON_CHUNK_ROWS = 50_000
"""Rows per SHAP call: bounds the working memory (the rows' features and contributions)."""


def shap_contributions(
    model: FraudModel, features: pd.DataFrame, *, thread_count: int = -1
) -> np.ndarray:
    """Per row, each feature's signed contribution to the raw score, then the expected value."""
    cols = model.features
    pool = Pool(feature_matrix(features, cols), feature_names=cols)
    values = model.classifier.get_feature_importance(
        data=pool, type="ShapValues", thread_count=thread_count
    )
    return np.asarray(values, dtype=np.float64).reshape(len(features), len(cols) + 1)


def empty_reasons(index: pd.Index) -> pd.DataFrame:
    """The reason columns, all NULL, for the rows of ``index`` (typed: str, float64, float64, str)."""
    return _reason_frame(_null_columns(len(index)), index)


def reason_codes(
    model: FraudModel,
    features: pd.DataFrame,
    *,
    scores: pd.Series | None = None,
    min_score: float | None = 0.0,
    chunk_rows: int = REASON_CHUNK_ROWS,
    thread_count: int = -1,
) -> pd.DataFrame:
    """The reason columns for the rows of ``features`` scoring at least ``min_score`` (NULL else).

    ``scores``: the rows' fraud probabilities if already known (aligned to ``features``), else the
    model predicts them when ``min_score`` needs them. ``min_score=None``: no row gets reasons.
    The frame is aligned to ``features.index``.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    columns = _null_columns(len(features))
    positions = _rows_with_reasons(model, features, scores, min_score, thread_count)
    names = np.array(model.features, dtype=object)
    for start in range(0, len(positions), chunk_rows):
        chunk = positions[start : start + chunk_rows]
        rows = features.iloc[chunk]
        contributions = shap_contributions(model, rows, thread_count=thread_count)[:, :-1]
        _fill_chunk(columns, chunk, rows, names, contributions)
    return _reason_frame(columns, features.index)


def _null_columns(n: int) -> dict[str, np.ndarray]:
    """The reason columns of ``n`` rows as arrays, all NULL (None or NaN)."""
    columns: dict[str, np.ndarray] = {}
    for rank in range(1, REASON_COUNT + 1):
        columns[reason_feature(rank)] = np.full(n, None, dtype=object)
        columns[reason_value(rank)] = np.full(n, np.nan)
        columns[reason_contribution(rank)] = np.full(n, np.nan)
        columns[reason_text(rank)] = np.full(n, None, dtype=object)
    return columns


def _reason_frame(columns: dict[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
    """The arrays as a frame, columns in REASON_COLUMNS order, on ``index``."""
    return pd.DataFrame({name: columns[name] for name in REASON_COLUMNS}, index=index, copy=False)


def _rows_with_reasons(
    model: FraudModel,
    features: pd.DataFrame,
    scores: pd.Series | None,
    min_score: float | None,
    thread_count: int,
) -> np.ndarray:
    """Positions (into ``features``) of the rows that get reasons."""
    if min_score is None or len(features) == 0:
        return np.empty(0, dtype=np.intp)
    if min_score <= 0.0:
        return np.arange(len(features))
    if scores is None:
        scores = model.predict(features, thread_count=thread_count)
    if len(scores) != len(features):
        raise ValueError(f"{len(scores)} scores for {len(features)} feature rows")
    return np.flatnonzero(scores.to_numpy(dtype=np.float64) >= min_score)


def _fill_chunk(
    columns: dict[str, np.ndarray],
    positions: np.ndarray,
    rows: pd.DataFrame,
    names: np.ndarray,
    contributions: np.ndarray,
) -> None:
    """Write the top reasons of ``rows`` (at ``positions`` of the columns) into ``columns``."""
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")
    row = np.arange(len(rows))
    for rank in range(1, min(REASON_COUNT, len(names)) + 1):
        feature = order[:, rank - 1]
        chosen = names[feature]
        values = _feature_values(rows, names, feature)
        columns[reason_feature(rank)][positions] = chosen
        columns[reason_value(rank)][positions] = values
        columns[reason_contribution(rank)][positions] = contributions[row, feature]
        columns[reason_text(rank)][positions] = [
            describe_feature(name, value) for name, value in zip(chosen, values, strict=True)
        ]


def _feature_values(rows: pd.DataFrame, names: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Each row's value (float64, NaN if missing) of the feature at ``feature[row]``."""
    values = np.full(len(rows), np.nan)
    for j in np.unique(feature):
        mask = feature == j
        column = rows[names[j]].to_numpy(dtype=np.float64, na_value=np.nan)
        values[mask] = column[mask]
    return values


def describe_feature(name: str, value: float) -> str:
    """A feature's value in words, e.g. "terminal risk 7-day window 0.43"; else "<name> = <value>"."""
    words = _words(name)
    if words is None or not math.isfinite(value):
        return f"{name} = {value:g}"
    return words(float(value))


@cache
def _words(name: str) -> Callable[[float], str] | None:
    """The words of feature ``name`` (any window length), or None for an unknown feature."""
    for point in (RAW_AMOUNT, *(i for i in FEATURE_LAYOUT if isinstance(i, PointFeature))):
        if point.name == name:
            return point.words
    for family in (i for i in FEATURE_LAYOUT if isinstance(i, WindowAggregate)):
        for feature in family.features:
            pattern = re.escape(feature.template).replace(re.escape("{n}"), r"(\d+)")
            match = re.fullmatch(pattern, name)
            if match:
                say = STATISTIC_WORDS[feature.statistic]
                entity, alignment, n = family.entity, family.alignment, int(match.group(1))
                return lambda v: say(WindowValue(v, entity, alignment, n))
    return None
