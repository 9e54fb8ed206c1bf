"""Benchmark: the hybrid pipeline for one day at 100k, 1M and 3M transactions a day (DuckDB).

The real assets of ``code_locations/hybrid-location`` run through ``dg.materialize`` (in-process,
an ephemeral test instance), with resources built like the location's test fixtures
(``fraud_testing.pipeline.pipeline_resources``: shape, promotion policy without floors and
report directory built as a deployment builds them): a local DuckDB warehouse whose source is seeded with
``simulate_transactions(n_customers = N / 2, n_terminals = 10,000)`` (the handbook's ~78
terminals within reach of a customer; its daily rate averages 2 transactions per customer) over
the days the run needs, pipeline shape windows ``(1, 7)`` and label delay 1 day, so a day's
feature lookback is 8 days.

Per day size N, untimed preparation: seeding the source, ``raw_customer_transactions`` and
``matured_terminal_labels`` for the 8 lookback days (and, at the smallest size only, the transformed days and the model it trains,
plus one warm-up day of scores and report: the promoted model is shared by the larger sizes,
whose features have the same columns). Then the day itself, one asset per ``dg.materialize``
call: ``raw_customer_transactions``, ``matured_terminal_labels``,
``transformed_transactions``, ``fraud_scores``, ``daily_fraud_report``. For each asset it records

* wall time of the ``dg.materialize`` call (Dagster run, resources, event log, checks included);
* time inside ``fraud_core`` (the ``fraud_core`` functions the assets call, wrapped here);
* warehouse I/O time (``DuckDBWarehouse`` methods, wrapped here);
* the rest: Dagster and glue (wall - fraud_core - I/O);
* the asset's own metadata (read/feature/score/total seconds);
* peak RSS during the call (a sampling thread), i.e. the memory a run worker needs.

Usage::

    uv run python benchmarks/bench_pipeline.py --sizes 100000,1000000,3000000
    uv run python benchmarks/bench_pipeline.py --sizes 100000 --out /tmp/pipeline.json
    uv run python benchmarks/bench_pipeline.py --from-json /tmp/pipeline.json  # redraw only
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource
from memory import peak_rss

from fraud_core.promotion import MIN_AVERAGE_PRECISION_VARIABLE, MIN_ROC_AUC_VARIABLE
from fraud_core.shape import PipelineShape
from fraud_dagster.builders import (
    REPORT_DIR_VARIABLE,
    promotion_policy_resource,
    report_directory_resource,
)
from fraud_dagster.environment import Environment
from fraud_dagster.resources import DuckDBWarehouseResource, LocalSeed, ModelStoreResource
from fraud_dagster.settings import FraudSettings
from fraud_dagster.shape import shape_resource
from fraud_storage import feature_inputs
from fraud_storage.duckdb_warehouse import DuckDBWarehouse
from hybrid_location import pipeline as pipeline_assets
from hybrid_location.settings import TrainingSettings

DAY = date(2025, 3, 31)
SHAPE = PipelineShape(windows_days=(1, 7), label_delay_days=1)
LOOKBACK = SHAPE.lookback_days
TRAIN_DAYS = 1
VALIDATION_DAYS = 1
N_TERMINALS = 10_000
MB = 1024**2
CORE_FUNCTIONS = (
    "validate_transactions",
    "build_day_features",
    "refresh_labels",
    "state_from_totals",
    "matured_totals",
    "training_windows",
    "train_model",
    "validation_metrics",
    "decide_promotion",
    "score_transactions",
    "daily_report",
    "render_html",
    "render_markdown",
    "report_summary_frame",
)
IO_METHODS = (
    "read_source",
    "read_partitions",
    "replace_partition",
    "partition_counts",
    "source_time_range",
    "table_exists",
    "load_source",
    "entity_window_totals",
)
DAILY_ASSETS = (
    "raw_customer_transactions",
    "matured_terminal_labels",
    "transformed_transactions",
    "fraud_scores",
    "fraud_alerts",
    "daily_fraud_report",
)

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

_spent: dict[str, float] = {"core": 0.0, "io": 0.0}
_depth = {"io": 0}


def _timed(kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nested = kind == "io" and _depth["io"] > 0  # a method calling another: count once
        began = time.perf_counter()
        if kind == "io":
            _depth["io"] += 1
        try:
            return fn(*args, **kwargs)
        finally:
            if kind == "io":
                _depth["io"] -= 1
            if not nested:
                _spent[kind] += time.perf_counter() - began

    return wrapper


def instrument() -> None:
    """Wrap the fraud_core functions the assets call and the warehouse's I/O methods."""
    for module in (pipeline_assets, feature_inputs):
        for name in CORE_FUNCTIONS:
            if hasattr(module, name):
                setattr(module, name, _timed("core", getattr(module, name)))
    for name in IO_METHODS:
        setattr(DuckDBWarehouse, name, _timed("io", getattr(DuckDBWarehouse, name)))


def pipeline_resources(root: Path, per_day: int, model_root: Path, n_days: int) -> dict[str, Any]:
    """Resources like ``fraud_testing.pipeline.pipeline_resources``, sized to ``per_day``."""
    training = TrainingSettings(
        train_days=TRAIN_DAYS, validation_days=VALIDATION_DAYS, iterations=100, device="cpu"
    )
    no_floors = {MIN_AVERAGE_PRECISION_VARIABLE: "0", MIN_ROC_AUC_VARIABLE: "0"}
    return {
        "warehouse": DuckDBWarehouseResource(
            duckdb=DuckDBResource(database=str(root / "warehouse.duckdb")),
            seed=LocalSeed(
                n_customers=max(per_day // 2, 1),
                n_terminals=N_TERMINALS,
                n_days=n_days,
                end_date=DAY.isoformat(),
                seed=3,
            ),
        ),
        "model_store": ModelStoreResource(root=str(model_root)),
        "settings": FraudSettings(),
        "training": training,
        "shape": shape_resource(SHAPE),
        "promotion_policy": promotion_policy_resource(Environment.LOCAL, no_floors),
        "report_dir": report_directory_resource({REPORT_DIR_VARIABLE: str(root / "reports")}),
    }


def materialize(
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    asset: str,
    day: date | None,
    run_config: dict | None = None,
) -> dict[str, Any]:
    """Materialize one asset (one partition); returns timings, metadata and memory."""
    selection = [getattr(pipeline_assets, asset)]
    _spent.update(core=0.0, io=0.0)
    with peak_rss(interval_s=0.01) as rss:
        began = time.perf_counter()
        result = dg.materialize(
            pipeline_assets.PIPELINE_ASSETS,
            selection=selection,
            partition_key=day.isoformat() if day else None,
            resources=resources,
            instance=instance,
            run_config={**QUIET_LOGS, **(run_config or {})},
        )
        wall = time.perf_counter() - began
    assert result.success, f"{asset} failed"
    metadata = {}
    for event in result.asset_materializations_for_node(asset):
        for key, value in event.metadata.items():
            v = getattr(value, "value", value)
            if isinstance(v, int | float | str | bool):
                metadata[key] = v
    return {
        "asset": asset,
        "wall_s": wall,
        "core_s": _spent["core"],
        "io_s": _spent["io"],
        "other_s": wall - _spent["core"] - _spent["io"],
        "rss_start_mib": rss["start"] / MB,
        "rss_peak_mib": rss["peak"] / MB,
        "metadata": metadata,
    }


def run_size(per_day: int, root: Path, model_root: Path, train: bool) -> dict[str, Any]:
    """Prepare and run one day of ``per_day`` transactions; returns the measurements."""
    root.mkdir(parents=True, exist_ok=True)
    history = LOOKBACK + (TRAIN_DAYS + VALIDATION_DAYS + 1 if train else 0)
    resources = pipeline_resources(root, per_day, model_root, n_days=history + 1)
    out: dict[str, Any] = {"per_day": per_day, "assets": [], "prep": {}}
    with dg.instance_for_test() as instance:
        began = time.perf_counter()
        with dg.build_resources(resources) as ready:
            ready.warehouse.get_warehouse()  # seeds the source
        out["prep"]["seed_s"] = time.perf_counter() - began
        first = DAY - timedelta(days=history)
        began = time.perf_counter()
        day = first
        while day < DAY:
            materialize(resources, instance, "raw_customer_transactions", day)
            materialize(resources, instance, "matured_terminal_labels", day)
            day += timedelta(days=1)
        out["prep"]["raw_history_s"] = time.perf_counter() - began
        if train:
            began = time.perf_counter()
            for k in range(TRAIN_DAYS + VALIDATION_DAYS + 1, 0, -1):
                materialize(resources, instance, "transformed_transactions", DAY - timedelta(k))
            as_of = (DAY - timedelta(days=1)).isoformat()
            config = {"ops": {"fraud_detection_model": {"config": {"as_of": as_of}}}}
            model = materialize(resources, instance, "fraud_detection_model", None, config)
            out["prep"]["train"] = model
            out["prep"]["train_history_s"] = time.perf_counter() - began
            # warm-up (imports, font cache): the last two assets once on the day before
            for asset in DAILY_ASSETS[3:]:
                materialize(resources, instance, asset, DAY - timedelta(days=1))
        for asset in DAILY_ASSETS:
            m = materialize(resources, instance, asset, DAY)
            out["assets"].append(m)
            print(
                f"  {per_day:>9,}/day {asset:<26} wall {m['wall_s']:7.2f} s: fraud_core "
                f"{m['core_s']:6.2f}, I/O {m['io_s']:6.2f}, Dagster+glue {m['other_s']:5.2f}; "
                f"peak RSS {m['rss_peak_mib']:,.0f} MiB; metadata "
                f"{ {k: v for k, v in m['metadata'].items() if k.endswith(('seconds', 'rows'))} }",
                flush=True,
            )
    return out


def summary_table(results: list[dict[str, Any]]) -> str:
    """Markdown: per size and asset, wall / fraud_core / I/O / other seconds and shares."""
    lines = [
        "| transactions/day | asset | rows | wall (s) | fraud_core (s) | warehouse I/O (s) "
        "| Dagster + glue (s) | outside fraud_core | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        total = {"wall_s": 0.0, "core_s": 0.0, "io_s": 0.0, "other_s": 0.0}
        for m in r["assets"]:
            for k in total:
                total[k] += m[k]
            rows = m["metadata"].get("rows", m["metadata"].get("rows_read"))
            rows = f"{rows:,}" if isinstance(rows, int) else ""
            lines.append(
                f"| {r['per_day']:,} | {m['asset']} | {rows} | {m['wall_s']:.2f} | "
                f"{m['core_s']:.2f} | {m['io_s']:.2f} | {m['other_s']:.2f} | "
                f"{1 - m['core_s'] / m['wall_s']:.0%} | {m['rss_peak_mib']:,.0f} |"
            )
        peak = max(m["rss_peak_mib"] for m in r["assets"])
        lines.append(
            f"| {r['per_day']:,} | **the day** | | **{total['wall_s']:.2f}** | "
            f"{total['core_s']:.2f} | {total['io_s']:.2f} | {total['other_s']:.2f} | "
            f"**{1 - total['core_s'] / total['wall_s']:.0%}** | {peak:,.0f} |"
        )
    return "\n".join(lines)


def chart(results: list[dict[str, Any]], path: Path) -> None:
    """Per size, stacked seconds per asset (fraud_core, I/O, Dagster); and the overhead shares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    fig, axes = plt.subplots(
        1, n + 1, figsize=(4 * n + 4, 4.5), gridspec_kw={"width_ratios": [3] * n + [2]}
    )
    parts = (
        ("core_s", "fraud_core", "#1f77b4"),
        ("io_s", "warehouse I/O (DuckDB)", "#ff7f0e"),
        ("other_s", "Dagster + glue", "#2ca02c"),
    )
    for ax, r in zip(axes[:n], results, strict=True):
        names = [
            m["asset"]
            .replace("_customer_transactions", "")
            .replace("_transactions", "")
            .replace("matured_terminal_", "")
            for m in r["assets"]
        ]
        bottom = [0.0] * len(names)
        for key, label, color in parts:
            values = [m[key] for m in r["assets"]]
            ax.bar(names, values, bottom=bottom, label=label, color=color)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_title(f"{r['per_day']:,} transactions/day")
        ax.set_ylabel("seconds (wall)")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    axes[0].legend(fontsize=8)
    sizes = [r["per_day"] for r in results]
    wall = [sum(m["wall_s"] for m in r["assets"]) for r in results]
    outside = [
        100 * (1 - sum(m["core_s"] for m in r["assets"]) / w)
        for r, w in zip(results, wall, strict=True)
    ]
    dagster = [
        100 * sum(m["other_s"] for m in r["assets"]) / w for r, w in zip(results, wall, strict=True)
    ]
    share = axes[n]
    share.plot(sizes, outside, marker="o", label="outside fraud_core (I/O + Dagster)")
    share.plot(sizes, dagster, marker="s", color="#2ca02c", label="Dagster + glue alone")
    share.set_xscale("log")
    share.set_ylim(0, 100)
    share.set_xlabel("transactions per day")
    share.set_ylabel("% of the day's wall time")
    share.set_title("Overhead share of the day")
    share.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    """Run every size, print the table, write the JSON and the chart."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="100000,1000000,3000000")
    parser.add_argument("--tmp", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument(
        "--chart", type=Path, default=Path(__file__).with_name("pipeline_scaling.png")
    )
    parser.add_argument(
        "--from-json", type=Path, default=None, help="redraw the table and chart from --out JSON"
    )
    args = parser.parse_args()
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        print(summary_table(results))
        chart(results, args.chart)
        print(f"chart: {args.chart}")
        return
    instrument()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        model_root = Path(tmp) / "models"
        for k, per_day in enumerate(sizes):
            root = Path(tmp) / f"n{per_day}"
            result = run_size(per_day, root, model_root, train=k == 0)
            results.append(result)
            print(f"  prep: { {k: v for k, v in result['prep'].items() if k != 'train'} }")
            if args.out:
                args.out.write_text(json.dumps(results, indent=1, default=str))
            for path in root.glob("warehouse.duckdb*"):
                path.unlink()  # free the disk before the next size
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(summary_table(results))
    chart(results, args.chart)
    print(f"chart: {args.chart}")


if __name__ == "__main__":
    main()
