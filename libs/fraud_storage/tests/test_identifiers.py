"""Identifier validation and quoting, table-name parsing and branch schemas (no database)."""

from __future__ import annotations

import re

import pytest

from fraud_storage.identifiers import (
    InvalidIdentifierError,
    TableName,
    quote_identifier,
    validate_identifier,
)
from fraud_storage.tables import TableNames

INJECTIONS = [
    "x; DROP TABLE y",
    'a"b',
    '"quoted"',
    "a--b",
    "--",
    "/* */",
    "a/*b*/c",
    "a b",
    "a'b",
    "a\nb",
    "abc\n",
    "",
    " ",
    "1abc",
    "$abc",
    "x" * 256,
    "\u0455cores",  # Cyrillic dze looks like a Latin s
    "FRAUD_SCOR\u0415S",  # Cyrillic capital IE looks like a Latin E
    "\uff53cores",  # fullwidth s
    "scores\u200b",  # zero-width space
    "caf\u00e9",
    "a\x00b",
]


@pytest.mark.parametrize("name", ["a", "_x", "A1$", "fraud_scores", "FRAUD_SCORES", "x" * 255])
def test_plain_identifiers_are_accepted_unchanged(name: str) -> None:
    assert validate_identifier(name) == name


@pytest.mark.parametrize("name", INJECTIONS)
def test_anything_else_is_rejected_everywhere(name: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        validate_identifier(name)
    with pytest.raises(InvalidIdentifierError):
        quote_identifier(name, "snowflake")
    with pytest.raises(InvalidIdentifierError):
        TableName(table=name, schema="FRAUD")
    with pytest.raises(InvalidIdentifierError):
        TableName(table="T", schema=name)
    with pytest.raises(InvalidIdentifierError):
        TableName.parse(f"FRAUD.{name}")
    with pytest.raises(InvalidIdentifierError):
        TableNames.from_strings(output_schema=name)


@pytest.mark.parametrize("value", [None, 5, b"abc", ["a"]])
def test_non_strings_are_rejected(value: object) -> None:
    with pytest.raises(InvalidIdentifierError):
        validate_identifier(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidIdentifierError):
        TableName.parse(value)  # type: ignore[arg-type]


def test_error_names_the_offending_value() -> None:
    with pytest.raises(InvalidIdentifierError, match="x; DROP TABLE y"):
        TableName.parse("RAW.x; DROP TABLE y")


def test_quoting_per_dialect() -> None:
    assert quote_identifier("fraud_scores", "snowflake") == '"FRAUD_SCORES"'
    assert quote_identifier("fraud_scores", "duckdb") == '"fraud_scores"'
    name = TableName.parse("analytics.fraud.fraud_scores")
    assert name.quoted("snowflake") == '"ANALYTICS"."FRAUD"."FRAUD_SCORES"'
    assert name.quoted("duckdb") == '"analytics"."fraud"."fraud_scores"'
    assert str(name) == "analytics.fraud.fraud_scores"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("T", ("T", None, None)),
        ("RAW.T", ("T", "RAW", None)),
        ("DB.RAW.T", ("T", "RAW", "DB")),
    ],
)
def test_parse_qualified_names(text: str, parts: tuple) -> None:
    name = TableName.parse(text)
    assert (name.table, name.schema, name.database) == parts


@pytest.mark.parametrize("text", ["a.b.c.d", "a..b", ".a", "a.", "RAW.T;", "RAW . T"])
def test_parse_rejects_malformed_names(text: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        TableName.parse(text)


def test_database_requires_a_schema_and_moves_are_validated() -> None:
    with pytest.raises(InvalidIdentifierError, match="no schema"):
        TableName(table="T", database="DB")
    name = TableName.parse("RAW.T")
    assert name.with_schema("STAGE").quoted("snowflake") == '"STAGE"."T"'
    assert name.with_database("DB").quoted("snowflake") == '"DB"."RAW"."T"'
    with pytest.raises(InvalidIdentifierError):
        name.with_schema("x; DROP")


def test_table_names_defaults_and_from_strings() -> None:
    names = TableNames()
    assert str(names.source) == "RAW.CUSTOMER_TRANSACTIONS"
    outputs = {role: str(t) for role, t in names.outputs().items()}
    assert "source" not in outputs
    assert {
        "rejected": "FRAUD.REJECTED_TRANSACTIONS",
        "terminal_labels": "FRAUD.MATURED_TERMINAL_LABELS",
        "transformed": "FRAUD.TRANSFORMED_TRANSACTIONS",
        "scores": "FRAUD.FRAUD_SCORES",
        "report": "FRAUD.DAILY_FRAUD_REPORT",
    }.items() <= outputs.items()
    assert {t.schema for t in names.outputs().values()} == {"FRAUD"}
    custom = TableNames.from_strings("LANDING.TX", output_schema="FRAUD_DEV", database="ANALYTICS")
    assert str(custom.source) == "LANDING.TX"
    assert str(custom.scores) == "ANALYTICS.FRAUD_DEV.FRAUD_SCORES"


def test_for_branch_isolates_outputs_in_a_valid_schema() -> None:
    names = TableNames().for_branch("feature/new-model#42")

    assert str(names.source) == "RAW.CUSTOMER_TRANSACTIONS"  # the source is shared
    (schema,) = {t.schema for t in names.outputs().values()}
    assert re.fullmatch(r"FRAUD_FEATURE_NEW_MODEL_42_[0-9A-F]{8}", schema or "")
    assert names.scores.quoted("snowflake") == f'"{schema}"."FRAUD_SCORES"'
    assert str(TableNames().for_branch("PR_42").scores) == "FRAUD_PR_42.FRAUD_SCORES"


def test_for_branch_gives_branches_that_sanitise_alike_schemas_of_their_own() -> None:
    """Issue 15: all three were FRAUD_FEATURE_A, so two branches wrote one schema."""
    branches = ["feature-a", "feature_a", "Feature.A"]
    schemas = {TableNames().for_branch(b).scores.schema for b in branches}
    assert len(schemas) == len(branches), schemas
    assert all((s or "").startswith("FRAUD_FEATURE_A_") for s in schemas)


def test_for_branch_handles_odd_names() -> None:
    long_branch = TableNames().for_branch("x" * 500)
    assert len(long_branch.scores.schema or "") <= 255
    assert re.fullmatch(
        r"FRAUD_B_123_[0-9A-F]{8}", TableNames().for_branch("123").scores.schema or ""
    )
    cafe = TableNames().for_branch("caf\u00e9 \u2013 fix").scores.schema
    assert re.fullmatch(r"FRAUD_CAF_FIX_[0-9A-F]{8}", cafe or "")
    assert re.fullmatch(r"FRAUD_B_[0-9A-F]{8}", TableNames().for_branch("///").scores.schema or "")
    with pytest.raises(InvalidIdentifierError):
        TableNames().for_branch("  ")
