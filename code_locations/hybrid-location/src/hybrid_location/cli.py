"""``fraud-pipeline``: run the whole pipeline locally for the latest day(s), in one command.

It materializes, through Dagster and on the same persistent instance that ``dg dev`` shows, exactly what
the requested days need: validated history for the feature lookback, features for the training window,
a first model if none is promoted yet, then scores and the report. Partitions already materialized are
skipped, so a second run only does the new work.
"""

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from fraud_core.training import training_windows
from fraud_dagster.resources import data_dir

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass(frozen=True)
class PipelineRun:
    """What a pipeline run did."""

    scored_days: list[date]
    prepared_days: list[date]
    trained: bool
    report_paths: list[str]


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def run_pipeline(
    resources: Mapping[str, Any],
    instance: dg.DagsterInstance,
    *,
    last_day: date | None = None,
    days: int = 1,
    retrain: bool = False,
    rebuild: bool = False,
) -> PipelineRun:
    """Materialize everything the last ``days`` days need, then score and report them."""
    from fraud_dagster.partitions import daily_partitions
    from hybrid_location import pipeline as a

    # Outside a run, resources are initialised explicitly (EnvVar values resolved, as in a run).
    with dg.build_resources(dict(resources)) as ready:
        shape, training, report_dir = ready.shape, ready.training, ready.report_dir
        warehouse = ready.warehouse.get_warehouse()  # seeds the local source on first use
        time_range = warehouse.source_time_range()
        store = ready.model_store.get_store()
    if time_range is None:
        raise RuntimeError(f"the source table {warehouse.tables.source} is empty: nothing to run")
    source_first, source_last = time_range[0].date(), time_range[1].date()
    last = last_day or source_last
    targets = _days(last - timedelta(days=days - 1), last)
    train_start = training_windows(
        targets[0], shape.label_delay_days, training.train_days, training.validation_days
    ).train_start
    partitions_first = daily_partitions.start.date()
    first_raw = max(
        train_start - timedelta(days=shape.lookback_days), source_first, partitions_first
    )
    first_features = max(train_start, partitions_first)

    def done(asset: dg.AssetsDefinition) -> set[str]:
        return set() if rebuild else set(instance.get_materialized_partitions(asset.key))

    def run(
        selection: list[dg.AssetsDefinition], partition: date | None = None, **ops: Any
    ) -> None:
        dg.materialize(
            a.PIPELINE_ASSETS,
            selection=selection,
            partition_key=partition.isoformat() if partition else None,
            resources=dict(resources),
            instance=instance,
            run_config={**QUIET_LOGS, **({"ops": ops} if ops else {})},
        )

    raw_done, features_done = done(a.raw_customer_transactions), done(a.transformed_transactions)
    labels_done = done(a.matured_terminal_labels)
    labels_due_after = timedelta(days=shape.labels_due_after_days)
    prepared = _days(first_raw, last)
    print(f"source {source_first}..{source_last}; preparing {first_raw}..{last}", flush=True)
    for day in prepared:
        todo = [a.raw_customer_transactions] if day.isoformat() not in raw_done else []
        if day - labels_due_after >= first_raw and day.isoformat() not in labels_done:
            todo.append(a.matured_terminal_labels)
        if day >= first_features and day.isoformat() not in features_done:
            todo.append(a.transformed_transactions)
        if todo:
            run(todo, day)
    trained = retrain or store.promoted() is None
    if trained:
        print(f"training a model as of {targets[0]}", flush=True)
        as_of = {"config": {"as_of": targets[0].isoformat()}}
        run([a.fraud_detection_model], fraud_detection_model=as_of)
    for day in targets:
        run([a.fraud_scores, a.daily_fraud_report], day)
    reports = [report_dir.html_path(day) for day in targets]
    return PipelineRun(targets, prepared, trained, reports)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the pipeline for the latest day(s) of the source; print where the reports are."""
    parser = argparse.ArgumentParser(prog="fraud-pipeline", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--day", type=date.fromisoformat, help="last day to score (default: latest)"
    )
    parser.add_argument("--days", type=int, default=1, help="how many days to score and report")
    parser.add_argument("--retrain", action="store_true", help="train a new candidate model")
    parser.add_argument("--rebuild", action="store_true", help="re-run already materialized days")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(data_dir() / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").touch(exist_ok=True)

    from hybrid_location.defs.resources import build_resources

    try:
        result = run_pipeline(
            build_resources(),
            dg.DagsterInstance.get(),
            last_day=args.day,
            days=args.days,
            retrain=args.retrain,
            rebuild=args.rebuild,
        )
    except (RuntimeError, dg.DagsterError) as error:
        print(f"fraud-pipeline: {error}", file=sys.stderr)
        return 1
    for day, path in zip(result.scored_days, result.report_paths, strict=True):
        print(f"report for {day}: {path}")
    print("browse the runs, assets and checks with: uv run dg dev   (then http://127.0.0.1:3000)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
