"""SQL identifiers that come from configuration: validated before any SQL runs, then quoted.

Only plain identifiers are accepted (letters, digits, ``_`` and ``$``, not starting with a digit or ``$``,
at most 255 characters, up to three dot-separated parts ``database.schema.table``). Anything else, such
as ``x; DROP TABLE y``, quotes or comments, raises :class:`InvalidIdentifierError` naming the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Dialect = Literal["duckdb", "snowflake"]

_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,254}")


class InvalidIdentifierError(ValueError):
    """A configured table or schema name is not a plain SQL identifier."""


def validate_identifier(part: str, *, what: str = "identifier") -> str:
    """Return ``part`` unchanged if it is a plain SQL identifier, else raise InvalidIdentifierError."""
    if not isinstance(part, str) or not _PART.fullmatch(part):
        raise InvalidIdentifierError(
            f"invalid {what} {part!r}: use letters, digits, '_' or '$' "
            "(not first), at most 255 characters; quotes, spaces, ';' and comments are not allowed"
        )
    return part


def quote_identifier(part: str, dialect: Dialect) -> str:
    """Quote one validated identifier part for ``dialect`` (Snowflake names are upper-cased first)."""
    validate_identifier(part)
    return f'"{part.upper()}"' if dialect == "snowflake" else f'"{part}"'


@dataclass(frozen=True)
class TableName:
    """A validated, possibly qualified table name: ``[database.][schema.]table``."""

    table: str
    schema: str | None = None
    database: str | None = None

    def __post_init__(self) -> None:
        validate_identifier(self.table, what="table name")
        if self.schema is not None:
            validate_identifier(self.schema, what="schema name")
        if self.database is not None:
            if self.schema is None:
                raise InvalidIdentifierError(f"table {self.table!r} has a database but no schema")
            validate_identifier(self.database, what="database name")

    @classmethod
    def parse(cls, name: str) -> TableName:
        """Parse ``'schema.table'`` (or ``'db.schema.table'``/``'table'``), validating every part."""
        if not isinstance(name, str):
            raise InvalidIdentifierError(f"table name must be a string, got {type(name).__name__}")
        parts = name.split(".")
        if not 1 <= len(parts) <= 3:
            raise InvalidIdentifierError(f"invalid table name {name!r}: at most db.schema.table")
        for part in parts:
            validate_identifier(part, what=f"table name part in {name!r}")
        *prefix, table = parts
        schema = prefix[-1] if prefix else None
        database = prefix[0] if len(prefix) == 2 else None
        return cls(table=table, schema=schema, database=database)

    def with_schema(self, schema: str) -> TableName:
        """The same table in another schema (used to isolate branch deployments)."""
        return TableName(table=self.table, schema=schema, database=self.database)

    def with_database(self, database: str | None) -> TableName:
        """The same table in another database (``None`` keeps the connection's default)."""
        return TableName(table=self.table, schema=self.schema, database=database)

    def quoted(self, dialect: Dialect) -> str:
        """The qualified, quoted name for ``dialect``."""
        parts = [p for p in (self.database, self.schema, self.table) if p is not None]
        return ".".join(quote_identifier(p, dialect) for p in parts)

    def __str__(self) -> str:
        return ".".join(p for p in (self.database, self.schema, self.table) if p is not None)
