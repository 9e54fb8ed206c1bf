"""``fraud-pipeline``: run the whole pipeline locally for the latest day, in one command.

It materializes, through Dagster and on the same persistent instance that ``dg dev`` shows, exactly what
the requested days need: validated history for the feature lookback, features for the training window,
a first model if none is promoted yet, then scores, alerts and the report; on a first run also the scores of
the week before, so that the report has its trend. Partitions already materialized are skipped, so a
second run only does the new work.

Quiet by default: one line per stage with its counts, a progress bar over the day runs, and
everything else (Dagster's events, warnings, native libraries' noise) in ``fraud-pipeline.log``
under the data directory; ``--verbose`` shows it all. A failure prints its message and the next
step and exits with 1 (the traceback with ``--verbose``). Nothing imports Dagster before the
arguments are parsed: ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import webbrowser
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    import dagster as dg
    from rich.console import Console

PROG = "fraud-pipeline"
TREND_DAYS = 7
"""Days before a reported day that its report compares with (``REPORT_TRAILING_DAYS``)."""
LOG_NAME = "fraud-pipeline.log"
INSTANCE_CONFIG = """\
# Written by fraud-pipeline when it created this Dagster instance (dg dev uses it too when
# DAGSTER_HOME points here). Edit freely: fraud-pipeline never rewrites a non-empty file.
telemetry:
  enabled: false
"""
ENVIRONMENT = (
    ("FRAUD_DATA_DIR", "./data", "warehouse, models, reports, instance, log"),
    ("FRAUD_SOURCE_PARQUET", "-", "seed the empty local source from this file"),
    ("FRAUD_PARTITIONS_START", "source's 1st day", "first partition (2024-01-01 off DuckDB)"),
    ("FRAUD_WINDOWS_DAYS", "1,7,30", "feature windows (days)"),
    ("FRAUD_LABEL_DELAY_DAYS", "7", "label delay (days), also the simulator's"),
    ("FRAUD_MIN_AVERAGE_PRECISION", "0.2", "promotion floor: average precision"),
    ("FRAUD_MIN_ROC_AUC", "0.7", "promotion floor: ROC AUC"),
    ("FRAUD_MODEL_STORE", "<data>/models", "model store (directory or URL)"),
    ("FRAUD_REPORT_DIR", "<data>/reports", "HTML reports (directory or URL)"),
    ("FRAUD_ENV", "local", "local, branch or prod"),
    ("FRAUD_WAREHOUSE", "duckdb", "duckdb, or snowflake (SNOWFLAKE_*)"),
    ("DAGSTER_HOME", "<data>/dagster_home", "the Dagster instance of the runs"),
)
"""The variables the command reads (directly or through the location): name, default, meaning."""


class PipelineError(Exception):
    """A failure the user can act on: what went wrong and the next step."""

    def __init__(self, message: str, next_step: str, details: str | None = None) -> None:
        super().__init__(message)
        self.message, self.next_step, self.details = message, next_step, details


@dataclass(frozen=True)
class PipelineRun:
    """What a pipeline run did."""

    scored_days: list[date]
    prepared_days: list[date]
    trained: bool
    report_paths: list[str]
    trend_days: list[date] = field(default_factory=list)
    """The days scored (and reported) before the requested ones, for the first report's trend."""


class Progress(Protocol):
    """How :func:`run_pipeline` tells what it is doing (the command draws it; tests record it)."""

    def track(self, stage: str, days: Sequence[date]) -> Iterable[date]:
        """Yield ``days``, showing how far the stage is."""
        ...

    def busy(self, stage: str, what: str) -> AbstractContextManager[object]:
        """Show that ``what`` is in progress while the context lasts."""
        ...

    def done(self, stage: str, summary: str) -> None:
        """The stage's one-line summary."""
        ...


class Silent:
    """Progress that shows nothing."""

    def track(self, stage: str, days: Sequence[date]) -> Iterable[date]:
        """Yield ``days``."""
        return days

    def busy(self, stage: str, what: str) -> AbstractContextManager[object]:
        """Nothing to show."""
        return nullcontext()

    def done(self, stage: str, summary: str) -> None:
        """Nothing to show."""


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _span(days: Sequence[date]) -> str:
    return f"{days[0]} .. {days[-1]}" if len(days) > 1 else str(days[0])


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _seconds(began: float) -> str:
    return f"[{time.perf_counter() - began:.0f} s]"


def run_pipeline(
    resources: Mapping[str, Any],
    instance: dg.DagsterInstance,
    *,
    last_day: date | None = None,
    days: int = 1,
    trend_days: int = 0,
    retrain: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    keep_warehouse_open: bool = False,
) -> PipelineRun:
    """Materialize everything the last ``days`` days need, then score and report them.

    ``trend_days`` also scores (and reports) the days before them that have no scores yet, so
    that the reports have their trend. ``keep_warehouse_open`` holds a local DuckDB warehouse
    open for the whole run (each step's connection then costs nothing; other processes wait).
    """
    import dagster as dg

    from fraud_core.training import training_windows
    from fraud_dagster.partitions import daily_partitions
    from fraud_dagster.resources import DuckDBWarehouseResource
    from hybrid_location import pipeline as a

    progress = progress or Silent()
    began = time.perf_counter()
    with ExitStack() as stack:
        # Outside a run, resources are initialised explicitly (EnvVar values resolved, as in a run).
        ready = stack.enter_context(dg.build_resources(dict(resources)))
        if keep_warehouse_open and isinstance(ready.warehouse, DuckDBWarehouseResource):
            stack.enter_context(ready.warehouse.duckdb.get_connection())
        shape, training, report_dir = ready.shape, ready.training, ready.report_dir
        with progress.busy("source", "opening the source (seeding it on first use)"):
            warehouse = ready.warehouse.get_warehouse()
            time_range = warehouse.source_time_range()
        store = ready.model_store.get_store()
        if time_range is None:
            raise PipelineError(
                f"the source table {warehouse.tables.source} is empty: nothing to run",
                "load transactions into it (or set FRAUD_SOURCE_PARQUET to a parquet file and "
                "delete the data directory to seed from it)",
            )
        source_first, source_last = time_range[0].date(), time_range[1].date()
        partitions_first = daily_partitions.start.date()
        first_day = max(source_first, partitions_first)
        last = last_day or source_last
        if not first_day <= last <= source_last:
            raise PipelineError(
                f"--day {last} is outside the source's days {first_day} .. {source_last}",
                "pick a day in that range, or leave --day out for the latest",
            )
        source_days = _count(len(_days(source_first, source_last)), "day")
        progress.done(
            "source",
            f"{warehouse.tables.source}: {source_first} .. {source_last} ({source_days}) "
            f"{_seconds(began)}",
        )

        def done(asset: dg.AssetsDefinition) -> set[str]:
            return set() if rebuild else set(instance.get_materialized_partitions(asset.key))

        def run(
            selection: list[dg.AssetsDefinition], partition: date | None = None, **ops: Any
        ) -> dg.ExecuteInProcessResult:
            result = dg.materialize(
                a.PIPELINE_ASSETS,
                selection=selection,
                partition_key=partition.isoformat() if partition else None,
                resources=dict(resources),
                instance=instance,
                run_config={**RUN_LOGS, **({"ops": ops} if ops else {})},
                raise_on_error=False,
            )
            _refused_by_gate(result)
            _failed(result)
            return result

        targets = _days(max(last - timedelta(days=days - 1), first_day), last)
        scored_before = done(a.fraud_scores)
        trend = [
            day
            for day in _days(max(targets[0] - timedelta(days=trend_days), first_day), targets[0])
            if day < targets[0] and day.isoformat() not in scored_before
        ]
        scored = [*trend, *targets]
        trained = retrain or store.promoted() is None
        as_of = targets[0]
        if trend:  # no trend day in the training window: as of a day that ends it before them
            latest = trend[0] + timedelta(shape.label_delay_days - 1 + training.validation_days)
            as_of = min(as_of, latest)
        train_start = training_windows(
            as_of, shape.label_delay_days, training.train_days, training.validation_days
        ).train_start
        first_raw = max(train_start - timedelta(days=shape.lookback_days), first_day)
        first_features = max(min(train_start, scored[0]), first_day)

        raw_done, features_done = (
            done(a.raw_customer_transactions),
            done(a.transformed_transactions),
        )
        labels_done = done(a.matured_terminal_labels)
        labels_due_after = timedelta(days=shape.labels_due_after_days)
        prepared = _days(first_raw, last)
        work: dict[date, list[dg.AssetsDefinition]] = {}
        for day in prepared:
            todo = [a.raw_customer_transactions] if day.isoformat() not in raw_done else []
            if day - labels_due_after >= first_raw and day.isoformat() not in labels_done:
                todo.append(a.matured_terminal_labels)
            if day >= first_features and day.isoformat() not in features_done:
                todo.append(a.transformed_transactions)
            if todo:
                work[day] = todo
        stage_began, valid, rejected = time.perf_counter(), 0, 0
        for day in progress.track("prepare", list(work)):
            raw = _metadata(run(work[day], day), a.raw_customer_transactions)
            valid += int(raw.get("rows_valid", 0))
            rejected += int(raw.get("rows_rejected", 0))
        if work:
            progress.done(
                "prepare",
                f"{len(work)} of {_count(len(prepared), 'day')} validated and featurised "
                f"({_span(list(work))}): {valid:,} transactions, {rejected:,} rejected "
                f"{_seconds(stage_began)}",
            )
        else:
            progress.done("prepare", f"{_count(len(prepared), 'day')} already prepared")

        if trained:
            stage_began = time.perf_counter()
            with progress.busy("model", f"training a model as of {as_of}"):
                config = {"config": {"as_of": as_of.isoformat()}}
                result = run([a.fraud_detection_model], fraud_detection_model=config)
            progress.done("model", f"{_model_summary(result, a)} {_seconds(stage_began)}")
        else:
            promoted = store.promoted()
            progress.done(
                "model", f"using the promoted model {promoted.version if promoted else ''}"
            )

        stage_began, transactions, alerts = time.perf_counter(), 0, 0
        for day in progress.track("score", scored):
            scored_day = run([a.fraud_scores, a.fraud_alerts, a.daily_fraud_report], day)
            scores = _metadata(scored_day, a.fraud_scores)
            transactions += int(scores.get("rows", 0))
            alerts += int(scores.get("alerts_at_threshold", 0))
        trend_note = f", {len(trend)} of them for the trend" if trend else ""
        progress.done(
            "score",
            f"{_count(len(scored), 'day')} scored and reported ({_span(scored)}{trend_note}): "
            f"{transactions:,} transactions, {alerts:,} alerts {_seconds(stage_began)}",
        )
    reports = [report_dir.html_path(day) for day in scored]
    return PipelineRun(scored, prepared, trained, reports, trend)


RUN_LOGS = {"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}
"""Every Dagster event (STEP_SUCCESS, ASSET_MATERIALIZATION are DEBUG) goes to the run's stderr:
the log file by default, the terminal with ``--verbose``."""


def _metadata(result: dg.ExecuteInProcessResult, asset: dg.AssetsDefinition) -> dict[str, Any]:
    """The metadata values of ``asset``'s materialization in ``result`` (empty if none)."""
    events = result.asset_materializations_for_node(asset.key.to_python_identifier())
    return {key: value.value for key, value in events[0].metadata.items()} if events else {}


def _refused_by_gate(result: dg.ExecuteInProcessResult) -> None:
    """Raise when the run's promotion gate refused its model."""
    for check in result.get_asset_check_evaluations():
        if check.check_name == "promotion_gate" and not check.passed:
            raise PipelineError(
                f"the promotion gate refused the model: {check.metadata['reason'].value}",
                "a small or unusual source may need lower floors (FRAUD_MIN_AVERAGE_PRECISION, "
                "FRAUD_MIN_ROC_AUC), then --retrain; the check's details: uv run dg dev",
            )


def _failed(result: dg.ExecuteInProcessResult) -> None:
    """Raise a :class:`PipelineError` with the failure's message when the run failed."""
    if result.success:
        return
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            user, error = data.user_failure_data, data.error
        elif event.is_run_failure and event.event_specific_data is not None:
            user, error = None, getattr(event.event_specific_data, "error", None)
        else:
            continue
        message = user.description if user is not None and user.description else None
        message = message or (error.message.strip() if error is not None else "")
        step = event.step_key or result.run_id
        raise PipelineError(
            message if message.startswith(step) else f"{step}: {message}",
            "fix the cause above, then re-run (finished days are kept)",
            error.to_string() if error is not None else None,
        )
    raise PipelineError(f"run {result.run_id} failed", "re-run with --verbose to see its events")


def _model_summary(result: dg.ExecuteInProcessResult, assets: Any) -> str:
    """One line on the trained model: window, rows, validation metrics."""
    meta = _metadata(result, assets.fraud_detection_model)
    metrics = ", ".join(
        f"{label} {meta[key]:.3f}"
        for key, label in (("validation_average_precision", "AP"), ("validation_roc_auc", "AUC"))
        if key in meta
    )
    return (
        f"{meta.get('model_version', '?')} trained on {meta.get('train_window', '?')} "
        f"({int(meta.get('train_labelled', 0)):,} sampled of "
        f"{int(meta.get('train_labelled_before_sampling', 0)):,} labelled rows, "
        f"{int(meta.get('train_frauds', 0)):,} frauds), "
        f"validated on {meta.get('validation_window', '?')} ({metrics}): promoted"
    )


# ---------------------------------------------------------------------------- the command


def _parser() -> argparse.ArgumentParser:
    variables = "\n".join(
        f"  {name:<28} {default:<20} {meaning}"
        + (f"\n  {'':<28} {'(set)':<20} {os.environ[name]}" if os.environ.get(name) else "")
        for name, default, meaning in ENVIRONMENT
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0].replace("``", ""),
        epilog=f"{'environment variables:':<31}{'default':<21}meaning\n{variables}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--day",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="last day to score and report (default: the source's latest day)",
    )
    parser.add_argument(
        "--days", type=int, default=1, metavar="N", help="days to score and report (default: 1)"
    )
    parser.add_argument(
        "--trend-days",
        type=int,
        default=TREND_DAYS,
        metavar="N",
        help=(
            "also score and report the N days before them that have no scores yet, so the "
            f"report has its trend (default: {TREND_DAYS}, the report's window; 0: off)"
        ),
    )
    parser.add_argument(
        "--retrain", action="store_true", help="train a new candidate model (the gate decides)"
    )
    parser.add_argument("--rebuild", action="store_true", help="re-run already materialized days")
    parser.add_argument("--open", action="store_true", help="open the report in a browser")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=f"show Dagster's events and warnings, and tracebacks (default: into <data>/{LOG_NAME})",
    )
    return parser


def _data_dir() -> Path:
    """``fraud_dagster.resources.data_dir`` without importing Dagster (tested to agree)."""
    return Path(os.environ.get("FRAUD_DATA_DIR", "data")).resolve()


def _prepare_instance(home: Path) -> None:
    """Create the Dagster instance directory; a new or empty ``dagster.yaml`` gets telemetry off."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.is_file() or not config.read_text(encoding="utf-8").strip():
        config.write_text(INSTANCE_CONFIG, encoding="utf-8")


@contextmanager
def stderr_into(log: Path) -> Iterator[None]:
    """Send everything written to stderr, by Python or by native code (file descriptor 2), to
    ``log`` while the context lasts."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with log.open("w", encoding="utf-8", buffering=1) as sink:
            os.dup2(sink.fileno(), 2)
            previous, sys.stderr = sys.stderr, sink
            try:
                yield
            finally:
                sink.flush()
                sys.stderr = previous
                os.dup2(saved, 2)
    finally:
        os.close(saved)


class ConsoleProgress:
    """Progress on a rich console: a bar over day runs, a spinner while busy, a line per stage."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def track(self, stage: str, days: Sequence[date]) -> Iterator[date]:
        """Yield ``days`` under a progress bar (drawn on a terminal only)."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if not self.console.is_terminal:  # a pipe or a file: the stage's line is enough
            yield from days
            return
        columns = (
            TextColumn(f"[bold]{stage:<8}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("days"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
        )
        with Progress(
            *columns,
            console=self.console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        ) as bar:
            task = bar.add_task("", total=len(days))
            for day in days:
                bar.update(task, description=str(day))
                yield day
                bar.advance(task)

    def busy(self, stage: str, what: str) -> AbstractContextManager[object]:
        """A spinner with ``what`` (on a terminal only)."""
        return self.console.status(f"[bold]{stage:<8}[/] {what}")

    def done(self, stage: str, summary: str) -> None:
        """The stage's line."""
        self.console.print(f"[bold green]{stage:<8}[/] {summary}")


def _next_step(error: BaseException) -> str:
    """What to do about an error that is not a :class:`PipelineError`."""
    text = f"{type(error).__name__}: {error}"
    parquet = os.environ.get("FRAUD_SOURCE_PARQUET")
    if isinstance(error, FileNotFoundError) and parquet and parquet in text:
        return "check FRAUD_SOURCE_PARQUET (no such file), or unset it to simulate the source"
    if "lock" in text.lower() and "duckdb" in text.lower():
        return (
            "another process holds the DuckDB warehouse (a dg dev run?): wait for it, then re-run"
        )
    return "fix the cause above and re-run; the runs' events are in the UI: uv run dg dev"


def _describe(error: BaseException) -> str:
    """The error's message: a Dagster ``Failure``'s description, else ``Type: message``."""
    description = getattr(error, "description", None)
    if isinstance(description, str) and description:
        return description
    return f"{type(error).__name__}: {error}"


def _report_failure(
    error: BaseException, log: Path | None, verbose: bool, err: TextIO | None = None
) -> None:
    """Print the failure's message and the next step (the traceback too when ``verbose``)."""
    err = err or sys.stderr
    sys.stdout.flush()  # the stage lines first, when both go to one pipe
    if isinstance(error, PipelineError):
        message, next_step = error.message, error.next_step
        if verbose and error.details:
            print(error.details, file=err)
    else:
        message, next_step = _describe(error), _next_step(error)
        if verbose:
            traceback.print_exception(error, file=err)
    lines = [f"{PROG}: {message}", f"  next: {next_step}"]
    if log is not None:
        lines.append(f"  log:  {log} (or re-run with --verbose)")
    print("\n".join(lines), file=err)


def _open(path: str, opener: Callable[[str], object]) -> str:
    """Open the report ``path`` (a file or a URL) with ``opener``; the URL that was opened."""
    url = path if "://" in path else Path(path).resolve().as_uri()
    opener(url)
    return url


def main(
    argv: Sequence[str] | None = None,
    *,
    resources: Mapping[str, Any] | None = None,
    open_report: Callable[[str], object] = webbrowser.open,
) -> int:
    """Run the pipeline for the latest day(s) of the source; print where the reports are.

    ``resources`` replaces the environment's (tests); ``open_report`` opens a URL (``--open``).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    if args.trend_days < 0:
        parser.error("--trend-days must be at least 0")
    data = _data_dir()
    data.mkdir(parents=True, exist_ok=True)
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(data / "dagster_home")))
    first_run = not (home / "dagster.yaml").is_file()
    _prepare_instance(home)
    log = None if args.verbose else data / LOG_NAME

    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if first_run:
        seed = os.environ.get("FRAUD_SOURCE_PARQUET") or "simulated transactions"
        console.print(
            f"First run: creating {data}: a DuckDB warehouse (its source seeded from {seed}), "
            "a model store, the reports and a Dagster instance."
        )
    try:
        with stderr_into(log) if log else nullcontext():
            result = _run(args, resources, ConsoleProgress(console))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished days are kept, re-run to continue", file=sys.stderr)
        return 130
    except Exception as error:  # every failure ends here: message + next step, no traceback
        _report_failure(error, log, args.verbose)
        return 1
    targets = result.scored_days[len(result.trend_days) :]
    for day, path in zip(targets, result.report_paths[len(result.trend_days) :], strict=True):
        console.print(f"[bold]report[/]   {day}: {path}")
    if args.open:
        console.print(f"opened   {_open(result.report_paths[-1], open_report)}")
    console.print("browse the runs, assets and checks: uv run dg dev  (http://127.0.0.1:3000)")
    return 0


def _run(
    args: argparse.Namespace, resources: Mapping[str, Any] | None, progress: Progress
) -> PipelineRun:
    """The pipeline with the command's arguments, on the environment's resources."""
    import dagster as dg

    if resources is None:
        from hybrid_location.defs.resources import build_resources

        resources = build_resources()
    return run_pipeline(
        resources,
        dg.DagsterInstance.get(),
        last_day=args.day,
        days=args.days,
        trend_days=args.trend_days,
        retrain=args.retrain,
        rebuild=args.rebuild,
        progress=progress,
        keep_warehouse_open=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
