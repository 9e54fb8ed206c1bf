"""The pipeline shape: validation, environment, fingerprint, and what a mismatch tells."""

from __future__ import annotations

import re
from datetime import date

import pytest

from fraud_core.features import FeatureConfig, feature_columns, lookback_days
from fraud_core.shape import (
    LABEL_DELAY_VARIABLE,
    WINDOWS_VARIABLE,
    PipelineShape,
    ShapeMismatchError,
    describe_recorded_shape,
)

SMALL = PipelineShape(windows_days=(1, 7), label_delay_days=2)


def test_defaults_are_the_feature_defaults() -> None:
    shape = PipelineShape()
    config = FeatureConfig()
    assert shape.feature_config() == config
    assert shape.lookback_days == lookback_days(config) == 37
    assert shape.feature_columns() == feature_columns(config)
    assert shape.labels_due_after_days == 8
    assert shape.terminal_whole_days == 29


def test_windows_are_validated_and_sorted() -> None:
    assert PipelineShape(windows_days=(7, 1), label_delay_days=2) == SMALL
    assert PipelineShape(windows_days=[7, 1], label_delay_days=2).windows_days == (1, 7)
    for windows, delay, message in [
        ((), 7, "must not be empty"),
        ((0, 7), 7, "positive"),
        ((7, 7), 7, "unique"),
        ((1, 7), -1, "label_delay_days must be >= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            PipelineShape(windows_days=windows, label_delay_days=delay)


def test_shape_is_frozen_and_hashable() -> None:
    with pytest.raises(AttributeError):
        SMALL.label_delay_days = 3  # type: ignore[misc]
    assert len({SMALL, PipelineShape(windows_days=(1, 7), label_delay_days=2)}) == 1


def test_partition_arithmetic_of_a_small_shape() -> None:
    assert SMALL.lookback_days == 9
    assert SMALL.labels_due_after_days == 3
    assert SMALL.terminal_whole_days == 6
    assert PipelineShape(windows_days=(1,), label_delay_days=0).terminal_whole_days == 0


def test_fingerprint_is_readable_stable_and_changes_with_the_shape() -> None:
    assert re.fullmatch(r"w1-7-30\.d7\.[0-9a-f]{8}", PipelineShape().fingerprint)
    assert re.fullmatch(r"w1-7\.d2\.[0-9a-f]{8}", SMALL.fingerprint)
    assert SMALL.fingerprint == PipelineShape(windows_days=(7, 1), label_delay_days=2).fingerprint
    others = {
        PipelineShape(windows_days=(1, 7), label_delay_days=3).fingerprint,  # delay
        PipelineShape(windows_days=(1, 14), label_delay_days=2).fingerprint,  # windows
        PipelineShape(windows_days=(1, 7, 30), label_delay_days=2).fingerprint,  # features
    }
    assert SMALL.fingerprint not in others
    assert len(others) == 3


def test_fingerprint_follows_the_feature_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same windows and delay, one more feature column (a new feature family): a new id."""
    import fraud_core.shape as shape_module

    before = PipelineShape(windows_days=(1, 7), label_delay_days=2).fingerprint
    monkeypatch.setattr(
        shape_module, "feature_columns", lambda config: [*feature_columns(config), "new_feature"]
    )
    after = PipelineShape(windows_days=(1, 7), label_delay_days=2).fingerprint
    assert after.split(".")[:2] == before.split(".")[:2] == ["w1-7", "d2"]
    assert after != before


def test_describe_names_windows_delay_and_fingerprint() -> None:
    text = SMALL.describe()
    assert text.startswith("windows 1, 7 days, label delay 2 days, ")
    assert f"{len(SMALL.feature_columns())} features" in text
    assert SMALL.fingerprint in text


def test_from_env_defaults_and_values() -> None:
    assert PipelineShape.from_env({}) == PipelineShape()
    assert PipelineShape.from_env({WINDOWS_VARIABLE: " 7, 1 ", LABEL_DELAY_VARIABLE: "2"}) == SMALL
    assert PipelineShape.from_env({LABEL_DELAY_VARIABLE: "0"}).label_delay_days == 0
    assert PipelineShape.from_env({WINDOWS_VARIABLE: ""}) == PipelineShape()


def test_from_env_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WINDOWS_VARIABLE, "1,7")
    monkeypatch.setenv(LABEL_DELAY_VARIABLE, "2")
    assert PipelineShape.from_env() == SMALL


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({WINDOWS_VARIABLE: "1,seven"}, "FRAUD_WINDOWS_DAYS='1,seven' is not a comma-separated"),
        ({WINDOWS_VARIABLE: "1;7"}, "FRAUD_WINDOWS_DAYS='1;7'"),
        ({WINDOWS_VARIABLE: "0,7"}, "FRAUD_WINDOWS_DAYS='0,7' is not a valid .*positive"),
        ({WINDOWS_VARIABLE: "7,7"}, "FRAUD_WINDOWS_DAYS='7,7' is not a valid .*unique"),
        ({LABEL_DELAY_VARIABLE: "a week"}, "FRAUD_LABEL_DELAY_DAYS='a week' is not a whole"),
        ({LABEL_DELAY_VARIABLE: "2.5"}, "FRAUD_LABEL_DELAY_DAYS='2.5'"),
        ({LABEL_DELAY_VARIABLE: "-1"}, "FRAUD_LABEL_DELAY_DAYS='-1' is not a valid .*>= 0"),
    ],
)
def test_from_env_errors_name_the_variable_and_the_value(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PipelineShape.from_env(env)


def test_a_table_mismatch_says_what_was_found_what_runs_and_what_to_rebuild() -> None:
    running = PipelineShape()
    error = ShapeMismatchError.for_table(
        "FRAUD.TRANSFORMED_TRANSACTIONS",
        {
            SMALL.fingerprint: [date(2025, 3, 30), date(2025, 3, 29)],
            None: [date(2025, 3, 31)],
        },
        running,
        rebuild="transformed_transactions",
    )
    text = str(error)
    assert isinstance(error, ValueError)
    assert text.startswith("FRAUD.TRANSFORMED_TRANSACTIONS holds 3 day(s) built with another")
    assert f"{SMALL.fingerprint} on 2025-03-29 .. 2025-03-30" in text
    assert "no recorded pipeline shape (written before shapes were recorded) on 2025-03-31" in text
    assert f"this deployment runs {running.describe()}" in text
    assert "Rebuild transformed_transactions for 2025-03-29 .. 2025-03-31 (3 day(s)" in text


def test_a_model_mismatch_says_retrain() -> None:
    text = str(
        ShapeMismatchError.for_model(
            "v1",
            PipelineShape(),
            fingerprint=SMALL.fingerprint,
            windows_days=[1, 7],
            label_delay_days=2,
        )
    )
    assert text.startswith(
        f"model v1 was trained with windows 1, 7 days, label delay 2 days ({SMALL.fingerprint})"
    )
    assert PipelineShape().fingerprint in text
    assert "Retrain the model" in text
    legacy = str(ShapeMismatchError.for_model("v0", SMALL, fingerprint=None))
    assert "model v0 was trained with no recorded pipeline shape" in legacy


def test_describe_recorded_shape() -> None:
    assert describe_recorded_shape("w1.d0.12345678") == "w1.d0.12345678"
    assert describe_recorded_shape(None).startswith("no recorded pipeline shape")
