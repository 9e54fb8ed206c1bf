"""The catalog of the monitoring location: what each monitoring table holds, and where it is.

One declaration per asset (:data:`MONITORING_TABLES`), applied to the loaded definitions by
:func:`catalogued` (see ``definitions.py``) with the machinery every location shares
(:mod:`fraud_dagster.catalog`: owners, tags ``domain=fraud`` / ``stage=monitoring``, table
metadata, code versions, code references linked to git). The columns are those of the day's record
each asset stores (``frame()`` of :class:`~fraud_core.monitoring.ScoreDrift`,
:class:`~fraud_core.monitoring.FeatureDrift`, :class:`~fraud_core.monitoring.DayPerformance`,
:class:`~fraud_core.monitoring.DayHealth`) plus the partition column; no table holds a card or
terminal id, so no asset is tagged ``pii``. The hybrid location's tables, declared here as
upstream specs, are described by that location, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import dagster as dg

from fraud_core.columns import N_TRANSACTIONS, PARTITION_DATE
from fraud_core.monitoring import DRIFT_COLUMNS, RealisedPerformance
from fraud_dagster.catalog import (
    CatalogEntry,
    Column,
    DeployedTables,
    LocationCatalog,
    RepositoryAnchor,
    table_schema,
)
from monitoring_location.settings import MonitoringTables

__all__ = [
    "MONITORING_TABLES",
    "STAGE",
    "MonitoringTable",
    "catalog",
    "catalogued",
    "catalogued_assets",
]

STAGE = "monitoring"

REPOSITORY_ANCHOR = RepositoryAnchor(
    Path(__file__), "code_locations/monitoring-location/src/monitoring_location/catalog.py"
)
"""This file, locally and in the repository: every asset module's path is mapped relative to it."""


# --------------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------------

_DAY = Column("date", "The monitored day (UTC).")
_EVALUATED_AT = Column("timestamp (UTC)", "When the row was computed (a re-run replaces it).")
_PARTITION = Column("date", "The daily partition (UTC day) the row belongs to.")
_PSI = Column(
    "float", "Population stability index of the day against its reference (NaN: not computed)."
)
_PSI_COMPUTED = Column(
    "bool", "Whether both samples held at least `min_rows` rows, so that the PSI was computed."
)
_DRIFTED = Column("bool", "Whether the PSI is above the threshold (never when not computed).")
_REFERENCE: dict[str, Column] = {
    "psi_threshold": Column("float", "PSI above this is drift (`psi_threshold`)."),
    "n_bins": Column("int", "Bins of the PSI (reference quantiles; 0 when not computed)."),
    "n_actual": Column("int", "Rows of the monitored day."),
    "n_reference": Column("int", "Rows of the (sampled) reference."),
    "reference_first_day": Column("date", "First day of the reference window."),
    "reference_last_day": Column("date", "Last day of the reference window (the day before)."),
    "reference_days_with_data": Column("int", "Days of the reference window that had rows."),
    "actual_mean": Column("float", "Mean of the monitored day's values."),
    "reference_mean": Column("float", "Mean of the reference's values (NaN: not computed)."),
}

SCORE_DRIFT: dict[str, Column] = {
    "day": _DAY,
    "psi": _PSI,
    "psi_computed": _PSI_COMPUTED,
    "drifted": _DRIFTED,
    **{
        name: _REFERENCE[name]
        for name in (
            "psi_threshold",
            "n_bins",
            "n_actual",
            "n_reference",
            "reference_first_day",
            "reference_last_day",
            "reference_days_with_data",
        )
    },
    "actual_mean": Column("float", "Mean fraud score of the monitored day."),
    "reference_mean": Column("float", "Mean fraud score of the reference (NaN: not computed)."),
    "evaluated_at": _EVALUATED_AT,
    PARTITION_DATE: _PARTITION,
}
"""``MONITORING_SCORE_DRIFT``: one row a day (:meth:`ScoreDrift.frame`)."""

_FEATURE_DRIFT_ROW: dict[str, Column] = {
    "feature": Column("string", "The feature column of TRANSFORMED_TRANSACTIONS."),
    "psi": _PSI,
    "drifted": _DRIFTED,
    **_REFERENCE,
    "reference_missing_share": Column("float", "Share of missing values in the reference."),
    "actual_missing_share": Column("float", "Share of missing values on the monitored day."),
}
FEATURE_DRIFT: dict[str, Column] = {
    **{
        name: _FEATURE_DRIFT_ROW[name]
        for name in ("feature" if c == "column" else c for c in DRIFT_COLUMNS)
    },
    "day": _DAY,
    "psi_computed": _PSI_COMPUTED,
    **{
        name: _REFERENCE[name]
        for name in (
            "psi_threshold",
            "reference_first_day",
            "reference_last_day",
            "reference_days_with_data",
        )
    },
    "evaluated_at": _EVALUATED_AT,
    PARTITION_DATE: _PARTITION,
}
"""``MONITORING_FEATURE_DRIFT``: one row per tracked feature and day (:meth:`FeatureDrift.frame`,
the columns of :data:`~fraud_core.monitoring.DRIFT_COLUMNS`, ``column`` named ``feature``)."""

_REALISED: dict[str, Column] = {
    "day": _DAY,
    "as_of": Column("date", "The latest day the source held when evaluated (labels known then)."),
    "label_delay_days": Column("int", "Days after which a day's labels are complete."),
    "labels_mature": Column(
        "bool", "Whether the day's labels were complete (else the row is provisional)."
    ),
    N_TRANSACTIONS: Column("int", "Transactions scored on the day."),
    "n_labelled": Column("int", "Of which with a known label."),
    "label_coverage": Column("float", "Share of the day's transactions with a known label."),
    "n_fraud": Column("int", "Transactions labelled fraud."),
    "threshold": Column("float", "Alert threshold: a transaction alerts at or above it."),
    "n_alerts": Column("int", "Transactions at or above the threshold."),
    "n_alerts_labelled": Column("int", "Of which with a known label."),
    "true_positives": Column("int", "Alerted transactions labelled fraud."),
    "precision": Column("float", "Realised precision at the threshold (NaN: nothing labelled)."),
    "recall": Column("float", "Realised recall at the threshold (NaN: no known fraud)."),
    "k": Column("int", "The review budget: cards the fraud team reviews in a day."),
    "n_cards": Column("int", "Distinct cards of the day."),
    "n_fraud_cards": Column("int", "Cards with a transaction labelled fraud."),
    "n_detected_cards": Column("int", "Of which in the top k cards by max score."),
    "card_precision_at_k": Column(
        "float", "Card precision@k (handbook protocol) on the labels known (NaN: none)."
    ),
    "card_recall_at_k": Column("float", "Detected share of the fraudulent cards."),
    "average_precision": Column("float", "Average precision of the scores (NaN: one class)."),
    "roc_auc": Column("float", "ROC AUC of the scores (NaN: one class)."),
}
_VOLUME: dict[str, Column] = {
    "alert_budget": Column("int", "Cards the fraud team can review in a day."),
    "n_alert_cards": Column("int", "Cards whose max score reaches the threshold."),
    "budget_utilisation": Column("float", "n_alert_cards / alert_budget."),
    "over_budget": Column("bool", "Whether more cards alerted than the budget."),
    "excess_cards": Column("int", "Alerted cards beyond the budget."),
    "model_versions": Column("string", "Versions of the models that scored the day, sorted."),
}
PERFORMANCE: dict[str, Column] = {
    **{field.name: _REALISED[field.name] for field in fields(RealisedPerformance)},
    **_VOLUME,
    "evaluated_at": _EVALUATED_AT,
    PARTITION_DATE: _PARTITION,
}
"""``MONITORING_PERFORMANCE``: one row a day (:meth:`DayPerformance.frame`: the fields of
:class:`~fraud_core.monitoring.RealisedPerformance`, then the alert volume)."""

HEALTH: dict[str, Column] = {
    "day": _DAY,
    "status": Column("string", "The verdict: healthy, warning or critical."),
    "reasons": Column("string", "Why, '; '-separated (empty when healthy)."),
    "notes": Column("string", "What could not be assessed, '; '-separated."),
    "score_psi": Column("float", "The day's score PSI (NaN: not computed)."),
    "max_feature_psi": Column("float", "The day's highest feature PSI (NaN: not computed)."),
    "most_drifted_feature": Column("string", "The feature with that PSI (empty: none)."),
    "precision_day": Column("string", "The latest day evaluated with mature labels (empty: none)."),
    "card_precision_at_k": Column(
        "float", "Realised card precision@k of that day (NaN: none, or no fraud that day)."
    ),
    "budget_utilisation": Column("float", "The day's alerted cards / review budget."),
    N_TRANSACTIONS: Column("int", "Transactions scored on the day."),
    "model_versions": Column("string", "Versions of the models that scored the day, sorted."),
    "evaluated_at": _EVALUATED_AT,
    PARTITION_DATE: _PARTITION,
}
"""``MONITORING_MODEL_HEALTH``: one row a day (:meth:`DayHealth.frame`)."""


# --------------------------------------------------------------------------------------------
# Table assets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitoringTable:
    """A monitoring asset's table: its role in :class:`MonitoringTables` and its columns."""

    role: str
    columns: Mapping[str, Column]

    def schema(self) -> dg.TableSchema:
        """The table's columns, typed and described, in the order they are written."""
        return table_schema(self.columns, self.columns)


MONITORING_TABLES: dict[str, MonitoringTable] = {
    "score_drift": MonitoringTable("score_drift", SCORE_DRIFT),
    "feature_drift": MonitoringTable("feature_drift", FEATURE_DRIFT),
    "delayed_label_performance": MonitoringTable("performance", PERFORMANCE),
    "model_health": MonitoringTable("health", HEALTH),
}
"""Every monitoring asset, by asset name, with the table it writes."""


# --------------------------------------------------------------------------------------------
# Applying the catalog
# --------------------------------------------------------------------------------------------


def _entries(deployed: DeployedTables) -> dict[str, CatalogEntry]:
    """The catalog entry of every monitoring asset (default table names, next to the scores)."""
    tables = MonitoringTables().resolve(deployed.tables.scores)
    return {
        name: CatalogEntry(
            STAGE,
            schema=table.schema(),
            table=tables[table.role],
            storage_kind=deployed.storage_kind,
        )
        for name, table in MONITORING_TABLES.items()
    }


LOCATION = LocationCatalog(lambda _shape, deployed: _entries(deployed), REPOSITORY_ANCHOR)
"""This location's catalog (:class:`fraud_dagster.catalog.LocationCatalog`)."""

catalog = LOCATION.build
catalogued = LOCATION.apply
catalogued_assets = LOCATION.assets
