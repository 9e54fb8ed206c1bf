"""Scoring throughput with reason codes (CatBoost SHAP) off, on for every row, on above a score.

Data: ``simulate_transactions`` with the default pipeline shape's features (windows (1, 7, 30),
label delay 7); a model with the default ``TrainConfig`` (600 trees of depth 6) trained on a small
labelled sample of the earlier rows; the last ``--rows`` rows scored with
``fraud_core.scoring.score_transactions`` (the asset's call), all arms in one process and one run,
interleaved (best of ``--repeats``; full SHAP once):

* ``predict only``: ``FraudModel.predict`` alone, the model's throughput (RESULTS.md section 4);
* ``off``: ``score_transactions`` without reasons (``reasons_min_score=None``), the peer every
  ratio divides by;
* ``every row``: reasons for all rows (``reasons_min_score=0``); with ``--full-rows`` smaller than
  ``--rows``, measured on that many rows and extrapolated linearly (SHAP's cost is per row);
* ``top share``: reasons above the score quantile that leaves that share of rows (``--shares``);
* ``score >=``: reasons above fixed thresholds (``--thresholds``);
* ``top cards``: only the review budget's cards (``reasons_min_score=1``, ``reasons_top_cards``),
  the scored rows taken as one day.

Usage::

    uv run python benchmarks/bench_scoring_reasons.py --rows 1000000 --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from memory import peak_rss, release_free_heap

from fraud_core.columns import FRAUD_SCORE, TX_FRAUD, reason_feature
from fraud_core.features import FeatureConfig, build_features
from fraud_core.model import FraudModel, TrainConfig, train_model
from fraud_core.scoring import score_transactions
from fraud_core.simulate import simulate_transactions

MIB = 2**20


def log(message: str) -> None:
    """Print a progress line to stderr."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Arm:
    """One way of scoring: its name and the reason options of ``score_transactions``."""

    name: str
    min_score: float | None
    top_cards: int = 0
    rows: int | None = None
    """Rows to time on (None: all); fewer means the time is extrapolated to all."""
    predict_only: bool = False
    """Time ``FraudModel.predict`` alone (the score, no frame): the model's own throughput."""
    once: bool = False
    """Timed once, not ``--repeats`` times (full SHAP)."""


@dataclass(frozen=True)
class Timing:
    """Best time of an arm, the rows that got reasons, the peak RSS growth."""

    seconds: float
    rows: int
    with_reasons: int
    rss_growth: int


def score_rows(
    rows: int, customers: int, train_rows: int, iterations: int | None
) -> tuple[FraudModel, pd.DataFrame]:
    """(model, the rows to score): simulated default-shape features, a model on a small sample."""
    started = time.perf_counter()
    days = max(60, int(np.ceil((rows + 2 * train_rows) / (customers * 1.9))) + 40)
    transactions = simulate_transactions(
        n_customers=customers, n_terminals=2 * customers, n_days=days
    )
    features = build_features(transactions, FeatureConfig())
    del transactions
    log(f"{len(features):,} feature rows ({days} days) in {time.perf_counter() - started:.1f}s")
    if len(features) < rows + train_rows:
        raise SystemExit(f"only {len(features):,} rows: raise --customers")
    history = features.iloc[: len(features) - rows]
    labelled = history[history[TX_FRAUD].notna()]
    train = labelled.sample(n=min(train_rows, len(labelled)), random_state=0).sort_index()
    overrides = {} if iterations is None else {"iterations": iterations}
    config = TrainConfig(device="cpu", thread_count=-1, **overrides)
    started = time.perf_counter()
    model = train_model(train, config, log=lambda _m: None)
    log(f"trained {model.classifier.tree_count_} trees on {len(train):,} rows in "
        f"{time.perf_counter() - started:.1f}s")  # fmt: skip
    return model, features.iloc[len(features) - rows :].reset_index(drop=True)


def run_arm(arm: Arm, model: FraudModel, rows: pd.DataFrame, threads: int) -> Timing:
    """One timed call: ``score_transactions`` with the arm's reason options (or ``predict``)."""
    frame = rows if arm.rows is None else rows.iloc[: arm.rows]
    release_free_heap()
    with peak_rss() as rss:
        started = time.perf_counter()
        if arm.predict_only:
            scores = model.predict(frame, thread_count=threads).to_frame()
        else:
            scores = score_transactions(
                model,
                frame,
                model_version="bench",
                reasons_min_score=arm.min_score,
                reasons_top_cards=arm.top_cards,
                thread_count=threads,
            )
        seconds = time.perf_counter() - started
    reasons = scores.get(reason_feature(1))
    with_reasons = 0 if reasons is None else int(reasons.notna().sum())
    return Timing(seconds, len(frame), with_reasons, rss["peak"] - rss["start"])


def best(timings: list[Timing]) -> Timing:
    """The fastest of an arm's timings, with the largest RSS growth seen."""
    fastest = min(timings, key=lambda t: t.seconds)
    return dataclasses.replace(fastest, rss_growth=max(t.rss_growth for t in timings))


def table(arms: list[Arm], timings: list[Timing], total_rows: int) -> list[str]:
    """The Markdown table of the arms, ratios against ``off`` (the second arm)."""
    base = timings[1].seconds / timings[1].rows * total_rows
    lines = [
        "| arm | rows with reasons | seconds (at all rows) | rows/s | slowdown vs off | "
        "peak RSS growth |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for arm, t in zip(arms, timings, strict=True):
        scale = total_rows / t.rows
        seconds = t.seconds * scale
        note = f" (measured on {t.rows:,} rows, extrapolated)" if scale != 1 else ""
        lines.append(
            f"| {arm.name}{note} | {round(t.with_reasons * scale):,} "
            f"({t.with_reasons / t.rows:.2%}) | {seconds:.2f} | {total_rows / seconds:,.0f} | "
            f"x{seconds / base:.1f} | {t.rss_growth / MIB:,.0f} MiB |"
        )
    return lines


def build_arms(args: argparse.Namespace, scores: pd.Series) -> list[Arm]:
    """The arms to time: predict, off, every row, top shares, fixed thresholds, top cards."""
    arms = [
        Arm("predict only (FraudModel.predict)", None, predict_only=True),
        Arm("off", None),
        Arm("every row", 0.0, rows=args.full_rows, once=True),
    ]
    for share in args.shares:
        cut = float(np.quantile(scores.to_numpy(), 1.0 - share))
        arms.append(Arm(f"top {share:.1%} (score >= {cut:.4f})", cut))
    arms += [Arm(f"score >= {t:g}", t) for t in args.thresholds]
    if args.top_cards:
        arms.append(Arm(f"top {args.top_cards} cards only", 1.0, top_cards=args.top_cards))
    return arms


def floats(text: str) -> list[float]:
    """A comma-separated list of floats."""
    return [float(x) for x in text.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--full-rows", type=int, default=None, help="rows for 'every row'")
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--iterations", type=int, default=None, help="override TrainConfig")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the cheap arms")
    parser.add_argument("--shares", type=floats, default=floats("0.01,0.001"))
    parser.add_argument("--thresholds", type=floats, default=floats("0.01,0.05,0.5"))
    parser.add_argument("--top-cards", type=int, default=100)
    args = parser.parse_args(argv)

    model, rows = score_rows(args.rows, args.customers, args.train_rows, args.iterations)
    score_transactions(model, rows.iloc[:5000], model_version="warm-up", thread_count=args.threads)
    off = score_transactions(
        model, rows, model_version="bench", reasons_min_score=None, thread_count=args.threads
    )
    arms = build_arms(args, off[FRAUD_SCORE])
    runs: list[list[Timing]] = [[] for _ in arms]
    for repeat in range(args.repeats):  # interleaved: a busy neighbour slows every arm alike
        for arm, timings in zip(arms, runs, strict=True):
            if arm.once and repeat > 0:
                continue
            log(f"timing {arm.name} (run {repeat + 1})")
            timings.append(run_arm(arm, model, rows, args.threads))
    timings = [best(t) for t in runs]
    shares = {t: float((off[FRAUD_SCORE] >= t).mean()) for t in (0.01, 0.05, 0.1, 0.5)}
    full, base = timings[2], timings[1]
    lines = [
        f"{len(rows):,} rows scored, {len(model.features)} features, "
        f"{model.classifier.tree_count_} trees (depth {model.metadata.params['depth']}), "
        f"threads={args.threads}",
        "share of rows scoring >= " + ", ".join(f"{t:g}: {s:.3%}" for t, s in shares.items()),
        *table(arms, timings, len(rows)),
        f"SHAP rows/s (every row): {full.rows / full.seconds:,.0f}",
        f"ratio every row / off: {full.seconds / full.rows / (base.seconds / base.rows):.1f}",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
