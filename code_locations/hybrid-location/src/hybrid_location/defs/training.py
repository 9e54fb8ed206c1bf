"""The fraud model: trained on a trailing labelled window, promoted only through the gate."""

from datetime import date

import dagster as dg
import pandas as pd

from fraud_core.columns import (
    PIPELINE_SHAPE,
    TRANSACTION_ID,
    TX_FRAUD,
)
from fraud_core.model import train_model
from fraud_core.promotion import PromotionPolicy, decide_promotion, validation_metrics
from fraud_core.scoring import refresh_labels
from fraud_core.shape import PipelineShape, ShapeMismatchError
from fraud_core.training import TrainingWindows, training_windows
from fraud_dagster.partitions import (
    day_bounds,
)
from fraud_dagster.resources import (
    ModelStoreResource,
    WarehouseResource,
)
from fraud_dagster.settings import FraudSettings
from fraud_storage import ModelStore, PromotionRecord, Warehouse
from fraud_storage.models import (
    load_model,
    save_model,
)
from fraud_storage.shaped_partitions import (
    read_shaped_partitions,
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
    windows = training_windows(
        _as_of(wh, config), shape.label_delay_days, training.train_days, training.validation_days
    )
    train, valid = _labelled_features(wh, windows, shape)
    context.log.info(
        f"training on {windows.describe_train()} ({len(train)} rows), validating on "
        f"{windows.describe_validation()} ({len(valid)} rows)"
    )
    model = train_model(train, training.train_config(), log=context.log.info, shape=shape)
    candidate = validation_metrics(model, valid, k=settings.alert_budget)
    model.metadata.metrics.update(candidate)
    version = save_model(store, model)
    current_record = store.promoted()
    current = _current_metrics(context, store, current_record, valid, shape, settings.alert_budget)
    decision = decide_promotion(candidate, current, promotion_policy)
    if decision.promote:
        store.promote(version, reason=decision.reason, metrics=candidate)
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
            "train_unlabelled_excluded": meta.n_unlabelled_excluded,
            "train_frauds": meta.n_fraud,
            **{f"validation_{k}": float(v) for k, v in candidate.items()},
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


def _labelled_features(
    wh: Warehouse, windows: TrainingWindows, shape: PipelineShape
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and validation features (of ``shape``), with the labels the source holds now."""
    first, end = windows.days
    labels = wh.read_source(day_bounds(first)[0], day_bounds(end)[0])[[TRANSACTION_ID, TX_FRAUD]]
    rebuild = transformed_transactions.key.to_user_string()

    def labelled(days: tuple[date, date]) -> pd.DataFrame:
        rows = read_shaped_partitions(wh, wh.tables.transformed, *days, shape, rebuild=rebuild)
        return refresh_labels(rows, labels)

    return labelled(windows.train), labelled(windows.validation)


def _current_metrics(
    context: dg.AssetExecutionContext,
    store: ModelStore,
    record: PromotionRecord | None,
    valid: pd.DataFrame,
    shape: PipelineShape,
    k: int,
) -> dict[str, float] | None:
    """The promoted model's metrics on ``valid``; None when there is none or it is of another
    shape (declared incomparable: the candidate then faces the floors). Anything else fails."""
    if record is None:
        return None
    try:
        model = load_model(store, record.version, shape, accept_unrecorded_shape=True)
    except ShapeMismatchError as error:
        context.log.warning(f"promoted model {record.version} not comparable: {error}")
        return None
    return validation_metrics(model, valid, k=k)
