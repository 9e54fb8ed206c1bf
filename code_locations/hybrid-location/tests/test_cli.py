"""``fraud-pipeline`` as a newcomer meets it: a fast ``--help``, quiet progress by stage, the
trailing week scored so the first report has its trend, ``--open``, and failures that say what
went wrong and what to do next, without a traceback unless ``--verbose``."""

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from fraud_core.columns import TX_AMOUNT
from fraud_core.promotion import PromotionPolicy
from fraud_core.shape import PipelineShape
from fraud_core.simulate import simulate_transactions
from fraud_dagster.resources import data_dir
from fraud_testing.pipeline import LAST_DAY, SMALL_TRAINING, pipeline_resources
from hybrid_location import cli
from hybrid_location.defs.reporting import REPORT_TRAILING_DAYS
from hybrid_location.settings import TrainingSettings

NOISE = (
    "Traceback",
    "BetaWarning",
    "Telemetry",
    "Error 35",
    "dagster - INFO",
    "Welcome to Dagster",
)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``FRAUD_DATA_DIR`` (the command creates it, and its Dagster instance)."""
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster_home"))
    monkeypatch.delenv("FRAUD_SOURCE_PARQUET", raising=False)
    return tmp_path / "data"


def small(root: Path, n_days: int, **policy: str) -> dict[str, Any]:
    """The tests' small pipeline over ``n_days`` simulated days (late labels) under ``root``."""
    training = TrainingSettings(**SMALL_TRAINING)
    return pipeline_resources(root, training=training, n_days=n_days, policy_env=policy or None)


class Browser:
    """Records what ``--open`` opens instead of opening a browser."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    def __call__(self, url: str) -> bool:
        self.opened.append(url)
        return True


def test_help_is_instant_and_lists_defaults_and_variables() -> None:
    script = (
        "import sys\n"
        "from hybrid_location import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('dagster imported:', 'dagster' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert "dagster imported: False" in out  # what made --help take seconds
    for name, default, _ in cli.ENVIRONMENT:
        assert f"{name} " in out
        assert default in out
    for option in ("--day", "--days", "--trend-days", "--retrain", "--rebuild", "--open", "-v"):
        assert option in out
    assert "(default: 1)" in out
    assert f"(default: {REPORT_TRAILING_DAYS}," in out


def test_what_help_says_is_what_the_code_does(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = {name: default for name, default, _ in cli.ENVIRONMENT}
    shape, policy = PipelineShape(), PromotionPolicy()
    assert defaults["FRAUD_WINDOWS_DAYS"] == ",".join(map(str, shape.windows_days))
    assert defaults["FRAUD_LABEL_DELAY_DAYS"] == str(shape.label_delay_days)
    assert float(defaults["FRAUD_MIN_AVERAGE_PRECISION"]) == policy.min_average_precision
    assert float(defaults["FRAUD_MIN_ROC_AUC"]) == policy.min_roc_auc
    assert cli.TREND_DAYS == REPORT_TRAILING_DAYS  # the trend the report draws
    monkeypatch.delenv("FRAUD_DATA_DIR", raising=False)
    assert cli._data_dir() == data_dir()
    monkeypatch.setenv("FRAUD_DATA_DIR", "/somewhere/else")
    assert cli._data_dir() == data_dir()


def test_noise_goes_to_the_log_not_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "run.log"
    with cli.stderr_into(log):
        os.write(2, b"Error 35 (CUDA driver version is insufficient) ignored\n")  # native code
        print("a Dagster event", file=sys.stderr)  # Python code (Dagster's console logger)
    print("after", file=sys.stderr)
    captured = capfd.readouterr()
    assert captured.err == "after\n"
    text = log.read_text()
    assert "Error 35" in text
    assert "a Dagster event" in text


def test_a_missing_source_file_says_so_and_what_to_do(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "transactions.parquet"
    monkeypatch.setenv("FRAUD_SOURCE_PARQUET", str(missing))
    assert cli.main([]) == 1
    err = capfd.readouterr().err
    assert "fraud-pipeline: FileNotFoundError: " in err
    assert str(missing) in err
    assert "next: check FRAUD_SOURCE_PARQUET" in err
    assert f"log:  {data / cli.LOG_NAME}" in err
    assert "Traceback" not in err
    assert cli.main(["--verbose"]) == 1
    assert "Traceback (most recent call last)" in capfd.readouterr().err


def test_a_failed_step_prints_its_message_and_the_next_step(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A source without amounts: the first day's validation fails (a ``dg.Failure``)."""
    source = simulate_transactions(
        n_customers=30, n_terminals=60, start_date="2025-03-29", n_days=3
    )
    parquet = tmp_path / "no_amounts.parquet"
    source.drop(columns=[TX_AMOUNT]).to_parquet(parquet)
    monkeypatch.setenv("FRAUD_SOURCE_PARQUET", str(parquet))
    assert cli.main([]) == 1
    err = capfd.readouterr().err
    first_line = err.splitlines()[0]
    assert first_line.startswith("fraud-pipeline: raw_customer_transactions")
    assert TX_AMOUNT in first_line
    assert "next: fix the cause above, then re-run" in err
    assert "Traceback" not in err
    assert "dagster._core" not in err
    assert cli.main(["--verbose"]) == 1
    verbose = capfd.readouterr().err
    assert "Traceback" in verbose or "Stack Trace" in verbose
    assert "STEP_FAILURE" in verbose  # Dagster's events, shown


def test_a_day_outside_the_source_is_refused_before_any_run(
    data: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--day", "2020-01-01"], resources=small(data, n_days=3)) == 1
    err = capfd.readouterr().err
    assert "--day 2020-01-01 is outside the source's days 2025-03-29 .. 2025-03-31" in err
    assert "next: pick a day in that range" in err


class Recorder:
    """Progress that keeps each stage's line and the days each stage went through."""

    def __init__(self) -> None:
        self.lines: dict[str, str] = {}
        self.tracked: dict[str, list[date]] = {}

    def track(self, stage: str, days: list[date]) -> Iterator[date]:
        self.tracked[stage] = list(days)
        yield from days

    def busy(self, stage: str, what: str) -> Any:
        from contextlib import nullcontext

        return nullcontext()

    def done(self, stage: str, summary: str) -> None:
        self.lines[stage] = summary


@pytest.mark.slow
def test_a_first_run_reports_with_its_trend_then_a_second_run_does_only_new_work(
    data: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    last = date.fromisoformat(LAST_DAY)
    browser = Browser()
    assert cli.main(["--open"], resources=small(data, n_days=16), open_report=browser) == 0
    out, err = capfd.readouterr()
    assert err == ""  # quiet: Dagster's events, warnings, CatBoost's noise are in the log
    assert not [noise for noise in NOISE if noise in out]
    lines = out.splitlines()
    assert lines[0].startswith(f"First run: creating {data}")
    stages = [line.split()[0] for line in lines[1:6]]
    assert stages == ["source", "prepare", "model", "score", "report"]
    assert f"(2025-03-24 .. {last}, 7 of them for the trend)" in out
    report = data / "reports" / f"fraud_report_{last}.html"
    assert f"report   {last}: {report}" in out
    assert browser.opened == [report.as_uri()]
    for day in range(8):  # the trend's days were reported too
        assert (data / "reports" / f"fraud_report_{last - timedelta(days=day)}.html").is_file()
    log = (data / cli.LOG_NAME).read_text()
    assert "STEP_SUCCESS" in log  # Dagster's events went there
    assert "enabled: false" in (data / "dagster_home" / "dagster.yaml").read_text()  # telemetry

    assert cli.main([], resources=small(data, n_days=16)) == 0
    again = capfd.readouterr().out
    assert "already prepared" in again
    assert "using the promoted model" in again
    assert "for the trend" not in again
    assert "First run" not in again
    assert f"1 day scored and reported ({last})" in again


@pytest.mark.slow
def test_run_pipeline_scores_the_missing_trend_days_and_trains_before_them(
    tmp_path: Path,
) -> None:
    last = date.fromisoformat(LAST_DAY)
    resources = small(tmp_path, n_days=16)
    progress = Recorder()
    with dg.instance_for_test() as instance:
        run = cli.run_pipeline(resources, instance, trend_days=7, progress=progress)
        assert run.trend_days == [last - timedelta(days=d) for d in range(7, 0, -1)]
        assert run.scored_days == [*run.trend_days, last]
        assert progress.tracked["score"] == run.scored_days
        assert run.trained
        model = instance.get_latest_materialization_event(dg.AssetKey("fraud_detection_model"))
        assert model is not None
        assert model.asset_materialization is not None
        train_window = str(model.asset_materialization.metadata["train_window"].value)
        assert train_window.split(" .. ")[1] < str(run.trend_days[0])  # never scores its days
        # Only the days still missing: a later day's trend needs one more day scored.
        nothing = cli.run_pipeline(resources, instance, last_day=last, trend_days=7)
        assert nothing.trend_days == []
        assert not nothing.trained
    wh = resources["warehouse"].get_warehouse()
    source = wh.read_source(
        pd.Timestamp(run.scored_days[0], tz="UTC"), pd.Timestamp(last + timedelta(1), tz="UTC")
    )
    assert len(source) == sum(
        wh.partition_counts(wh.tables.scores, run.scored_days[0], last + timedelta(1)).values()
    )


@pytest.mark.slow
def test_a_model_the_gate_refuses_stops_the_run_with_the_reason(
    data: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    resources = small(data, n_days=16, FRAUD_MIN_AVERAGE_PRECISION="0.99")
    assert cli.main(["--trend-days", "0"], resources=resources) == 1
    err = capfd.readouterr().err
    assert "fraud-pipeline: the promotion gate refused the model: " in err
    assert "next: a small or unusual source may need lower floors" in err
    assert "Traceback" not in err
