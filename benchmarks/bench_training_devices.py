"""CatBoost training time on CPU vs GPU at several sizes, same data, same default TrainConfig.

Simulates enough transactions (``--customers``), builds the features once, then for each size in
``--sizes`` trains the default ``TrainConfig`` on the first ``size`` labelled rows (chronological)
on the CPU (all cores) and, where CatBoost sees a CUDA device, on the GPU, and prints seconds,
the GPU speed-up and the holdout AUC/AP of both (the next 200k rows, or a quarter of the size when smaller). On a machine without a GPU
it prints the CPU times and "no GPU". ``--json`` writes the rows for RESULTS.md.

Usage::

    uv run python benchmarks/bench_training_devices.py --customers 30000 --sizes 1000000,10000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from fraud_core.columns import TX_FRAUD
from fraud_core.evaluation import evaluate_scores
from fraud_core.features import FeatureConfig, build_features
from fraud_core.model import DeviceError, TrainConfig, gpu_device_count, train_model
from fraud_core.schema import validate_transactions
from fraud_core.simulate import simulate_transactions

HOLDOUT_ROWS = 200_000


def log(message: str) -> None:
    """Print a progress line to stderr."""
    print(message, file=sys.stderr, flush=True)


def gpu_name() -> str:
    """The first GPU's name as nvidia-smi reports it, or "none"."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "none"
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "none"


def fit(train: pd.DataFrame, holdout: pd.DataFrame, device: str) -> dict[str, object]:
    """Train once on ``device``; seconds, holdout metrics and the device CatBoost used."""
    config = TrainConfig(device=device)
    started = time.perf_counter()
    model = train_model(train, config, log=lambda _m: None)
    seconds = time.perf_counter() - started
    metrics = evaluate_scores(holdout, model.predict(holdout))
    return {
        "seconds": round(seconds, 2),
        "device_used": model.metadata.device,
        "roc_auc": round(metrics["roc_auc"], 4),
        "average_precision": round(metrics["average_precision"], 4),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=183)
    parser.add_argument("--sizes", default="1000000")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    started = time.perf_counter()
    raw = simulate_transactions(
        n_customers=args.customers, n_terminals=args.terminals, n_days=args.days
    )
    features = build_features(validate_transactions(raw).valid, FeatureConfig())
    del raw
    labelled = features[features[TX_FRAUD].notna()].reset_index(drop=True)
    log(f"{len(labelled):,} labelled rows with features in {time.perf_counter() - started:.1f}s")

    n_gpu = gpu_device_count()
    header = {"gpu": gpu_name(), "gpus_visible": n_gpu, "cpu_count": os.cpu_count()}
    log(f"machine: {header}")
    rows = []
    for size in sizes:
        holdout_rows = min(HOLDOUT_ROWS, size // 4)
        if size + holdout_rows > len(labelled):
            log(f"skip {size:,}: only {len(labelled):,} labelled rows (raise --customers)")
            continue
        train = labelled.iloc[:size]
        holdout = labelled.iloc[size : size + holdout_rows]
        row: dict[str, object] = {"rows": size, "fraud_rate": round(train[TX_FRAUD].mean(), 5)}
        if n_gpu:
            try:
                row["gpu"] = fit(train, holdout, "gpu")
            except DeviceError as exc:
                row["gpu_error"] = str(exc)
            log(f"{size:,} rows GPU: {row.get('gpu', row.get('gpu_error'))}")
        row["cpu"] = fit(train, holdout, "cpu")
        log(f"{size:,} rows CPU: {row['cpu']}")
        if "gpu" in row:
            row["speedup"] = round(row["cpu"]["seconds"] / row["gpu"]["seconds"], 2)  # type: ignore[index]
        rows.append(row)
        if args.json:
            args.json.write_text(json.dumps({**header, "rows": rows}, indent=2))

    print(f"machine: {header['gpu']}, {header['cpu_count']} CPU cores")
    print("| rows | CPU s | GPU s | speed-up | CPU AUC / AP | GPU AUC / AP |")
    print("| ---: | ---: | ---: | ---: | --- | --- |")
    for row in rows:
        cpu, gpu = row["cpu"], row.get("gpu")
        gpu_cells = (
            f"{gpu['seconds']} | x{row['speedup']} | "  # type: ignore[index]
            if gpu
            else "no GPU | - | "
        )
        gpu_quality = f"{gpu['roc_auc']} / {gpu['average_precision']}" if gpu else "-"  # type: ignore[index]
        print(
            f"| {row['rows']:,} | {cpu['seconds']} | {gpu_cells}"  # type: ignore[index]
            f"{cpu['roc_auc']} / {cpu['average_precision']} | {gpu_quality} |"  # type: ignore[index]
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
