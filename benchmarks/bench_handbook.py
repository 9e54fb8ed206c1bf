"""Handbook benchmark: our CatBoost model vs the published results of the fraud-detection handbook.

Data: the handbook's raw simulated transactions (2018-04-01 .. 2018-09-30). Protocols (see
``fraud_core.evaluation``):

(a) chapter 3 single split: train 2018-07-25 .. 07-31, delay 7 days, test 2018-08-08 .. 08-14;
(b) chapter 5 prequential *test* folds: 4 folds with training starts 2018-08-15, 08-08, 08-01 and
    07-25, 7-day train / delay / test periods; mean and std over the folds.

Our CatBoost model runs with the default ``TrainConfig`` (no tuning on any test week): the default
feature list (``feature_columns()``) is the handbook's 15 baseline features, the raw ``tx_amount``
included, plus our 5 extra features. Adding ``tx_amount`` to the defaults was chosen on the chapter 5
*validation* folds only (mean AP 0.702 -> 0.706 with seed 42; 0.701 -> 0.708 with seed 7), never on
test weeks. ``--validation`` re-runs the model on the validation folds.

The two sklearn baselines run on the handbook's 15 baseline features through the same protocol, as
a check of the protocol itself: logistic regression (C chosen on the chapter 5 *validation* folds,
training starts 2018-07-11 .. 06-20, by mean average precision) and a random forest (sklearn
defaults in chapter 3 as in the book; 100 trees of max depth 20 in chapter 5, the region the
handbook's chapter 5 reports as best).

Usage::

    uv run python benchmarks/bench_handbook.py [--data PATH] [--out table.md] [--skip-rf]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from fraud_core.columns import TX_AMOUNT, TX_FRAUD
from fraud_core.evaluation import (
    ModelFactory,
    evaluate_scores,
    handbook_fold_starts,
    prequential_evaluation,
    sklearn_model_factory,
    train_delay_test_split,
)
from fraud_core.features import FeatureConfig, build_features
from fraud_core.model import FraudModel, TrainConfig, train_model
from fraud_core.schema import validate_transactions

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (
    REPO_ROOT / ".." / "shared" / "data" / "fdh" / "simulated_raw_2018-04-01_2018-09-30.parquet"
)
CH3_TRAIN_START = "2018-07-25"
METRICS = ("roc_auc", "average_precision", "card_precision@100")
# The handbook's chapter 3 baseline features (lower-cased), in the book's order.
HANDBOOK_FEATURES = [
    TX_AMOUNT,
    "tx_during_weekend",
    "tx_during_night",
    "customer_id_nb_tx_1day_window",
    "customer_id_avg_amount_1day_window",
    "customer_id_nb_tx_7day_window",
    "customer_id_avg_amount_7day_window",
    "customer_id_nb_tx_30day_window",
    "customer_id_avg_amount_30day_window",
    "terminal_id_nb_tx_1day_window",
    "terminal_id_risk_1day_window",
    "terminal_id_nb_tx_7day_window",
    "terminal_id_risk_7day_window",
    "terminal_id_nb_tx_30day_window",
    "terminal_id_risk_30day_window",
]
PUBLISHED = {
    "ch3": {
        "logistic regression": (0.871, 0.606, 0.291),
        "random forest": (0.867, 0.658, 0.287),
        "XGBoost": (0.862, 0.639, 0.273),
    },
    "ch5": {
        "logistic regression": (0.868, 0.623, 0.297),
        "random forest": (0.870, 0.678, 0.299),
        "XGBoost": (0.869, 0.687, 0.303),
    },
}
LR_GRID = (0.1, 1.0, 10.0, 100.0)


def log(message: str) -> None:
    """Print a progress line to stderr."""
    print(message, file=sys.stderr, flush=True)


def load_features(path: Path) -> pd.DataFrame:
    """Read the raw handbook parquet, validate it into the canonical schema and build features."""
    started = time.perf_counter()
    raw = pd.read_parquet(path)
    result = validate_transactions(raw)
    if len(result.rejected):
        log(f"warning: {len(result.rejected)} rows rejected by validate_transactions")
    features = build_features(result.valid, FeatureConfig())
    log(f"loaded {len(features)} transactions + features in {time.perf_counter() - started:.1f}s")
    return features


def timed_catboost_factory(config: TrainConfig, times: list[dict[str, float]]) -> ModelFactory:
    """CatBoost factory that records fit and scoring times per call."""

    def factory(train: pd.DataFrame, test: pd.DataFrame) -> pd.Series:
        started = time.perf_counter()
        model: FraudModel = train_model(train, config, log=lambda _m: None)
        fitted = time.perf_counter()
        scores = model.predict(test)
        scored = time.perf_counter()
        times.append(
            {
                "fit_s": fitted - started,
                "score_s": scored - fitted,
                "n_train": float(len(train)),
                "n_test": float(len(test)),
            }
        )
        return scores

    return factory


def select_lr_c(features: pd.DataFrame, valid_start: pd.Timestamp) -> float:
    """Choose logistic regression's C on the chapter 5 validation folds (by mean AP)."""
    best_c, best_ap = LR_GRID[0], -np.inf
    for c in LR_GRID:
        factory = sklearn_model_factory(
            lambda c=c: LogisticRegression(C=c, random_state=0), HANDBOOK_FEATURES
        )
        ap = prequential_evaluation(features, valid_start, model_factory=factory).mean()[
            "average_precision"
        ]
        log(f"  LR validation: C={c:g} AP={ap:.4f}")
        if ap > best_ap:
            best_c, best_ap = c, ap
    return best_c


def run_single_split(
    features: pd.DataFrame, models: dict[str, ModelFactory]
) -> dict[str, tuple[float, ...]]:
    """Chapter 3 protocol: one train/delay/test split; returns name -> (AUC, AP, CP@100, seconds)."""
    train, test = train_delay_test_split(features, CH3_TRAIN_START, 7, 7, 7)
    test = test[test[TX_FRAUD].notna()]
    log(
        f"ch3 split: train {len(train)} rows ({int(train['tx_fraud'].sum())} fraud), "
        f"test {len(test)} rows ({int(test['tx_fraud'].sum())} fraud)"
    )
    out = {}
    for name, factory in models.items():
        started = time.perf_counter()
        scores = factory(train, test)
        seconds = time.perf_counter() - started
        metrics = evaluate_scores(test, scores)
        out[name] = (*(metrics[m] for m in METRICS), seconds)
        log(f"  ch3 {name}: " + " ".join(f"{v:.4f}" for v in out[name][:3]) + f" ({seconds:.1f}s)")
    return out


def run_prequential(
    features: pd.DataFrame, test_start: pd.Timestamp, models: dict[str, ModelFactory]
) -> dict[str, tuple[pd.Series, pd.Series, float]]:
    """Chapter 5 protocol on the test folds; returns name -> (mean, std, seconds)."""
    out = {}
    for name, factory in models.items():
        started = time.perf_counter()
        result = prequential_evaluation(features, test_start, model_factory=factory, log=log)
        seconds = time.perf_counter() - started
        summary = result.summary
        out[name] = (summary["mean"], summary["std"], seconds)
        log(
            f"  ch5 {name}: " + " ".join(f"{v:.4f}" for v in summary["mean"]) + f" ({seconds:.0f}s)"
        )
    return out


def markdown_table(
    ch3: dict[str, tuple[float, ...]], ch5: dict[str, tuple[pd.Series, pd.Series, float]]
) -> str:
    """Render our results beside the published ones as a markdown table."""
    lines = [
        "| protocol | model | source | AUC ROC | average precision | CP@100 | time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, values in PUBLISHED["ch3"].items():
        lines.append(
            f"| ch.3 single split | {name} | published | "
            + " | ".join(f"{v:.3f}" for v in values)
            + " | |"
        )
    for name, (*values, seconds) in ch3.items():
        lines.append(
            f"| ch.3 single split | {name} | **ours** | "
            + " | ".join(f"{v:.3f}" for v in values)
            + f" | {seconds:.0f} |"
        )
    for name, values in PUBLISHED["ch5"].items():
        lines.append(
            f"| ch.5 prequential test (4 folds) | {name} | published | "
            + " | ".join(f"{v:.3f}" for v in values)
            + " | |"
        )
    for name, (mean, std, seconds) in ch5.items():
        cells = " | ".join(f"{mean[m]:.3f} ± {std[m]:.3f}" for m in METRICS)
        lines.append(
            f"| ch.5 prequential test (4 folds) | {name} | **ours** | {cells} | {seconds:.0f} |"
        )
    return "\n".join(lines)


def verdict(
    ch3: dict[str, tuple[float, ...]], ch5: dict[str, tuple[pd.Series, pd.Series, float]], name: str
) -> list[str]:
    """Compare our model with the best published AP and CP@100 of each protocol."""
    out = []
    best3 = [max(v[i] for v in PUBLISHED["ch3"].values()) for i in (1, 2)]
    best5 = [max(v[i] for v in PUBLISHED["ch5"].values()) for i in (1, 2)]
    if name in ch3:
        ap, cp = ch3[name][1], ch3[name][2]
        out.append(
            f"ch.3: {name} AP {ap:.3f} vs best published {best3[0]:.3f} "
            f"({'beats' if ap > best3[0] else 'does not beat'}), CP@100 {cp:.3f} vs {best3[1]:.3f} "
            f"({'beats' if cp > best3[1] else 'does not beat'})"
        )
    if name in ch5:
        mean = ch5[name][0]
        ap, cp = mean["average_precision"], mean["card_precision@100"]
        out.append(
            f"ch.5: {name} AP {ap:.3f} vs best published {best5[0]:.3f} "
            f"({'beats' if ap > best5[0] else 'does not beat'}), CP@100 {cp:.3f} vs {best5[1]:.3f} "
            f"({'beats' if cp > best5[1] else 'does not beat'})"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="raw handbook parquet")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    parser.add_argument("--skip-rf", action="store_true", help="skip the (slow) random forest")
    parser.add_argument("--skip-baselines", action="store_true", help="CatBoost only")
    parser.add_argument(
        "--validation", action="store_true", help="also run CatBoost on the ch.5 validation folds"
    )
    parser.add_argument("--threads", type=int, default=-1, help="CPU threads for the models")
    args = parser.parse_args(argv)

    if not args.data.is_file():
        print(f"skipped: data not found at {args.data}")
        return 0
    features = load_features(args.data)
    valid_start, test_start = handbook_fold_starts()
    n_jobs = -1 if args.threads == -1 else args.threads

    config = TrainConfig(thread_count=args.threads)
    default_features = config.feature_list()
    ours = "CatBoost (default TrainConfig)"
    catboost_configs = {ours: config}
    cb_times: list[dict[str, float]] = []

    ch3_models: dict[str, ModelFactory] = {}
    ch5_models: dict[str, ModelFactory] = {}
    if not args.skip_baselines:
        ch3_models["logistic regression"] = sklearn_model_factory(
            lambda: LogisticRegression(random_state=0), HANDBOOK_FEATURES
        )
        c = select_lr_c(features, valid_start)
        log(f"LR: C={c:g} chosen on the validation folds")
        ch5_models[f"logistic regression (C={c:g})"] = sklearn_model_factory(
            lambda: LogisticRegression(C=c, random_state=0), HANDBOOK_FEATURES
        )
        if not args.skip_rf:
            ch3_models["random forest"] = sklearn_model_factory(
                lambda: RandomForestClassifier(random_state=0, n_jobs=n_jobs), HANDBOOK_FEATURES
            )
            ch5_models["random forest (100 trees, depth 20)"] = sklearn_model_factory(
                lambda: RandomForestClassifier(
                    n_estimators=100, max_depth=20, random_state=0, n_jobs=n_jobs
                ),
                HANDBOOK_FEATURES,
            )
    for name, cfg in catboost_configs.items():
        times = cb_times if name == ours else []
        ch3_models[name] = timed_catboost_factory(cfg, times)
        ch5_models[name] = timed_catboost_factory(cfg, times)

    validation_lines: list[str] = []
    if args.validation:
        validation = run_prequential(
            features,
            valid_start,
            {name: timed_catboost_factory(cfg, []) for name, cfg in catboost_configs.items()},
        )
        validation_lines = [
            f"ch.5 validation folds (train from {valid_start.date()} back 3 weeks), {name}: "
            + ", ".join(f"{m} {mean[m]:.4f} ± {std[m]:.4f}" for m in METRICS)
            for name, (mean, std, _s) in validation.items()
        ]

    ch3 = run_single_split(features, ch3_models)
    ch5 = run_prequential(features, test_start, ch5_models)

    table = markdown_table(ch3, ch5)
    notes = [line for name in catboost_configs for line in verdict(ch3, ch5, name)]
    notes += validation_lines
    fit = np.mean([t["fit_s"] for t in cb_times])
    rows = np.mean([t["n_train"] for t in cb_times])
    score_rate = sum(t["n_test"] for t in cb_times) / sum(t["score_s"] for t in cb_times)
    notes.append(
        f"{ours} timing: fit {fit:.1f}s per handbook training week ({rows:.0f} rows, "
        f"{len(default_features)} features, {config.iterations} iterations, threads="
        f"{args.threads}); scoring {score_rate:,.0f} rows/s on the test weeks (incl. feature block)"
    )
    print(table)
    print()
    print("\n".join(notes))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            "# Handbook benchmark\n\n" + table + "\n\n" + "\n\n".join(notes) + "\n",
            encoding="utf-8",
        )
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
