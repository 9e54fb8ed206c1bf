"""Tests for the canonical form of ids (fraud_core.ids)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from fraud_core.ids import comparable_ids, normalise_ids, parse_ids


def test_integral_ids_are_int64_and_text_ids_are_stripped() -> None:
    assert parse_ids(pd.Series([3, 1, 2])).values.tolist() == [3, 1, 2]
    assert parse_ids(pd.Series([3, 1, 2])).is_integer
    text = parse_ids(pd.Series([" a ", "b", "  ", None]))
    assert text.values.tolist() == ["a", "b", None, None]
    assert text.null.tolist() == [False, False, True, True]
    assert text.from_text


def test_integer_kind_reads_integral_text_and_flags_the_rest() -> None:
    raw = pd.Series(["7", " 8 ", "TX-6", str(2**63), str(-(2**63) - 1), "1e3", "7.0", None, "-5"])

    ids = parse_ids(raw, "integer")

    assert ids.is_integer
    usable = ~ids.unusable
    assert ids.values[usable].tolist() == [7, 8, -5]
    assert raw[ids.not_integer].tolist() == ["TX-6", "1e3", "7.0"]
    assert raw[ids.out_of_range].tolist() == [str(2**63), str(-(2**63) - 1)]
    assert ids.null.tolist() == [False] * 7 + [True, False]


def test_unsigned_ids_above_int64_are_out_of_range_where_ids_are_integers() -> None:
    raw = pd.Series(np.array([1, 2**63], dtype=np.uint64))
    assert parse_ids(raw).values.tolist() == ["1", str(2**63)]  # no stored kind: text
    ids = parse_ids(raw, "integer")
    assert ids.values[~ids.unusable].tolist() == [1]
    assert ids.out_of_range.tolist() == [False, True]


def test_text_kind_renders_integers_as_text() -> None:
    ids = parse_ids(pd.Series([7, None, 12], dtype="Int64"), "text")
    assert ids.values.tolist() == ["7", None, "12"]
    assert not ids.is_integer


def test_decimal_ids_are_exact() -> None:
    big = 2**60 + 1  # a float would round it
    ids = parse_ids(pd.Series([Decimal(big), Decimal(3), Decimal("2.5"), Decimal("NaN")]))
    assert ids.is_integer
    assert ids.values[:2].tolist() == [big, 3]
    assert ids.non_integral.tolist() == [False, False, True, False]
    assert ids.null.tolist() == [False, False, False, True]
    beyond = parse_ids(pd.Series([Decimal(2**63), Decimal(1)]), "integer")
    assert beyond.out_of_range.tolist() == [True, False]


def test_text_ids_longer_than_the_cap_are_flagged() -> None:
    ids = parse_ids(pd.Series(["x" * 128, "y" * 129, None]), max_length=128)
    assert ids.too_long.tolist() == [False, True, False]
    assert not parse_ids(pd.Series([10**18]), max_length=3).too_long.any()  # integers: no cap


def test_normalise_ids_marks_unusable_values_missing_and_keeps_the_index() -> None:
    ints = normalise_ids(pd.Series([1.0, 2.5, np.nan], index=[10, 11, 12]))
    assert str(ints.dtype) == "Int64"
    assert ints.index.tolist() == [10, 11, 12]
    assert ints.isna().tolist() == [False, True, True]
    text = normalise_ids(pd.Series([" a", "", "b "]))
    assert text.tolist() == ["a", None, "b"]


def test_comparable_ids_meet_in_integer_form() -> None:
    stored = normalise_ids(pd.Series([7, 8]))
    source = normalise_ids(pd.Series([" 7 ", "TX-6", "8"]))

    left, right = comparable_ids(stored, source)

    assert left.tolist() == [7, 8]
    assert right.isna().tolist() == [False, True, False]
    assert right.dropna().tolist() == [7, 8]
    both_text = comparable_ids(normalise_ids(pd.Series(["a"])), normalise_ids(pd.Series([" a"])))
    assert [s.tolist() for s in both_text] == [["a"], ["a"]]


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown id kind"):
        parse_ids(pd.Series([1]), "uuid")  # type: ignore[arg-type]
