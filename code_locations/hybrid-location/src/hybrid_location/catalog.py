"""The catalog of the hybrid location: who owns each asset, what its table holds, where its code is.

One declaration per asset, applied to the loaded definitions by :func:`catalogued` (see
``definitions.py``), so the asset modules stay about computing:

* **owners** ``team:fraud-ml`` (``FRAUD_ASSET_OWNERS``: comma-separated emails or ``team:`` names);
* **tags** ``domain=fraud``, the pipeline ``stage``, and ``pii`` on every asset whose table holds
  card (``customer_id``) or terminal ids (the columns carry a ``pii`` tag saying which id);
* **table metadata** (Dagster's table conventions): ``dagster/column_schema`` with a type and
  a description for every column the asset writes (the canonical columns of
  :mod:`fraud_core.columns`, the feature columns of the running :class:`PipelineShape` described
  from the feature registry, the reason and alert columns, the report's headline numbers),
  ``dagster/table_name`` (the real table of this environment, a branch deployment's own schema
  included) and ``dagster/storage_kind``. At run time each materialization adds its row counts
  (:func:`hybrid_location.conventions.table_metadata`);
* **code version** (:func:`code_version`): a digest of the source of every first-party module the
  asset's module imports, directly or not (``hybrid_location``, ``fraud_core``, ``fraud_storage``,
  ``fraud_dagster``), plus the pipeline shape's fingerprint. A change to the code an asset runs, or
  to the shape its table is built with, marks exactly the affected assets "code version changed"
  in the UI; a change to the report does not mark the features stale;
* **code references** to the asset's function: a local file and line, linked to git
  (:func:`dagster.link_code_references_to_git`) when the deployment says where the code is
  (``FRAUD_GIT_URL`` + ``FRAUD_GIT_REF``, or Dagster+'s ``DAGSTER_CLOUD_GIT_REPO`` +
  ``DAGSTER_CLOUD_GIT_SHA``/``_BRANCH`` in branch deployments). Missing git information never
  fails the load: the references stay local;
* **freshness** of ``daily_fraud_report``: :data:`REPORT_FRESHNESS`, the report of the previous day
  exists by 06:00 UTC.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
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
from fraud_dagster.builders import tables_config
from fraud_dagster.environment import Environment, current_environment, warehouse_kind
from fraud_dagster.shape import PIPELINE_SHAPE as RUNNING_SHAPE
from fraud_storage import TableNames
from hybrid_location.conventions import CODE_REFERENCES, COLUMN_SCHEMA, STORAGE_KIND, TABLE_NAME

__all__ = [
    "DEFAULT_OWNER",
    "OWNERS_VARIABLE",
    "REPORT_FRESHNESS",
    "TABLE_ASSETS",
    "CodeLocation",
    "Column",
    "TableAsset",
    "catalogued",
    "catalogued_assets",
    "code_version",
    "column_schema",
    "git_location",
    "owners",
]

OWNERS_VARIABLE = "FRAUD_ASSET_OWNERS"
DEFAULT_OWNER = "team:fraud-ml"
DOMAIN = "fraud"
PII_TAG = "pii"
"""Asset tag of an asset whose table holds personal data; column tag naming which id a column is."""

REPORT_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=6), timezone="UTC"
)
"""The morning report is fresh once materialized after 00:00 UTC (the day closed); at 06:00
without such a materialization Dagster marks it failing its freshness policy until it runs."""

FIRST_PARTY = ("hybrid_location", "fraud_core", "fraud_storage", "fraud_dagster")
"""Packages whose source makes an asset's code version (third-party code is pinned by uv.lock)."""


# --------------------------------------------------------------------------------------------
# Columns: one description per column name
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of a pipeline table: its type, what it means, and which personal id it is."""

    type: str
    description: str
    pii: str | None = None

    def table_column(self, name: str) -> dg.TableColumn:
        """The Dagster column (tagged ``pii`` with the kind of id when it is personal data)."""
        tags = {PII_TAG: self.pii} if self.pii else None
        return dg.TableColumn(name, self.type, description=self.description, tags=tags)


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
    described = columns(shape)
    return dg.TableSchema(
        columns=[
            described[name].table_column(name) if name in described else dg.TableColumn(name)
            for name in names
        ]
    )


# --------------------------------------------------------------------------------------------
# Owners, code versions, code references
# --------------------------------------------------------------------------------------------


def owners(env: Mapping[str, str] | None = None) -> list[str]:
    """The assets' owners: ``FRAUD_ASSET_OWNERS`` (comma-separated) or ``team:fraud-ml``."""
    env = os.environ if env is None else env
    raw = env.get(OWNERS_VARIABLE, "").strip() or DEFAULT_OWNER
    found = [part.strip() for part in raw.split(",") if part.strip()]
    bad = [o for o in found if not ("@" in o or (o.startswith("team:") and len(o) > 5))]
    if bad:
        raise ValueError(
            f"{OWNERS_VARIABLE}={raw!r}: owners are emails or team names prefixed with 'team:' "
            f"(e.g. {DEFAULT_OWNER}); not {bad}"
        )
    return found


def _module_file(name: str) -> Path | None:
    """The source file of first-party module ``name`` (None for others and for non-modules)."""
    if name.split(".")[0] not in FIRST_PARTY:
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec else None
    return Path(origin) if origin and origin.endswith(".py") else None


def _imports(name: str, source: str) -> set[str]:
    """First-party modules ``source`` (the module ``name``) imports, and their parent packages."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # submodules
    parents = {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 1)}
    return {m for m in found | parents if m.split(".")[0] in FIRST_PARTY and m != name}


@functools.cache
def _module(name: str) -> tuple[str, frozenset[str]] | None:
    """Source and first-party imports of module ``name`` (None when not a first-party file)."""
    path = _module_file(name)
    if path is None:
        return None
    source = path.read_text(encoding="utf-8")
    return source, frozenset(_imports(name, source))


def source_closure(module: str) -> dict[str, str]:
    """``module`` and every first-party module it imports, directly or not: name -> source."""
    sources: dict[str, str] = {}
    pending = [module]
    while pending:
        name = pending.pop()
        found = None if name in sources else _module(name)
        if found is not None:
            sources[name] = found[0]
            pending.extend(found[1] - sources.keys())
    return sources


@functools.cache
def code_version(module: str, shape: PipelineShape) -> str:
    """The code version of an asset defined in ``module``: a digest of the source it runs (its
    first-party import closure) and of the pipeline shape, e.g. ``3f9a0c1d2b4e``."""
    digest = hashlib.sha256(shape.fingerprint.encode())
    for name, source in sorted(source_closure(module).items()):
        digest.update(f"\0{name}\0".encode())
        digest.update(source.encode())
    return digest.hexdigest()[:12]


def _asset_function(assets_def: dg.AssetsDefinition) -> Callable[..., Any] | None:
    """The function the asset runs, unwrapped (decorators such as ``fail_fast_on`` wrap it)."""
    compute = getattr(assets_def.op, "compute_fn", None)
    fn = getattr(compute, "decorated_fn", compute)
    return inspect.unwrap(fn) if callable(fn) else None


@dataclass(frozen=True)
class CodeLocation:
    """Where the asset's code is: its module and the file and line of its definition."""

    module: str
    file: str
    line: int


def _code_location(assets_def: dg.AssetsDefinition) -> CodeLocation | None:
    fn = _asset_function(assets_def)
    file = inspect.getsourcefile(fn) if fn else None
    if fn is None or file is None:
        return None
    return CodeLocation(fn.__module__, str(Path(file).resolve()), inspect.getsourcelines(fn)[1])


def git_location(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(repository URL, ref) of the deployed code, or None when the deployment does not say.

    ``FRAUD_GIT_URL`` and ``FRAUD_GIT_REF`` first; else, in a Dagster+ branch deployment,
    ``https://github.com/<DAGSTER_CLOUD_GIT_REPO>`` at ``DAGSTER_CLOUD_GIT_SHA`` (or the branch).
    """
    env = os.environ if env is None else env
    repo = env.get("DAGSTER_CLOUD_GIT_REPO", "").strip()
    url = env.get("FRAUD_GIT_URL", "").strip() or (
        f"https://github.com/{repo}" if repo.count("/") == 1 else ""
    )
    ref = next(
        (
            env[key].strip()
            for key in ("FRAUD_GIT_REF", "DAGSTER_CLOUD_GIT_SHA", "DAGSTER_CLOUD_GIT_BRANCH")
            if env.get(key, "").strip()
        ),
        "",
    )
    return (url.rstrip("/"), ref) if url and ref else None


_ANCHOR = Path(__file__).resolve()
_ANCHOR_IN_REPOSITORY = "code_locations/hybrid-location/src/hybrid_location/catalog.py"
"""This file, locally and in the repository: every asset module's path is mapped relative to it."""


# --------------------------------------------------------------------------------------------
# Applying the catalog
# --------------------------------------------------------------------------------------------


def _tags(schema: dg.TableSchema | None, stage: str) -> dict[str, str]:
    """Domain and stage; ``pii`` when a column of the table is a personal id."""
    tags = {"domain": DOMAIN, "stage": stage}
    if schema is not None and any(PII_TAG in column.tags for column in schema.columns):
        tags[PII_TAG] = ""
    return tags


def _describe(
    spec: dg.AssetSpec,
    *,
    tables: TableNames,
    storage_kind: str,
    shape: PipelineShape,
    owners_: list[str],
    code: Mapping[dg.AssetKey, CodeLocation],
) -> dg.AssetSpec:
    """``spec`` with its owners, tags, table metadata, code version and references."""
    name = spec.key.to_user_string()
    entry = TABLE_ASSETS.get(name)
    metadata: dict[str, Any] = {}
    schema = None
    if entry is not None:
        schema = column_schema(entry.columns(shape), shape)
        table = entry.table(tables)
        metadata |= {
            COLUMN_SCHEMA: dg.MetadataValue.table_schema(schema),
            TABLE_NAME: str(table) if table is not None else None,
            STORAGE_KIND: storage_kind,
        }
    stage = entry.stage if entry else OTHER_STAGES.get(name)
    if stage is None:
        return spec
    where = code.get(spec.key)
    if where is not None:
        metadata[CODE_REFERENCES] = dg.CodeReferencesMetadataValue(
            code_references=[
                dg.LocalFileCodeReference(file_path=where.file, line_number=where.line)
            ]
        )
    return spec.replace_attributes(
        owners=[*spec.owners, *(o for o in owners_ if o not in spec.owners)],
        tags={**spec.tags, **_tags(schema, stage)},
        metadata={**spec.metadata, **{k: v for k, v in metadata.items() if v is not None}},
        code_version=spec.code_version or (code_version(where.module, shape) if where else None),
        freshness_policy=REPORT_FRESHNESS if name == "daily_fraud_report" else ...,
    )


def _linked_to_git(assets: list[Any], git: tuple[str, str]) -> list[Any]:
    """``assets`` with their local code references turned into git URLs (kept local when the
    host is neither GitHub nor GitLab)."""
    url, ref = git
    mapping = dg.AnchorBasedFilePathMapping(
        local_file_anchor=_ANCHOR, file_anchor_path_in_repository=_ANCHOR_IN_REPOSITORY
    )
    try:
        return list(
            dg.link_code_references_to_git(
                assets, git_url=url, git_branch=ref, file_path_mapping=mapping
            )
        )
    except ValueError:
        return assets


def _with_assets(defs: dg.Definitions, assets: list[Any]) -> dg.Definitions:
    """``defs`` with ``assets`` in place of its assets, every other field kept."""
    fields = {name: getattr(defs, name) for name in inspect.signature(dg.Definitions).parameters}
    return dg.Definitions(**{**fields, "assets": assets})


def catalogued(
    defs: dg.Definitions,
    *,
    environment: Environment | None = None,
    shape: PipelineShape = RUNNING_SHAPE,
    env: Mapping[str, str] | None = None,
) -> dg.Definitions:
    """``defs`` with the catalog applied to its assets (see the module docstring)."""
    environment = environment or current_environment(env)
    # The defs folder holds an asset once per module that defines or imports it: map each once.
    assets = list({id(a): a for a in defs.assets or []}.values())
    code = {
        key: where
        for a in assets
        if isinstance(a, dg.AssetsDefinition) and (where := _code_location(a)) is not None
        for key in a.keys
    }

    tables = tables_config(environment).table_names()
    storage_kind = warehouse_kind(environment, env).value
    owned_by = owners(env)

    def describe(spec: dg.AssetSpec) -> dg.AssetSpec:
        return _describe(
            spec,
            tables=tables,
            storage_kind=storage_kind,
            shape=shape,
            owners_=owned_by,
            code=code,
        )

    git = git_location(env)
    with warnings.catch_warnings():
        # Code references are a beta API, used knowingly: its warnings would repeat at every
        # load (dg dev, dg check, every code server start).
        warnings.simplefilter("ignore", dg.BetaWarning)
        described = [
            dg.map_asset_specs(describe, [a])[0]
            if isinstance(a, dg.AssetsDefinition | dg.AssetSpec)
            else a
            for a in assets
        ]
        if git is not None:
            described = _linked_to_git(described, git)
    return _with_assets(defs, described)


def catalogued_assets(
    assets: Sequence[dg.AssetsDefinition], **kwargs: Any
) -> list[dg.AssetsDefinition]:
    """``assets`` with the catalog applied, as :func:`catalogued` applies it to the location:
    what a direct ``dg.materialize`` (``fraud-pipeline``) should run, so that its materializations
    record the code versions the UI compares with."""
    out = catalogued(dg.Definitions(assets=list(assets)), **kwargs).assets or []
    return [a for a in out if isinstance(a, dg.AssetsDefinition)]
