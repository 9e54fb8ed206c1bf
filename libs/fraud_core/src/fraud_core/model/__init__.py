"""The CatBoost fraud model: configuration, device choice, training, scoring, persistence.

* :mod:`~fraud_core.model.config` - ``TrainConfig`` (no CatBoost import);
* :mod:`~fraud_core.model.device` - GPU when CatBoost sees one, else CPU;
* :mod:`~fraud_core.model.metadata` - ``ModelMetadata`` (``metadata.json``), file names (no CatBoost);
* :mod:`~fraud_core.model.classifier` - ``FraudModel`` and ``train_model``;
* :mod:`~fraud_core.model.reasons` - reason codes: each score's top features (SHAP), in words.
"""

from fraud_core.model.classifier import FraudModel, feature_matrix, train_model
from fraud_core.model.config import TrainConfig, default_feature_columns
from fraud_core.model.device import DeviceError, gpu_device_count, select_device
from fraud_core.model.metadata import METADATA_FILE, MODEL_FILE, ModelMetadata
from fraud_core.model.reasons import (
    REASON_CHUNK_ROWS,
    describe_feature,
    empty_reasons,
    reason_codes,
    shap_contributions,
)

__all__ = [
    "METADATA_FILE",
    "MODEL_FILE",
    "REASON_CHUNK_ROWS",
    "DeviceError",
    "FraudModel",
    "ModelMetadata",
    "TrainConfig",
    "default_feature_columns",
    "describe_feature",
    "empty_reasons",
    "feature_matrix",
    "gpu_device_count",
    "reason_codes",
    "select_device",
    "shap_contributions",
    "train_model",
]
