"""Tests for the transaction contract (fraud_core.schema)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fraud_core.columns import OPTIONAL_COLUMNS, REJECT_REASON, REQUIRED_COLUMNS
from fraud_core.schema import (
    CANONICAL_DTYPES,
    FUTURE_TOLERANCE,
    RAW_CHARS,
    REJECTED_COLUMNS,
    RULE_VARIABLES,
    SHOWN_CHARS,
    TransactionRules,
    TransactionSchemaError,
    ValidationResult,
    empty_transactions,
    future_cutoff,
    validate_transactions,
)

NOW = pd.Timestamp("2024-01-10 12:00", tz="UTC")


def _frame(n: int = 3, *, scenario: bool = True) -> pd.DataFrame:
    """A clean frame of n rows: ids 0..n-1, customers 100.., terminals 200.."""
    df = pd.DataFrame(
        {
            "transaction_id": np.arange(n, dtype=np.int64),
            "tx_datetime": pd.date_range("2024-01-01", periods=n, freq="min", tz="UTC"),
            "customer_id": np.arange(100, 100 + n, dtype=np.int64),
            "terminal_id": np.arange(200, 200 + n, dtype=np.int64),
            "tx_amount": np.linspace(1.0, 50.0, n),
            "tx_fraud": pd.array([i % 2 for i in range(n)], dtype="Int8"),
        }
    )
    if scenario:
        df["tx_fraud_scenario"] = pd.array([i % 2 for i in range(n)], dtype="Int8")
    return df


def _validate(df: pd.DataFrame) -> ValidationResult:
    result = validate_transactions(df, now=NOW)
    assert result.n_valid + result.n_rejected == len(df)
    return result


def test_constants_describe_the_contract() -> None:
    assert REQUIRED_COLUMNS == (
        "transaction_id",
        "tx_datetime",
        "customer_id",
        "terminal_id",
        "tx_amount",
        "tx_fraud",
    )
    assert OPTIONAL_COLUMNS == ("tx_fraud_scenario",)
    assert (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, REJECT_REASON) == REJECTED_COLUMNS
    assert REJECT_REASON == "reject_reason"
    assert issubclass(TransactionSchemaError, ValueError)


def test_clean_frame_is_all_valid_with_canonical_dtypes() -> None:
    df = _frame(5)
    result = _validate(df)
    assert (result.n_read, result.n_valid, result.n_rejected) == (5, 5, 0)
    assert list(result.valid.columns) == [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]
    assert {c: str(t) for c, t in result.valid.dtypes.items()} == CANONICAL_DTYPES
    pd.testing.assert_frame_equal(result.valid, df)
    assert list(result.rejected.columns) == list(REJECTED_COLUMNS)
    assert result.extra_columns == ()


def test_valid_does_not_share_memory_with_input() -> None:
    df = _frame(3)
    result = _validate(df)
    result.valid.loc[0, "tx_amount"] = -99.0
    assert df.loc[0, "tx_amount"] == 1.0


def test_empty_transactions_has_canonical_columns_and_dtypes() -> None:
    empty = empty_transactions()
    assert len(empty) == 0
    assert {c: str(t) for c, t in empty.dtypes.items()} == CANONICAL_DTYPES
    result = _validate(empty)
    assert result.n_valid == 0
    assert {c: str(t) for c, t in result.valid.dtypes.items()} == CANONICAL_DTYPES


def test_empty_object_frame_gets_canonical_dtypes() -> None:
    result = _validate(pd.DataFrame(columns=[c.upper() for c in REQUIRED_COLUMNS]))
    assert result.n_valid == 0
    assert result.n_rejected == 0
    expected = {c: t for c, t in CANONICAL_DTYPES.items() if c in REQUIRED_COLUMNS}
    assert {c: str(t) for c, t in result.valid.dtypes.items()} == expected


BAD_CASES: list[tuple[str, Any, str]] = [
    ("transaction_id", None, "null transaction_id"),
    ("transaction_id", 1.5, "non-integral transaction_id 1.5"),
    ("customer_id", None, "null customer_id"),
    ("customer_id", np.nan, "null customer_id"),
    ("customer_id", 2.5, "non-integral customer_id 2.5"),
    ("terminal_id", None, "null terminal_id"),
    ("terminal_id", np.inf, "non-integral terminal_id inf"),
    ("tx_amount", None, "null tx_amount"),
    ("tx_amount", np.nan, "null tx_amount"),
    ("tx_amount", -0.01, "negative tx_amount -0.01"),
    ("tx_amount", np.inf, "infinite tx_amount inf"),
    ("tx_amount", -np.inf, "infinite tx_amount -inf"),
    ("tx_amount", "abc", "non-numeric tx_amount 'abc'"),
    ("tx_amount", True, "non-numeric tx_amount True"),
    ("tx_datetime", None, "null tx_datetime"),
    ("tx_datetime", "not a date", "unparseable tx_datetime 'not a date'"),
    ("tx_datetime", "2024-01-12 00:00", "is in the future"),
    ("tx_datetime", "2500-01-01", "is in the future"),
    ("tx_fraud", 2, "invalid tx_fraud 2"),
    ("tx_fraud", -1, "invalid tx_fraud -1"),
    ("tx_fraud", "yes", "invalid tx_fraud 'yes'"),
    ("tx_fraud", 0.5, "invalid tx_fraud 0.5"),
    ("tx_fraud_scenario", 4, "invalid tx_fraud_scenario 4"),
    ("tx_fraud_scenario", -1, "invalid tx_fraud_scenario -1"),
    ("tx_fraud_scenario", 1.5, "invalid tx_fraud_scenario 1.5"),
    ("tx_fraud_scenario", "x", "invalid tx_fraud_scenario 'x'"),
]


@pytest.mark.parametrize(("column", "value", "reason"), BAD_CASES)
@pytest.mark.parametrize("as_object", [False, True], ids=["native", "object"])
def test_bad_value_rejects_only_its_row(
    column: str, value: Any, reason: str, as_object: bool
) -> None:
    df = _frame(3)
    if as_object or isinstance(value, str | bool) or value is None:
        df[column] = df[column].astype(object)
    else:
        df[column] = df[column].astype("float64")
    df.loc[1, column] = value
    result = _validate(df)
    assert result.n_rejected == 1
    assert result.valid["customer_id"].tolist() == [100, 102] or column == "customer_id"
    assert result.valid["terminal_id"].tolist() == [200, 202] or column == "terminal_id"
    rejected = result.rejected.iloc[0]
    assert reason in rejected[REJECT_REASON]
    assert ";" not in rejected[REJECT_REASON]
    assert rejected["tx_amount"] in ("25.5", None) or column == "tx_amount"


def test_future_reason_says_future_and_names_the_cutoff() -> None:
    df = _frame(2)
    df.loc[1, "tx_datetime"] = NOW + pd.Timedelta(days=2)
    result = _validate(df)
    reason = result.rejected[REJECT_REASON].iloc[0]
    assert "in the future" in reason
    assert "2024-01-11T12:00:00+00:00" in reason
    # Less than a day ahead is tolerated (clock skew, time zones).
    df.loc[1, "tx_datetime"] = NOW + pd.Timedelta(hours=23)
    assert _validate(df).n_rejected == 0


def test_duplicate_ids_reject_every_row_sharing_the_id() -> None:
    df = _frame(6)
    df["transaction_id"] = [1, 2, 2, 3, 2, 4]
    result = _validate(df)
    assert result.valid["transaction_id"].tolist() == [1, 3, 4]
    assert result.rejected["transaction_id"].tolist() == ["2", "2", "2"]
    assert result.rejected["customer_id"].tolist() == ["101", "102", "104"]
    assert set(result.rejected[REJECT_REASON]) == {"duplicate transaction_id 2 (3 rows)"}


def test_duplicate_string_ids_are_named_in_the_reason() -> None:
    df = _frame(3)
    df["transaction_id"] = ["a", "b", "a"]
    result = _validate(df)
    assert result.valid["transaction_id"].tolist() == ["b"]
    assert set(result.rejected[REJECT_REASON]) == {"duplicate transaction_id 'a' (2 rows)"}


def test_several_problems_on_one_row_are_joined() -> None:
    df = _frame(3).astype({"customer_id": object, "tx_fraud": object})
    df.loc[2, ["customer_id", "tx_amount", "tx_fraud"]] = [None, -5.0, "maybe"]
    result = _validate(df)
    assert result.rejected[REJECT_REASON].tolist() == [
        "null customer_id; negative tx_amount -5.0; invalid tx_fraud 'maybe' "
        "(expected 0, 1 or null)"
    ]


def test_rejected_holds_raw_values_as_strings_and_keeps_nulls() -> None:
    df = _frame(3).astype({"tx_amount": object, "customer_id": object})
    df.loc[0, "tx_amount"] = "12,50"
    df.loc[0, "customer_id"] = None
    df.loc[2, "tx_amount"] = -3
    result = _validate(df)
    rejected = result.rejected
    assert list(rejected.columns) == list(REJECTED_COLUMNS)
    assert rejected.dtypes.eq(np.dtype("O")).all()
    assert rejected["tx_amount"].tolist() == ["12,50", "-3"]
    assert rejected["customer_id"].tolist() == [None, "102"]
    assert rejected["transaction_id"].tolist() == ["0", "2"]
    assert rejected["tx_datetime"].tolist() == [
        "2024-01-01 00:00:00+00:00",
        "2024-01-01 00:02:00+00:00",
    ]
    for value in rejected.drop(columns=REJECT_REASON).to_numpy().ravel():
        assert value is None or isinstance(value, str)


def test_rejected_omits_an_absent_optional_column() -> None:
    df = _frame(2, scenario=False)
    df.loc[0, "tx_amount"] = -1.0
    result = _validate(df)
    assert "tx_fraud_scenario" not in result.valid.columns
    assert list(result.rejected.columns) == [*REQUIRED_COLUMNS, REJECT_REASON]


def test_conservation_and_order_on_a_mixed_frame() -> None:
    n = 400
    rng = np.random.default_rng(7)
    df = _frame(n).astype({"tx_amount": object, "tx_fraud": object, "tx_datetime": object})
    bad_rows = np.sort(rng.choice(n, size=60, replace=False))
    kinds = rng.integers(0, 4, size=bad_rows.size)
    for row, kind in zip(bad_rows, kinds, strict=True):
        column, value = [
            ("tx_amount", -1),
            ("tx_fraud", 7),
            ("tx_datetime", "garbage"),
            ("tx_amount", None),
        ][kind]
        df.at[row, column] = value
    result = _validate(df)
    assert result.n_valid + result.n_rejected == n
    assert result.n_rejected == bad_rows.size
    assert result.rejected["transaction_id"].astype(int).tolist() == bad_rows.tolist()
    expected_valid = np.setdiff1d(np.arange(n), bad_rows)
    assert result.valid["transaction_id"].tolist() == expected_valid.tolist()
    assert result.valid.index.equals(pd.RangeIndex(len(expected_valid)))
    assert result.rejected[REJECT_REASON].str.len().gt(0).all()


@pytest.mark.parametrize(
    "rename",
    [str.upper, str.title, lambda c: f"  {c.upper()} ", lambda c: c[0].upper() + c[1:]],
    ids=["upper", "title", "padded", "mixed"],
)
def test_column_names_are_case_and_space_insensitive(rename: Any) -> None:
    df = _frame(3).rename(columns=rename)
    result = _validate(df)
    assert list(result.valid.columns) == [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]
    assert result.n_valid == 3


def test_duplicate_columns_after_lowering_raise() -> None:
    df = _frame(2)
    df["TX_AMOUNT"] = 1.0
    with pytest.raises(TransactionSchemaError, match=r"duplicate columns.*'tx_amount'"):
        validate_transactions(df)


def test_missing_columns_message_names_every_missing_and_found_column() -> None:
    df = _frame(2).drop(columns=["tx_amount", "tx_fraud"]).rename(columns=str.upper)
    with pytest.raises(TransactionSchemaError) as excinfo:
        validate_transactions(df)
    message = str(excinfo.value)
    assert "missing required columns ['tx_amount', 'tx_fraud']" in message
    assert "found ['TRANSACTION_ID', 'TX_DATETIME', 'CUSTOMER_ID', 'TERMINAL_ID'" in message


@pytest.mark.parametrize("value", [None, [1, 2], {"tx_amount": [1.0]}, "table"])
def test_non_dataframe_input_raises(value: Any) -> None:
    with pytest.raises(TransactionSchemaError, match="expected a pandas DataFrame"):
        validate_transactions(value)


def test_extra_columns_are_dropped_and_reported() -> None:
    df = _frame(2)
    df["TX_TIME_SECONDS"] = [1, 2]
    df["note"] = ["a", "b"]
    result = _validate(df)
    assert result.extra_columns == ("TX_TIME_SECONDS", "note")
    assert list(result.valid.columns) == [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]


def test_naive_timestamps_are_taken_as_utc() -> None:
    df = _frame(2)
    df["tx_datetime"] = pd.to_datetime(["2024-01-01 10:00:00", "2024-01-02 23:59:59"])
    result = _validate(df)
    assert str(result.valid["tx_datetime"].dtype) == "datetime64[ns, UTC]"
    assert result.valid["tx_datetime"].tolist() == [
        pd.Timestamp("2024-01-01 10:00", tz="UTC"),
        pd.Timestamp("2024-01-02 23:59:59", tz="UTC"),
    ]


def test_other_zone_timestamps_are_converted_to_utc() -> None:
    df = _frame(2)
    df["tx_datetime"] = pd.to_datetime(["2024-01-01 10:00", "2023-07-01 10:00"]).tz_localize(
        "Europe/Paris"
    )
    result = _validate(df)
    assert result.valid["tx_datetime"].tolist() == [
        pd.Timestamp("2024-01-01 09:00", tz="UTC"),
        pd.Timestamp("2023-07-01 08:00", tz="UTC"),
    ]


def test_timestamp_strings_with_and_without_offsets() -> None:
    df = _frame(4)
    df["tx_datetime"] = [
        "2024-01-01T10:00:00+02:00",
        "2024-01-01 10:00:00",
        " 2024-01-01T10:00:00Z ",
        "01/02/2024 10:00",
    ]
    result = _validate(df)
    assert result.n_rejected == 0
    assert result.valid["tx_datetime"].tolist() == [
        pd.Timestamp("2024-01-01 08:00", tz="UTC"),
        pd.Timestamp("2024-01-01 10:00", tz="UTC"),
        pd.Timestamp("2024-01-01 10:00", tz="UTC"),
        pd.Timestamp("2024-01-02 10:00", tz="UTC"),
    ]


@pytest.mark.parametrize(
    ("strings", "expected"),
    [
        (["2024-01-01T10:00:00-05:30", "2024-01-02 10:00:00.25-05:30"], ["15:30", "15:30:00.25"]),
        (["2024-01-01T10:00:00-05:30", "2024-01-02T10:00:00+01:00"], ["15:30", "09:00"]),
        (["2024-01-01T10:00:00Z", "2024-01-02T10:00:00z"], ["10:00", "10:00"]),
        (["2024-01-01T10:00:00+02:00", None], ["08:00", None]),
    ],
    ids=["same-offset", "two-offsets", "zulu", "with-null"],
)
def test_offset_strings_are_converted_to_utc(
    strings: list[str | None], expected: list[str | None]
) -> None:
    df = _frame(2)
    df["tx_datetime"] = strings
    result = _validate(df)
    want = [pd.Timestamp(f"2024-01-0{i + 1} {t}", tz="UTC") for i, t in enumerate(expected) if t]
    assert result.valid["tx_datetime"].tolist() == want
    assert result.n_rejected == expected.count(None)


def test_non_ns_timestamps_far_in_the_future_are_rejected_not_crashing() -> None:
    df = _frame(2)
    df["tx_datetime"] = np.array(["2024-01-01", "3000-01-01"], dtype="datetime64[s]")
    result = _validate(df)
    assert result.valid["transaction_id"].tolist() == [0]
    assert "in the future" in result.rejected[REJECT_REASON].iloc[0]


def test_unicode_string_ids_are_kept_as_strings() -> None:
    df = _frame(3)
    df["customer_id"] = ["clïent-ß", "客户", " C3 "]
    result = _validate(df)
    assert result.valid["customer_id"].tolist() == ["clïent-ß", "客户", "C3"]
    assert result.valid["customer_id"].dtype == object


def test_blank_string_id_is_rejected() -> None:
    df = _frame(2)
    df["terminal_id"] = ["T1", "  "]
    result = _validate(df)
    assert result.rejected[REJECT_REASON].tolist() == ["null or blank terminal_id"]


def test_integral_float_ids_become_int64() -> None:
    df = _frame(3)
    df["customer_id"] = [1.0, 2.0, np.nan]
    result = _validate(df)
    assert result.valid["customer_id"].dtype == np.int64
    assert result.valid["customer_id"].tolist() == [1, 2]


def test_object_int_ids_with_nulls_become_int64() -> None:
    df = _frame(3)
    df["terminal_id"] = pd.Series([7, None, 2**62], dtype=object)
    result = _validate(df)
    assert result.valid["terminal_id"].dtype == np.int64
    assert result.valid["terminal_id"].tolist() == [7, 2**62]


def test_mixed_int_and_string_ids_become_strings() -> None:
    df = _frame(3)
    df["customer_id"] = pd.Series([1, "b", 3.0], dtype=object)
    result = _validate(df)
    assert result.valid["customer_id"].tolist() == ["1", "b", "3"]


def test_labels_may_be_all_null() -> None:
    df = _frame(3)
    df["tx_fraud"] = None
    df["tx_fraud_scenario"] = np.nan
    result = _validate(df)
    assert result.n_valid == 3
    assert str(result.valid["tx_fraud"].dtype) == "Int8"
    assert result.valid["tx_fraud"].isna().all()


def test_warehouse_style_values_are_coerced() -> None:
    df = _frame(3).rename(columns=str.upper)
    df["TX_AMOUNT"] = [Decimal("10.50"), Decimal("0"), "7.25"]
    df["TX_FRAUD"] = ["1", "0", None]
    df["TX_FRAUD_SCENARIO"] = [True, False, None]
    result = _validate(df)
    assert result.n_rejected == 0
    assert result.valid["tx_amount"].tolist() == [10.5, 0.0, 7.25]
    assert result.valid["tx_fraud"].tolist() == [1, 0, pd.NA]
    assert result.valid["tx_fraud_scenario"].tolist() == [1, 0, pd.NA]


@pytest.mark.slow
def test_two_million_rows_validate_with_exact_counts() -> None:
    n = 2_000_000
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(n, dtype=np.int64),
            "TX_DATETIME": pd.Timestamp("2018-04-01")
            + pd.to_timedelta(np.sort(rng.integers(0, 183 * 86400, n)), unit="s"),
            "CUSTOMER_ID": rng.integers(0, 5000, n),
            "TERMINAL_ID": rng.integers(0, 10000, n),
            "TX_AMOUNT": rng.uniform(0, 200, n).round(2),
            "TX_FRAUD": rng.integers(0, 2, n),
            "TX_FRAUD_SCENARIO": rng.integers(0, 4, n),
        }
    )
    df.loc[::1000, "TX_AMOUNT"] = -1.0
    result = validate_transactions(df)
    assert result.n_rejected == 2000
    assert result.n_valid == n - 2000
    # Speed is measured in benchmarks, not asserted here (no timed unit tests).


# --- rules a deployment tunes, stored id kinds, re-sent ids, bounded raw values -------------------


def test_rules_come_from_code_defaults_and_the_environment() -> None:
    assert TransactionRules.from_env({}) == TransactionRules()
    rules = TransactionRules.from_env(
        {
            "FRAUD_MAX_TX_AMOUNT": "5000",
            "FRAUD_MAX_ID_LENGTH": " 36 ",
            "FRAUD_REPEAT_WINDOW_DAYS": "",
        }
    )
    assert rules == TransactionRules(max_tx_amount=5000.0, max_id_length=36)
    assert set(RULE_VARIABLES) == set(rules.describe())


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FRAUD_MAX_TX_AMOUNT", "abc"),
        ("FRAUD_MAX_TX_AMOUNT", "inf"),
        ("FRAUD_MAX_TX_AMOUNT", "0"),
        ("FRAUD_MAX_ID_LENGTH", "1.5"),
        ("FRAUD_MAX_ID_LENGTH", "0"),
        ("FRAUD_REPEAT_WINDOW_DAYS", "-1"),
    ],
)
def test_a_bad_rule_variable_is_refused_naming_it(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable):
        TransactionRules.from_env({variable: value})


def test_amounts_above_the_plausible_maximum_are_rejected() -> None:
    df = _frame(4)
    df["tx_amount"] = [1e308, 1_000_000.01, 1_000_000.0, 12.0]
    result = _validate(df)
    assert result.valid["tx_amount"].tolist() == [1_000_000.0, 12.0]
    assert result.rejected[REJECT_REASON].tolist() == [
        "tx_amount 1e+308 is above the plausible maximum 1,000,000.00",
        "tx_amount 1000000.01 is above the plausible maximum 1,000,000.00",
    ]
    strict = validate_transactions(df, now=NOW, rules=TransactionRules(max_tx_amount=100.0))
    assert strict.valid["tx_amount"].tolist() == [12.0]


def test_huge_raw_values_are_cut_in_reasons_and_in_rejected_rows() -> None:
    df = _frame(3).astype({"transaction_id": str, "tx_amount": object})
    df.loc[0, "transaction_id"] = "x" * 10_000_000
    df.loc[1, "tx_amount"] = "9" * 5_000_000 + "z"
    df.loc[2, "transaction_id"] = "y" * 128  # at the cap: a valid id
    result = _validate(df)
    assert result.valid["transaction_id"].tolist() == ["y" * 128]
    reasons = result.rejected[REJECT_REASON].tolist()
    assert reasons[0].startswith("transaction_id 'xxx")
    assert reasons[0].endswith("... (10,000,000 characters) is longer than 128 characters")
    assert reasons[1].endswith("... (5,000,001 characters)")
    assert max(len(r) for r in reasons) <= SHOWN_CHARS + 100
    raw_id, raw_amount = (
        result.rejected.loc[0, "transaction_id"],
        result.rejected.loc[1, "tx_amount"],
    )
    assert raw_id == "x" * RAW_CHARS + "... [10,000,000 characters]"
    assert raw_amount.startswith("9" * RAW_CHARS)
    assert len(raw_amount) <= RAW_CHARS + 40


def test_the_stored_id_kind_decides_the_form_of_the_ids() -> None:
    df = _frame(4)
    df["transaction_id"] = ["7", " 8 ", "TX-6", str(2**63)]
    df["customer_id"] = [1, 2, 3, 4]
    kinds = {"transaction_id": "integer", "customer_id": "text"}

    result = validate_transactions(df, now=NOW, id_kinds=kinds)

    assert result.valid["transaction_id"].tolist() == [7, 8]
    assert result.valid["transaction_id"].dtype == np.int64
    assert result.valid["customer_id"].tolist() == ["1", "2"]
    assert result.rejected[REJECT_REASON].tolist() == [
        "transaction_id 'TX-6' is not an integer (the stored transaction_id values are integers)",
        f"transaction_id '{2**63}' is outside the int64 range (the stored transaction_id values "
        "are integers)",
    ]


def test_ids_validated_on_earlier_days_are_rejected_naming_the_day() -> None:
    df = _frame(4)
    df["transaction_id"] = [" 5", "6", "7", "7"]
    seen: list[list[str]] = []

    def earlier_days(ids: pd.Series) -> pd.Series:
        seen.append(ids.tolist())
        return pd.Series({"6": date(2024, 1, 2), "7": date(2024, 1, 1), "9": date(2024, 1, 3)})

    result = validate_transactions(df, now=NOW, earlier_days=earlier_days)

    assert seen == [["5", "6", "7", "7"]]  # canonical (stripped) ids, asked once
    assert result.valid["transaction_id"].tolist() == ["5"]
    repeated_7 = (
        "duplicate transaction_id '7' (2 rows); "
        "repeated transaction_id '7': already validated on 2024-01-01"
    )
    assert result.rejected[REJECT_REASON].tolist() == [
        "repeated transaction_id '6': already validated on 2024-01-02",
        repeated_7,
        repeated_7,
    ]


def test_the_future_starts_a_tolerance_after_now() -> None:
    assert future_cutoff(NOW) == NOW + FUTURE_TOLERANCE
    assert future_cutoff(NOW.tz_localize(None)) == NOW + FUTURE_TOLERANCE  # naive is UTC
