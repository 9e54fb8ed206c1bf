"""Training configuration of the fraud model: CatBoost parameters, device and logging."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fraud_core.columns import TX_FRAUD

__all__ = ["Device", "TrainConfig", "UsedDevice", "default_feature_columns"]

Device = Literal["auto", "cpu", "gpu"]
UsedDevice = Literal["cpu", "gpu"]

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


def default_feature_columns() -> list[str]:
    """Return the feature columns of the current code's default ``FeatureConfig``."""
    from fraud_core.features import FeatureConfig, feature_columns

    return list(feature_columns(FeatureConfig()))


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
            if TX_FRAUD in feats:
                errors.append(f"the label {TX_FRAUD!r} cannot be a feature")
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
