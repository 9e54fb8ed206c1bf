"""The pipeline's shape: the feature windows and the label delay, fixed for a deployment.

The shape decides the partition mappings (how many days of history a day's features read), what
the feature and label-count tables hold, and the model's feature set. It cannot change per run: it
is read once from the deployment's environment (``FRAUD_WINDOWS_DAYS``, ``FRAUD_LABEL_DELAY_DAYS``),
recorded with every stored feature partition and every model as a :attr:`PipelineShape.fingerprint`,
and a reader that finds another fingerprint than the running one raises
:class:`ShapeMismatchError`, which says what to rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property

from fraud_core.features import FeatureConfig, feature_columns, lookback_days

__all__ = [
    "LABEL_DELAY_VARIABLE",
    "WINDOWS_VARIABLE",
    "PipelineShape",
    "ShapeMismatchError",
    "describe_recorded_shape",
]

WINDOWS_VARIABLE = "FRAUD_WINDOWS_DAYS"
"""Feature windows in days, comma-separated (default ``1,7,30``)."""
LABEL_DELAY_VARIABLE = "FRAUD_LABEL_DELAY_DAYS"
"""Days until a transaction's label is known (default ``7``)."""

_DEFAULT = FeatureConfig()


@dataclass(frozen=True)
class PipelineShape:
    """Feature windows and label delay: what partition mappings, tables and the model depend on."""

    windows_days: tuple[int, ...] = _DEFAULT.windows_days
    label_delay_days: int = _DEFAULT.label_delay_days

    def __post_init__(self) -> None:
        config = FeatureConfig(
            windows_days=self.windows_days, label_delay_days=self.label_delay_days
        )
        object.__setattr__(self, "windows_days", config.windows_days)  # validated, sorted
        object.__setattr__(self, "label_delay_days", config.label_delay_days)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipelineShape:
        """The shape of this deployment from ``FRAUD_WINDOWS_DAYS`` / ``FRAUD_LABEL_DELAY_DAYS``."""
        env = os.environ if env is None else env
        windows, delay = _DEFAULT.windows_days, _DEFAULT.label_delay_days
        raw_windows = env.get(WINDOWS_VARIABLE, "").strip()
        if raw_windows:
            windows = _parse_windows(raw_windows)
            _require_valid(WINDOWS_VARIABLE, raw_windows, windows, delay)
        raw_delay = env.get(LABEL_DELAY_VARIABLE, "").strip()
        if raw_delay:
            delay = _parse_delay(raw_delay)
            _require_valid(LABEL_DELAY_VARIABLE, raw_delay, windows, delay)
        return cls(windows_days=windows, label_delay_days=delay)

    def feature_config(self) -> FeatureConfig:
        """The feature configuration of this shape."""
        return FeatureConfig(windows_days=self.windows_days, label_delay_days=self.label_delay_days)

    @property
    def lookback_days(self) -> int:
        """Days of validated history before a day that its features depend on."""
        return lookback_days(self.feature_config())

    @property
    def labels_due_after_days(self) -> int:
        """Day D's label counts are those of day D minus this (the labels then due)."""
        return self.label_delay_days + 1

    @property
    def terminal_whole_days(self) -> int:
        """Whole days inside the longest terminal window: the label-count days a day reads."""
        return max(max(self.windows_days) - 1, 0)

    def feature_columns(self) -> list[str]:
        """The model's feature columns, in order."""
        return feature_columns(self.feature_config())

    @cached_property
    def fingerprint(self) -> str:
        """A short, stable id, e.g. ``w1-7-30.d7.1a2b3c4d``: windows, delay, feature list hash."""
        digest = hashlib.sha256(json.dumps(self.feature_columns()).encode("utf-8")).hexdigest()
        windows = "-".join(str(w) for w in self.windows_days)
        return f"w{windows}.d{self.label_delay_days}.{digest[:8]}"

    def describe(self) -> str:
        """The shape in words, with its fingerprint."""
        return (
            f"windows {_days(self.windows_days)}, label delay {self.label_delay_days} days, "
            f"{len(self.feature_columns())} features ({self.fingerprint})"
        )


def describe_recorded_shape(
    fingerprint: str | None,
    windows_days: Sequence[int] | None = None,
    label_delay_days: int | None = None,
) -> str:
    """What a table or a model records of its shape, in words (also when it records none)."""
    if not fingerprint:
        return "no recorded pipeline shape (written before shapes were recorded)"
    if windows_days and label_delay_days is not None:
        return f"windows {_days(windows_days)}, label delay {label_delay_days} days ({fingerprint})"
    return fingerprint


class ShapeMismatchError(ValueError):
    """Stored data or a model was built with another pipeline shape than the running one.

    Permanent: retrying cannot help; the message says what was found, what runs now and what to
    rebuild (a table's days, or the model).
    """

    @classmethod
    def for_table(
        cls,
        table: str,
        found: Mapping[str | None, Sequence[date]],
        running: PipelineShape,
        *,
        rebuild: str,
    ) -> ShapeMismatchError:
        """Partitions of ``table`` (``found``: recorded fingerprint -> its days) of another shape."""
        days = sorted({day for group in found.values() for day in group})
        seen = "; ".join(
            f"{describe_recorded_shape(fingerprint)} on {_span(group)}"
            for fingerprint, group in sorted(found.items(), key=lambda item: min(item[1]))
        )
        return cls(
            f"{table} holds {len(days)} day(s) built with another pipeline shape ({seen}), but "
            f"this deployment runs {running.describe()}. Rebuild {rebuild} for {_span(days)} "
            f"({len(days)} day(s), e.g. a backfill of that range) with the running shape, or "
            "deploy the shape the table was built with."
        )

    @classmethod
    def for_model(
        cls,
        version: str,
        running: PipelineShape,
        *,
        fingerprint: str | None,
        windows_days: Sequence[int] | None = None,
        label_delay_days: int | None = None,
    ) -> ShapeMismatchError:
        """Model ``version`` records another shape (or none) than the running one."""
        found = describe_recorded_shape(fingerprint, windows_days, label_delay_days)
        return cls(
            f"model {version} was trained with {found}, but this deployment runs "
            f"{running.describe()}. Retrain the model on features of the running shape (and let "
            "the promotion gate promote it), or deploy the shape the model was trained with."
        )


def _parse_windows(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"{WINDOWS_VARIABLE}={text!r} is not a comma-separated list of whole days (e.g. 1,7,30)"
        ) from None


def _parse_delay(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"{LABEL_DELAY_VARIABLE}={text!r} is not a whole number of days (e.g. 7)"
        ) from None


def _require_valid(variable: str, raw: str, windows: tuple[int, ...], delay: int) -> None:
    """Raise, naming ``variable`` and its value, when the feature configuration refuses it."""
    try:
        FeatureConfig(windows_days=windows, label_delay_days=delay)
    except ValueError as error:
        raise ValueError(f"{variable}={raw!r} is not a valid pipeline shape: {error}") from None


def _days(windows: Sequence[int]) -> str:
    return ", ".join(str(w) for w in windows) + " days"


def _span(days: Sequence[date]) -> str:
    first, last = min(days), max(days)
    return first.isoformat() if first == last else f"{first.isoformat()} .. {last.isoformat()}"
