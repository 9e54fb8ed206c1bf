"""Which days a model trains and is validated on, as of a day.

Labels arrive ``label_delay_days`` late, so only the days before the *labelled end* are labelled;
the last ``validation_days`` of them are held out for the promotion gate, and the
``train_days`` before those are trained on::

    [train_start ............ validation_start ........ labelled_end) ... as_of
     <------ train_days ------><---- validation_days ---->
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["TrainingWindows", "training_windows"]


@dataclass(frozen=True)
class TrainingWindows:
    """The training and validation day ranges, each ``[first, end)``."""

    train_start: date
    validation_start: date
    labelled_end: date
    """Exclusive: the first day whose labels are not complete yet."""

    @property
    def train(self) -> tuple[date, date]:
        """Training days ``[first, end)``."""
        return self.train_start, self.validation_start

    @property
    def validation(self) -> tuple[date, date]:
        """Validation days ``[first, end)``."""
        return self.validation_start, self.labelled_end

    @property
    def days(self) -> tuple[date, date]:
        """Every day read, training and validation: ``[first, end)``."""
        return self.train_start, self.labelled_end

    def describe_train(self) -> str:
        """The training days, inclusive, e.g. ``2025-03-10 .. 2025-03-19``."""
        return _inclusive(*self.train)

    def describe_validation(self) -> str:
        """The validation days, inclusive."""
        return _inclusive(*self.validation)


def training_windows(
    as_of: date, label_delay_days: int, train_days: int, validation_days: int
) -> TrainingWindows:
    """The training and validation days of a model trained as of ``as_of``."""
    if label_delay_days < 0:
        raise ValueError(f"label_delay_days must be >= 0, got {label_delay_days}")
    for name, value in (("train_days", train_days), ("validation_days", validation_days)):
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    labelled_end = as_of - timedelta(days=label_delay_days - 1)
    validation_start = labelled_end - timedelta(days=validation_days)
    return TrainingWindows(
        train_start=validation_start - timedelta(days=train_days),
        validation_start=validation_start,
        labelled_end=labelled_end,
    )


def _inclusive(first: date, end: date) -> str:
    return f"{first.isoformat()} .. {(end - timedelta(days=1)).isoformat()}"
