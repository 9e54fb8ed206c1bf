"""CatBoost fraud model: training config, CPU/GPU device choice, training, scoring, persistence.

Design notes
------------
* Labels: ``tx_fraud`` is a nullable integer; NA means "label not known yet" (the label delay).
  Such rows are excluded from training and counted in the metadata. A training set without any
  fraud (or without any genuine) label raises ``ValueError`` instead of fitting a constant model.
* No reweighting by default (``auto_class_weights=None``): AP and CP@k are ranking metrics that
  class weights barely move, while the report's "expected precision" reads the scores as
  probabilities, which reweighting would inflate. ``auto_class_weights`` stays configurable.
* Sampled training sets (:mod:`fraud_core.training`): ``train_model`` takes per-row ``weights``
  (CatBoost ``Pool(weight=...)``); a sample of all frauds and a share ``r`` of the genuine rows,
  those weighted ``1 / r``, stands for the whole window, so the scores stay probabilities of the
  window's population. The sampling record (rate, seed, rows before and after) goes into the
  metadata.
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

import datetime as dt
import hashlib
import io
import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import catboost
import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, CatBoostError, Pool

from fraud_core.columns import FRAUD_SCORE, TX_DATETIME, TX_FRAUD
from fraud_core.model.config import TrainConfig, default_feature_columns
from fraud_core.model.device import DeviceError, gpu_device_count, select_device
from fraud_core.model.metadata import (
    METADATA_FILE,
    MODEL_FILE,
    ModelMetadata,
    data_hash,
    iso_time,
    package_version,
)

if TYPE_CHECKING:
    from fraud_core.shape import PipelineShape
    from fraud_core.training import SamplingRecord

__all__ = ["FraudModel", "feature_matrix", "train_model"]

LogFn = Callable[[str], None]
_WEIGHT = "__weight"
"""The row weights' column in the training data hash (never stored)."""
_LOGGER = logging.getLogger("fraud_core.model")


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
            return pd.Series([], index=features.index, dtype="float64", name=FRAUD_SCORE)
        pool = Pool(feature_matrix(features, cols), feature_names=cols)
        proba = self.classifier.predict(
            pool, prediction_type="Probability", thread_count=thread_count
        )
        return pd.Series(
            np.asarray(proba[:, 1], dtype=np.float64), index=features.index, name=FRAUD_SCORE
        )

    def feature_importances(self) -> pd.Series:
        """Global importance of each feature (CatBoost PredictionValuesChange; sums to 100)."""
        values = self.classifier.get_feature_importance(type="PredictionValuesChange")
        return pd.Series(
            np.asarray(values, dtype=np.float64), index=self.features, name="importance"
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
    features: pd.DataFrame, columns: list[str], n_read: int | None = None
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Return (labelled rows, int8 labels, their row mask in ``features``); validate labels.

    ``n_read``: the rows the features were sampled from (for the message), default all of them.
    """
    if TX_FRAUD not in features.columns:
        raise ValueError(f"training data has no label column {TX_FRAUD!r}")
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"training data is missing feature columns {missing}")
    labels = features[TX_FRAUD]
    known = labels.notna().to_numpy()
    n_unlabelled = int((~known).sum())
    if not known.any():
        n = len(features) if n_read is None else n_read
        raise ValueError(f"no labelled rows to train on ({n} rows, all with unknown {TX_FRAUD})")
    y = labels[known].to_numpy(dtype=np.float64)
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"{TX_FRAUD} must be 0/1, found {sorted(set(y[bad].tolist()))[:5]}")
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
    return rows, y.astype(np.int8), known


def _row_weights(weights: Sequence[float] | np.ndarray | None, n_rows: int) -> np.ndarray | None:
    """``weights`` as float64, one finite positive weight per row of the features (or None)."""
    if weights is None:
        return None
    out = np.asarray(weights, dtype=np.float64)
    if out.shape != (n_rows,):
        raise ValueError(f"weights: {out.shape[0] if out.ndim else 0} weights for {n_rows} rows")
    if not (np.isfinite(out).all() and (out > 0).all()):
        raise ValueError("weights must be finite and positive")
    return out


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
    weights: Sequence[float] | np.ndarray | None = None,
    sampling: SamplingRecord | None = None,
) -> FraudModel:
    """Train the CatBoost fraud model on the labelled rows of ``features`` (build_features output).

    With ``shape``, the model's features are the shape's and the shape is recorded in its metadata.
    ``weights`` (one per row of ``features``) weight the rows in the loss; ``sampling`` says how
    ``features`` were sampled from the training window (:class:`fraud_core.training.TrainingSample`
    carries both), recorded in the metadata.
    """
    config = config or TrainConfig()
    log = log or _LOGGER.info
    columns = config.feature_list() if shape is None else shape.feature_columns()
    if shape is not None and config.features is not None and list(config.features) != columns:
        raise ValueError(
            f"TrainConfig.features differ from the features of pipeline shape "
            f"{shape.fingerprint}: leave them unset to train on the shape's features"
        )
    row_weights = _row_weights(weights, len(features))
    n_read = sampling.n_rows if sampling is not None else None
    rows, y, known = _labelled_training_rows(features, columns, n_read)
    n_unlabelled = int((~known).sum()) + (sampling.n_unlabelled if sampling is not None else 0)
    if row_weights is not None and not known.all():
        row_weights = row_weights[known]
    n_fraud = int(y.sum())
    log(
        f"training on {len(y)} labelled rows ({n_fraud} fraud, {n_unlabelled} unlabelled "
        f"excluded), {len(columns)} features"
        + (f"; sampled: {sampling.describe()}" if sampling is not None else "")
    )

    gpu_count = gpu_device_count() if config.device != "cpu" else 0
    device = select_device(config.device, gpu_count)
    pool = Pool(feature_matrix(rows, columns), label=y, weight=row_weights, feature_names=columns)

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

    if TX_DATETIME in rows.columns:
        times = rows[TX_DATETIME]
        window = (iso_time(times.min()), iso_time(times.max()))
    else:
        window = (None, None)
    hash_cols = [*columns, TX_FRAUD]
    hashed = rows[hash_cols]
    if row_weights is not None:  # the same rows weighted otherwise are other training data
        hashed = hashed.assign(**{_WEIGHT: row_weights})
    rows_hash = data_hash(hashed)
    params = config.catboost_params(device)
    created = dt.datetime.now(dt.UTC)
    id_hash = hashlib.sha256(
        (rows_hash + json.dumps(params, sort_keys=True, default=str)).encode()
    ).hexdigest()[:8]
    metadata = ModelMetadata(
        model_id=f"{created:%Y%m%dT%H%M%SZ}-{id_hash}",
        features=list(columns),
        created_at=created.isoformat(),
        training_start=window[0],
        training_end=window[1],
        n_rows=len(features) if sampling is None else sampling.n_rows,
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
        data_hash=rows_hash,
        training_seconds=round(seconds, 3),
        catboost_version=catboost.__version__,
        fraud_core_version=package_version("fraud-core"),
        pipeline_shape=shape.fingerprint if shape is not None else None,
        windows_days=list(shape.windows_days) if shape is not None else None,
        label_delay_days=shape.label_delay_days if shape is not None else None,
        genuine_sample_rate=sampling.genuine_rate if sampling is not None else 1.0,
        sample_seed=sampling.seed if sampling is not None else None,
        n_labelled_before_sampling=sampling.n_labelled if sampling is not None else len(y),
    )
    model = FraudModel(classifier=clf, metadata=metadata)
    if eval_features is not None:
        from fraud_core.evaluation import evaluate_scores

        metrics = evaluate_scores(eval_features, model.predict(eval_features))
        model.metadata.metrics.update(metrics)
        log("evaluation: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return model
