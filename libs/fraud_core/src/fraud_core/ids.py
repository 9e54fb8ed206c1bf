"""Transaction, customer and terminal ids: one canonical form wherever ids are compared.

An id is an integer (int64) or a text (stripped of surrounding spaces). Validation
(:mod:`fraud_core.schema`) stores ids in this form, and every comparison of ids from different
places (a validated table with the source's labels, a day with earlier days) goes through
:func:`normalise_ids` / :func:`comparable_ids`, so that ``" 7 "``, ``"7"`` and ``7`` are one id
wherever they meet.

Which of the two forms a column takes is inferred from its values (integers when every value is
integral, else text), unless a kind is given: the kind an existing table stores. Integer ids keep
the feature kernels and the warehouse joins on int64; a table created with integer ids keeps them,
and a later id that is no integer is flagged (the row is quarantined), not written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

__all__ = [
    "ID_KINDS",
    "IdKind",
    "ParsedIds",
    "comparable_ids",
    "normalise_ids",
    "parse_ids",
]

IdKind = Literal["integer", "text"]
"""How ids are stored: int64, or stripped text."""
ID_KINDS: tuple[IdKind, ...] = ("integer", "text")

_INT64_LIMIT = 2**63
_DIGITS = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True, eq=False)
class ParsedIds:
    """Ids in canonical form, and a mask per reason a value is not a usable id."""

    values: pd.Series
    """int64 (0 where unusable) or object holding str (None where unusable)."""
    null: np.ndarray
    """Null or NaN, or a blank string when ``from_text``."""
    non_integral: np.ndarray
    """A number with a fraction, or infinite."""
    out_of_range: np.ndarray
    """An integer outside int64 where ids are integers."""
    not_integer: np.ndarray
    """A text that is no integer where ids are integers."""
    too_long: np.ndarray
    """A text id longer than the allowed length."""
    from_text: bool
    """Whether the values were read as text (so a null may also be a blank string)."""

    @property
    def unusable(self) -> np.ndarray:
        """Rows whose id cannot be used as a key."""
        return self.null | self.non_integral | self.out_of_range | self.not_integer | self.too_long

    @property
    def is_integer(self) -> bool:
        """Whether the ids are int64 (else text)."""
        return self.values.dtype == np.int64


def parse_ids(
    values: pd.Series, kind: IdKind | None = None, *, max_length: int | None = None
) -> ParsedIds:
    """Ids in canonical form (int64 or stripped text, as ``kind`` says or as the values allow)."""
    if kind is not None and kind not in ID_KINDS:
        raise ValueError(f"unknown id kind {kind!r}; expected one of {ID_KINDS}")
    s = pd.Series(values.array, copy=False)  # positional, fresh RangeIndex
    n = len(s)
    parsed, null, non_integral, from_text = _infer(s)
    out_of_range = np.zeros(n, dtype=bool)
    not_integer = np.zeros(n, dtype=bool)
    if kind == "integer" and parsed.dtype != np.int64:
        parsed, not_integer, out_of_range = _text_as_integers(parsed, ~(null | non_integral))
    elif kind == "text" and parsed.dtype == np.int64:
        parsed = _integers_as_text(parsed, ~null)
    too_long = np.zeros(n, dtype=bool)
    if max_length is not None and parsed.dtype != np.int64:
        too_long = _longer_than(parsed, max_length)
    return ParsedIds(parsed, null, non_integral, out_of_range, not_integer, too_long, from_text)


def normalise_ids(values: pd.Series, kind: IdKind | None = None) -> pd.Series:
    """Ids in canonical form (nullable Int64, or text), missing where a value is no usable id."""
    parsed = parse_ids(values, kind)
    unusable = parsed.unusable
    if parsed.is_integer:
        array = pd.arrays.IntegerArray(parsed.values.to_numpy(), unusable.copy())
        return pd.Series(array, index=values.index, copy=False)
    text = parsed.values.to_numpy(dtype=object, copy=True)
    text[unusable] = None
    return pd.Series(text, index=values.index, dtype=object, copy=False)


def comparable_ids(left: pd.Series, right: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Two normalised id columns in one form: equal ids compare equal (integers if either is)."""
    left_int, right_int = _integer_dtype(left), _integer_dtype(right)
    if left_int and not right_int:
        right = normalise_ids(right, "integer")  # a text that is no integer matches no id
    elif right_int and not left_int:
        left = normalise_ids(left, "integer")
    return left, right


def _integer_dtype(values: pd.Series) -> bool:
    return ptypes.is_integer_dtype(values.dtype)


def _infer(s: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray, bool]:
    """(values, null, non-integral, from text): int64 when every value is integral, else text."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        s = s.astype(object)
        dtype = s.dtype
    if ptypes.is_integer_dtype(dtype):
        if not ptypes.is_unsigned_integer_dtype(dtype) or s.max() < _INT64_LIMIT:
            null = s.isna().to_numpy()
            return pd.Series(s.to_numpy(dtype=np.int64, na_value=0)), null, _none(s), False
    elif ptypes.is_float_dtype(dtype):
        return _float_ids(s.to_numpy(dtype=np.float64, na_value=np.nan))
    elif not ptypes.is_bool_dtype(dtype):
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind == "empty":
            return pd.Series(np.zeros(len(s), dtype=np.int64)), s.isna().to_numpy(), _none(s), False
        if kind == "integer":
            null = s.isna().to_numpy()
            try:
                values = s.where(~null, 0).astype(np.int64).to_numpy()
            except (OverflowError, ValueError, TypeError):
                pass  # beyond int64: text
            else:
                return pd.Series(values), null, _none(s), False
        elif kind in ("floating", "mixed-integer-float"):
            numeric = pd.to_numeric(s, errors="coerce")
            return _float_ids(numeric.to_numpy(dtype=np.float64, na_value=np.nan))
        elif kind == "decimal":  # exact: a float would round ids beyond 2**53
            return _exact_numbers(s)
        elif kind == "string":
            return _stripped(s)
    return _mixed(s)


def _none(s: pd.Series) -> np.ndarray:
    return np.zeros(len(s), dtype=bool)


def _float_ids(arr: np.ndarray) -> tuple[pd.Series, np.ndarray, np.ndarray, bool]:
    """Float ids: integral finite values in int64 range become int64, others are flagged."""
    null = np.isnan(arr)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(arr) & (arr == np.floor(arr)) & (np.abs(arr) < _INT64_LIMIT)
    values = np.where(ok, arr, 0.0).astype(np.int64)
    return pd.Series(values), null, ~null & ~ok, False


def _stripped(s: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray, bool]:
    """Strings stripped; null, NaN and blank strings flagged as null."""
    values = np.empty(len(s), dtype=object)
    values[:] = [(v.strip() or None) if v.__class__ is str else v for v in s.array]
    null = pd.isna(values)
    values[null] = None
    return pd.Series(values, copy=False), null, _none(s), True


def _mixed(s: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray, bool]:
    """Ids of mixed Python types as text (integral numbers without '.0')."""
    out: list[str | None] = []
    bad: list[bool] = []
    for v in s.astype(object):
        text, is_bad = _id_text(v)
        out.append(text)
        bad.append(is_bad)
    values = pd.Series(out, dtype=object)
    non_integral = np.asarray(bad, dtype=bool)
    null = values.isna().to_numpy() & ~non_integral
    return values, null, non_integral, True


def _exact_numbers(s: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray, bool]:
    """Decimal ids: int64 when every usable one fits, else text; exact either way."""
    values, null, non_integral, _ = _mixed(s)
    ints, not_integer, out_of_range = _text_as_integers(values, ~(null | non_integral))
    if not (not_integer | out_of_range).any():
        return ints, null, non_integral, False
    return values, null, non_integral, False


def _id_text(v: Any) -> tuple[str | None, bool]:
    """String form of one id value, and whether it is a non-integral number."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None, False
    if isinstance(v, bool | np.bool_):
        return str(bool(v)), False
    if isinstance(v, int | np.integer):
        return str(int(v)), False
    if isinstance(v, float | np.floating | Decimal):
        if isinstance(v, Decimal):
            if v.is_nan():
                return None, False
            integral = v.is_finite() and v == v.to_integral_value()
        else:
            if math.isnan(v):
                return None, False
            integral = math.isfinite(v) and float(v).is_integer()
        return (str(int(v)), False) if integral else (None, True)
    if isinstance(v, bytes):
        v = v.decode("utf-8", errors="replace")
    text = str(v).strip()
    return (text or None), False


def _text_as_integers(
    text: pd.Series, usable: np.ndarray
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Text ids as int64: (values, no integer, outside int64); only ``usable`` rows are read."""
    n = len(text)
    values = np.zeros(n, dtype=np.int64)
    not_integer = np.zeros(n, dtype=bool)
    out_of_range = np.zeros(n, dtype=bool)
    raw = text.to_numpy(dtype=object)
    for i in np.flatnonzero(usable):  # only where a text table meets an integer one
        v = raw[i]
        v = v.strip() if isinstance(v, str) else str(v)
        if not _DIGITS.fullmatch(v):
            not_integer[i] = True
            continue
        number = int(v)
        if -_INT64_LIMIT <= number < _INT64_LIMIT:
            values[i] = number
        else:
            out_of_range[i] = True
    return pd.Series(values), not_integer, out_of_range


def _integers_as_text(values: pd.Series, usable: np.ndarray) -> pd.Series:
    """int64 ids as their decimal text (None where not usable)."""
    text = values.to_numpy().astype(str).astype(object)
    text[~usable] = None
    return pd.Series(text, dtype=object, copy=False)


def _longer_than(text: pd.Series, max_length: int) -> np.ndarray:
    """Rows whose text id has more than ``max_length`` characters."""
    lengths = text.str.len().to_numpy(dtype=np.float64, na_value=0.0)
    return lengths > max_length
