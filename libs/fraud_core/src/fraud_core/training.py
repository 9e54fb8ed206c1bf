"""What a model trains and is validated on: the days, the sampled training rows, the validation.

Labels arrive ``label_delay_days`` late, so only the days before the *labelled end* are labelled;
the last ``validation_days`` of them are held out for the promotion gate, and the
``train_days`` before those are trained on::

    [train_start ............ validation_start ........ labelled_end) ... as_of
     <------ train_days ------><---- validation_days ---->

At millions of transactions a day the training window does not fit a pod, so the model trains on
a *sample*: every fraud, and a seeded share ``genuine_rate`` of the genuine transactions, each
weighted ``1 / genuine_rate`` so that the weighted sample stands for the whole window and the
scores stay calibrated probabilities. Whether a genuine transaction is kept depends only on its
``transaction_id`` and the seed (a hash, not a random stream): sampling day by day as the days are
read keeps exactly the rows sampling the whole window would, so the window never has to sit in
memory. The validation window is never sampled; it is scored day by day
(:func:`validate_by_chunk`, :func:`validation_metrics_by_chunk`) and only the columns the metrics
need are kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fraud_core.columns import CUSTOMER_ID, FRAUD_SCORE, TRANSACTION_ID, TX_DATETIME, TX_FRAUD

if TYPE_CHECKING:
    from fraud_core.model import FraudModel

__all__ = [
    "SamplingRecord",
    "TrainingSample",
    "TrainingSampler",
    "TrainingWindows",
    "Validation",
    "check_genuine_rate",
    "sample_hash",
    "sample_training_rows",
    "training_windows",
    "validate_by_chunk",
    "validation_metrics_by_chunk",
]


@dataclass(frozen=True)
class TrainingWindows:
    """The training and validation day ranges, each ``[first, end)``."""

    train_start: date
    validation_start: date
    labelled_end: date
    """Exclusive: the first day whose labels are not complete yet."""

    @property
    def train(self) -> tuple[date, date]:
        """Training days ``[first, end)``."""
        return self.train_start, self.validation_start

    @property
    def validation(self) -> tuple[date, date]:
        """Validation days ``[first, end)``."""
        return self.validation_start, self.labelled_end

    @property
    def days(self) -> tuple[date, date]:
        """Every day read, training and validation: ``[first, end)``."""
        return self.train_start, self.labelled_end

    def describe_train(self) -> str:
        """The training days, inclusive, e.g. ``2025-03-10 .. 2025-03-19``."""
        return _inclusive(*self.train)

    def describe_validation(self) -> str:
        """The validation days, inclusive."""
        return _inclusive(*self.validation)


def training_windows(
    as_of: date, label_delay_days: int, train_days: int, validation_days: int
) -> TrainingWindows:
    """The training and validation days of a model trained as of ``as_of``."""
    if label_delay_days < 0:
        raise ValueError(f"label_delay_days must be >= 0, got {label_delay_days}")
    for name, value in (("train_days", train_days), ("validation_days", validation_days)):
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    labelled_end = as_of - timedelta(days=label_delay_days - 1)
    validation_start = labelled_end - timedelta(days=validation_days)
    return TrainingWindows(
        train_start=validation_start - timedelta(days=train_days),
        validation_start=validation_start,
        labelled_end=labelled_end,
    )


def _inclusive(first: date, end: date) -> str:
    return f"{first.isoformat()} .. {(end - timedelta(days=1)).isoformat()}"


# --- the sampled training set -----------------------------------------------------------------

_SCORE = "__validation_score"
"""The score column kept between validation chunks (internal, never stored)."""
_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def check_genuine_rate(rate: float) -> float:
    """``rate`` when it is a share of genuine rows that can be sampled: in (0, 1]."""
    value = float(rate)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"genuine_rate must be in (0, 1], got {rate!r}")
    return value


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, element-wise on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = values + _GOLDEN_GAMMA
        z = (z ^ (z >> np.uint64(30))) * _MIX_1
        z = (z ^ (z >> np.uint64(27))) * _MIX_2
    return z ^ (z >> np.uint64(31))


def _uniform_draws(ids: pd.Series, seed: int) -> np.ndarray:
    """One draw in [0, 1) per id, a function of the id and the seed only."""
    hashed = pd.util.hash_pandas_object(ids, index=False).to_numpy(dtype=np.uint64)
    salt = _splitmix64(np.array([seed], dtype=np.uint64))[0]
    mixed = _splitmix64(hashed ^ salt)
    return (mixed >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


@dataclass(frozen=True)
class SamplingRecord:
    """What sampling did: its rate and seed, the rows it read and the rows it kept."""

    genuine_rate: float
    seed: int
    n_rows: int = 0
    """Rows read, labelled or not."""
    n_unlabelled: int = 0
    """Rows without a label yet: never trained on."""
    n_labelled: int = 0
    """Labelled rows before sampling (the population the weights stand for)."""
    n_fraud: int = 0
    """Fraud rows: all kept."""
    n_sampled: int = 0
    """Rows kept: every fraud and the sampled genuine rows."""

    @property
    def genuine_weight(self) -> float:
        """The weight of a sampled genuine row: how many genuine rows of the window it stands for."""
        return 1.0 / self.genuine_rate

    def plus(self, other: SamplingRecord) -> SamplingRecord:
        """The record of both samples together (same rate and seed)."""
        if (other.genuine_rate, other.seed) != (self.genuine_rate, self.seed):
            raise ValueError("cannot add samples drawn with another rate or seed")
        return SamplingRecord(
            genuine_rate=self.genuine_rate,
            seed=self.seed,
            n_rows=self.n_rows + other.n_rows,
            n_unlabelled=self.n_unlabelled + other.n_unlabelled,
            n_labelled=self.n_labelled + other.n_labelled,
            n_fraud=self.n_fraud + other.n_fraud,
            n_sampled=self.n_sampled + other.n_sampled,
        )

    def describe(self) -> str:
        """One line for logs, e.g. ``1,200 of 100,000 labelled rows (all 200 frauds, ...)``."""
        return (
            f"{self.n_sampled:,} of {self.n_labelled:,} labelled rows (all {self.n_fraud:,} frauds, "
            f"genuine at rate {self.genuine_rate:g} weighted {self.genuine_weight:g}, seed "
            f"{self.seed}; {self.n_unlabelled:,} unlabelled excluded)"
        )


@dataclass(frozen=True)
class TrainingSample:
    """The rows to train on, their weights (aligned to ``rows``) and how they were sampled."""

    rows: pd.DataFrame
    weights: np.ndarray
    record: SamplingRecord


def _labels(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(known, fraud) flags of the rows of ``features``; labels other than 0/1 are refused."""
    if TX_FRAUD not in features.columns:
        raise ValueError(f"training data has no label column {TX_FRAUD!r}")
    values = features[TX_FRAUD].to_numpy(dtype=np.float64, na_value=np.nan)
    known = ~np.isnan(values)
    bad = known & ~np.isin(values, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"{TX_FRAUD} must be 0/1, found {sorted(set(values[bad].tolist()))[:5]}")
    return known, known & (values == 1.0)


@dataclass
class TrainingSampler:
    """Samples a training window chunk by chunk (e.g. a day at a time, as the days are read).

    Keeps every fraud and each genuine row with probability ``genuine_rate`` (decided by a hash of
    its ``transaction_id`` and ``seed``), drops unlabelled rows; the result does not depend on how
    the window was chunked or in which order the chunks came.
    """

    genuine_rate: float
    seed: int = 0
    _rows: list[pd.DataFrame] = field(default_factory=list, init=False, repr=False)
    _weights: list[np.ndarray] = field(default_factory=list, init=False, repr=False)
    _columns: pd.DataFrame | None = field(default=None, init=False, repr=False)
    _record: SamplingRecord = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.genuine_rate = check_genuine_rate(self.genuine_rate)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        self._record = SamplingRecord(self.genuine_rate, self.seed)

    def add(self, features: pd.DataFrame) -> SamplingRecord:
        """Sample ``features`` (one chunk) into the training set; returns the chunk's record."""
        known, fraud = _labels(features)
        if self._columns is None:
            self._columns = features.iloc[:0]
        keep = fraud.copy()
        genuine = known & ~fraud
        if self.genuine_rate == 1.0:
            keep |= genuine
        elif genuine.any():
            if TRANSACTION_ID not in features.columns:
                raise ValueError(f"sampling needs the {TRANSACTION_ID!r} column")
            keep |= genuine & (
                _uniform_draws(features[TRANSACTION_ID], self.seed) < self.genuine_rate
            )
        rows = features.loc[keep] if not keep.all() else features
        weights = np.where(fraud[keep], 1.0, 1.0 / self.genuine_rate)
        chunk = SamplingRecord(
            genuine_rate=self.genuine_rate,
            seed=self.seed,
            n_rows=len(features),
            n_unlabelled=int((~known).sum()),
            n_labelled=int(known.sum()),
            n_fraud=int(fraud.sum()),
            n_sampled=len(rows),
        )
        if len(rows):
            self._rows.append(rows)
            self._weights.append(weights)
        self._record = self._record.plus(chunk)
        return chunk

    def sample(self) -> TrainingSample:
        """The training sample of every chunk added so far."""
        if self._rows:
            rows = (
                pd.concat(self._rows, ignore_index=True) if len(self._rows) > 1 else self._rows[0]
            )
            weights = np.concatenate(self._weights)
        else:  # nothing kept: no rows, the columns of the chunks
            rows = self._columns if self._columns is not None else pd.DataFrame()
            weights = np.empty(0, dtype=np.float64)
        return TrainingSample(rows=rows, weights=weights, record=self._record)


def sample_training_rows(
    features: pd.DataFrame, genuine_rate: float, seed: int = 0
) -> TrainingSample:
    """Every fraud and a seeded ``genuine_rate`` share of the genuine rows, weighted 1 / rate."""
    sampler = TrainingSampler(genuine_rate, seed)
    sampler.add(features)
    return sampler.sample()


def sample_hash(rows: pd.DataFrame) -> str:
    """SHA-256 of the rows' transaction ids and labels, whatever their order."""
    missing = [c for c in (TRANSACTION_ID, TX_FRAUD) if c not in rows.columns]
    if missing:
        raise ValueError(f"sample_hash: missing columns {missing}")
    labels = rows[TX_FRAUD].to_numpy(dtype=np.float64, na_value=np.nan)
    keyed = pd.DataFrame(
        {
            TRANSACTION_ID: rows[TRANSACTION_ID].to_numpy(),
            TX_FRAUD: np.where(np.isnan(labels), -1, labels).astype(np.int8),
        }
    )
    digest = hashlib.sha256(f"{TRANSACTION_ID},{TX_FRAUD};{len(rows)};".encode())
    digest.update(np.sort(pd.util.hash_pandas_object(keyed, index=False).to_numpy()).tobytes())
    return digest.hexdigest()


# --- the validation window, a chunk at a time -------------------------------------------------


@dataclass(frozen=True)
class Validation:
    """A model's validation: its metrics and its scores of the labelled validation rows."""

    metrics: dict[str, float]
    scored: pd.DataFrame
    """The labelled rows' ``customer_id, tx_datetime, tx_fraud`` (those present) and
    ``fraud_score``, in the order of the chunks."""


def validate_by_chunk(
    model: FraudModel, chunks: Iterable[pd.DataFrame], *, k: int = 100
) -> Validation:
    """The metrics of :func:`validation_metrics_by_chunk` and the scored labelled rows they use."""
    from fraud_core.evaluation import evaluate_scores

    kept: list[pd.DataFrame] = []
    n_rows = 0
    for chunk in chunks:
        n_rows += len(chunk)
        labelled = chunk.loc[chunk[TX_FRAUD].notna()] if TX_FRAUD in chunk.columns else chunk
        if len(labelled) == 0:
            continue
        columns = [c for c in (CUSTOMER_ID, TX_DATETIME, TX_FRAUD) if c in labelled.columns]
        scores = model.predict(labelled).to_numpy()
        kept.append(labelled[columns].assign(**{_SCORE: scores}))
    if not kept:
        empty = pd.DataFrame({TX_FRAUD: pd.Series([], dtype="Int8"), FRAUD_SCORE: []})
        if n_rows == 0:
            return Validation({}, empty)
        # rows, none labelled: counted as evaluated on nothing
        return Validation(evaluate_scores(empty[[TX_FRAUD]], [], k=k), empty)
    scored = pd.concat(kept, ignore_index=True)
    scores = scored.pop(_SCORE).to_numpy()
    metrics = evaluate_scores(scored, scores, k=k)
    return Validation(metrics, scored.assign(**{FRAUD_SCORE: scores}))


def validation_metrics_by_chunk(
    model: FraudModel, chunks: Iterable[pd.DataFrame], *, k: int = 100
) -> dict[str, float]:
    """AUC, AP and card precision@k of ``model`` on the labelled rows of all ``chunks`` together.

    The same numbers as scoring the concatenated chunks at once; only the columns the metrics
    need are kept between chunks, never the features.
    """
    return validate_by_chunk(model, chunks, k=k).metrics
