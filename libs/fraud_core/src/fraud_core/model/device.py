"""Which device CatBoost trains on: the GPU when it sees one (``auto``), else the CPU."""

from __future__ import annotations

import functools

import catboost
import catboost.utils
from catboost import CatBoostError

from fraud_core.model.config import Device, UsedDevice

__all__ = ["DeviceError", "gpu_device_count", "select_device"]


class DeviceError(RuntimeError):
    """The requested training device cannot be used."""


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
