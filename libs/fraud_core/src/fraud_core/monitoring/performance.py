"""Label maturity, realised performance once labels arrive, alert volume, and the day's record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from fraud_core.columns import CUSTOMER_ID, FRAUD_SCORE, MODEL_VERSION, TX_DATETIME, TX_FRAUD
from fraud_core.evaluation import card_precision_at_k_daily, evaluate_scores
from fraud_core.monitoring.health import HealthThresholds
from fraud_core.monitoring.reporting import Metadata, optional_number, stored_number

__all__ = [
    "AlertVolume",
    "DayPerformance",
    "RealisedPerformance",
    "alert_volume",
    "label_maturity_date",
    "labels_mature",
    "latest_mature_day",
    "realised_performance",
]

_SCORE = "score"
"""The score column :mod:`fraud_core.evaluation` expects."""


# --------------------------------------------------------------------------------------------
# Label delay
# --------------------------------------------------------------------------------------------


def _day(value: date | datetime | str) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value.date() if isinstance(value, datetime) else value


def _check_delay(label_delay_days: int) -> int:
    if isinstance(label_delay_days, bool) or not isinstance(label_delay_days, int | np.integer):
        raise ValueError(f"label_delay_days must be whole days, got {label_delay_days!r}")
    if label_delay_days < 0:
        raise ValueError(f"label_delay_days must be >= 0, got {label_delay_days}")
    return int(label_delay_days)


def label_maturity_date(day: date | datetime | str, label_delay_days: int) -> date:
    """The first ``as_of`` day at which ``day``'s labels are complete: ``day + label_delay_days``."""
    return _day(day) + timedelta(days=_check_delay(label_delay_days))


def latest_mature_day(as_of: date | datetime | str, label_delay_days: int) -> date:
    """The latest day whose labels are complete when the data reaches ``as_of``."""
    return _day(as_of) - timedelta(days=_check_delay(label_delay_days))


def labels_mature(
    day: date | datetime | str, as_of: date | datetime | str, label_delay_days: int
) -> bool:
    """Whether ``day`` is evaluable when the data reaches ``as_of`` (``day <= as_of - delay``)."""
    return _day(day) <= latest_mature_day(as_of, label_delay_days)


# --------------------------------------------------------------------------------------------
# Realised performance and alert volume
# --------------------------------------------------------------------------------------------


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}")


def _rows_of_day(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    """Rows whose UTC ``tx_datetime`` falls on ``day`` (naive timestamps are taken as UTC)."""
    times = pd.to_datetime(frame[TX_DATETIME])
    times = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
    start = pd.Timestamp(day, tz="UTC")
    mask = ((times >= start) & (times < start + pd.Timedelta(days=1))).to_numpy()
    out = frame.loc[mask].copy()
    out[TX_DATETIME] = times[mask]
    return out.reset_index(drop=True)


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


@dataclass(frozen=True)
class RealisedPerformance:
    """How the model did on one day, on the labels known when it was evaluated."""

    day: date
    as_of: date
    label_delay_days: int
    labels_mature: bool
    n_transactions: int
    n_labelled: int
    label_coverage: float | None
    n_fraud: int
    threshold: float
    n_alerts: int
    n_alerts_labelled: int
    true_positives: int
    precision: float | None
    recall: float | None
    k: int
    n_cards: int
    n_fraud_cards: int
    n_detected_cards: int
    card_precision_at_k: float | None
    card_recall_at_k: float | None
    average_precision: float | None
    roc_auc: float | None

    def as_record(self) -> dict[str, Any]:
        """A flat dict, ready for a one-row frame."""
        return asdict(self)


def realised_performance(
    scored: pd.DataFrame,
    day: date | datetime | str,
    *,
    as_of: date | datetime | str,
    label_delay_days: int,
    threshold: float = 0.5,
    k: int = 100,
    score_column: str = FRAUD_SCORE,
) -> RealisedPerformance:
    """Precision/recall at ``threshold`` and card precision@``k`` of ``day`` (package doc).

    ``scored`` holds ``tx_datetime``, ``customer_id``, ``tx_fraud`` (0/1/NA: NA = not known yet)
    and the score; rows of other days are ignored.
    """
    _require(scored, [TX_DATETIME, CUSTOMER_ID, TX_FRAUD, score_column], "performance")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    the_day = _day(day)
    rows = _rows_of_day(scored, the_day)
    labels = pd.to_numeric(rows[TX_FRAUD], errors="coerce").astype("Float64")
    labels = labels.where(labels.isin([0, 1]))
    labelled = labels.notna().to_numpy(dtype=bool)
    fraud = labels.eq(1).fillna(False).to_numpy(dtype=bool)
    scores = rows[score_column].to_numpy(dtype=np.float64)
    alerted = scores >= threshold
    tp = int((alerted & fraud).sum())
    n_fraud = int(fraud.sum())
    n_alerts_labelled = int((alerted & labelled).sum())

    known = rows.loc[labelled, [TX_DATETIME, CUSTOMER_ID]].assign(
        **{TX_FRAUD: labels[labelled].astype("int64").to_numpy(), _SCORE: scores[labelled]}
    )
    n_fraud_cards = n_detected = 0
    cp_at_k = card_recall = None
    ap = auc = None
    if len(known):
        daily = card_precision_at_k_daily(known, k)
        n_fraud_cards = int(daily["n_fraud_cards"].sum())
        n_detected = int(daily["n_detected"].sum())
        cp_at_k = float(daily["card_precision"].mean())
        card_recall = _ratio(n_detected, n_fraud_cards)
        metrics = evaluate_scores(known[[TX_FRAUD]], known[_SCORE], k=k)
        ap = metrics.get("average_precision")
        auc = metrics.get("roc_auc")
    n = len(rows)
    return RealisedPerformance(
        day=the_day,
        as_of=_day(as_of),
        label_delay_days=_check_delay(label_delay_days),
        labels_mature=labels_mature(the_day, as_of, label_delay_days),
        n_transactions=n,
        n_labelled=int(labelled.sum()),
        label_coverage=_ratio(labelled.sum(), n),
        n_fraud=n_fraud,
        threshold=float(threshold),
        n_alerts=int(alerted.sum()),
        n_alerts_labelled=n_alerts_labelled,
        true_positives=tp,
        precision=_ratio(tp, n_alerts_labelled),
        recall=_ratio(tp, n_fraud),
        k=int(k),
        n_cards=int(rows[CUSTOMER_ID].nunique()),
        n_fraud_cards=n_fraud_cards,
        n_detected_cards=n_detected,
        card_precision_at_k=cp_at_k,
        card_recall_at_k=card_recall,
        average_precision=None if ap is None else float(ap),
        roc_auc=None if auc is None else float(auc),
    )


@dataclass(frozen=True)
class AlertVolume:
    """Cards alerted at the threshold on one day, against the daily review budget."""

    day: date
    threshold: float
    budget: int
    n_transactions: int
    n_cards: int
    n_alert_transactions: int
    n_alert_cards: int
    budget_utilisation: float
    """``n_alert_cards / budget``: above 1 the team cannot review every alert."""
    over_budget: bool
    excess_cards: int

    def as_record(self) -> dict[str, Any]:
        """A flat dict, ready for a one-row frame."""
        return asdict(self)


def alert_volume(
    scores: pd.DataFrame,
    day: date | datetime | str,
    *,
    threshold: float = 0.5,
    budget: int = 100,
    score_column: str = FRAUD_SCORE,
) -> AlertVolume:
    """Transactions and cards (max score per card) at or above ``threshold`` on ``day``."""
    _require(scores, [TX_DATETIME, CUSTOMER_ID, score_column], "alert_volume")
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    the_day = _day(day)
    rows = _rows_of_day(scores, the_day)
    card_max = rows.groupby(CUSTOMER_ID, sort=False)[score_column].max()
    n_cards = int((card_max >= threshold).sum())
    return AlertVolume(
        day=the_day,
        threshold=float(threshold),
        budget=int(budget),
        n_transactions=len(rows),
        n_cards=len(card_max),
        n_alert_transactions=int((rows[score_column] >= threshold).sum()),
        n_alert_cards=n_cards,
        budget_utilisation=n_cards / budget,
        over_budget=n_cards > budget,
        excess_cards=max(0, n_cards - budget),
    )


# --------------------------------------------------------------------------------------------
# The day's record
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayPerformance:
    """A day's realised performance and alert volume, judged: one row of the performance table."""

    performance: RealisedPerformance
    volume: AlertVolume
    thresholds: HealthThresholds
    model_versions: str
    """The versions of the models that scored the day, sorted, comma-separated."""

    @classmethod
    def measure(
        cls,
        scored: pd.DataFrame,
        day: date,
        *,
        as_of: date,
        label_delay_days: int,
        threshold: float,
        budget: int,
        thresholds: HealthThresholds,
    ) -> DayPerformance:
        """Performance at ``threshold`` and card precision@``budget`` on the labels ``scored``
        carries (those known at ``as_of``), and the alerted cards against ``budget``."""
        return cls(
            performance=realised_performance(
                scored,
                day,
                as_of=as_of,
                label_delay_days=label_delay_days,
                threshold=threshold,
                k=budget,
            ),
            volume=alert_volume(scored, day, threshold=threshold, budget=budget),
            thresholds=thresholds,
            model_versions=",".join(sorted(scored[MODEL_VERSION].astype(str).unique())),
        )

    @property
    def judged(self) -> bool:
        """Whether the precision floor applies: labels mature and a fraudulent card that day."""
        return self.performance.labels_mature and self.performance.n_fraud_cards > 0

    @property
    def below_floor(self) -> bool:
        """Whether a judged day's card precision@k is missing or below the floor."""
        cp = self.performance.card_precision_at_k
        return self.judged and (cp is None or cp < self.thresholds.precision_floor)

    @property
    def over_budget(self) -> bool:
        """Whether the alerted cards use more of the budget than allowed."""
        return self.volume.budget_utilisation > self.thresholds.max_budget_utilisation

    @property
    def status(self) -> str:
        """``provisional: labels mature on <day>``, ``no fraudulent card that day`` or
        ``evaluated``."""
        perf = self.performance
        if not perf.labels_mature:
            mature_on = label_maturity_date(perf.day, perf.label_delay_days)
            return f"provisional: labels mature on {mature_on}"
        return "evaluated" if self.judged else "no fraudulent card that day"

    def frame(self, evaluated_at: pd.Timestamp) -> pd.DataFrame:
        """The day's row of the performance table (unmeasured numbers as NaN)."""
        record = {
            key: (stored_number(value) if value is None else value)
            for key, value in self.performance.as_record().items()
        }
        volume = self.volume
        record.update(
            alert_budget=volume.budget,
            n_alert_cards=volume.n_alert_cards,
            budget_utilisation=volume.budget_utilisation,
            over_budget=volume.over_budget,
            excess_cards=volume.excess_cards,
            model_versions=self.model_versions,
            evaluated_at=evaluated_at,
        )
        return pd.DataFrame([record])

    def precision_numbers(self) -> Metadata:
        """The realised precision figures, the floor and the status."""
        perf = self.performance
        return {
            "labels_mature": perf.labels_mature,
            "as_of": str(perf.as_of),
            "label_coverage": optional_number(perf.label_coverage),
            "card_precision_at_k": optional_number(perf.card_precision_at_k),
            "k": perf.k,
            "precision_floor": self.thresholds.precision_floor,
            "precision_at_threshold": optional_number(perf.precision),
            "recall_at_threshold": optional_number(perf.recall),
            "card_recall_at_k": optional_number(perf.card_recall_at_k),
            "n_fraud_cards": perf.n_fraud_cards,
            "n_detected_cards": perf.n_detected_cards,
            "status": self.status,
        }

    def budget_numbers(self) -> Metadata:
        """The alerted cards against the review budget."""
        return {
            "n_alert_cards": self.volume.n_alert_cards,
            "alert_budget": self.volume.budget,
            "budget_utilisation": self.volume.budget_utilisation,
            "max_budget_utilisation": self.thresholds.max_budget_utilisation,
            "threshold": self.volume.threshold,
        }

    def numbers(self) -> Metadata:
        """Every reported figure: precision, budget, AP, ROC AUC, transactions and status."""
        perf = self.performance
        return {
            **self.precision_numbers(),
            **self.budget_numbers(),
            "average_precision": optional_number(perf.average_precision),
            "roc_auc": optional_number(perf.roc_auc),
            "n_transactions": perf.n_transactions,
            "status": self.status,
        }
