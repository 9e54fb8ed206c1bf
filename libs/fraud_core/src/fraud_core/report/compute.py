"""The daily report's numbers: one day's headline stats, its tables, and the trailing comparison."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from fraud_core.alerts import ALERT_COLUMNS, rank_alerts
from fraud_core.columns import (
    CUSTOMER_ID,
    EXPECTED_FRAUD_AMOUNT,
    FRAUD_SCORE,
    MAX_SCORE,
    MODEL_VERSION,
    REASON_COLUMNS,
    TERMINAL_ID,
    TOTAL_AMOUNT,
    TX_AMOUNT,
    TX_FRAUD,
)
from fraud_core.report.entities import card_table, known_fraud, labelled_alerts, top_entities
from fraud_core.scores import DAY_COLUMN, as_day, scores_between

__all__ = [
    "TRAILING_DAYS",
    "DailyReport",
    "DayStats",
    "check_alerts",
    "daily_report",
    "optional_float",
    "trailing_frame",
]

TRAILING_DAYS = 7

_TRAILING_COLUMNS = [
    "day",
    "n_transactions",
    "n_cards",
    "amount",
    "score_mean",
    "alerts_threshold_tx",
    "alerts_threshold_cards",
    "alerts_budget",
    "expected_precision",
    "realised_precision",
    "n_alerted_cards_labelled",
    "fraud_amount_caught",
]
_TRAILING_INT_COLUMNS = frozenset(
    {
        "n_transactions",
        "n_cards",
        "alerts_threshold_tx",
        "alerts_threshold_cards",
        "alerts_budget",
        "n_alerted_cards_labelled",
    }
)
# (metric, label) compared between the day and the trailing mean.
_COMPARED_METRICS: list[tuple[str, str]] = [
    ("n_transactions", "Transactions scored"),
    ("amount", "Amount scored"),
    ("score_mean", "Mean score"),
    ("alerts_threshold_tx", "Transactions ≥ threshold"),
    ("alerts_threshold_cards", "Cards ≥ threshold"),
    ("expected_precision", "Expected precision (budget)"),
    ("realised_precision", "Realised precision (budget)"),
]


@dataclass(frozen=True)
class DayStats:
    """Headline numbers of one day of scores (``None`` where a number is not defined)."""

    day: date
    n_transactions: int
    n_cards: int
    n_terminals: int
    amount: float
    model_versions: tuple[str, ...]
    score_mean: float | None
    score_median: float | None
    score_p95: float | None
    score_p99: float | None
    n_labelled: int
    n_fraud_labelled: int
    fraud_amount_known: float | None
    alerts_budget: int
    alerted_amount: float
    expected_precision: float | None
    realised_precision: float | None
    n_alerted_cards_labelled: int
    fraud_amount_caught: float | None
    expected_fraud_amount: float
    expected_fraud_amount_alerted: float
    alerts_threshold_tx: int
    alerts_threshold_cards: int


@dataclass(frozen=True, eq=False)
class DailyReport:
    """The daily fraud report of one UTC day: headline numbers plus ready-to-render tables."""

    day: date
    alert_budget: int
    threshold: float
    top_n: int
    currency: str
    headline: DayStats
    score_histogram: pd.DataFrame
    alerts: pd.DataFrame
    top_terminals: pd.DataFrame
    top_customers: pd.DataFrame
    trailing: pd.DataFrame
    comparison: pd.DataFrame
    missing_days: tuple[date, ...]
    notes: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        """Whether no transaction was scored on the report day."""
        return self.headline.n_transactions == 0


def optional_float(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is missing (None, NaN, NA)."""
    return None if value is None or pd.isna(value) else float(value)


def _day_stats(
    rows: pd.DataFrame,
    day: date,
    alert_budget: int,
    threshold: float,
    alerts: pd.DataFrame | None = None,
) -> tuple[DayStats, pd.DataFrame]:
    """Headline stats and budget alerts (top cards, with their labels) of one day's rows.

    ``alerts`` is the day's alerts table; when ``None`` it is built from ``rows``.
    """
    cards = card_table(rows)
    if alerts is None:
        alerts = rank_alerts(cards, alert_budget)
    alerts = labelled_alerts(alerts, cards)

    scores = rows[FRAUD_SCORE].to_numpy()
    amounts = rows[TX_AMOUNT].to_numpy()
    labelled = rows[TX_FRAUD].notna().to_numpy()
    is_fraud = known_fraud(rows).to_numpy()
    has_scores = len(scores) > 0
    q = np.quantile(scores, [0.5, 0.95, 0.99]) if has_scores else [None] * 3

    known = alerts["card_fraud"].dropna()
    alert_labelled = int(alerts["n_labelled"].sum())
    stats = DayStats(
        day=day,
        n_transactions=len(rows),
        n_cards=len(cards),
        n_terminals=int(rows[TERMINAL_ID].nunique(dropna=False)),
        amount=float(amounts.sum()),
        model_versions=tuple(sorted(rows[MODEL_VERSION].unique())),
        score_mean=float(scores.mean()) if has_scores else None,
        score_median=optional_float(q[0]) if has_scores else None,
        score_p95=optional_float(q[1]) if has_scores else None,
        score_p99=optional_float(q[2]) if has_scores else None,
        n_labelled=int(labelled.sum()),
        n_fraud_labelled=int(is_fraud.sum()),
        fraud_amount_known=float(amounts[is_fraud].sum()) if labelled.any() else None,
        alerts_budget=len(alerts),
        alerted_amount=float(alerts[TOTAL_AMOUNT].sum()),
        expected_precision=float(alerts[MAX_SCORE].mean()) if len(alerts) else None,
        realised_precision=float(known.astype("float64").mean()) if len(known) else None,
        n_alerted_cards_labelled=len(known),
        fraud_amount_caught=float(alerts["fraud_amount"].sum()) if alert_labelled else None,
        expected_fraud_amount=float((scores * amounts).sum()),
        expected_fraud_amount_alerted=float(alerts[EXPECTED_FRAUD_AMOUNT].sum()),
        alerts_threshold_tx=int((scores >= threshold).sum()),
        alerts_threshold_cards=int((cards[MAX_SCORE] >= threshold).sum()),
    )
    return stats, alerts


def _score_histogram(rows: pd.DataFrame, n_bins: int) -> pd.DataFrame:
    # i / n_bins is the correctly rounded edge (linspace can put 0.3 just above 0.3).
    edges = np.arange(n_bins + 1) / n_bins
    scores = rows[FRAUD_SCORE].to_numpy()
    counts, _ = np.histogram(scores, bins=edges)
    fraud_counts, _ = np.histogram(scores[known_fraud(rows).to_numpy()], bins=edges)
    total = counts.sum()
    return pd.DataFrame(
        {
            "bin_left": edges[:-1],
            "bin_right": edges[1:],
            "count": counts.astype("int64"),
            "share": counts / total if total else np.full(n_bins, np.nan),
            "n_fraud_labelled": fraud_counts.astype("int64"),
        }
    )


def trailing_frame(stats: list[DayStats]) -> pd.DataFrame:
    """One row of trend columns per day's stats, in the given order."""
    rows = [{col: getattr(s, col) for col in _TRAILING_COLUMNS} for s in stats]
    frame = pd.DataFrame(rows, columns=_TRAILING_COLUMNS)
    for col in _TRAILING_COLUMNS[1:]:
        frame[col] = frame[col].astype("int64" if col in _TRAILING_INT_COLUMNS else "float64")
    return frame


def _trailing_stats(
    past: pd.DataFrame, first: date, alert_budget: int, threshold: float
) -> tuple[list[DayStats], list[date]]:
    """Stats of each trailing day with rows, and the trailing days without any."""
    stats: list[DayStats] = []
    missing: list[date] = []
    groups = dict(tuple(past.groupby(DAY_COLUMN, sort=True))) if len(past) else {}
    for i in range(TRAILING_DAYS):
        d = first + timedelta(days=i)
        if d in groups:
            stats.append(_day_stats(groups[d], d, alert_budget, threshold)[0])
        else:
            missing.append(d)
    return stats, missing


def _comparison(stats: DayStats, trailing: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for metric, label in _COMPARED_METRICS:
        value = getattr(stats, metric)
        past = trailing[metric].dropna() if len(trailing) else pd.Series(dtype="float64")
        mean = float(past.mean()) if len(past) else np.nan
        day_value = np.nan if value is None else float(value)
        delta = day_value - mean
        ratio = day_value / mean if mean and not np.isnan(mean) else np.nan
        rows.append(
            {
                "metric": metric,
                "label": label,
                "day_value": day_value,
                "trailing_mean": mean,
                "n_days": len(past),
                "delta": delta,
                "ratio": ratio,
            }
        )
    frame = pd.DataFrame(rows)
    frame["n_days"] = frame["n_days"].astype("int64")
    return frame


def _day_notes(stats: DayStats, day: date, alert_budget: int) -> list[str]:
    """Caveats about the report day's own numbers."""
    if stats.n_transactions == 0:
        return [f"No transactions were scored on {day.isoformat()}."]
    notes: list[str] = []
    if stats.n_cards < alert_budget:
        notes.append(
            f"Only {stats.n_cards:,} cards were scored, fewer than the alert budget of "
            f"{alert_budget:,}: every card is alerted."
        )
    if len(stats.model_versions) > 1:
        notes.append(
            "Scores come from more than one model version: " + ", ".join(stats.model_versions) + "."
        )
    if stats.n_labelled == 0:
        notes.append(
            "No fraud labels are known yet for this day: realised precision and fraud "
            "amount caught are not available (expected values are shown instead)."
        )
    elif stats.realised_precision is None and stats.alerts_budget:
        notes.append(
            "None of the alerted cards has a known label yet: realised precision is not available."
        )
    return notes


def _missing_days_note(missing: list[date]) -> list[str]:
    if not missing:
        return []
    return [
        f"No data for {len(missing)} of the trailing {TRAILING_DAYS} days: "
        + ", ".join(d.isoformat() for d in missing)
        + "."
    ]


def check_alerts(alerts: pd.DataFrame, rows: pd.DataFrame, day: date, alert_budget: int) -> None:
    """Refuse an alerts table that does not belong to the day's scores (missing or stale)."""
    if alerts.empty:
        if len(rows) and alert_budget:
            raise ValueError(
                f"no alerts for {day.isoformat()}, but {len(rows):,} transactions were scored "
                "on it: build the day's alerts (FRAUD_ALERTS) from its scores first"
            )
        return
    missing = [c for c in ALERT_COLUMNS if c not in alerts.columns]
    if missing:
        raise ValueError(f"alerts is missing columns: {missing}")
    unknown = set(alerts[CUSTOMER_ID]) - set(rows[CUSTOMER_ID])
    if unknown:
        raise ValueError(
            f"{len(unknown):,} alerted cards of {day.isoformat()} have no scores that day "
            "(alerts older than the scores?): rebuild the day's alerts (FRAUD_ALERTS) from them"
        )
    versions = set(alerts[MODEL_VERSION].astype(str)) - set(rows[MODEL_VERSION])
    if versions:
        raise ValueError(
            f"the alerts of {day.isoformat()} come from model {', '.join(sorted(versions))}, "
            "not the one that scored the day (alerts older than the scores): rebuild the day's "
            "alerts (FRAUD_ALERTS) from its scores"
        )


def _check_options(alert_budget: int, threshold: float, top_n: int, n_bins: int) -> None:
    if alert_budget < 0:
        raise ValueError("alert_budget must be >= 0")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must be in [0, 1]")
    if top_n < 1:
        raise ValueError("top_n must be >= 1")
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")


def daily_report(
    scores: pd.DataFrame,
    day: date,
    *,
    history: pd.DataFrame | None = None,
    alert_budget: int = 100,
    threshold: float = 0.5,
    top_n: int = 10,
    currency: str = "EUR",
    n_bins: int = 20,
    alerts: pd.DataFrame | None = None,
) -> DailyReport:
    """Build the daily fraud report of UTC ``day`` from a scores frame (other days' rows ignored).

    ``history`` holds the scores of the trailing days (rows outside the 7 days before ``day`` are
    ignored); when ``None`` the trailing days are taken from ``scores`` itself. ``alerts`` is the
    day's alerts table (:func:`fraud_core.alerts.build_alerts`, e.g. read from ``FRAUD_ALERTS``);
    when ``None`` it is built from ``scores`` with ``alert_budget``.
    """
    _check_options(alert_budget, threshold, top_n, n_bins)
    day = as_day(day)
    rows = scores_between(scores, day, day + timedelta(days=1), "scores", REASON_COLUMNS)
    if alerts is not None:
        check_alerts(alerts, rows, day, alert_budget)
        alerts = None if alerts.empty else alerts  # nothing to alert: as built from no cards
    stats, alerts = _day_stats(rows, day, alert_budget, threshold, alerts)

    first = day - timedelta(days=TRAILING_DAYS)
    past = scores_between(scores if history is None else history, first, day, "history")
    trailing_stats, missing = _trailing_stats(past, first, alert_budget, threshold)
    trailing = trailing_frame(trailing_stats)

    return DailyReport(
        day=day,
        alert_budget=alert_budget,
        threshold=float(threshold),
        top_n=top_n,
        currency=currency,
        headline=stats,
        score_histogram=_score_histogram(rows, n_bins),
        alerts=alerts.reset_index(drop=True),
        top_terminals=top_entities(rows, TERMINAL_ID, top_n),
        top_customers=top_entities(rows, CUSTOMER_ID, top_n, set(alerts[CUSTOMER_ID])),
        trailing=trailing,
        comparison=_comparison(stats, trailing),
        missing_days=tuple(missing),
        notes=tuple(_day_notes(stats, day, alert_budget) + _missing_days_note(missing)),
    )
