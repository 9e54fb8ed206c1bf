"""Evaluation protocol of the fraud-detection handbook (Le Borgne et al., 2022).

Reference: Y.-A. Le Borgne, W. Siblini, B. Lebichot, G. Bontempi, *Reproducible Machine Learning
for Credit Card Fraud Detection - Practical Handbook*, ULB, 2022; chapter 3 (train/delay/test
split), chapter 4 (card precision top-k) and chapter 5 (prequential validation, model selection).
The functions below re-implement the book's semantics on the canonical schema (``tx_datetime``,
``customer_id``, ``tx_fraud``); "day" is the UTC calendar day of ``tx_datetime``, which equals the
book's ``TX_TIME_DAYS`` for its data (days since 2018-04-01 00:00).

Train/delay/test split (book: ``get_train_test_set``)
    * train: transactions with ``train_start <= tx_datetime < train_start + train_days``;
    * test day ``i`` (0-based) is day ``D0 + train_days + delay_days + i`` where ``D0`` is the day
      of ``train_start``;
    * cards (customers) already known to be compromised are removed from each test day: the
      customers with a fraud in the training set, plus the customers with a fraud on any day from
      ``D0 + train_days - 1`` up to ``D0 + train_days - 1 + i`` (i.e. frauds that happened at least
      ``delay_days + 1`` days before the test day; the book adds the frauds of day
      ``test_day - delay_days - 1`` to the known set before filtering each test day). Known frauds
      are looked up in the whole input frame, not only in the kept test rows. Equivalently (for a
      midnight ``train_start``): test day ``d`` excludes every customer with a fraud on a day in
      ``[train_start, d - delay_days - 1]``. Unknown (NA) labels never mark a card as known.

Card precision top-k (book: ``card_precision_top_k`` with ``remove_detected_frauded_cards=True``)
    per test day: one row per customer (max score, max label), drop the cards already detected
    (fraudulent and in the top k) on earlier test days, precision = detected frauded cards in the
    top k / k (always divided by k); the result is the mean over the test days.

Prequential validation (book: ``prequentialSplit`` / ``prequential_grid_search``)
    fold ``i`` (``0 <= i < n_folds``) is the split with training start
    ``start_date_training - i * delta_assessment``; metrics are averaged over folds with the
    population standard deviation (``ddof=0``, as sklearn's ``GridSearchCV`` reports).
    Chapter 5 uses ``start_date_training = 2018-07-25`` and all deltas 7 days; hyperparameters are
    chosen on the *validation* folds, which start at
    ``start_date_training - (delta_delay + delta_assessment)`` (2018-07-11, 07-04, 06-27, 06-20),
    and reported on the *test* folds, which start at
    ``start_date_training + (n_folds - 1) * delta_assessment`` (2018-08-15, 08-08, 08-01, 07-25).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from fraud_core.columns import CUSTOMER_ID, TX_DATETIME, TX_FRAUD

if TYPE_CHECKING:
    from fraud_core.model import TrainConfig

__all__ = [
    "HANDBOOK_DELTA_DAYS",
    "HANDBOOK_N_FOLDS",
    "HANDBOOK_START_DATE_TRAINING",
    "METRIC_NAMES",
    "ModelFactory",
    "PrequentialResult",
    "average_precision",
    "card_precision_at_k",
    "card_precision_at_k_daily",
    "catboost_model_factory",
    "evaluate_scores",
    "handbook_fold_starts",
    "prequential_evaluation",
    "prequential_fold_starts",
    "roc_auc",
    "sklearn_model_factory",
    "train_delay_test_split",
]

HANDBOOK_START_DATE_TRAINING = "2018-07-25"
HANDBOOK_N_FOLDS = 4
HANDBOOK_DELTA_DAYS = 7
METRIC_NAMES = ("roc_auc", "average_precision", "card_precision@100")

# (train, test) -> one fraud score per test row, aligned to test's rows.
ModelFactory = Callable[[pd.DataFrame, pd.DataFrame], "np.ndarray | pd.Series"]
Timestampish = str | dt.datetime | np.datetime64


def _as_timestamp(value: Timestampish, like: pd.Series) -> pd.Timestamp:
    """Timestamp in the time zone of ``like`` (naive input is read as UTC for tz-aware data)."""
    ts = pd.Timestamp(value)
    tz = getattr(like.dt, "tz", None)
    if tz is not None:
        ts = ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)
    elif ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}")


def _fraud_flags(labels: pd.Series) -> np.ndarray:
    """Boolean fraud flags; an unknown (NA) label counts as not (yet) known fraud."""
    return labels.fillna(0).to_numpy(dtype=np.int64) == 1


def train_delay_test_split(
    features: pd.DataFrame,
    train_start: Timestampish,
    train_days: int = 7,
    delay_days: int = 7,
    test_days: int = 7,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into the handbook's (train, test) sets, removing known compromised cards from test."""
    _require(features, [TX_DATETIME, CUSTOMER_ID, TX_FRAUD], "train_delay_test_split")
    for name, value in (("train_days", train_days), ("test_days", test_days)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if delay_days < 0:
        raise ValueError(f"delay_days must be >= 0, got {delay_days}")
    times = features[TX_DATETIME]
    start = _as_timestamp(train_start, times)
    train_mask = ((times >= start) & (times < start + pd.Timedelta(days=train_days))).to_numpy()
    train = features.loc[train_mask]

    days = times.dt.floor("D")
    first_test_day = start.floor("D") + pd.Timedelta(days=train_days + delay_days)
    offset = ((days - first_test_day) // pd.Timedelta(days=1)).to_numpy()
    in_test = (offset >= 0) & (offset < test_days)

    fraud = _fraud_flags(features[TX_FRAUD])
    customers = features[CUSTOMER_ID]
    known_from_train = customers[train_mask & fraud].unique()
    # Frauds in days [D0 + train_days - 1, ...] become known progressively: the fraud of day
    # D0 + train_days - 1 + j is known from test day j on.
    first_known_day = start.floor("D") + pd.Timedelta(days=train_days - 1)
    known_offset = ((days - first_known_day) // pd.Timedelta(days=1)).to_numpy()
    late = fraud & (known_offset >= 0) & (known_offset < test_days)
    first_late = (
        pd.Series(known_offset[late]).groupby(customers.to_numpy()[late]).min()
        if late.any()
        else pd.Series(dtype="int64")
    )
    known_since = customers.map(first_late).to_numpy(dtype=np.float64, na_value=np.inf)
    compromised = customers.isin(known_from_train).to_numpy() | (known_since <= offset)
    test = features.loc[in_test & ~compromised]
    return train, test


def _check_binary(y: np.ndarray, what: str) -> None:
    if len(y) == 0:
        raise ValueError(f"{what}: no rows")
    if np.isnan(y).any():
        raise ValueError(f"{what}: labels contain NA; drop unlabelled rows first")
    n_pos = int((y == 1).sum())
    if n_pos == 0 or n_pos == len(y):
        raise ValueError(f"{what} is undefined when only one class is present ({n_pos} fraud)")


def _labels_array(y: Any) -> np.ndarray:
    if isinstance(y, pd.Series):
        return y.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(y, dtype=np.float64)


def roc_auc(y: Any, score: Any) -> float:
    """Return the area under the ROC curve of ``score`` for binary labels ``y``."""
    labels = _labels_array(y)
    _check_binary(labels, "ROC AUC")
    return float(roc_auc_score(labels.astype(np.int8), np.asarray(score, dtype=np.float64)))


def average_precision(y: Any, score: Any) -> float:
    """Return the average precision (area under the precision-recall curve, sklearn's AP)."""
    labels = _labels_array(y)
    _check_binary(labels, "average precision")
    return float(
        average_precision_score(labels.astype(np.int8), np.asarray(score, dtype=np.float64))
    )


def card_precision_at_k_daily(
    scored_test: pd.DataFrame, k: int = 100, *, score_column: str = "score"
) -> pd.DataFrame:
    """Return per test day the number of frauded cards and the card precision in the top k."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    _require(
        scored_test,
        [CUSTOMER_ID, TX_DATETIME, TX_FRAUD, score_column],
        "card_precision_at_k",
    )
    if scored_test[TX_FRAUD].isna().any():
        raise ValueError("card_precision_at_k: labels contain NA; drop unlabelled rows first")
    frame = pd.DataFrame(
        {
            "day": scored_test[TX_DATETIME].dt.floor("D").to_numpy(),
            "customer": scored_test[CUSTOMER_ID].to_numpy(),
            "label": scored_test[TX_FRAUD].to_numpy(dtype=np.int64),
            "score": scored_test[score_column].to_numpy(dtype=np.float64),
        }
    )
    detected: set[Any] = set()
    rows = []
    for day, day_frame in frame.groupby("day", sort=True):
        if detected:
            day_frame = day_frame[~day_frame["customer"].isin(detected)]
        cards = day_frame.groupby("customer", sort=True)[["score", "label"]].max()
        n_fraud_cards = int((cards["label"] == 1).sum())
        # Stable sort: ties keep ascending customer order.
        top = cards.sort_values("score", ascending=False, kind="mergesort").head(k)
        hits = top.index[top["label"].to_numpy() == 1]
        detected.update(hits.tolist())
        rows.append(
            {
                "day": day,
                "n_fraud_cards": n_fraud_cards,
                "n_detected": len(hits),
                "card_precision": len(hits) / k,
            }
        )
    return pd.DataFrame(rows, columns=["day", "n_fraud_cards", "n_detected", "card_precision"])


def card_precision_at_k(
    scored_test: pd.DataFrame, k: int = 100, *, score_column: str = "score"
) -> float:
    """Return the handbook's CP@k: daily card precision in the top k, averaged over test days."""
    daily = card_precision_at_k_daily(scored_test, k, score_column=score_column)
    if daily.empty:
        raise ValueError("card_precision_at_k: no rows")
    return float(daily["card_precision"].mean())


def evaluate_scores(features: pd.DataFrame, scores: Any, *, k: int = 100) -> dict[str, float]:
    """Return AUC, AP and CP@k (when computable) of ``scores`` on the labelled rows of ``features``."""
    _require(features, [TX_FRAUD], "evaluate_scores")
    score = np.asarray(scores, dtype=np.float64)
    if len(score) != len(features):
        raise ValueError(f"evaluate_scores: {len(score)} scores for {len(features)} rows")
    labelled = features[TX_FRAUD].notna().to_numpy()
    y = features[TX_FRAUD].to_numpy(dtype=np.float64, na_value=np.nan)[labelled]
    s = score[labelled]
    metrics: dict[str, float] = {"n_eval": float(len(y)), "n_eval_fraud": float((y == 1).sum())}
    if 0 < metrics["n_eval_fraud"] < len(y):
        metrics["roc_auc"] = roc_auc(y, s)
        metrics["average_precision"] = average_precision(y, s)
    if len(y) and {CUSTOMER_ID, TX_DATETIME} <= set(features.columns):
        scored = features.loc[labelled, [CUSTOMER_ID, TX_DATETIME, TX_FRAUD]].assign(score=s)
        metrics[f"card_precision@{k}"] = card_precision_at_k(scored, k)
    return metrics


def prequential_fold_starts(
    start_date_training: Timestampish, n_folds: int = 4, delta_assessment: int = 7
) -> list[pd.Timestamp]:
    """Return the training start of each prequential fold (fold i: start - i * delta_assessment)."""
    if n_folds < 1:
        raise ValueError(f"n_folds must be >= 1, got {n_folds}")
    start = pd.Timestamp(start_date_training)
    return [start - pd.Timedelta(days=i * delta_assessment) for i in range(n_folds)]


def handbook_fold_starts(
    start_date_training: Timestampish = HANDBOOK_START_DATE_TRAINING,
    n_folds: int = HANDBOOK_N_FOLDS,
    delta_delay: int = HANDBOOK_DELTA_DAYS,
    delta_assessment: int = HANDBOOK_DELTA_DAYS,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the handbook's (validation, test) prequential start dates (chapter 5)."""
    start = pd.Timestamp(start_date_training)
    valid = start - pd.Timedelta(days=delta_delay + delta_assessment)
    test = start + pd.Timedelta(days=(n_folds - 1) * delta_assessment)
    return valid, test


def catboost_model_factory(
    config: TrainConfig | None = None, *, log: Callable[[str], None] | None = None
) -> ModelFactory:
    """Return a factory that trains the CatBoost fraud model on train and scores test."""

    def factory(train: pd.DataFrame, test: pd.DataFrame) -> pd.Series:
        from fraud_core.model import train_model

        return train_model(train, config, log=log).predict(test)

    return factory


def sklearn_model_factory(
    make_estimator: Callable[[], Any], features: Sequence[str], *, scale: bool = True
) -> ModelFactory:
    """Return a factory fitting ``[StandardScaler +] make_estimator()`` on train, scoring test."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cols = list(features)

    def factory(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        labelled = train[train[TX_FRAUD].notna()]
        steps = [StandardScaler(), make_estimator()] if scale else [make_estimator()]
        pipe = make_pipeline(*steps)
        pipe.fit(
            labelled[cols].to_numpy(dtype=np.float64),
            labelled[TX_FRAUD].to_numpy(dtype=np.int64),
        )
        if len(test) == 0:
            return np.empty(0)
        return pipe.predict_proba(test[cols].to_numpy(dtype=np.float64))[:, 1]

    return factory


@dataclass(frozen=True)
class PrequentialResult:
    """Per-fold metrics of a prequential evaluation, with mean and std per metric."""

    folds: pd.DataFrame
    metrics: tuple[str, ...]

    @property
    def summary(self) -> pd.DataFrame:
        """Mean and population std (ddof=0) of each metric over the folds."""
        values = self.folds[list(self.metrics)]
        return pd.DataFrame({"mean": values.mean(), "std": values.std(ddof=0)})

    def mean(self) -> dict[str, float]:
        """Mean of each metric over the folds."""
        return {str(m): float(v) for m, v in self.summary["mean"].items()}


def prequential_evaluation(
    features: pd.DataFrame,
    start_date_training: Timestampish,
    n_folds: int = 4,
    delta_train: int = 7,
    delta_delay: int = 7,
    delta_assessment: int = 7,
    train_config: TrainConfig | None = None,
    *,
    model_factory: ModelFactory | None = None,
    k: int = 100,
    log: Callable[[str], None] | None = None,
) -> PrequentialResult:
    """Run the handbook's prequential evaluation and return per-fold AUC, AP and CP@k."""
    factory = model_factory or catboost_model_factory(train_config)
    _require(features, [TX_DATETIME, CUSTOMER_ID, TX_FRAUD], "prequential_evaluation")
    cp_name = f"card_precision@{k}"
    first = _as_timestamp(start_date_training, features[TX_DATETIME])
    rows = []
    for fold, start in enumerate(prequential_fold_starts(first, n_folds, delta_assessment)):
        train, test = train_delay_test_split(
            features, start, delta_train, delta_delay, delta_assessment
        )
        test = test[test[TX_FRAUD].notna()]
        started = time.perf_counter()
        scores = np.asarray(factory(train, test), dtype=np.float64)
        seconds = time.perf_counter() - started
        metrics = evaluate_scores(test, scores, k=k)
        test_start = start.floor("D") + pd.Timedelta(days=delta_train + delta_delay)
        row = {
            "fold": fold,
            "train_start": start,
            "test_start": test_start,
            "test_end": test_start + pd.Timedelta(days=delta_assessment - 1),
            "n_train": len(train),
            "n_train_fraud": int(_fraud_flags(train[TX_FRAUD]).sum()),
            "n_test": len(test),
            "n_test_fraud": int(metrics["n_eval_fraud"]),
            "roc_auc": metrics.get("roc_auc", np.nan),
            "average_precision": metrics.get("average_precision", np.nan),
            cp_name: metrics.get(cp_name, np.nan),
            "seconds": round(seconds, 2),
        }
        rows.append(row)
        if log is not None:
            log(
                f"fold {fold} (train from {start.date()}): AUC {row['roc_auc']:.4f} "
                f"AP {row['average_precision']:.4f} CP@{k} {row[cp_name]:.4f} ({seconds:.1f}s)"
            )
    return PrequentialResult(
        folds=pd.DataFrame(rows), metrics=("roc_auc", "average_precision", cp_name)
    )
