"""The monitoring-only knobs (drift, reference window, floors) and where the results are written.

Both are Dagster config, editable in the launchpad, with defaults and validation. What this
location shares with the hybrid location is not here: the alert threshold and review budget are
the shared ``settings`` resource (:class:`fraud_dagster.settings.FraudSettings`), the label delay
is the deployment's pipeline shape (:data:`fraud_dagster.shape.PIPELINE_SHAPE`, the ``shape``
resource), never run config. The monitoring tables are plain table names resolved next to the
pipeline's ``FRAUD_SCORES`` table (same database and schema, so a branch deployment's results
land in its own ``<schema>_<branch>`` schema too); ``fraud_storage``'s table set is not touched.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field, field_validator

from fraud_core.monitoring import DEFAULT_EPSILON, DEFAULT_N_BINS, DEFAULT_PSI_THRESHOLD
from fraud_core.monitoring import HealthThresholds as CoreHealthThresholds
from fraud_dagster.settings import (
    at_least_two,
    not_negative,
    open_unit_interval,
    positive,
    unit_interval,
)
from fraud_storage import InvalidIdentifierError, TableName

__all__ = ["MonitoringSettings", "MonitoringTables"]


class MonitoringTables(dg.Config):
    """Output tables of the monitoring assets: unqualified names, placed next to FRAUD_SCORES."""

    score_drift: str = "MONITORING_SCORE_DRIFT"
    feature_drift: str = "MONITORING_FEATURE_DRIFT"
    performance: str = "MONITORING_PERFORMANCE"
    health: str = "MONITORING_MODEL_HEALTH"

    @field_validator("score_drift", "feature_drift", "performance", "health")
    @classmethod
    def _plain_table_name(cls, value: str) -> str:
        name = TableName.parse(value)  # raises InvalidIdentifierError (a ValueError) when unsafe
        if name.schema is not None:
            raise InvalidIdentifierError(
                f"monitoring table {value!r} must be a bare table name: it is created in the "
                "schema of FRAUD_SCORES (which isolates branch deployments)"
            )
        return value

    def resolve(self, next_to: TableName) -> dict[str, TableName]:
        """The four tables, in the database and schema of ``next_to`` (the scores table)."""
        names = {
            "score_drift": self.score_drift,
            "feature_drift": self.feature_drift,
            "performance": self.performance,
            "health": self.health,
        }
        return {
            role: TableName(table=name, schema=next_to.schema, database=next_to.database)
            for role, name in names.items()
        }


class MonitoringSettings(dg.ConfigurableResource):
    """Every monitoring-only knob, with defaults and validation."""

    reference_days: int = Field(
        default=7, description="Days before the monitored day that form the PSI reference."
    )
    reference_sample_per_day: int = Field(
        default=50_000,
        description="Rows sampled per reference day (bounds memory; 0 = every row).",
    )
    min_rows: int = Field(
        default=100, description="Fewer reference or day rows than this: PSI is not computed."
    )
    psi_bins: int = Field(default=DEFAULT_N_BINS, description="Reference-quantile bins of the PSI.")
    psi_epsilon: float = Field(
        default=DEFAULT_EPSILON, description="Floor of an empty bin's share."
    )
    psi_threshold: float = Field(
        default=DEFAULT_PSI_THRESHOLD, description="PSI above this is drift (checks warn)."
    )
    precision_floor: float = Field(
        default=0.1,
        description="Realised card precision@k of a mature day below this is an error.",
    )
    max_budget_utilisation: float = Field(
        default=1.0, description="Alerted cards above this share of the budget: warning."
    )
    drift_features: list[str] = Field(
        default_factory=list,
        description=(
            "Feature columns whose PSI is tracked; empty = every numeric feature column but the "
            "calendar flags constant within a day (tx_during_weekend)."
        ),
    )
    chart_days: int = Field(
        default=30,
        description=(
            "Days (up to the monitored day) that the PSI and precision charts show; 0 = no charts."
        ),
    )
    tables: MonitoringTables = MonitoringTables()

    _not_negative = field_validator("min_rows", "reference_sample_per_day", "chart_days")(
        not_negative
    )
    _positive = field_validator("reference_days", "psi_threshold", "max_budget_utilisation")(
        positive
    )
    _bins = field_validator("psi_bins")(at_least_two)
    _epsilon = field_validator("psi_epsilon")(open_unit_interval)
    _floor = field_validator("precision_floor")(unit_interval)

    def health_thresholds(self) -> CoreHealthThresholds:
        """The thresholds of ``fraud_core.monitoring.assess_health``."""
        return CoreHealthThresholds(
            psi_threshold=self.psi_threshold,
            precision_floor=self.precision_floor,
            max_budget_utilisation=self.max_budget_utilisation,
        )
