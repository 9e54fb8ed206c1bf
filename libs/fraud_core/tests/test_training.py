"""The training and validation windows of a model trained as of a day."""

from datetime import date, timedelta

import pytest

from fraud_core.training import TrainingWindows, training_windows

AS_OF = date(2025, 3, 31)


def test_windows_end_where_labels_are_complete() -> None:
    windows = training_windows(AS_OF, label_delay_days=7, train_days=28, validation_days=7)
    # a day is labelled once its delay has passed: the 24th (+7 = the 31st) is the last one
    assert windows.labelled_end == date(2025, 3, 25)
    assert windows.validation == (date(2025, 3, 18), date(2025, 3, 25))
    assert windows.train == (date(2025, 2, 18), date(2025, 3, 18))
    assert windows.days == (date(2025, 2, 18), date(2025, 3, 25))
    assert (windows.train[1] - windows.train[0]).days == 28
    assert (windows.validation[1] - windows.validation[0]).days == 7
    assert windows.describe_train() == "2025-02-18 .. 2025-03-17"
    assert windows.describe_validation() == "2025-03-18 .. 2025-03-24"


def test_the_small_test_pipeline_windows() -> None:
    """As the location's tests train: 12 simulated days, delay 2, 10 + 3 days."""
    windows = training_windows(AS_OF, label_delay_days=2, train_days=10, validation_days=3)
    assert windows == TrainingWindows(date(2025, 3, 17), date(2025, 3, 27), date(2025, 3, 30))


def test_without_a_label_delay_the_as_of_day_is_labelled() -> None:
    windows = training_windows(AS_OF, label_delay_days=0, train_days=1, validation_days=1)
    assert windows.labelled_end == AS_OF + timedelta(days=1)
    assert windows.validation == (AS_OF, AS_OF + timedelta(days=1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_delay_days": -1}, "label_delay_days"),
        ({"train_days": 0}, "train_days must be positive"),
        ({"validation_days": -3}, "validation_days must be positive"),
    ],
)
def test_invalid_windows_are_refused(kwargs: dict[str, int], message: str) -> None:
    arguments = {"label_delay_days": 7, "train_days": 28, "validation_days": 7, **kwargs}
    with pytest.raises(ValueError, match=message):
        training_windows(AS_OF, **arguments)
