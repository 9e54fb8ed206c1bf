"""The CatBoost fraud model: configuration, device choice, training, scoring, persistence.

* :mod:`~fraud_core.model.config` - ``TrainConfig`` (no CatBoost import);
* :mod:`~fraud_core.model.device` - GPU when CatBoost sees one, else CPU;
* :mod:`~fraud_core.model.metadata` - ``ModelMetadata`` (``metadata.json``), file names (no CatBoost);
* :mod:`~fraud_core.model.classifier` - ``FraudModel`` and ``train_model``.
"""

from fraud_core.model.classifier import FraudModel, feature_matrix, train_model
from fraud_core.model.config import TrainConfig, default_feature_columns
from fraud_core.model.device import DeviceError, gpu_device_count, select_device
from fraud_core.model.metadata import METADATA_FILE, MODEL_FILE, ModelMetadata

__all__ = [
    "METADATA_FILE",
    "MODEL_FILE",
    "DeviceError",
    "FraudModel",
    "ModelMetadata",
    "TrainConfig",
    "default_feature_columns",
    "feature_matrix",
    "gpu_device_count",
    "select_device",
    "train_model",
]
