"""The fraud model: trained on a trailing labelled window, promoted only through the gate.

Bounded at any daily volume: the window is read a day at a time, only the columns training needs
(the shape's features and keys from the features table, ``transaction_id, tx_fraud`` from the
source), and each day is sampled as it is read (every fraud, a seeded share of the genuine rows
weighted back, ``TrainingSettings.genuine_sample_rate``), so training holds the sample, never the
window. The validation window is never sampled: it is scored a day at a time by each model.

Each version is saved with its model card (``model_card.html``, in the version's manifest): the
validation PR and card precision@k curves, feature importances, the training data and the gate's
decision (:mod:`fraud_core.model.card`); the materialization links to it and summarises it.
"""

from collections.abc import Callable, Iterator
from datetime import date

import dagster as dg
import pandas as pd

from fraud_core.columns import (
    CUSTOMER_ID,
    PIPELINE_SHAPE,
    TRANSACTION_ID,
    TX_DATETIME,
    TX_FRAUD,
)
from fraud_core.model import FraudModel, train_model
from fraud_core.model.card import (
    ModelCard,
    build_model_card,
    importances_markdown,
    model_card_markdown,
    pr_curve_markdown,
    precision_at_k_markdown,
    render_model_card_html,
)
from fraud_core.promotion import PromotionPolicy, decide_promotion
from fraud_core.scoring import refresh_labels
from fraud_core.shape import PipelineShape, ShapeMismatchError
from fraud_core.training import (
    TrainingSampler,
    TrainingWindows,
    sample_hash,
    training_windows,
    validate_by_chunk,
    validation_metrics_by_chunk,
)
from fraud_dagster.partitions import (
    day_bounds,
)
from fraud_dagster.resources import (
    WAREHOUSE_POOL,
    ModelStoreResource,
    WarehouseResource,
)
from fraud_dagster.settings import FraudSettings
from fraud_storage import ModelStore, PromotionRecord, Warehouse
from fraud_storage.model_store import LegacyModelStoreError
from fraud_storage.models import (
    load_promoted_model,
    model_card_location,
    save_model,
)
from fraud_storage.reports import is_url
from fraud_storage.shaped_partitions import (
    iter_shaped_days,
)
from hybrid_location.conventions import (
    GROUP,
    fail_fast_on_permanent_errors,
)
from hybrid_location.defs.features import transformed_transactions
from hybrid_location.settings import TrainingSettings


class TrainingConfig(dg.Config):
    """Run configuration of a training run."""

    as_of: str | None = None
    """Train as if today were this day (YYYY-MM-DD); default: the latest transformed day."""


@dg.asset(
    kinds={"python", "machine-learning"},
    group_name=GROUP,
    deps=[transformed_transactions],
    pool=WAREHOUSE_POOL,
    retry_policy=dg.RetryPolicy(max_retries=1),
    description=(
        "CatBoost fraud classifier trained on a trailing window of labelled days (labels older than "
        "the label delay), stored as a new immutable version. The promotion_gate check promotes it only "
        "if it is no worse than the production model on a held-out validation window. Uses the GPU "
        "when the agent has one."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "promotion_gate",
            asset="fraud_detection_model",
            blocking=True,
            description="candidate no worse than the promoted model (or above the floor if first)",
        )
    ],
)
@fail_fast_on_permanent_errors
def fraud_detection_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
    settings: FraudSettings,
    training: TrainingSettings,
    shape: dg.ResourceParam[PipelineShape],
    promotion_policy: dg.ResourceParam[PromotionPolicy],
) -> dg.MaterializeResult:
    """Train a candidate model, evaluate it against production, promote it if it passes."""
    wh, store = warehouse.get_warehouse(), model_store.get_store()
    # The record before training: the promotion below is a compare-and-swap against it, so a
    # concurrent training that promoted meanwhile is never silently overwritten.
    current_record = store.promoted()
    windows = training_windows(
        _as_of(wh, config), shape.label_delay_days, training.train_days, training.validation_days
    )
    model, data_hash = _train(context, wh, windows, shape, training)
    valid = _validation_days(wh, windows, shape)
    validation = validate_by_chunk(model, valid(), k=settings.alert_budget)
    candidate = validation.metrics
    context.log.info(
        f"validated on {windows.describe_validation()} "
        f"({int(candidate.get('n_eval', 0))} labelled rows)"
    )
    model.metadata.metrics.update(candidate)
    current = _current_metrics(context, store, current_record, valid, shape, settings.alert_budget)
    decision = decide_promotion(candidate, current, promotion_policy)
    card = build_model_card(
        model,
        validation,
        decision,
        windows=windows,
        data_hash=data_hash,
        alert_budget=settings.alert_budget,
        policy=promotion_policy.describe(),
        current_version=current_record.version if current_record else None,
    )
    # the card is one of the version's files: in its manifest, verified with the model
    version = save_model(store, model, card_html=render_model_card_html(card))
    if decision.promote:
        store.promote(
            version,
            reason=decision.reason,
            metrics=candidate,
            compared_with=current,
            policy=promotion_policy.describe(),
            expected_current=current_record,
        )
    meta = model.metadata
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "model_path": str(store.path(version)),
            "promoted": decision.promote,
            PIPELINE_SHAPE: shape.fingerprint,
            "device": meta.device,
            "gpu_fallback_reason": meta.gpu_fallback_reason or "",
            "training_seconds": meta.training_seconds,
            "train_window": windows.describe_train(),
            "validation_window": windows.describe_validation(),
            "train_rows": meta.n_rows,
            "train_labelled": meta.n_labelled,
            "train_labelled_before_sampling": meta.n_labelled_before_sampling or 0,
            "train_genuine_sample_rate": meta.genuine_sample_rate or 1.0,
            "train_sample_seed": meta.sample_seed if meta.sample_seed is not None else -1,
            "train_unlabelled_excluded": meta.n_unlabelled_excluded,
            "train_frauds": meta.n_fraud,
            "train_data_hash": data_hash,
            **{f"validation_{k}": float(v) for k, v in candidate.items()},
            **_card_metadata(store, version, card),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="promotion_gate",
                passed=decision.promote,
                metadata={
                    "reason": decision.reason,
                    "candidate_version": version,
                    "current_version": current_record.version if current_record else "none",
                    **{f"candidate_{k}": float(v) for k, v in candidate.items()},
                    **{f"current_{k}": float(v) for k, v in (current or {}).items()},
                    **{f"policy_{k}": v for k, v in promotion_policy.describe().items()},
                },
            )
        ],
    )


def _as_of(wh: Warehouse, config: TrainingConfig) -> date:
    """The day training acts as of: ``as_of`` when given, else the latest transformed day."""
    if config.as_of is not None:
        try:
            return date.fromisoformat(config.as_of)
        except ValueError:
            raise dg.Failure(
                f"as_of must be YYYY-MM-DD, got {config.as_of!r}", allow_retries=False
            ) from None
    days = sorted(wh.partition_counts(wh.tables.transformed))
    if not days:
        raise dg.Failure(
            "no transformed_transactions partitions yet: materialize some days first",
            allow_retries=False,
        )
    return days[-1]


def _train(
    context: dg.AssetExecutionContext,
    wh: Warehouse,
    windows: TrainingWindows,
    shape: PipelineShape,
    training: TrainingSettings,
) -> tuple[FraudModel, str]:
    """A candidate trained on the sampled training window, and the sample's hash (the sample
    freed on return)."""
    sampler = TrainingSampler(training.genuine_sample_rate, training.sample_seed)
    for rows in _labelled_days(wh, windows.train, shape, _training_columns(shape)):
        sampler.add(rows)
    sample = sampler.sample()
    context.log.info(f"training on {windows.describe_train()}: {sample.record.describe()}")
    model = train_model(
        sample.rows,
        training.train_config(),
        log=context.log.info,
        shape=shape,
        weights=sample.weights,
        sampling=sample.record,
    )
    return model, sample_hash(sample.rows)


def _card_metadata(store: ModelStore, version: str, card: ModelCard) -> dict[str, dg.MetadataValue]:
    """The model card in the UI: a link to the stored page, its summary, importances, curves."""
    location = model_card_location(store, version)
    link = dg.MetadataValue.url(location) if is_url(location) else dg.MetadataValue.path(location)
    return {
        "model_card": link,
        "model_card_summary": dg.MetadataValue.md(model_card_markdown(card)),
        "feature_importances": dg.MetadataValue.md(
            importances_markdown(card, top=len(card.importances))
        ),
        "validation_pr_curve": dg.MetadataValue.md(pr_curve_markdown(card)),
        "validation_precision_at_k": dg.MetadataValue.md(precision_at_k_markdown(card)),
    }


def _training_columns(shape: PipelineShape) -> list[str]:
    """The features table's columns training reads: the shape's features, the id and the time."""
    return [TRANSACTION_ID, TX_DATETIME, *shape.feature_columns()]


def _validation_days(
    wh: Warehouse, windows: TrainingWindows, shape: PipelineShape
) -> Callable[[], Iterator[pd.DataFrame]]:
    """Reads the validation days afresh, a day at a time, for each model that is validated."""
    columns = [*_training_columns(shape), CUSTOMER_ID]  # card precision groups by card
    return lambda: _labelled_days(wh, windows.validation, shape, columns)


def _labelled_days(
    wh: Warehouse, days: tuple[date, date], shape: PipelineShape, columns: list[str]
) -> Iterator[pd.DataFrame]:
    """Each day's ``columns`` of the features (of ``shape``), with the labels the source holds now."""
    rebuild = transformed_transactions.key.to_user_string()
    table = wh.tables.transformed
    for day, rows in iter_shaped_days(wh, table, *days, shape, rebuild=rebuild, columns=columns):
        labels = wh.read_source(*day_bounds(day), columns=[TRANSACTION_ID, TX_FRAUD])
        # the day's rows are this reader's own: labelled in place, not copied
        rows[TX_FRAUD] = refresh_labels(rows[[TRANSACTION_ID]], labels)[TX_FRAUD]
        yield rows


def _current_metrics(
    context: dg.AssetExecutionContext,
    store: ModelStore,
    record: PromotionRecord | None,
    valid: Callable[[], Iterator[pd.DataFrame]],
    shape: PipelineShape,
    k: int,
) -> dict[str, float] | None:
    """The promoted model's metrics on the ``valid`` days; None when there is none, it is of
    another shape or predates integrity records (declared incomparable: the candidate then faces
    the floors). Anything else (a file or record that fails verification) fails."""
    if record is None:
        return None
    try:
        promoted = load_promoted_model(store, shape, record=record, accept_unrecorded_shape=True)
    except (ShapeMismatchError, LegacyModelStoreError) as error:
        context.log.warning(f"promoted model {record.version} not comparable: {error}")
        return None
    model = promoted.model
    return validation_metrics_by_chunk(model, valid(), k=k)
