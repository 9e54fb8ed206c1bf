"""Training memory is bounded by the sample, not the window: ``fraud_detection_model`` on DuckDB
windows of growing size, sampled at a fixed rate, beside the unsampled run of the same asset.

For each window of ``--windows`` (``PER_DAYxTRAIN_DAYS``: transactions a day and training days,
plus ``--validation-days``; the defaults grow the window once by its days at a fixed daily volume,
once by its daily volume at fixed days) a DuckDB warehouse is prepared (untimed) with synthetic
transactions: the source table (the labels) and
``TRANSFORMED_TRANSACTIONS`` with the default pipeline shape's feature columns (windows 1, 7, 30,
delay 7: 22 features, random values, a few shifted for frauds so the model learns something),
written through ``replace_shaped_partition`` as ``transformed_transactions`` writes them. Each
arm's model store starts with a promoted model (a tiny one), so the measured run does all a
retraining does: reads the window a day at a time (only the columns it needs), samples, trains,
validates the candidate and the promoted model day by day, saves, decides promotion.

Then, per window and arm (``--rate``, and rate 1: the unsampled peer), the real asset runs through
``dg.materialize`` in a fresh child process; peak RSS (``benchmarks/memory.py``, sampled every
10 ms) is measured around that call alone, after the imports and resources. Reported: the
window's rows, the rows trained on, peak RSS growth during the run and the absolute peak, wall
time. Both arms use the same CatBoost iterations (``--iterations``, small: memory does not depend
on it, time does).

Usage::

    uv run python benchmarks/bench_training_memory.py \
        --windows 100000x7,100000x14,100000x28,25000x14,250000x14 --iterations 50
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraud_core.columns import (
    CUSTOMER_ID,
    TERMINAL_ID,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
)
from fraud_core.model import TrainConfig, train_model
from fraud_core.shape import PipelineShape
from fraud_core.training import training_windows
from fraud_storage import ModelStore
from fraud_storage.duckdb_warehouse import DuckDBWarehouse
from fraud_storage.models import save_model
from fraud_storage.shaped_partitions import replace_shaped_partition

SHAPE = PipelineShape()  # the default: windows (1, 7, 30), label delay 7 days
AS_OF = date(2025, 3, 31)
FRAUD_RATE = 0.01
MB = 1024**2


def window_days(train_days: int, validation_days: int) -> tuple[date, date]:
    """``[first, end)`` of the days the asset reads as of ``AS_OF``."""
    return training_windows(AS_OF, SHAPE.label_delay_days, train_days, validation_days).days


def synthetic_day(day: date, per_day: int, first_id: int, rng: np.random.Generator) -> pd.DataFrame:
    """A day of transactions with the shape's feature columns (frauds shifted on a few)."""
    fraud = rng.uniform(size=per_day) < FRAUD_RATE
    start = pd.Timestamp(day, tz="UTC")
    frame = pd.DataFrame(
        {
            TRANSACTION_ID: np.arange(first_id, first_id + per_day, dtype=np.int64),
            TX_DATETIME: start + pd.to_timedelta(np.sort(rng.uniform(0, 86_400, per_day)), "s"),
            CUSTOMER_ID: rng.integers(0, max(per_day // 2, 1), per_day),
            TERMINAL_ID: rng.integers(0, 10_000, per_day),
            TX_AMOUNT: rng.gamma(2.0, 27.0, per_day),
            TX_FRAUD: fraud.astype(np.int64),
        }
    )
    for j, name in enumerate(SHAPE.feature_columns()):
        if name in frame.columns:
            continue
        values = rng.normal(size=per_day)
        if j % 4 == 0:
            values += 1.5 * fraud
        frame[name] = values
    return frame


def prepare(root: Path, per_day: int, train_days: int, validation_days: int) -> dict[str, Any]:
    """The warehouse of one size and a model store with a promoted (tiny) model."""
    root.mkdir(parents=True, exist_ok=True)
    wh = DuckDBWarehouse.at_path(root / "warehouse.duckdb")
    rng = np.random.default_rng(per_day)
    first, end = window_days(train_days, validation_days)
    began = time.perf_counter()
    n_rows, day, sample = 0, first, None
    while day < end:
        frame = synthetic_day(day, per_day, n_rows, rng)
        wh.load_source(
            frame[[TRANSACTION_ID, TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_FRAUD]]
        )
        stored = frame.assign(**{TX_FRAUD: pd.array([pd.NA] * len(frame), dtype="Int8")})
        replace_shaped_partition(wh, wh.tables.transformed, stored, day, SHAPE)
        sample = frame.head(20_000) if sample is None else sample
        n_rows += per_day
        day += timedelta(days=1)
    store = ModelStore(root / "models")
    config = TrainConfig(iterations=10, device="cpu", log_period=1000)
    promoted = train_model(sample, config, shape=SHAPE, log=lambda _m: None)
    store.promote(save_model(store, promoted), reason="benchmark: a model to compare with")
    return {"window_rows": n_rows, "prepare_s": time.perf_counter() - began}


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    """In this (fresh) process: materialize fraud_detection_model once; its memory and metadata."""
    import dagster as dg
    from dagster_duckdb import DuckDBResource
    from memory import peak_rss, release_free_heap

    from fraud_core.promotion import MIN_AVERAGE_PRECISION_VARIABLE, MIN_ROC_AUC_VARIABLE
    from fraud_dagster.builders import (
        REPORT_DIR_VARIABLE,
        promotion_policy_resource,
        report_directory_resource,
    )
    from fraud_dagster.environment import Environment
    from fraud_dagster.resources import DuckDBWarehouseResource, ModelStoreResource
    from fraud_dagster.settings import FraudSettings
    from fraud_dagster.shape import shape_resource
    from hybrid_location import pipeline as assets
    from hybrid_location.settings import TrainingSettings

    root = Path(args.root)
    training = TrainingSettings(
        train_days=args.train_days,
        validation_days=args.validation_days,
        iterations=args.iterations,
        device="cpu",
        genuine_sample_rate=args.rate,
    )
    no_floors = {MIN_AVERAGE_PRECISION_VARIABLE: "0", MIN_ROC_AUC_VARIABLE: "0"}
    resources = {
        "warehouse": DuckDBWarehouseResource(
            duckdb=DuckDBResource(database=str(root / "warehouse.duckdb")),
            seed_missing_source=False,
        ),
        "model_store": ModelStoreResource(root=str(Path(args.models))),
        "settings": FraudSettings(),
        "training": training,
        "shape": shape_resource(SHAPE),
        "promotion_policy": promotion_policy_resource(Environment.LOCAL, no_floors),
        "report_dir": report_directory_resource({REPORT_DIR_VARIABLE: str(root / "reports")}),
    }
    run_config = {
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        "ops": {"fraud_detection_model": {"config": {"as_of": AS_OF.isoformat()}}},
    }
    with dg.instance_for_test() as instance:
        release_free_heap()
        with peak_rss(interval_s=0.01) as rss:
            began = time.perf_counter()
            result = dg.materialize(
                assets.PIPELINE_ASSETS,
                selection=[assets.fraud_detection_model],
                resources=resources,
                instance=instance,
                run_config=run_config,
                raise_on_error=False,  # the gate may refuse the candidate: measured all the same
            )
            wall = time.perf_counter() - began
    events = result.asset_materializations_for_node("fraud_detection_model")
    assert len(events) == 1, "fraud_detection_model failed"
    (event,) = events
    metadata = {k: getattr(v, "value", v) for k, v in event.metadata.items()}
    keep = (
        "train_rows",
        "train_labelled",
        "train_labelled_before_sampling",
        "train_genuine_sample_rate",
        "train_frauds",
        "training_seconds",
        "validation_n_eval",
        "validation_average_precision",
    )
    return {
        "rate": args.rate,
        "rss_start_mib": rss["start"] / MB,
        "rss_peak_mib": rss["peak"] / MB,
        "rss_growth_mib": (rss["peak"] - rss["start"]) / MB,
        "wall_s": wall,
        **{k: metadata[k] for k in keep if k in metadata},
    }


def measure(root: Path, rate: float, train_days: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run the asset in a child process on a copy of the prepared model store."""
    models = root / f"models_{rate:g}"
    shutil.rmtree(models, ignore_errors=True)
    shutil.copytree(root / "models", models)
    command = [
        sys.executable,
        __file__,
        "--child",
        "--root",
        str(root),
        "--models",
        str(models),
        "--rate",
        str(rate),
        "--train-days",
        str(train_days),
        "--validation-days",
        str(args.validation_days),
        "--iterations",
        str(args.iterations),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per window and arm, rows, memory and time."""
    lines = [
        "| a day | days (train + validation) | window rows | arm | rows trained on "
        "| peak RSS growth (MiB) | peak RSS (MiB) | training (s) | wall (s) | validation AP |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        arm = "unsampled (rate 1)" if r["rate"] == 1.0 else f"sampled, rate {r['rate']:g}"
        lines.append(
            f"| {r['per_day']:,} | {r['train_days']} + {r['validation_days']} | "
            f"{r['window_rows']:,} | {arm} | {int(r['train_labelled']):,} | "
            f"{r['rss_growth_mib']:,.0f} | {r['rss_peak_mib']:,.0f} | "
            f"{float(r['training_seconds']):.1f} | {r['wall_s']:.1f} | "
            f"{float(r.get('validation_average_precision', float('nan'))):.3f} |"
        )
    return "\n".join(lines)


def slopes(rows: list[dict[str, Any]]) -> list[str]:
    """Per arm and sweep: peak RSS growth per million window rows (least squares).

    Two sweeps: windows of one daily volume and more days (only the window grows), windows of
    the same days and more a day (the day read at a time grows too).
    """
    out = []
    sweeps = {
        "more days": lambda r: ("per_day", r["per_day"]),
        "more a day": lambda r: ("train_days", r["train_days"]),
    }
    for sweep, key in sweeps.items():
        for rate in sorted({r["rate"] for r in rows}):
            groups: dict[Any, list[dict[str, Any]]] = {}
            for r in rows:
                if r["rate"] == rate:
                    groups.setdefault(key(r), []).append(r)
            for (name, value), arm in groups.items():
                if len({r["window_rows"] for r in arm}) < 2:
                    continue
                x = np.array([r["window_rows"] for r in arm]) / 1e6
                y = np.array([r["rss_growth_mib"] for r in arm])
                slope = float(np.polyfit(x, y, 1)[0])
                out.append(
                    f"{sweep} ({name.replace('_', ' ')} {value:,}), rate {rate:g}: {slope:,.0f} "
                    "MiB of peak RSS growth per 1M window rows"
                )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    from hybrid_location.settings import DEFAULT_GENUINE_SAMPLE_RATE

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--windows",
        default="100000x7,100000x14,100000x28,25000x14,250000x14",
        help="PER_DAYxTRAIN_DAYS, comma-separated",
    )
    parser.add_argument("--rate", type=float, default=DEFAULT_GENUINE_SAMPLE_RATE)
    parser.add_argument("--validation-days", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--tmp", type=Path, default=None, help="working directory (kept)")
    parser.add_argument("--json", type=Path, default=None, help="write the raw results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--models", help=argparse.SUPPRESS)
    parser.add_argument("--train-days", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(run_child(args)))
        return 0
    tmp = args.tmp or Path(tempfile.mkdtemp(prefix="bench_training_memory_"))
    rows = []
    for window in args.windows.split(","):
        per_day, train_days = (int(v) for v in window.lower().split("x"))
        root = tmp / window
        shutil.rmtree(root, ignore_errors=True)
        prep = prepare(root, per_day, train_days, args.validation_days)
        print(
            f"{per_day:,}/day x {train_days} + {args.validation_days} days: "
            f"{prep['window_rows']:,} window rows prepared in {prep['prepare_s']:.0f}s",
            flush=True,
        )
        for rate in (args.rate, 1.0):
            dims = {"per_day": per_day, "train_days": train_days}
            dims["validation_days"] = args.validation_days
            result = {**dims, **prep, **measure(root, rate, train_days, args)}
            rows.append(result)
            print(
                f"  rate {rate:g}: trained on {int(result['train_labelled']):,} rows, peak RSS "
                f"growth {result['rss_growth_mib']:,.0f} MiB (peak {result['rss_peak_mib']:,.0f} "
                f"MiB), wall {result['wall_s']:.1f}s",
                flush=True,
            )
        shutil.rmtree(root, ignore_errors=True)
    print()
    print(table(rows))
    print()
    print("\n".join(slopes(rows)))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
