"""Model performance benchmark: CPU training time per 1M rows, scoring rows/s, GPU speed-up.

Data: the handbook's raw transactions when present (``--data``), else ``simulate_transactions``.
Training uses the default ``TrainConfig`` on CPU over the first ``--train-rows`` labelled rows
(chronological); scoring times ``FraudModel.predict`` (feature block + CatBoost apply) on
``--score-rows`` rows, best of ``--repeats``. With a CUDA device the same training runs on the
GPU too and the speed-up is printed; otherwise the script says "no GPU".

Usage::

    uv run python benchmarks/bench_model.py [--train-rows 1000000] [--score-rows 1000000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_core.columns import TX_FRAUD
from fraud_core.evaluation import evaluate_scores
from fraud_core.features import FeatureConfig, build_features
from fraud_core.model import (
    DeviceError,
    FraudModel,
    TrainConfig,
    feature_matrix,
    gpu_device_count,
    train_model,
)
from fraud_core.schema import validate_transactions
from fraud_core.simulate import simulate_transactions

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (
    REPO_ROOT / ".." / "shared" / "data" / "fdh" / "simulated_raw_2018-04-01_2018-09-30.parquet"
)


def log(message: str) -> None:
    """Print a progress line to stderr."""
    print(message, file=sys.stderr, flush=True)


def load_features(path: Path) -> tuple[pd.DataFrame, str]:
    """Features of the handbook data if present, else of simulated transactions."""
    started = time.perf_counter()
    if path.is_file():
        transactions = validate_transactions(pd.read_parquet(path)).valid
        source = f"handbook data {path.name}"
    else:
        transactions = simulate_transactions()
        source = "simulate_transactions() (handbook data not found)"
    features = build_features(transactions, FeatureConfig())
    log(f"{source}: {len(features)} rows with features in {time.perf_counter() - started:.1f}s")
    return features, source


def time_training(
    train: pd.DataFrame, holdout: pd.DataFrame, config: TrainConfig
) -> tuple[float, dict[str, float], FraudModel]:
    """Train once; return (seconds, holdout metrics, model)."""
    started = time.perf_counter()
    model = train_model(train, config, log=lambda _m: None)
    seconds = time.perf_counter() - started
    metrics = evaluate_scores(holdout, model.predict(holdout))
    return seconds, metrics, model


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--train-rows", type=int, default=1_000_000)
    parser.add_argument("--score-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=-1)
    parser.add_argument("--iterations", type=int, default=None, help="override TrainConfig")
    args = parser.parse_args(argv)

    features, source = load_features(args.data)
    labelled = features[features[TX_FRAUD].notna()]
    train = labelled.iloc[: args.train_rows]
    holdout = labelled.iloc[args.train_rows : args.train_rows + 200_000]
    overrides = {} if args.iterations is None else {"iterations": args.iterations}
    cpu_config = TrainConfig(device="cpu", thread_count=args.threads, **overrides)

    log(f"training on CPU: {len(train)} rows, {cpu_config.iterations} iterations")
    cpu_s, cpu_metrics, model = time_training(train, holdout, cpu_config)
    per_million = cpu_s * 1_000_000 / len(train)
    reps = int(np.ceil(args.score_rows / len(features)))
    pool = features if reps == 1 else pd.concat([features] * reps, ignore_index=True)
    score_frame = pool.iloc[: args.score_rows]
    model.predict(score_frame.iloc[:10_000], thread_count=args.threads)  # warm-up
    best_total, best_matrix = np.inf, np.inf
    for _ in range(args.repeats):
        started = time.perf_counter()
        feature_matrix(score_frame, model.features)
        best_matrix = min(best_matrix, time.perf_counter() - started)
        started = time.perf_counter()
        scores = model.predict(score_frame, thread_count=args.threads)
        best_total = min(best_total, time.perf_counter() - started)
    assert len(scores) == len(score_frame)

    lines = [
        f"data: {source}",
        f"CPU training (default TrainConfig, {cpu_config.iterations} iterations, "
        f"{len(model.features)} features, threads={args.threads}): {cpu_s:.1f}s for "
        f"{len(train):,} rows = {per_million:.1f}s per 1M rows; holdout AUC "
        f"{cpu_metrics.get('roc_auc', float('nan')):.4f} AP "
        f"{cpu_metrics.get('average_precision', float('nan')):.4f}",
        f"scoring {len(score_frame):,} rows: {best_total:.3f}s = "
        f"{len(score_frame) / best_total:,.0f} rows/s (feature block {best_matrix:.3f}s, "
        f"best of {args.repeats})",
    ]
    n_gpu = gpu_device_count()
    if n_gpu == 0:
        lines.append("GPU: no GPU")
    else:
        gpu_config = TrainConfig(device="gpu", thread_count=args.threads, **overrides)
        try:
            gpu_s, gpu_metrics, gpu_model = time_training(train, holdout, gpu_config)
        except DeviceError as exc:
            lines.append(f"GPU: {n_gpu} visible but training failed: {exc}")
        else:
            lines.append(
                f"GPU training ({n_gpu} visible, devices {gpu_model.metadata.gpu_devices}): "
                f"{gpu_s:.1f}s, speed-up x{cpu_s / gpu_s:.2f} vs CPU; holdout AUC "
                f"{gpu_metrics.get('roc_auc', float('nan')):.4f} AP "
                f"{gpu_metrics.get('average_precision', float('nan')):.4f}"
            )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
