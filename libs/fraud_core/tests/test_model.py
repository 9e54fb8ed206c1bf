"""Tests for fraud_core.model: config validation, device choice, training, scoring, persistence."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoostClassifier, CatBoostError

from fraud_core.columns import FRAUD_SCORE as SCORE_NAME
from fraud_core.model import (
    METADATA_FILE,
    MODEL_FILE,
    DeviceError,
    FraudModel,
    TrainConfig,
    feature_matrix,
    gpu_device_count,
    select_device,
    train_model,
)
from fraud_core.model import classifier as model_classifier
from fraud_core.model import config as model_config
from fraud_core.model import device as model_device
from fraud_core.model import metadata as model_metadata
from fraud_core.shape import PipelineShape

FEATURES = ["f_amount", "f_count", "f_risk"]


def make_features(n: int = 1200, seed: int = 0, fraud_rate: float = 0.08) -> pd.DataFrame:
    """Small synthetic build_features-like frame: fraud depends on f_amount and f_risk."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 30.0, n)
    count = rng.poisson(3, n).astype("float64")
    risk = rng.uniform(0, 1, n)
    logit = -4.5 + 0.03 * amount + 3.0 * risk
    fraud = rng.uniform(size=n) < 1 / (1 + np.exp(-logit)) * fraud_rate / 0.08
    start = pd.Timestamp("2018-07-01", tz="UTC")
    return pd.DataFrame(
        {
            "transaction_id": np.arange(n, dtype="int64"),
            "tx_datetime": start + pd.to_timedelta(np.sort(rng.uniform(0, 14 * 86400, n)), "s"),
            "customer_id": rng.integers(0, 200, n),
            "terminal_id": rng.integers(0, 300, n),
            "tx_amount": amount,
            "tx_fraud": pd.array(fraud.astype("int8"), dtype="Int8"),
            "f_amount": amount,
            "f_count": count,
            "f_risk": risk,
        },
        index=pd.RangeIndex(1000, 1000 + n),
    )


def tiny_config(**overrides: object) -> TrainConfig:
    params: dict[str, object] = {
        "iterations": 20,
        "learning_rate": 0.2,
        "depth": 3,
        "thread_count": 1,
        "features": tuple(FEATURES),
        "device": "cpu",
        "log_period": 5,
    }
    params.update(overrides)
    return TrainConfig(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return make_features()


@pytest.fixture(scope="module")
def trained(data: pd.DataFrame) -> FraudModel:
    return train_model(data, tiny_config(), log=lambda _m: None)


# --- TrainConfig -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iterations": 0}, "iterations"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": 1.5}, "learning_rate"),
        ({"depth": 17}, "depth"),
        ({"l2_leaf_reg": -1.0}, "l2_leaf_reg"),
        ({"border_count": 0}, "border_count"),
        ({"loss_function": "RMSE"}, "loss_function"),
        ({"eval_metric": "PRAUC"}, "eval_metric"),
        ({"auto_class_weights": "Heavy"}, "auto_class_weights"),
        ({"subsample": 0.0}, "subsample"),
        ({"device": "tpu"}, "device"),
        ({"gpu_devices": "zero"}, "gpu_devices"),
        ({"seed": -1}, "seed"),
        ({"thread_count": 0}, "thread_count"),
        ({"log_period": 0}, "log_period"),
        ({"features": ()}, "features"),
        ({"features": ("a", "a")}, "duplicates"),
        ({"features": ("a", "tx_fraud")}, "label"),
        ({"extra_params": {"task_type": "GPU"}}, "managed"),
    ],
)
def test_train_config_rejects_invalid_values(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides)  # type: ignore[arg-type]


def test_train_config_params_identical_quantisation_on_both_devices() -> None:
    config = TrainConfig(features=tuple(FEATURES), gpu_devices="0:1")
    cpu, gpu = config.catboost_params("cpu"), config.catboost_params("gpu")
    assert cpu["task_type"] == "CPU"
    assert "devices" not in cpu
    assert gpu["task_type"] == "GPU"
    assert gpu["devices"] == "0:1"
    for key in ("border_count", "bootstrap_type", "subsample", "depth", "random_seed"):
        assert cpu[key] == gpu[key]
    assert cpu["allow_writing_files"] is False
    assert gpu["allow_writing_files"] is False
    assert "auto_class_weights" not in cpu  # no reweighting by default
    assert json.loads(json.dumps(config.to_dict()))["features"] == FEATURES


def test_default_feature_list_comes_from_features_module() -> None:
    features = pytest.importorskip("fraud_core.features")
    expected = list(features.feature_columns(features.FeatureConfig()))
    assert TrainConfig().feature_list() == expected
    assert model_config.default_feature_columns() == expected


# --- device selection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "gpu_count", "expected"),
    [
        ("cpu", 0, "cpu"),
        ("cpu", 4, "cpu"),
        ("auto", 0, "cpu"),
        ("auto", 1, "gpu"),
        ("gpu", 2, "gpu"),
    ],
)
def test_select_device(requested: str, gpu_count: int, expected: str) -> None:
    assert select_device(requested, gpu_count) == expected  # type: ignore[arg-type]


def test_select_device_explicit_gpu_without_device_raises() -> None:
    with pytest.raises(DeviceError, match="no CUDA device"):
        select_device("gpu", gpu_count=0)
    with pytest.raises(ValueError, match="device"):
        select_device("tpu", gpu_count=0)  # type: ignore[arg-type]


def test_select_device_auto_uses_catboost_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_device.catboost.utils, "get_gpu_device_count", lambda: 2)
    try:
        assert gpu_device_count(refresh=True) == 2
        assert select_device("auto") == "gpu"
        monkeypatch.setattr(model_device.catboost.utils, "get_gpu_device_count", lambda: 0)
        assert select_device("auto") == "gpu"  # cached for the process
        assert gpu_device_count(refresh=True) == 0
        assert select_device("auto") == "cpu"
    finally:
        monkeypatch.undo()
        gpu_device_count(refresh=True)


class _FailingGpuClassifier(CatBoostClassifier):
    """Simulates a CUDA/driver failure: fit raises CatBoostError when task_type is GPU."""

    gpu_attempts = 0

    def fit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.get_param("task_type") == "GPU":
            type(self).gpu_attempts += 1
            raise CatBoostError("CUDA error 35: CUDA driver version is insufficient (simulated)")
        return super().fit(*args, **kwargs)


def test_gpu_failure_under_auto_falls_back_to_cpu(
    monkeypatch: pytest.MonkeyPatch, data: pd.DataFrame
) -> None:
    monkeypatch.setattr(model_classifier, "gpu_device_count", lambda: 1)
    monkeypatch.setattr(model_classifier, "CatBoostClassifier", _FailingGpuClassifier)
    _FailingGpuClassifier.gpu_attempts = 0
    lines: list[str] = []
    model = train_model(data, tiny_config(device="auto"), log=lines.append)
    assert _FailingGpuClassifier.gpu_attempts == 1
    assert any("falling back to CPU" in line for line in lines)
    assert model.metadata.device == "cpu"
    assert model.metadata.device_requested == "auto"
    assert model.metadata.gpu_count == 1
    assert "simulated" in (model.metadata.gpu_fallback_reason or "")
    assert model.metadata.params["task_type"] == "CPU"


def test_gpu_failure_with_explicit_gpu_raises(
    monkeypatch: pytest.MonkeyPatch, data: pd.DataFrame
) -> None:
    monkeypatch.setattr(model_classifier, "gpu_device_count", lambda: 1)
    monkeypatch.setattr(model_classifier, "CatBoostClassifier", _FailingGpuClassifier)
    with pytest.raises(DeviceError, match="GPU training failed"):
        train_model(data, tiny_config(device="gpu"), log=lambda _m: None)


@pytest.mark.skipif(gpu_device_count() > 0, reason="needs a machine without a usable GPU")
def test_real_gpu_fit_failure_falls_back_to_cpu(
    monkeypatch: pytest.MonkeyPatch, data: pd.DataFrame
) -> None:
    # Pretend a device is visible: CatBoost's real GPU fit then fails on this CUDA-less machine.
    monkeypatch.setattr(model_classifier, "gpu_device_count", lambda: 1)
    lines: list[str] = []
    model = train_model(data, tiny_config(device="auto"), log=lines.append)
    assert model.metadata.device == "cpu"
    assert model.metadata.gpu_fallback_reason
    assert any("falling back to CPU" in line for line in lines)
    with pytest.raises(DeviceError):
        train_model(data, tiny_config(device="gpu"), log=lambda _m: None)


def test_auto_on_this_machine_records_device(trained: FraudModel) -> None:
    meta = trained.metadata
    assert meta.device in ("cpu", "gpu")
    assert meta.params["task_type"] == meta.device.upper()


# --- training --------------------------------------------------------------------------------


def test_train_model_excludes_and_counts_unlabelled_rows(data: pd.DataFrame) -> None:
    frame = data.copy()
    unknown = frame.index[-150:]  # the most recent rows: labels not known yet
    frame.loc[unknown, "tx_fraud"] = pd.NA
    model = train_model(frame, tiny_config(), log=lambda _m: None)
    meta = model.metadata
    labelled = frame.loc[frame["tx_fraud"].notna()]
    assert meta.n_rows == len(frame)
    assert meta.n_unlabelled_excluded == 150
    assert meta.n_labelled == len(frame) - 150
    assert meta.n_fraud == int(labelled["tx_fraud"].sum())
    assert pd.Timestamp(meta.training_end) == labelled["tx_datetime"].max()
    assert pd.Timestamp(meta.training_start) == labelled["tx_datetime"].min()
    # The unlabelled rows are not part of the training data hash.
    assert meta.data_hash == model_metadata.data_hash(labelled[[*FEATURES, "tx_fraud"]])


def test_train_model_metadata(trained: FraudModel, data: pd.DataFrame) -> None:
    meta = trained.metadata
    assert meta.features == FEATURES
    assert meta.device == "cpu"
    assert meta.gpu_fallback_reason is None
    assert meta.params["border_count"] == 254
    assert meta.train_config["iterations"] == 20
    assert trained.classifier.tree_count_ == 20
    assert meta.catboost_version
    assert meta.fraud_core_version
    assert len(meta.data_hash) == 64
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", meta.model_id)
    assert pd.Timestamp(meta.created_at).tzinfo is not None
    assert meta.n_fraud == int(data["tx_fraud"].sum()) > 0


def test_data_hash_is_stable_and_content_sensitive(data: pd.DataFrame) -> None:
    cols = [*FEATURES, "tx_fraud"]
    base = model_metadata.data_hash(data[cols])
    assert base == model_metadata.data_hash(data[cols].reset_index(drop=True))
    changed = data[cols].copy()
    changed.iloc[0, 0] += 1.0
    assert model_metadata.data_hash(changed) != base


def test_training_is_deterministic_on_cpu(data: pd.DataFrame, trained: FraudModel) -> None:
    again = train_model(data, tiny_config(), log=lambda _m: None)
    np.testing.assert_array_equal(again.predict(data).to_numpy(), trained.predict(data).to_numpy())
    assert again.metadata.data_hash == trained.metadata.data_hash


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([pd.NA] * 4, "no labelled rows"),
        ([0, 0, 0, pd.NA], "no fraud labels"),
        ([1, 1, 1, 1], "no genuine labels"),
    ],
)
def test_train_model_refuses_degenerate_training_sets(labels: list, message: str) -> None:
    frame = make_features(n=4)
    frame["tx_fraud"] = pd.array(labels, dtype="Int8")
    with pytest.raises(ValueError, match=message):
        train_model(frame, tiny_config(), log=lambda _m: None)


def test_train_model_requires_label_and_features(data: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="label column"):
        train_model(data.drop(columns="tx_fraud"), tiny_config())
    with pytest.raises(ValueError, match="f_risk"):
        train_model(data.drop(columns="f_risk"), tiny_config())
    bad = data.assign(tx_fraud=pd.array([2] * len(data), dtype="Int8"))
    with pytest.raises(ValueError, match="0/1"):
        train_model(bad, tiny_config())


def test_training_writes_nothing_into_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data: pd.DataFrame
) -> None:
    monkeypatch.chdir(tmp_path)
    train_model(data, tiny_config(), log=lambda _m: None)
    assert not (tmp_path / "catboost_info").exists()
    assert os.listdir(tmp_path) == []


def test_training_progress_goes_to_log_callable(data: pd.DataFrame, capfd) -> None:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    train_model(data, tiny_config(iterations=20, log_period=5), log=lines.append)
    progress = [line for line in lines if line.startswith("catboost: ") and "learn:" in line]
    # Iterations 0, 5, 10, 15 and the last one (19).
    assert len(progress) == 5
    assert progress[0].startswith("catboost: 0:")
    assert progress[-1].startswith("catboost: 19:")
    assert any(line.startswith("trained 20 trees on CPU") for line in lines)
    out, _err = capfd.readouterr()
    assert "learn:" not in out


def test_default_log_is_python_logging(
    data: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="fraud_core.model"):
        train_model(data, tiny_config())
    assert any("learn:" in r.getMessage() for r in caplog.records)


def test_eval_features_fill_metrics(data: pd.DataFrame) -> None:
    model = train_model(data.iloc[:800], tiny_config(), eval_features=data.iloc[800:])
    metrics = model.metadata.metrics
    assert 0.5 < metrics["roc_auc"] <= 1.0
    assert 0.0 < metrics["average_precision"] <= 1.0
    assert 0.0 <= metrics["card_precision@100"] <= 1.0
    assert metrics["n_eval"] == 400


# --- scoring ---------------------------------------------------------------------------------


def test_predict_returns_aligned_probabilities(trained: FraudModel, data: pd.DataFrame) -> None:
    sample = data.sample(200, random_state=1)
    scores = trained.predict(sample)
    assert scores.name == SCORE_NAME
    assert scores.dtype == np.float64
    assert scores.index.equals(sample.index)
    assert ((scores > 0) & (scores < 1)).all()
    expected = trained.classifier.predict_proba(sample[FEATURES].to_numpy())[:, 1]
    np.testing.assert_allclose(scores.to_numpy(), expected, rtol=1e-6)
    # Ranking is informative: frauds score higher on average.
    labels = sample["tx_fraud"].astype(bool)
    assert scores[labels].mean() > scores[~labels].mean()


def test_predict_uses_columns_by_name(trained: FraudModel, data: pd.DataFrame) -> None:
    shuffled = data[["f_risk", "tx_amount", "f_count", "f_amount"]]
    pd.testing.assert_series_equal(trained.predict(shuffled), trained.predict(data))


def test_predict_missing_features_names_them(trained: FraudModel, data: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"missing feature columns \['f_count', 'f_risk'\]"):
        trained.predict(data.drop(columns=["f_count", "f_risk"]))


def test_predict_empty_input(trained: FraudModel, data: pd.DataFrame) -> None:
    scores = trained.predict(data.iloc[:0])
    assert scores.empty
    assert scores.dtype == np.float64
    assert scores.name == SCORE_NAME


def test_feature_matrix_is_one_float32_fortran_block(data: pd.DataFrame) -> None:
    frame = data.assign(f_count=data["f_count"].astype("Int64"))
    frame.loc[frame.index[0], "f_count"] = pd.NA
    matrix = feature_matrix(frame, FEATURES)
    assert matrix.dtype == np.float32
    assert matrix.flags.f_contiguous
    assert matrix.shape == (len(frame), 3)
    assert np.isnan(matrix[0, 1])
    np.testing.assert_allclose(matrix[:, 2], frame["f_risk"].to_numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="not numeric"):
        feature_matrix(frame.assign(f_risk="x"), FEATURES)


# --- persistence -----------------------------------------------------------------------------


def test_save_load_round_trip(trained: FraudModel, data: pd.DataFrame, tmp_path: Path) -> None:
    target = trained.save(str(tmp_path / "model"))
    assert sorted(p.name for p in target.iterdir()) == [METADATA_FILE, MODEL_FILE]
    loaded = FraudModel.load(target, expected_features=FEATURES)
    pd.testing.assert_series_equal(loaded.predict(data), trained.predict(data))
    assert loaded.metadata == trained.metadata
    meta = json.loads((target / METADATA_FILE).read_text())
    assert meta["features"] == FEATURES
    assert meta["device"] == "cpu"


def test_bytes_round_trip(trained: FraudModel, data: pd.DataFrame) -> None:
    blob, meta = trained.model_bytes(), trained.metadata_json()
    assert isinstance(blob, bytes)
    assert blob
    loaded = FraudModel.from_bytes(blob, meta.encode(), FEATURES)
    pd.testing.assert_series_equal(loaded.predict(data), trained.predict(data))


def test_load_rejects_feature_mismatch(trained: FraudModel, tmp_path: Path) -> None:
    trained.save(tmp_path)
    with pytest.raises(ValueError, match=r"missing \['f_new'\], extra \['f_count'\]"):
        FraudModel.load(tmp_path, expected_features=["f_amount", "f_risk", "f_new"])
    with pytest.raises(ValueError, match="other order"):
        FraudModel.load(tmp_path, expected_features=list(reversed(FEATURES)))
    assert FraudModel.load(tmp_path, check_features=False).features == FEATURES


def test_load_default_expects_current_feature_code(trained: FraudModel, tmp_path: Path) -> None:
    pytest.importorskip("fraud_core.features")
    trained.save(tmp_path)
    with pytest.raises(ValueError, match="does not match the expected features"):
        FraudModel.load(tmp_path)


def test_load_detects_inconsistent_files(trained: FraudModel, tmp_path: Path) -> None:
    trained.save(tmp_path)
    meta = json.loads((tmp_path / METADATA_FILE).read_text())
    meta["features"] = ["a", "b", "c"]
    (tmp_path / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="corrupt model"):
        FraudModel.load(tmp_path, expected_features=["a", "b", "c"])
    with pytest.raises(FileNotFoundError):
        FraudModel.load(tmp_path / "nowhere", expected_features=FEATURES)


# --- the pipeline shape in the metadata ------------------------------------------------------


def shaped_features(shape: PipelineShape, n: int = 600) -> pd.DataFrame:
    """``make_features`` rows with the shape's feature columns (noise, fraud tied to the amount)."""
    data = make_features(n)
    rng = np.random.default_rng(1)
    for column in shape.feature_columns():
        if column not in data:
            data[column] = rng.normal(size=len(data))
    return data


def test_a_model_trained_for_a_shape_records_it() -> None:
    shape = PipelineShape(windows_days=(1, 7), label_delay_days=2)
    model = train_model(
        shaped_features(shape), tiny_config(features=None), shape=shape, log=lambda _m: None
    )
    meta = model.metadata
    assert meta.features == shape.feature_columns()
    assert meta.pipeline_shape == shape.fingerprint
    assert (meta.windows_days, meta.label_delay_days) == ([1, 7], 2)
    assert meta.schema_version == 2
    again = FraudModel.from_bytes(model.model_bytes(), model.metadata_json(), meta.features)
    assert again.metadata.pipeline_shape == shape.fingerprint


def test_a_shape_and_other_configured_features_are_refused() -> None:
    shape = PipelineShape(windows_days=(1, 7), label_delay_days=2)
    with pytest.raises(ValueError, match=r"differ from the features of pipeline shape w1-7\.d2"):
        train_model(shaped_features(shape), tiny_config(), shape=shape)


def test_metadata_written_before_shapes_still_loads(trained: FraudModel, tmp_path: Path) -> None:
    """Schema 1 had no shape keys: it loads, and says it records no shape (None)."""
    trained.save(tmp_path)
    meta = json.loads((tmp_path / METADATA_FILE).read_text())
    for key in ("pipeline_shape", "windows_days", "label_delay_days"):
        del meta[key]
    meta["schema_version"] = 1
    (tmp_path / METADATA_FILE).write_text(json.dumps(meta))
    loaded = FraudModel.load(tmp_path, expected_features=FEATURES)
    assert loaded.metadata.pipeline_shape is None
    assert loaded.metadata.windows_days is None
    assert loaded.metadata.schema_version == 1
