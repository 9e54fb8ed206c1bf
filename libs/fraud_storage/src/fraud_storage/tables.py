"""Where the pipeline's tables live: one declaration, with defaults, validated."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from fraud_core.columns import PARTITION_DATE
from fraud_storage.branches import branch_identifier
from fraud_storage.identifiers import TableName

PARTITION_COLUMN = PARTITION_DATE
"""Every output table carries the daily partition it belongs to in this DATE column."""


def _table(name: str) -> TableName:
    return TableName.parse(name)


@dataclass(frozen=True)
class TableNames:
    """The source table and the pipeline's output tables (all validated identifiers)."""

    source: TableName = field(default_factory=lambda: _table("RAW.CUSTOMER_TRANSACTIONS"))
    validated: TableName = field(default_factory=lambda: _table("FRAUD.VALIDATED_TRANSACTIONS"))
    rejected: TableName = field(default_factory=lambda: _table("FRAUD.REJECTED_TRANSACTIONS"))
    terminal_labels: TableName = field(
        default_factory=lambda: _table("FRAUD.MATURED_TERMINAL_LABELS")
    )
    transformed: TableName = field(default_factory=lambda: _table("FRAUD.TRANSFORMED_TRANSACTIONS"))
    scores: TableName = field(default_factory=lambda: _table("FRAUD.FRAUD_SCORES"))
    alerts: TableName = field(default_factory=lambda: _table("FRAUD.FRAUD_ALERTS"))
    report: TableName = field(default_factory=lambda: _table("FRAUD.DAILY_FRAUD_REPORT"))

    @classmethod
    def from_strings(
        cls,
        source: str = "RAW.CUSTOMER_TRANSACTIONS",
        output_schema: str = "FRAUD",
        database: str | None = None,
    ) -> TableNames:
        """Build the table set from a source name and the schema that holds every output table."""
        base = cls()
        outputs = {
            f.name: getattr(base, f.name).with_schema(output_schema).with_database(database)
            for f in fields(cls)
            if f.name != "source"
        }
        return cls(source=TableName.parse(source), **outputs)

    def outputs(self) -> dict[str, TableName]:
        """The output tables by role (everything but the source)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}

    def for_branch(self, branch: str) -> TableNames:
        """The same tables with outputs in a schema of their own for a branch deployment:
        ``<schema>_<name>``, ``name`` from :func:`fraud_storage.branches.branch_identifier` (the
        name the branch's model-store prefix and report directory carry too)."""
        suffix = branch_identifier(branch)
        changes = {
            role: name.with_schema(f"{name.schema or 'FRAUD'}_{suffix}")
            for role, name in self.outputs().items()
        }
        return replace(self, **changes)
