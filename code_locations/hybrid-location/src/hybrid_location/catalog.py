"""The catalog of the hybrid location: what each asset's table holds, its stage, its freshness.

One declaration per asset (:data:`TABLE_ASSETS`), applied to the loaded definitions by
:func:`catalogued` (see ``definitions.py``) with the machinery every location shares
(:mod:`fraud_dagster.catalog`: owners, tags, table metadata, code versions, code references linked
to git), so the asset modules stay about computing. What is specific to this location:

* **columns**: a type and a description for every column its assets write (the canonical columns
  of :mod:`fraud_core.columns`, the feature columns of the running :class:`PipelineShape`
  described from the feature registry, the reason and alert columns, the report's headline
  numbers); card (``customer_id``) and terminal ids are tagged ``pii``, which tags their assets
  ``pii`` too;
* **tables**: which asset writes which table of :class:`fraud_storage.TableNames` (the real table
  of this environment, a branch deployment's own schema included), and its ``stage``;
* **freshness** of ``daily_fraud_report``: :data:`REPORT_FRESHNESS`, the report of the previous day
  exists by 06:00 UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from fraud_core.alerts import ALERT_COLUMNS
from fraud_core.columns import (
    ALERT_RANK,
    CANONICAL_COLUMNS,
    CUSTOMER_ID,
    EXPECTED_FRAUD_AMOUNT,
    FRAUD_SCORE,
    MAX_SCORE,
    MODEL_VERSION,
    N_TRANSACTIONS,
    PARTITION_DATE,
    PIPELINE_SHAPE,
    REASON_COUNT,
    TERMINAL_ID,
    TOP_TRANSACTION_ID,
    TOTAL_AMOUNT,
    TRANSACTION_DAY,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
    reason_contribution,
    reason_feature,
    reason_text,
    reason_value,
)
from fraud_core.features.registry import (
    FEATURE_LAYOUT,
    FIRST_USE,
    NB_FRAUD,
    NB_LABELLED,
    NB_TX,
    SECONDS_SINCE_PREV_TX,
    TX_DURING_NIGHT,
    TX_DURING_WEEKEND,
    TX_HOUR,
    Alignment,
    PointFeature,
    Statistic,
    WindowAggregate,
    matured_measures,
)
from fraud_core.scoring import SCORE_COLUMNS
from fraud_core.shape import PipelineShape
from fraud_dagster.catalog import (
    CatalogEntry,
    Column,
    DeployedTables,
    LocationCatalog,
    RepositoryAnchor,
    table_schema,
)
from fraud_storage import TableNames

__all__ = [
    "REPORT_FRESHNESS",
    "TABLE_ASSETS",
    "TableAsset",
    "catalog",
    "catalogued",
    "catalogued_assets",
    "column_schema",
    "columns",
]

REPORT_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=6), timezone="UTC"
)
"""The morning report is fresh once materialized after 00:00 UTC (the day closed); at 06:00
without such a materialization Dagster marks it failing its freshness policy until it runs."""

REPOSITORY_ANCHOR = RepositoryAnchor(
    Path(__file__), "code_locations/hybrid-location/src/hybrid_location/catalog.py"
)
"""This file, locally and in the repository: every asset module's path is mapped relative to it."""


# --------------------------------------------------------------------------------------------
# Columns: one description per column name
# --------------------------------------------------------------------------------------------


ID = "int64 or string"
"""Ids are stored as the source holds them (integers in the simulator, strings elsewhere)."""

_TRANSACTIONS: dict[str, Column] = {
    TRANSACTION_ID: Column(ID, "The transaction's unique id in the source."),
    TX_DATETIME: Column("timestamp (UTC)", "When the card was used."),
    CUSTOMER_ID: Column(
        ID, "The card (the handbook's customer) used: personal data.", pii="card_id"
    ),
    TERMINAL_ID: Column(ID, "The payment terminal: personal data.", pii="terminal_id"),
    TX_AMOUNT: Column("float", "Amount of the transaction, in the report currency."),
    TX_FRAUD: Column(
        "int (nullable)",
        "The label: 1 fraud, 0 genuine, NULL not known yet (labels arrive after the label delay).",
    ),
    TX_FRAUD_SCENARIO: Column(
        "int (nullable)",
        "The simulator's fraud scenario (0 genuine); only where the source has this column.",
    ),
}
_BOOKKEEPING: dict[str, Column] = {
    PARTITION_DATE: Column("date", "The daily partition (UTC day) the row belongs to."),
    PIPELINE_SHAPE: Column(
        "string",
        "Fingerprint of the pipeline shape (windows, label delay, feature set) the row was built "
        "with; reading rows of another shape fails, naming what to rebuild.",
    ),
    TRANSACTION_DAY: Column("date", "The day whose transactions the row counts."),
}
_SCORES: dict[str, Column] = {
    FRAUD_SCORE: Column("float", "Fraud probability of the transaction from the model, in [0, 1]."),
    MODEL_VERSION: Column("string", "Version (in the model store) of the model that scored it."),
}
_ALERTS: dict[str, Column] = {
    ALERT_RANK: Column("int", "Review order: 1 = the card to review first (highest max score)."),
    MAX_SCORE: Column("float", "The card's highest fraud score of the day."),
    N_TRANSACTIONS: Column("int", "The card's transactions of the day."),
    TOTAL_AMOUNT: Column("float", "The card's total amount of the day."),
    EXPECTED_FRAUD_AMOUNT: Column(
        "float",
        "Sum over the card's transactions of score x amount: the money the model expects at stake.",
    ),
    TOP_TRANSACTION_ID: Column(
        ID, "The card's highest-scored transaction of the day: its reasons are the alert's."
    ),
}
_ORDINALS = {1: "largest", 2: "second largest", 3: "third largest"}


def _reasons() -> dict[str, Column]:
    """The reason columns, rank by rank (NULL where no reason was computed)."""
    out: dict[str, Column] = {}
    for rank in range(1, REASON_COUNT + 1):
        which = f"the feature with the {_ORDINALS.get(rank, f'#{rank}')} contribution to the score"
        out |= {
            reason_feature(rank): Column("string", f"Reason {rank}: {which}."),
            reason_value(rank): Column("float", f"Reason {rank}: that feature's value."),
            reason_contribution(rank): Column(
                "float",
                f"Reason {rank}: its signed contribution to the raw score (log-odds; CatBoost's "
                "SHAP value, positive = towards fraud).",
            ),
            reason_text(rank): Column(
                "string", f'Reason {rank} in words, e.g. "amount 6.2x the card\'s 30-day average".'
            ),
        }
    return out


_POINT_FEATURES: dict[str, str] = {
    TX_DURING_WEEKEND.name: "1 on a Saturday or Sunday (UTC), else 0.",
    TX_DURING_NIGHT.name: "1 when the hour of day (UTC) is at most 6, else 0.",
    TX_HOUR.name: "Hour of day of the transaction, 0..23 (UTC).",
    SECONDS_SINCE_PREV_TX.name: (
        "Seconds since the card's previous transaction, capped at the lookback (also when none)."
    ),
    FIRST_USE.name: "1 when the card has no earlier transaction at this terminal in the lookback.",
}
_ENTITY = {CUSTOMER_ID: "card", TERMINAL_ID: "terminal"}
_STATISTIC: dict[Statistic, str] = {
    Statistic.COUNT: "Transactions of the {entity} in {window}",
    Statistic.MEAN_AMOUNT: "Mean amount of the {entity}'s transactions in {window}",
    Statistic.FRAUD_RATE: (
        "Share of fraud among the {entity}'s labelled transactions in {window} (0 when none)"
    ),
    Statistic.AMOUNT_TO_MEAN: (
        "The amount divided by the mean amount of the {entity}'s earlier transactions in {window} "
        "(1.0 when none)"
    ),
    Statistic.AMOUNT_ZSCORE: (
        "The amount's z-score against the {entity}'s earlier transactions in {window} (0 when none)"
    ),
}


def _window(alignment: Alignment, n: int, delay: int) -> str:
    days = f"{n} day{'s' if n != 1 else ''}"
    if alignment is Alignment.DELAYED:
        return f"the {days} ending {delay} days before it (labels known by then)"
    return f"the {days} up to the transaction"


def _dtype(dtype: Any) -> str:
    """``int`` or ``float``: the column type of a numpy dtype."""
    return "int" if dtype.kind in "iu" else "float"


def _features(shape: PipelineShape) -> dict[str, Column]:
    """The engineered feature columns of ``shape``, described from the feature registry."""
    config = shape.feature_config()
    out: dict[str, Column] = {}
    for item in FEATURE_LAYOUT:
        if isinstance(item, PointFeature):
            out[item.name] = Column(_dtype(item.dtype), _POINT_FEATURES.get(item.name, ""))
            continue
        assert isinstance(item, WindowAggregate)
        for n in item.windows(config):
            window = _window(item.alignment, n, shape.label_delay_days)
            for feature in item.features:
                text = _STATISTIC[feature.statistic].format(
                    entity=_ENTITY[item.entity], window=window
                )
                out[feature.name(n)] = Column(_dtype(feature.dtype), f"{text}.")
    return out


def _labels(shape: PipelineShape) -> dict[str, Column]:
    """The per-terminal, per-day totals of the matured label table."""
    what = {
        NB_TX.name: "Transactions at the terminal on the counted day.",
        NB_LABELLED.name: "Of which labelled when the counted day's labels became due.",
        NB_FRAUD.name: "Of which labelled fraud.",
    }
    return {
        m.name: Column(_dtype(m.dtype), what.get(m.name, ""))
        for m in matured_measures(shape.feature_config())
    }


_REPORT: dict[str, Column] = {
    "day": Column("timestamp (UTC)", "The report's day."),
    "currency": Column("string", "Currency of every amount."),
    "model_versions": Column(
        "string", "Versions of the models that scored the day, comma-separated."
    ),
    "alert_budget": Column(
        "int", "Cards the fraud team can review in a day (alerts at the budget)."
    ),
    "threshold": Column("float", "Score at or above which a transaction alerts."),
    "n_transactions": Column("int", "Transactions scored on the day."),
    "n_cards": Column("int", "Distinct cards of the day."),
    "n_terminals": Column("int", "Distinct terminals of the day."),
    "amount": Column("float", "Total amount of the day."),
    "score_mean": Column("float", "Mean fraud score (NULL without transactions)."),
    "score_median": Column("float", "Median fraud score."),
    "score_p95": Column("float", "95th percentile of the fraud score."),
    "score_p99": Column("float", "99th percentile of the fraud score."),
    "n_labelled": Column("int", "Transactions whose label was known when the report was built."),
    "n_fraud_labelled": Column("int", "Of which fraud."),
    "fraud_amount_known": Column("float", "Amount of the known frauds (NULL when none labelled)."),
    "alerts_budget": Column("int", "Cards alerted at the review budget."),
    "alerted_amount": Column("float", "Total amount of the alerted cards' transactions."),
    "alerts_threshold_tx": Column("int", "Transactions scoring at or above the threshold."),
    "alerts_threshold_cards": Column("int", "Cards whose max score reaches the threshold."),
    "expected_precision": Column(
        "float", "Mean max score of the alerted cards: the expected precision."
    ),
    "realised_precision": Column(
        "float",
        "Share of fraudulent cards among the alerted cards with a known label (NULL when none).",
    ),
    "n_alerted_cards_labelled": Column("int", "Alerted cards with a known label."),
    "fraud_amount_caught": Column("float", "Known fraud amount on the alerted cards."),
    "expected_fraud_amount": Column(
        "float", "Sum of score x amount over the day: expected fraud amount."
    ),
    "expected_fraud_amount_alerted": Column("float", "The same over the alerted cards."),
    "trailing_days_with_data": Column("int", "Days of the trailing week with scores."),
    "trailing_mean_n_transactions": Column("float", "Trailing week's mean of n_transactions."),
    "trailing_mean_amount": Column("float", "Trailing week's mean of amount."),
    "trailing_mean_score": Column("float", "Trailing week's mean of score_mean."),
    "trailing_mean_alerts_threshold_tx": Column(
        "float", "Trailing week's mean of alerts_threshold_tx."
    ),
    "trailing_mean_realised_precision": Column(
        "float", "Trailing week's mean of realised_precision."
    ),
}
"""The report's one warehouse row a day (``fraud_core.report.report_summary_frame``)."""


def columns(shape: PipelineShape) -> dict[str, Column]:
    """Every column of the pipeline's tables, described, for ``shape``'s features."""
    return {
        **_TRANSACTIONS,
        **_BOOKKEEPING,
        **_SCORES,
        **_ALERTS,
        **_reasons(),
        **_features(shape),
        **_labels(shape),
        **_REPORT,
    }


# --------------------------------------------------------------------------------------------
# Table assets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableAsset:
    """An asset that writes one warehouse table: which one, its stage, the columns it writes."""

    role: str
    """The table's attribute of :class:`fraud_storage.TableNames`."""
    stage: str
    columns: Callable[[PipelineShape], list[str]]

    def table(self, tables: TableNames) -> Any:
        """The asset's table in ``tables``, or None when this version has no such table."""
        return getattr(tables, self.role, None)


def _features_columns(shape: PipelineShape) -> list[str]:
    return [*CANONICAL_COLUMNS, *_features(shape), PIPELINE_SHAPE, PARTITION_DATE]


def _label_columns(shape: PipelineShape) -> list[str]:
    return [TERMINAL_ID, *_labels(shape), TRANSACTION_DAY, PIPELINE_SHAPE, PARTITION_DATE]


TABLE_ASSETS: dict[str, TableAsset] = {
    "raw_customer_transactions": TableAsset(
        "validated", "ingestion", lambda _: [*CANONICAL_COLUMNS, PARTITION_DATE]
    ),
    "matured_terminal_labels": TableAsset("terminal_labels", "features", _label_columns),
    "transformed_transactions": TableAsset("transformed", "features", _features_columns),
    "fraud_scores": TableAsset("scores", "scoring", lambda _: [*SCORE_COLUMNS, PARTITION_DATE]),
    "fraud_alerts": TableAsset("alerts", "alerting", lambda _: [*ALERT_COLUMNS, PARTITION_DATE]),
    "daily_fraud_report": TableAsset("report", "reporting", lambda _: [*_REPORT, PARTITION_DATE]),
}
"""Every asset that writes a warehouse table, by asset name (``fraud_alerts`` when present)."""

OTHER_STAGES: dict[str, str] = {"fraud_detection_model": "training"}
"""Assets without a table: their stage tag."""


def column_schema(names: Iterable[str], shape: PipelineShape) -> dg.TableSchema:
    """The schema of ``names``, each column typed and described (undescribed ones left bare)."""
    return table_schema(names, columns(shape))


# --------------------------------------------------------------------------------------------
# Applying the catalog
# --------------------------------------------------------------------------------------------


def _entries(shape: PipelineShape, deployed: DeployedTables) -> dict[str, CatalogEntry]:
    """The catalog entry of every asset of the location, by asset name."""
    entries = {name: CatalogEntry(stage) for name, stage in OTHER_STAGES.items()}
    for name, asset in TABLE_ASSETS.items():
        entries[name] = CatalogEntry(
            asset.stage,
            schema=column_schema(asset.columns(shape), shape),
            table=asset.table(deployed.tables),
            storage_kind=deployed.storage_kind,
            freshness_policy=REPORT_FRESHNESS if name == "daily_fraud_report" else None,
        )
    return entries


LOCATION = LocationCatalog(_entries, REPOSITORY_ANCHOR)
"""This location's catalog (:class:`fraud_dagster.catalog.LocationCatalog`)."""

catalog = LOCATION.build
catalogued = LOCATION.apply
catalogued_assets = LOCATION.assets
