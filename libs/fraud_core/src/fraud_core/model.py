"""CatBoost fraud model: training config, CPU/GPU device choice, training, scoring, persistence.

Design notes
------------
* Labels: ``tx_fraud`` is a nullable integer; NA means "label not known yet" (the label delay).
  Such rows are excluded from training and counted in the metadata. A training set without any
  fraud (or without any genuine) label raises ``ValueError`` instead of fitting a constant model.
* No reweighting by default (``auto_class_weights=None``): AP and CP@k are ranking metrics that
  class weights barely move, while the report's "expected precision" reads the scores as
  probabilities, which reweighting would inflate. ``auto_class_weights`` stays configurable.
* CPU/GPU parity: CatBoost defaults differ by device (``border_count`` 254 on CPU vs 128 on GPU;
  bootstrap MVS on CPU vs Bayesian on GPU), so both are set explicitly and identically on both.
  The quality metrics (AUC, AP, CP@k) are computed in Python after the fit, never as CatBoost eval
  metrics, so both devices report them the same way. GPU training is not bit-for-bit
  deterministic; the metadata records the device actually used.
* CatBoost never writes ``catboost_info/`` into the working directory: ``allow_writing_files`` is
  off and ``train_dir`` points at a temporary directory that is removed after the fit.
* Persistence is CatBoost's native ``.cbm`` plus ``metadata.json`` (no pickle); ``model_bytes`` /
  ``metadata_json`` / ``from_bytes`` let another layer store the two blobs anywhere.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import io
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import catboost
import catboost.utils
import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, CatBoostError, Pool

if TYPE_CHECKING:
    from fraud_core.shape import PipelineShape

__all__ = [
    "LABEL_COLUMN",
    "METADATA_FILE",
    "MODEL_FILE",
    "SCORE_NAME",
    "TIME_COLUMN",
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

LABEL_COLUMN = "tx_fraud"
TIME_COLUMN = "tx_datetime"
SCORE_NAME = "fraud_score"
MODEL_FILE = "model.cbm"
METADATA_FILE = "metadata.json"
METADATA_SCHEMA_VERSION = 2
"""2: the pipeline shape (fingerprint, windows, label delay) is recorded; 1 had none."""

Device = Literal["auto", "cpu", "gpu"]
UsedDevice = Literal["cpu", "gpu"]
LogFn = Callable[[str], None]

_LOGGER = logging.getLogger(__name__)
_GPU_DEVICES_RE = re.compile(r"^\d+([:-]\d+)*$")
# Parameters this module owns; extra_params may not override them.
_MANAGED_PARAMS = frozenset(
    {
        "task_type",
        "devices",
        "train_dir",
        "allow_writing_files",
        "verbose",
        "verbose_eval",
        "silent",
        "logging_level",
        "metric_period",
        "log_cout",
        "log_cerr",
        "random_seed",
        "random_state",
        "thread_count",
        "iterations",
        "learning_rate",
        "depth",
        "l2_leaf_reg",
        "border_count",
        "loss_function",
        "eval_metric",
        "auto_class_weights",
        "bootstrap_type",
        "subsample",
        "save_snapshot",
        "snapshot_file",
    }
)


class DeviceError(RuntimeError):
    """The requested training device cannot be used."""


def default_feature_columns() -> list[str]:
    """Return the feature columns of the current code's default ``FeatureConfig``."""
    from fraud_core.features import FeatureConfig, feature_columns

    return list(feature_columns(FeatureConfig()))


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:  # pragma: no cover - editable installs always have metadata
        return "unknown"


@dataclass(frozen=True)
class TrainConfig:
    """CatBoost training parameters and device/logging settings for the fraud model."""

    iterations: int = 600
    learning_rate: float = 0.05
    depth: int = 6
    l2_leaf_reg: float = 3.0
    border_count: int = 254
    loss_function: str = "Logloss"
    eval_metric: str = "Logloss"
    auto_class_weights: Literal["Balanced", "SqrtBalanced"] | None = None
    bootstrap_type: Literal["Bernoulli", "MVS", "Bayesian", "No"] = "Bernoulli"
    subsample: float = 0.8
    device: Device = "auto"
    gpu_devices: str = "0"
    seed: int = 42
    thread_count: int = -1
    log_period: int = 100
    features: tuple[str, ...] | None = None
    extra_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        errors: list[str] = []
        if not isinstance(self.iterations, int) or self.iterations < 1:
            errors.append(f"iterations must be a positive int, got {self.iterations!r}")
        if not 0.0 < float(self.learning_rate) <= 1.0:
            errors.append(f"learning_rate must be in (0, 1], got {self.learning_rate!r}")
        if not isinstance(self.depth, int) or not 1 <= self.depth <= 16:
            errors.append(f"depth must be an int in [1, 16], got {self.depth!r}")
        if float(self.l2_leaf_reg) < 0:
            errors.append(f"l2_leaf_reg must be >= 0, got {self.l2_leaf_reg!r}")
        if not isinstance(self.border_count, int) or not 1 <= self.border_count <= 65535:
            errors.append(f"border_count must be an int in [1, 65535], got {self.border_count!r}")
        if self.loss_function not in ("Logloss", "CrossEntropy"):
            errors.append(
                f"loss_function must be 'Logloss' or 'CrossEntropy', got {self.loss_function!r}"
            )
        if self.eval_metric not in ("Logloss", "CrossEntropy"):
            errors.append(
                "eval_metric must be 'Logloss' or 'CrossEntropy' (available on CPU and GPU; AUC, "
                f"AP and CP@k are computed in Python after the fit), got {self.eval_metric!r}"
            )
        if self.auto_class_weights not in (None, "Balanced", "SqrtBalanced"):
            errors.append(
                "auto_class_weights must be None, 'Balanced' or 'SqrtBalanced', "
                f"got {self.auto_class_weights!r}"
            )
        if self.bootstrap_type not in ("Bernoulli", "MVS", "Bayesian", "No"):
            errors.append(f"unknown bootstrap_type {self.bootstrap_type!r}")
        if not 0.0 < float(self.subsample) <= 1.0:
            errors.append(f"subsample must be in (0, 1], got {self.subsample!r}")
        if self.device not in ("auto", "cpu", "gpu"):
            errors.append(f"device must be 'auto', 'cpu' or 'gpu', got {self.device!r}")
        if not isinstance(self.gpu_devices, str) or not _GPU_DEVICES_RE.match(self.gpu_devices):
            errors.append(
                f"gpu_devices must look like '0', '0:1' or '0-3', got {self.gpu_devices!r}"
            )
        if not isinstance(self.seed, int) or self.seed < 0:
            errors.append(f"seed must be a non-negative int, got {self.seed!r}")
        if not isinstance(self.thread_count, int) or (
            self.thread_count != -1 and self.thread_count < 1
        ):
            errors.append(f"thread_count must be -1 or a positive int, got {self.thread_count!r}")
        if not isinstance(self.log_period, int) or self.log_period < 1:
            errors.append(f"log_period must be a positive int, got {self.log_period!r}")
        if self.features is not None:
            feats = tuple(self.features)
            object.__setattr__(self, "features", feats)
            if not feats:
                errors.append("features must not be empty (use None for the default list)")
            dupes = sorted({f for f in feats if feats.count(f) > 1})
            if dupes:
                errors.append(f"features has duplicates: {dupes}")
            if LABEL_COLUMN in feats:
                errors.append(f"the label {LABEL_COLUMN!r} cannot be a feature")
        overlap = sorted(_MANAGED_PARAMS & set(self.extra_params))
        if overlap:
            errors.append(f"extra_params may not set managed parameters: {overlap}")
        if errors:
            raise ValueError("invalid TrainConfig: " + "; ".join(errors))

    def feature_list(self) -> list[str]:
        """Return the configured feature columns (default: the current default feature list)."""
        return list(self.features) if self.features is not None else default_feature_columns()

    def catboost_params(self, device: UsedDevice) -> dict[str, Any]:
        """Return the CatBoostClassifier parameters for the given device (no I/O, no logging)."""
        params: dict[str, Any] = {
            "iterations": self.iterations,
            "learning_rate": float(self.learning_rate),
            "depth": self.depth,
            "l2_leaf_reg": float(self.l2_leaf_reg),
            "border_count": self.border_count,
            "loss_function": self.loss_function,
            "eval_metric": self.eval_metric,
            "bootstrap_type": self.bootstrap_type,
            "random_seed": self.seed,
            "thread_count": self.thread_count,
            "task_type": "GPU" if device == "gpu" else "CPU",
            "allow_writing_files": False,
            **dict(self.extra_params),
        }
        if self.bootstrap_type in ("Bernoulli", "MVS"):
            params["subsample"] = float(self.subsample)
        if self.auto_class_weights is not None:
            params["auto_class_weights"] = self.auto_class_weights
        if device == "gpu":
            params["devices"] = self.gpu_devices
        return params

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-serialisable dict."""
        out = dataclasses.asdict(self)
        out["features"] = list(self.features) if self.features is not None else None
        out["extra_params"] = dict(self.extra_params)
        return out


@functools.cache
def _probe_gpu_count() -> int:
    # Probed once per process: on a machine without a usable driver CatBoost prints a CUDA error
    # line to stderr on every probe.
    try:
        return int(catboost.utils.get_gpu_device_count())
    except (CatBoostError, OSError, RuntimeError):  # pragma: no cover - defensive
        return 0


def gpu_device_count(*, refresh: bool = False) -> int:
    """Return the number of CUDA devices CatBoost can see (0 when none; cached per process)."""
    if refresh:
        _probe_gpu_count.cache_clear()
    return _probe_gpu_count()


def select_device(requested: Device, gpu_count: int | None = None) -> UsedDevice:
    """Resolve ``auto``/``cpu``/``gpu`` to the device to train on (``gpu`` needs a CUDA device)."""
    if requested not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', got {requested!r}")
    if requested == "cpu":
        return "cpu"
    count = gpu_device_count() if gpu_count is None else gpu_count
    if count > 0:
        return "gpu"
    if requested == "gpu":
        raise DeviceError("device='gpu' was requested but CatBoost sees no CUDA device")
    return "cpu"


class _LogStream(io.TextIOBase):
    """Line-buffered text stream that forwards each complete line to a log callable."""

    def __init__(self, log: LogFn, prefix: str = "") -> None:
        super().__init__()
        self._log = log
        self._prefix = prefix
        self._buffer = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if line.strip():
                self._log(self._prefix + line.rstrip())
        return len(text)

    def flush(self) -> None:
        if self._buffer.strip():
            self._log(self._prefix + self._buffer.strip())
        self._buffer = ""


def feature_matrix(features: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Return the feature columns as one Fortran-ordered float32 block (one copy, no per-row work)."""
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"missing feature columns: {missing}")
    out = np.empty((len(features), len(columns)), dtype=np.float32, order="F")
    for j, col in enumerate(columns):
        values = features[col]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            raise ValueError(f"feature column {col!r} is not numeric (dtype {values.dtype})")
        out[:, j] = values.to_numpy(dtype=np.float32, na_value=np.nan)
    return out


def _data_hash(frame: pd.DataFrame) -> str:
    """Stable sha256 of the rows' values (index ignored) and the column names."""
    digest = hashlib.sha256()
    digest.update(json.dumps(list(map(str, frame.columns))).encode())
    if len(frame):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _iso(ts: Any) -> str | None:
    if ts is None or pd.isna(ts):
        return None
    return pd.Timestamp(ts).isoformat()


@dataclass
class ModelMetadata:
    """Everything needed to audit and reload a trained fraud model (stored as metadata.json)."""

    model_id: str
    features: list[str]
    created_at: str
    training_start: str | None
    training_end: str | None
    n_rows: int
    n_labelled: int
    n_unlabelled_excluded: int
    n_fraud: int
    params: dict[str, Any]
    train_config: dict[str, Any]
    device_requested: str
    device: str
    gpu_count: int
    gpu_devices: str | None
    gpu_fallback_reason: str | None
    data_hash: str
    training_seconds: float
    catboost_version: str
    fraud_core_version: str
    metrics: dict[str, float] = field(default_factory=dict)
    schema_version: int = METADATA_SCHEMA_VERSION
    pipeline_shape: str | None = None
    """Fingerprint of the pipeline shape the model was trained with (None: older metadata)."""
    windows_days: list[int] | None = None
    label_delay_days: int | None = None

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelMetadata:
        """Parse metadata JSON written by ``to_json`` (unknown keys are rejected)."""
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown metadata keys: {unknown}")
        return cls(**data)


def _check_features(actual: Sequence[str], expected: Sequence[str], what: str) -> None:
    if list(actual) == list(expected):
        return
    missing = [f for f in expected if f not in actual]
    extra = [f for f in actual if f not in expected]
    detail = f"missing {missing}, extra {extra}" if missing or extra else "same set, other order"
    raise ValueError(
        f"{what}: the model's feature list does not match the expected features ({detail}); "
        "retrain the model with the current feature code"
    )


@dataclass
class FraudModel:
    """A trained CatBoost fraud classifier plus its metadata."""

    classifier: CatBoostClassifier
    metadata: ModelMetadata

    @property
    def features(self) -> list[str]:
        """The feature columns the model expects, in order."""
        return list(self.metadata.features)

    def predict(self, features: pd.DataFrame, *, thread_count: int = -1) -> pd.Series:
        """Return fraud probabilities (float64 ``fraud_score``) aligned to ``features.index``."""
        cols = self.features
        missing = [c for c in cols if c not in features.columns]
        if missing:
            raise ValueError(f"cannot score: missing feature columns {missing}")
        if len(features) == 0:
            return pd.Series([], index=features.index, dtype="float64", name=SCORE_NAME)
        pool = Pool(feature_matrix(features, cols), feature_names=cols)
        proba = self.classifier.predict(
            pool, prediction_type="Probability", thread_count=thread_count
        )
        return pd.Series(
            np.asarray(proba[:, 1], dtype=np.float64), index=features.index, name=SCORE_NAME
        )

    def model_bytes(self) -> bytes:
        """Return the CatBoost model in native .cbm format."""
        with tempfile.TemporaryDirectory(prefix="fraud_core_model_") as tmp:
            path = Path(tmp) / MODEL_FILE
            self.classifier.save_model(str(path), format="cbm")
            return path.read_bytes()

    def metadata_json(self) -> str:
        """Return the metadata as JSON text."""
        return self.metadata.to_json()

    def save(self, directory: str | Path) -> Path:
        """Write ``model.cbm`` and ``metadata.json`` into ``directory`` (created if needed)."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        (target / MODEL_FILE).write_bytes(self.model_bytes())
        (target / METADATA_FILE).write_text(self.metadata_json(), encoding="utf-8")
        return target

    @classmethod
    def from_bytes(
        cls,
        model_bytes: bytes,
        metadata_json: str | bytes,
        expected_features: Sequence[str] | None = None,
        *,
        check_features: bool = True,
    ) -> FraudModel:
        """Rebuild a model from .cbm bytes and metadata JSON, checking the feature list."""
        metadata = ModelMetadata.from_json(metadata_json)
        classifier = CatBoostClassifier()
        classifier.load_model(blob=bytes(model_bytes))
        cb_features = list(classifier.feature_names_ or [])
        if cb_features != list(metadata.features):
            raise ValueError(
                "corrupt model: the .cbm feature names do not match metadata.json "
                f"({cb_features} vs {metadata.features})"
            )
        if check_features:
            expected = default_feature_columns() if expected_features is None else expected_features
            _check_features(metadata.features, expected, "cannot load model")
        return cls(classifier=classifier, metadata=metadata)

    @classmethod
    def load(
        cls,
        directory: str | Path,
        expected_features: Sequence[str] | None = None,
        *,
        check_features: bool = True,
    ) -> FraudModel:
        """Load a model saved by ``save``; fails if its features differ from ``expected_features``.

        ``expected_features=None`` means the current code's default feature list.
        """
        source = Path(directory)
        for name in (MODEL_FILE, METADATA_FILE):
            if not (source / name).is_file():
                raise FileNotFoundError(f"{source / name} not found")
        return cls.from_bytes(
            (source / MODEL_FILE).read_bytes(),
            (source / METADATA_FILE).read_text(encoding="utf-8"),
            expected_features,
            check_features=check_features,
        )


def _labelled_training_rows(
    features: pd.DataFrame, columns: list[str]
) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Return (labelled rows, int8 labels, number of unlabelled rows); validate labels."""
    if LABEL_COLUMN not in features.columns:
        raise ValueError(f"training data has no label column {LABEL_COLUMN!r}")
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"training data is missing feature columns {missing}")
    labels = features[LABEL_COLUMN]
    known = labels.notna().to_numpy()
    n_unlabelled = int((~known).sum())
    if not known.any():
        raise ValueError(
            f"no labelled rows to train on ({len(features)} rows, all with unknown {LABEL_COLUMN})"
        )
    y = labels[known].to_numpy(dtype=np.float64)
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"{LABEL_COLUMN} must be 0/1, found {sorted(set(y[bad].tolist()))[:5]}")
    n_fraud = int(y.sum())
    if n_fraud == 0:
        raise ValueError(
            f"the training set has no fraud labels ({len(y)} labelled rows, all genuine); "
            "refusing to train a degenerate model - widen the training window"
        )
    if n_fraud == len(y):
        raise ValueError(
            f"the training set has no genuine labels ({len(y)} labelled rows, all fraud); "
            "refusing to train a degenerate model"
        )
    rows = features.loc[known] if n_unlabelled else features
    return rows, y.astype(np.int8), n_unlabelled


def _fit(params: dict[str, Any], pool: Pool, log: LogFn, log_period: int) -> CatBoostClassifier:
    """Fit a classifier with CatBoost's output routed to ``log``; no files written to the CWD."""
    stream = _LogStream(log, prefix="catboost: ")
    with tempfile.TemporaryDirectory(prefix="fraud_core_catboost_") as train_dir:
        clf = CatBoostClassifier(
            **params, train_dir=train_dir, metric_period=log_period, verbose=log_period
        )
        try:
            clf.fit(pool, log_cout=stream, log_cerr=stream)
        finally:
            stream.flush()
    return clf


def train_model(
    features: pd.DataFrame,
    config: TrainConfig | None = None,
    *,
    eval_features: pd.DataFrame | None = None,
    log: LogFn | None = None,
    shape: PipelineShape | None = None,
) -> FraudModel:
    """Train the CatBoost fraud model on the labelled rows of ``features`` (build_features output).

    With ``shape``, the model's features are the shape's and the shape is recorded in its metadata.
    """
    config = config or TrainConfig()
    log = log or _LOGGER.info
    columns = config.feature_list() if shape is None else shape.feature_columns()
    if shape is not None and config.features is not None and list(config.features) != columns:
        raise ValueError(
            f"TrainConfig.features differ from the features of pipeline shape "
            f"{shape.fingerprint}: leave them unset to train on the shape's features"
        )
    rows, y, n_unlabelled = _labelled_training_rows(features, columns)
    n_fraud = int(y.sum())
    log(
        f"training on {len(y)} labelled rows ({n_fraud} fraud, {n_unlabelled} unlabelled "
        f"excluded), {len(columns)} features"
    )

    gpu_count = gpu_device_count() if config.device != "cpu" else 0
    device = select_device(config.device, gpu_count)
    pool = Pool(feature_matrix(rows, columns), label=y, feature_names=columns)

    fallback_reason: str | None = None
    started = time.perf_counter()
    try:
        if device == "gpu":
            log(f"training on GPU (devices {config.gpu_devices}, {gpu_count} visible)")
        clf = _fit(config.catboost_params(device), pool, log, config.log_period)
    except CatBoostError as exc:
        if device != "gpu":
            raise
        if config.device == "gpu":
            raise DeviceError(f"GPU training failed (device='gpu' was requested): {exc}") from exc
        fallback_reason = str(exc)
        log(f"GPU training failed ({exc}); falling back to CPU")
        device = "cpu"
        started = time.perf_counter()
        clf = _fit(config.catboost_params("cpu"), pool, log, config.log_period)
    seconds = time.perf_counter() - started
    log(f"trained {clf.tree_count_} trees on {device.upper()} in {seconds:.1f}s")

    if TIME_COLUMN in rows.columns:
        times = rows[TIME_COLUMN]
        window = (_iso(times.min()), _iso(times.max()))
    else:
        window = (None, None)
    hash_cols = [*columns, LABEL_COLUMN]
    data_hash = _data_hash(rows[hash_cols])
    params = config.catboost_params(device)
    created = dt.datetime.now(dt.UTC)
    id_hash = hashlib.sha256(
        (data_hash + json.dumps(params, sort_keys=True, default=str)).encode()
    ).hexdigest()[:8]
    metadata = ModelMetadata(
        model_id=f"{created:%Y%m%dT%H%M%SZ}-{id_hash}",
        features=list(columns),
        created_at=created.isoformat(),
        training_start=window[0],
        training_end=window[1],
        n_rows=len(features),
        n_labelled=len(y),
        n_unlabelled_excluded=n_unlabelled,
        n_fraud=n_fraud,
        params=params,
        train_config=config.to_dict(),
        device_requested=config.device,
        device=device,
        gpu_count=gpu_count,
        gpu_devices=config.gpu_devices if device == "gpu" else None,
        gpu_fallback_reason=fallback_reason,
        data_hash=data_hash,
        training_seconds=round(seconds, 3),
        catboost_version=catboost.__version__,
        fraud_core_version=_package_version("fraud-core"),
        pipeline_shape=shape.fingerprint if shape is not None else None,
        windows_days=list(shape.windows_days) if shape is not None else None,
        label_delay_days=shape.label_delay_days if shape is not None else None,
    )
    model = FraudModel(classifier=clf, metadata=metadata)
    if eval_features is not None:
        from fraud_core.evaluation import evaluate_scores

        metrics = evaluate_scores(eval_features, model.predict(eval_features))
        model.metadata.metrics.update(metrics)
        log("evaluation: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return model
