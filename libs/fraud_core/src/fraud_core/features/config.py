"""The feature configuration: window lengths and the label delay, in whole days."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_CONFIG", "FeatureConfig", "lookback_days"]


@dataclass(frozen=True)
class FeatureConfig:
    """Feature windows (days, sorted ascending) and the label delay (days)."""

    windows_days: tuple[int, ...] = (1, 7, 30)
    label_delay_days: int = 7

    def __post_init__(self) -> None:
        try:
            windows = tuple(self.windows_days)
        except TypeError:
            raise ValueError(
                f"windows_days must be a sequence of whole days, got {self.windows_days!r}"
            ) from None
        if not windows:
            raise ValueError("windows_days must not be empty")
        for w in windows:
            if isinstance(w, bool) or not isinstance(w, int | np.integer):
                raise ValueError(f"windows_days must be whole days (int), got {w!r}")
            if w <= 0:
                raise ValueError(f"windows_days must be positive, got {w!r}")
        if len(set(windows)) != len(windows):
            raise ValueError(f"windows_days must be unique, got {windows!r}")
        delay = self.label_delay_days
        if isinstance(delay, bool) or not isinstance(delay, int | np.integer):
            raise ValueError(f"label_delay_days must be whole days (int), got {delay!r}")
        if delay < 0:
            raise ValueError(f"label_delay_days must be >= 0, got {delay!r}")
        object.__setattr__(self, "windows_days", tuple(sorted(int(w) for w in windows)))
        object.__setattr__(self, "label_delay_days", int(delay))

    @property
    def largest_window(self) -> int:
        """The longest window, in days."""
        return self.windows_days[-1]


DEFAULT_CONFIG = FeatureConfig()
"""Windows (1, 7, 30) days, label delay 7 days: the handbook's."""


def lookback_days(config: FeatureConfig) -> int:
    """Return the days of history before a transaction that its features depend on."""
    return max(config.windows_days) + config.label_delay_days
