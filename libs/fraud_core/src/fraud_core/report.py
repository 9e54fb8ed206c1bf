"""Daily fraud report: headline numbers, alerts, top risks and a 7-day trend, from a scores frame.

Input contract (what the pipeline's ``fraud_scores`` asset holds), one row per scored transaction:
``transaction_id``, ``tx_datetime`` (datetime64[ns, UTC]; tz-naive values are taken as UTC),
``customer_id``, ``terminal_id``, ``tx_amount`` (float64), ``tx_fraud`` (nullable Int8 0/1/<NA>,
NA = label not known yet), ``fraud_score`` (float64 probability in [0, 1]), ``model_version``
(str). Other columns are ignored.

Conventions:

* The report covers ONE UTC calendar day: rows of ``scores`` outside ``[day 00:00, day+1 00:00)``
  UTC are ignored, so a multi-day frame can be passed as is.
* The trailing comparison uses the 7 days before ``day``, taken from ``history`` when given,
  otherwise from ``scores`` itself. Trailing days without any row are omitted from the tables and
  listed in ``DailyReport.missing_days``.
* Alerts at the budget are CARDS (customers), not transactions: a card's score is the max of its
  transactions' scores that day (the handbook's card-precision convention). The top
  ``alert_budget`` cards are alerted, ordered by score descending, then ``customer_id`` ascending,
  so ties are deterministic.
* A card's label for the day is 1 when any of its transactions is labelled fraud, 0 when all of
  its transactions are labelled genuine, and unknown otherwise (genuine so far, but some labels
  still missing). Realised precision is the share of fraudulent cards among the alerted cards whose
  label is known, and ``None`` (never 0) when no alerted card has a known label.
* Money values are in the currency given by ``currency`` (a label only; no conversion).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "REQUIRED_COLUMNS",
    "TRAILING_DAYS",
    "DailyReport",
    "DayStats",
    "daily_report",
    "render_html",
    "render_markdown",
    "report_summary_frame",
]

REQUIRED_COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "tx_datetime",
    "customer_id",
    "terminal_id",
    "tx_amount",
    "tx_fraud",
    "fraud_score",
    "model_version",
)
TRAILING_DAYS = 7

_ALERT_COLUMNS = [
    "rank",
    "customer_id",
    "max_score",
    "n_transactions",
    "amount",
    "expected_fraud_amount",
    "n_labelled",
    "n_fraud",
    "card_fraud",
    "fraud_amount",
]
_ENTITY_COLUMNS = [
    "n_transactions",
    "amount",
    "max_score",
    "mean_score",
    "expected_fraud_amount",
    "n_labelled",
    "n_fraud",
]
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


# --------------------------------------------------------------------------------------------
# Computation
# --------------------------------------------------------------------------------------------


def _as_day(day: date) -> date:
    return day.date() if isinstance(day, datetime) else day


def _utc_times(values: pd.Series) -> pd.Series:
    ts = values if isinstance(values.dtype, pd.DatetimeTZDtype) else pd.to_datetime(values)
    if ts.dt.tz is None:
        return ts.dt.tz_localize("UTC")
    return ts.dt.tz_convert("UTC")


def _prepare(frame: pd.DataFrame, start: date, end: date, name: str) -> pd.DataFrame:
    """Rows of ``frame`` with UTC tx_datetime in [start, end), normalised dtypes, validated."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing required columns: {missing}")
    ts = _utc_times(frame["tx_datetime"])
    lo = pd.Timestamp(start).tz_localize("UTC")
    hi = pd.Timestamp(end).tz_localize("UTC")
    mask = ((ts >= lo) & (ts < hi)).to_numpy()
    out = frame.loc[mask, list(REQUIRED_COLUMNS)].copy()
    out["tx_datetime"] = ts[mask]
    out["tx_amount"] = out["tx_amount"].astype("float64")
    out["fraud_score"] = out["fraud_score"].astype("float64")
    out["tx_fraud"] = out["tx_fraud"].astype("Int8")
    out["model_version"] = out["model_version"].astype(str)
    scores = out["fraud_score"].to_numpy()
    if np.isnan(scores).any() or (scores < 0).any() or (scores > 1).any():
        raise ValueError(f"{name}: fraud_score must be a probability in [0, 1] with no NaN")
    if np.isnan(out["tx_amount"].to_numpy()).any():
        raise ValueError(f"{name}: tx_amount has NaN values")
    labels = out["tx_fraud"].dropna()
    if not labels.isin([0, 1]).all():
        raise ValueError(f"{name}: tx_fraud must be 0, 1 or <NA>")
    out["_day"] = out["tx_datetime"].dt.date
    return out.reset_index(drop=True)


def _card_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per card (customer) of one day, ordered by max score desc then customer_id."""
    fraud = rows["tx_fraud"].eq(1).fillna(False).astype(bool)
    d = rows.assign(
        _efa=rows["fraud_score"] * rows["tx_amount"],
        _lab=rows["tx_fraud"].notna().to_numpy(),
        _fraud=fraud.to_numpy(),
        _fraud_amt=rows["tx_amount"].where(fraud, 0.0),
    )
    cards = (
        d.groupby("customer_id", dropna=False, sort=False)
        .agg(
            max_score=("fraud_score", "max"),
            n_transactions=("fraud_score", "size"),
            amount=("tx_amount", "sum"),
            expected_fraud_amount=("_efa", "sum"),
            n_labelled=("_lab", "sum"),
            n_fraud=("_fraud", "sum"),
            fraud_amount=("_fraud_amt", "sum"),
        )
        .reset_index()
    )
    cards["n_transactions"] = cards["n_transactions"].astype("int64")
    cards["n_labelled"] = cards["n_labelled"].astype("int64")
    cards["n_fraud"] = cards["n_fraud"].astype("int64")
    card_fraud = pd.array([pd.NA] * len(cards), dtype="Int8")
    known_genuine = (cards["n_fraud"] == 0) & (cards["n_labelled"] == cards["n_transactions"])
    card_fraud[known_genuine.to_numpy()] = 0
    card_fraud[(cards["n_fraud"] > 0).to_numpy()] = 1
    cards["card_fraud"] = card_fraud
    cards = cards.sort_values(
        ["max_score", "customer_id"], ascending=[False, True], kind="mergesort"
    ).reset_index(drop=True)
    return cards


def _opt(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _day_stats(
    rows: pd.DataFrame, day: date, alert_budget: int, threshold: float
) -> tuple[DayStats, pd.DataFrame]:
    """Headline stats and budget alerts (top cards) of one day's rows."""
    cards = _card_table(rows)
    alerts = cards.head(alert_budget).copy()
    alerts.insert(0, "rank", np.arange(1, len(alerts) + 1, dtype="int64"))
    alerts = alerts[_ALERT_COLUMNS]

    scores = rows["fraud_score"].to_numpy()
    amounts = rows["tx_amount"].to_numpy()
    labelled = rows["tx_fraud"].notna().to_numpy()
    is_fraud = rows["tx_fraud"].eq(1).fillna(False).to_numpy(dtype=bool)
    has_scores = len(scores) > 0
    q = np.quantile(scores, [0.5, 0.95, 0.99]) if has_scores else [None] * 3

    known = alerts["card_fraud"].dropna()
    alert_labelled = int(alerts["n_labelled"].sum())
    stats = DayStats(
        day=day,
        n_transactions=len(rows),
        n_cards=len(cards),
        n_terminals=int(rows["terminal_id"].nunique(dropna=False)),
        amount=float(amounts.sum()),
        model_versions=tuple(sorted(rows["model_version"].unique())),
        score_mean=float(scores.mean()) if has_scores else None,
        score_median=_opt(q[0]) if has_scores else None,
        score_p95=_opt(q[1]) if has_scores else None,
        score_p99=_opt(q[2]) if has_scores else None,
        n_labelled=int(labelled.sum()),
        n_fraud_labelled=int(is_fraud.sum()),
        fraud_amount_known=float(amounts[is_fraud].sum()) if labelled.any() else None,
        alerts_budget=len(alerts),
        alerted_amount=float(alerts["amount"].sum()),
        expected_precision=float(alerts["max_score"].mean()) if len(alerts) else None,
        realised_precision=float(known.astype("float64").mean()) if len(known) else None,
        n_alerted_cards_labelled=len(known),
        fraud_amount_caught=float(alerts["fraud_amount"].sum()) if alert_labelled else None,
        expected_fraud_amount=float((scores * amounts).sum()),
        expected_fraud_amount_alerted=float(alerts["expected_fraud_amount"].sum()),
        alerts_threshold_tx=int((scores >= threshold).sum()),
        alerts_threshold_cards=int((cards["max_score"] >= threshold).sum()),
    )
    return stats, alerts


def _score_histogram(rows: pd.DataFrame, n_bins: int) -> pd.DataFrame:
    # i / n_bins is the correctly rounded edge (linspace can put 0.3 just above 0.3).
    edges = np.arange(n_bins + 1) / n_bins
    scores = rows["fraud_score"].to_numpy()
    counts, _ = np.histogram(scores, bins=edges)
    fraud = rows["tx_fraud"].eq(1).fillna(False).to_numpy(dtype=bool)
    fraud_counts, _ = np.histogram(scores[fraud], bins=edges)
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


def _top_entities(
    rows: pd.DataFrame, key: str, top_n: int, alerted: set[Any] | None = None
) -> pd.DataFrame:
    """Top ``top_n`` entities by expected fraud amount, then max score, then id."""
    fraud = rows["tx_fraud"].eq(1).fillna(False).astype(bool)
    d = rows.assign(
        _efa=rows["fraud_score"] * rows["tx_amount"],
        _lab=rows["tx_fraud"].notna().to_numpy(),
        _fraud=fraud.to_numpy(),
    )
    table = (
        d.groupby(key, dropna=False, sort=False)
        .agg(
            n_transactions=("fraud_score", "size"),
            amount=("tx_amount", "sum"),
            max_score=("fraud_score", "max"),
            mean_score=("fraud_score", "mean"),
            expected_fraud_amount=("_efa", "sum"),
            n_labelled=("_lab", "sum"),
            n_fraud=("_fraud", "sum"),
        )
        .reset_index()
    )
    for col in ("n_transactions", "n_labelled", "n_fraud"):
        table[col] = table[col].astype("int64")
    table = (
        table.sort_values(
            ["expected_fraud_amount", "max_score", key],
            ascending=[False, False, True],
            kind="mergesort",
        )
        .head(top_n)
        .reset_index(drop=True)
    )
    table = table[[key, *_ENTITY_COLUMNS]]
    if alerted is not None:
        table["alerted"] = table[key].isin(alerted).astype(bool)
    return table


def _trailing_row(stats: DayStats) -> dict[str, Any]:
    return {col: getattr(stats, col) for col in _TRAILING_COLUMNS}


def _trailing_frame(stats: list[DayStats]) -> pd.DataFrame:
    frame = pd.DataFrame([_trailing_row(s) for s in stats], columns=_TRAILING_COLUMNS)
    for col in _TRAILING_COLUMNS[1:]:
        frame[col] = frame[col].astype("int64" if col in _TRAILING_INT_COLUMNS else "float64")
    return frame


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
) -> DailyReport:
    """Build the daily fraud report of UTC ``day`` from a scores frame (other days' rows ignored).

    ``history`` holds the scores of the trailing days (rows outside the 7 days before ``day`` are
    ignored); when ``None`` the trailing days are taken from ``scores`` itself.
    """
    if alert_budget < 0:
        raise ValueError("alert_budget must be >= 0")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must be in [0, 1]")
    if top_n < 1:
        raise ValueError("top_n must be >= 1")
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    day = _as_day(day)
    rows = _prepare(scores, day, day + timedelta(days=1), "scores")
    stats, alerts = _day_stats(rows, day, alert_budget, threshold)

    first = day - timedelta(days=TRAILING_DAYS)
    source = scores if history is None else history
    past = _prepare(source, first, day, "history")
    trailing_stats: list[DayStats] = []
    missing: list[date] = []
    groups = dict(tuple(past.groupby("_day", sort=True))) if len(past) else {}
    for i in range(TRAILING_DAYS):
        d = first + timedelta(days=i)
        if d in groups:
            trailing_stats.append(_day_stats(groups[d], d, alert_budget, threshold)[0])
        else:
            missing.append(d)
    trailing = _trailing_frame(trailing_stats)

    notes: list[str] = []
    if stats.n_transactions == 0:
        notes.append(f"No transactions were scored on {day.isoformat()}.")
    else:
        if stats.n_cards < alert_budget:
            notes.append(
                f"Only {stats.n_cards:,} cards were scored, fewer than the alert budget of "
                f"{alert_budget:,}: every card is alerted."
            )
        if len(stats.model_versions) > 1:
            notes.append(
                "Scores come from more than one model version: "
                + ", ".join(stats.model_versions)
                + "."
            )
        if stats.n_labelled == 0:
            notes.append(
                "No fraud labels are known yet for this day: realised precision and fraud "
                "amount caught are not available (expected values are shown instead)."
            )
        elif stats.realised_precision is None and stats.alerts_budget:
            notes.append(
                "None of the alerted cards has a known label yet: realised precision is not "
                "available."
            )
    if missing:
        notes.append(
            f"No data for {len(missing)} of the trailing {TRAILING_DAYS} days: "
            + ", ".join(d.isoformat() for d in missing)
            + "."
        )

    return DailyReport(
        day=day,
        alert_budget=alert_budget,
        threshold=float(threshold),
        top_n=top_n,
        currency=currency,
        headline=stats,
        score_histogram=_score_histogram(rows, n_bins),
        alerts=alerts.reset_index(drop=True),
        top_terminals=_top_entities(rows, "terminal_id", top_n),
        top_customers=_top_entities(rows, "customer_id", top_n, set(alerts["customer_id"])),
        trailing=trailing,
        comparison=_comparison(stats, trailing),
        missing_days=tuple(missing),
        notes=tuple(notes),
    )


def report_summary_frame(report: DailyReport) -> pd.DataFrame:
    """One flat, warehouse-storable row with the report's headline numbers."""
    s = report.headline
    cmp = report.comparison.set_index("metric")

    def trailing_mean(metric: str) -> float | None:
        return _opt(cmp.loc[metric, "trailing_mean"])

    row: dict[str, Any] = {
        "day": s.day,
        "currency": report.currency,
        "model_versions": ",".join(s.model_versions),
        "alert_budget": report.alert_budget,
        "threshold": report.threshold,
        "n_transactions": s.n_transactions,
        "n_cards": s.n_cards,
        "n_terminals": s.n_terminals,
        "amount": s.amount,
        "score_mean": s.score_mean,
        "score_median": s.score_median,
        "score_p95": s.score_p95,
        "score_p99": s.score_p99,
        "n_labelled": s.n_labelled,
        "n_fraud_labelled": s.n_fraud_labelled,
        "fraud_amount_known": s.fraud_amount_known,
        "alerts_budget": s.alerts_budget,
        "alerted_amount": s.alerted_amount,
        "alerts_threshold_tx": s.alerts_threshold_tx,
        "alerts_threshold_cards": s.alerts_threshold_cards,
        "expected_precision": s.expected_precision,
        "realised_precision": s.realised_precision,
        "n_alerted_cards_labelled": s.n_alerted_cards_labelled,
        "fraud_amount_caught": s.fraud_amount_caught,
        "expected_fraud_amount": s.expected_fraud_amount,
        "expected_fraud_amount_alerted": s.expected_fraud_amount_alerted,
        "trailing_days_with_data": len(report.trailing),
        "trailing_mean_n_transactions": trailing_mean("n_transactions"),
        "trailing_mean_amount": trailing_mean("amount"),
        "trailing_mean_score": trailing_mean("score_mean"),
        "trailing_mean_alerts_threshold_tx": trailing_mean("alerts_threshold_tx"),
        "trailing_mean_realised_precision": trailing_mean("realised_precision"),
    }
    frame = pd.DataFrame([row])
    for col, value in row.items():
        if col == "day":
            continue
        if isinstance(value, str):
            frame[col] = frame[col].astype("string")
        elif isinstance(value, int):
            frame[col] = frame[col].astype("Int64")
        else:
            frame[col] = frame[col].astype("Float64")
    return frame


# --------------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------------

_NA = "n/a"


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _fmt_int(value: Any) -> str:
    return _NA if _missing(value) else f"{int(value):,}"


def _fmt_money(value: Any) -> str:
    return _NA if _missing(value) else f"{float(value):,.2f}"


def _fmt_pct(value: Any) -> str:
    return _NA if _missing(value) else f"{float(value):.1%}"


def _fmt_share(value: Any) -> str:
    if _missing(value):
        return _NA
    return f"{float(value):.2%}" if 0 < float(value) < 0.01 else f"{float(value):.1%}"


def _fmt_score(value: Any) -> str:
    return _NA if _missing(value) else f"{float(value):.4f}"


def _fmt_ratio(value: Any) -> str:
    return _NA if _missing(value) else f"\u00d7{float(value):,.2f}"  # multiplication sign


def _fmt_label(value: Any) -> str:
    if _missing(value):
        return "unknown"
    return "fraud" if int(value) == 1 else "genuine"


def _fmt_text(value: Any) -> str:
    return _NA if _missing(value) else str(value)


def _fmt_bool(value: Any) -> str:
    return "yes" if bool(value) else ""


def _metric_formatter(metric: str, is_mean: bool) -> Callable[[Any], str]:
    if metric == "amount":
        return _fmt_money
    if metric.endswith("precision"):
        return _fmt_pct
    if metric == "score_mean":
        return _fmt_score
    if not is_mean:
        return _fmt_int
    return lambda v: _NA if _missing(v) else f"{float(v):,.1f}"


def _fmt_delta(metric: str, value: Any) -> str:
    if _missing(value):
        return _NA
    if metric.endswith("precision"):
        return f"{float(value) * 100:+.1f} pp"
    if metric == "score_mean":
        return f"{float(value):+.4f}"
    if metric == "amount":
        return f"{float(value):+,.2f}"
    return f"{float(value):+,.1f}"


# A column of a rendered table: (source column, header, formatter, right-aligned).
_Col = tuple[str, str, Callable[[Any], str], bool]


def _alert_cols(currency: str) -> list[_Col]:
    return [
        ("rank", "#", _fmt_int, True),
        ("customer_id", "Card (customer)", _fmt_text, False),
        ("max_score", "Max score", _fmt_score, True),
        ("n_transactions", "Transactions", _fmt_int, True),
        ("amount", f"Amount ({currency})", _fmt_money, True),
        ("expected_fraud_amount", f"Expected fraud ({currency})", _fmt_money, True),
        ("card_fraud", "Label", _fmt_label, False),
    ]


def _entity_cols(key: str, title: str, currency: str, alerted: bool) -> list[_Col]:
    cols: list[_Col] = [
        (key, title, _fmt_text, False),
        ("n_transactions", "Transactions", _fmt_int, True),
        ("amount", f"Amount ({currency})", _fmt_money, True),
        ("max_score", "Max score", _fmt_score, True),
        ("mean_score", "Mean score", _fmt_score, True),
        ("expected_fraud_amount", f"Expected fraud ({currency})", _fmt_money, True),
        ("n_fraud", "Known frauds", _fmt_int, True),
    ]
    if alerted:
        cols.append(("alerted", "Alerted", _fmt_bool, False))
    return cols


def _trend_cols(currency: str) -> list[_Col]:
    return [
        ("day", "Day", lambda d: d.isoformat() if isinstance(d, date) else _fmt_text(d), False),
        ("n_transactions", "Transactions", _fmt_int, True),
        ("amount", f"Amount ({currency})", _fmt_money, True),
        ("score_mean", "Mean score", _fmt_score, True),
        ("alerts_threshold_tx", "Tx ≥ threshold", _fmt_int, True),
        ("alerts_threshold_cards", "Cards ≥ threshold", _fmt_int, True),
        ("expected_precision", "Expected precision", _fmt_pct, True),
        ("realised_precision", "Realised precision", _fmt_pct, True),
        ("n_alerted_cards_labelled", "Alerted cards labelled", _fmt_int, True),
    ]


def _trend_with_day(report: DailyReport) -> pd.DataFrame:
    """Trailing rows followed by the report day's row (the day last, even when empty)."""
    day_row = _trailing_frame([report.headline])
    if report.trailing.empty:
        return day_row
    return pd.concat([report.trailing, day_row], ignore_index=True)


def _comparison_cells(report: DailyReport) -> list[list[str]]:
    cells = []
    for rec in report.comparison.itertuples(index=False):
        cells.append(
            [
                rec.label,
                _metric_formatter(rec.metric, is_mean=False)(rec.day_value),
                _metric_formatter(rec.metric, is_mean=True)(rec.trailing_mean),
                _fmt_int(rec.n_days),
                _fmt_delta(rec.metric, rec.delta),
                _fmt_ratio(rec.ratio),
            ]
        )
    return cells


_COMPARISON_HEADERS = ["Metric", "Day", "7-day mean", "Days in mean", "Delta", "Ratio"]


def _kpis(report: DailyReport) -> list[tuple[str, str, str]]:
    """(title, value, detail) of the headline tiles, as plain (unescaped) text."""
    s, cur = report.headline, report.currency
    if s.realised_precision is None:
        realised_detail = (
            "no alerted card has a known label yet" if s.alerts_budget else "no alerts"
        )
    else:
        realised_detail = (
            f"{s.n_alerted_cards_labelled:,} of {s.alerts_budget:,} alerted cards labelled"
        )
    caught_detail = (
        "labels not known yet"
        if s.fraud_amount_caught is None
        else f"of {_fmt_money(s.fraud_amount_known)} {cur} known fraud"
    )
    return [
        ("Transactions scored", _fmt_int(s.n_transactions), f"{s.n_cards:,} cards"),
        ("Amount scored", f"{_fmt_money(s.amount)} {cur}", f"{s.n_terminals:,} terminals"),
        (
            "Card alerts (budget)",
            _fmt_int(s.alerts_budget),
            f"budget {report.alert_budget:,}; {_fmt_money(s.alerted_amount)} {cur}",
        ),
        (
            f"Alerts at score ≥ {report.threshold:g}",
            f"{s.alerts_threshold_tx:,} tx",
            f"{s.alerts_threshold_cards:,} cards",
        ),
        ("Expected precision", _fmt_pct(s.expected_precision), "mean score of alerted cards"),
        ("Realised precision", _fmt_pct(s.realised_precision), realised_detail),
        (
            "Fraud amount caught",
            _NA if s.fraud_amount_caught is None else f"{_fmt_money(s.fraud_amount_caught)} {cur}",
            caught_detail,
        ),
        (
            "Expected fraud amount",
            f"{_fmt_money(s.expected_fraud_amount)} {cur}",
            f"{_fmt_money(s.expected_fraud_amount_alerted)} {cur} on alerted cards",
        ),
    ]


def _score_line(report: DailyReport) -> str:
    s = report.headline
    return (
        f"mean {_fmt_score(s.score_mean)}, median {_fmt_score(s.score_median)}, "
        f"p95 {_fmt_score(s.score_p95)}, p99 {_fmt_score(s.score_p99)}"
    )


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------

_MD_SPECIALS = str.maketrans({c: "\\" + c for c in "\\`*_[]|"})


def _md(text: str) -> str:
    """Escape text for a Markdown table cell (HTML-escaped, Markdown specials backslashed)."""
    flat = " ".join(str(text).split())
    return html.escape(flat, quote=False).translate(_MD_SPECIALS)


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    lines = ["| " + " | ".join(_md(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---:" if r else ":---" for r in right) + "|")
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_frame(frame: pd.DataFrame, cols: list[_Col]) -> str:
    rows = [[fmt(rec[c]) for c, _, fmt, _ in cols] for rec in frame.to_dict("records")]
    return _md_table([h for _, h, _, _ in cols], rows, [r for *_, r in cols])


def render_markdown(report: DailyReport) -> str:
    """Render the report as a Markdown document (tables limited to ``top_n`` rows)."""
    s, cur, n = report.headline, report.currency, report.top_n
    out = [f"# Daily fraud report: {report.day.isoformat()} (UTC)", ""]
    versions = ", ".join(s.model_versions) or _NA
    out.append(
        f"Model version(s): {_md(versions)}. Alert budget: {report.alert_budget:,} cards. "
        f"Threshold: {report.threshold:g}. Amounts in {_md(cur)}."
    )
    out.append("")
    if report.notes:
        out += ["**Notes**", ""]
        out += [f"- {_md(note)}" for note in report.notes]
        out.append("")
    out += ["## Headline", ""]
    out.append(_md_table(["Metric", "Value", "Detail"], _kpis(report), [False, True, False]))
    out += ["", "## Score distribution", ""]
    if report.is_empty:
        out.append("No scores on this day.")
    else:
        out.append(f"Scores: {_score_line(report)}.")
        out.append("")
        hist = report.score_histogram[report.score_histogram["count"] > 0]
        rows = [
            [
                f"{r.bin_left:.2f} to {r.bin_right:.2f}",
                _fmt_int(r.count),
                _fmt_share(r.share),
                _fmt_int(r.n_fraud_labelled),
            ]
            for r in hist.itertuples(index=False)
        ]
        out.append(
            _md_table(
                ["Score bin (lower edge included)", "Transactions", "Share", "Known frauds"],
                rows,
                [False, True, True, True],
            )
        )
    out += ["", f"## Alerts at the budget ({report.alert_budget:,} cards)", ""]
    if report.alerts.empty:
        out.append("No alerts.")
    else:
        out.append(
            f"Showing {min(n, len(report.alerts)):,} of {len(report.alerts):,} alerted cards."
        )
        out.append("")
        out.append(_md_frame(report.alerts.head(n), _alert_cols(cur)))
    out += ["", f"## Top {n} terminals by expected fraud amount", ""]
    if report.top_terminals.empty:
        out.append("No terminals.")
    else:
        out.append(
            _md_frame(report.top_terminals, _entity_cols("terminal_id", "Terminal", cur, False))
        )
    out += ["", f"## Top {n} customers by expected fraud amount", ""]
    if report.top_customers.empty:
        out.append("No customers.")
    else:
        out.append(
            _md_frame(report.top_customers, _entity_cols("customer_id", "Customer", cur, True))
        )
    out += ["", f"## Trailing {TRAILING_DAYS} days", ""]
    out.append(_md_frame(_trend_with_day(report), _trend_cols(cur)))
    out.append("")
    if report.missing_days:
        out.append(
            "Days with no data (omitted): "
            + ", ".join(d.isoformat() for d in report.missing_days)
            + "."
        )
        out.append("")
    out.append(_md_table(_COMPARISON_HEADERS, _comparison_cells(report), [False] + [True] * 5))
    out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: #1f2933; background: #f5f7fa; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 32px 0 8px; border-bottom: 2px solid #d9e2ec; padding-bottom: 4px; }
.sub { color: #52606d; margin: 0 0 16px; }
.notes { background: #fff8e1; border-left: 4px solid #f0b429; padding: 8px 16px; margin: 16px 0; }
.notes li { margin: 4px 0; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 12px; }
.kpi { background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 3px #0002; }
.kpi .t { color: #52606d; font-size: 0.85rem; }
.kpi .v { font-size: 1.5rem; font-weight: 600; margin: 4px 0; font-variant-numeric: tabular-nums; }
.kpi .d { color: #7b8794; font-size: 0.8rem; }
table { border-collapse: collapse; background: #fff; width: 100%; margin: 8px 0;
  font-size: 0.9rem; box-shadow: 0 1px 3px #0002; }
th, td { padding: 6px 10px; border-bottom: 1px solid #e4e7eb; text-align: left; }
th { background: #f0f4f8; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.today td { font-weight: 600; background: #e3f2fd; }
.chart { background: #fff; border-radius: 8px; padding: 8px; box-shadow: 0 1px 3px #0002; }
.chart img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
.muted { color: #7b8794; }
footer { color: #7b8794; font-size: 0.8rem; margin-top: 32px; }
@media print { body { background: #fff; } .kpi, table, .chart { box-shadow: none; } }
"""


def _h(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _html_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Sequence[bool],
    highlight_last: bool = False,
) -> str:
    def cls(r: bool) -> str:
        return ' class="num"' if r else ""

    head = "".join(f"<th{cls(r)}>{_h(h)}</th>" for h, r in zip(headers, right, strict=True))
    body = []
    for i, row in enumerate(rows):
        tr = '<tr class="today">' if highlight_last and i == len(rows) - 1 else "<tr>"
        cells = "".join(f"<td{cls(r)}>{_h(c)}</td>" for c, r in zip(row, right, strict=True))
        body.append(f"{tr}{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _html_frame(frame: pd.DataFrame, cols: list[_Col], highlight_last: bool = False) -> str:
    rows = [[fmt(rec[c]) for c, _, fmt, _ in cols] for rec in frame.to_dict("records")]
    return _html_table(
        [h for _, h, _, _ in cols], rows, [r for *_, r in cols], highlight_last=highlight_last
    )


def _png_base64(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(fig: Figure, alt: str) -> str:
    return (
        f'<div class="chart"><img alt="{_h(alt)}" '
        f'src="data:image/png;base64,{_png_base64(fig)}"></div>'
    )


def _short(value: Any, width: int = 24) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _histogram_chart(report: DailyReport) -> Figure:
    from matplotlib.figure import Figure

    hist = report.score_histogram
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    widths = hist["bin_right"] - hist["bin_left"]
    ax.bar(
        hist["bin_left"],
        hist["count"],
        width=widths,
        align="edge",
        color="#4c78a8",
        edgecolor="white",
        label="all scored transactions",
    )
    if hist["n_fraud_labelled"].sum() > 0:
        ax.bar(
            hist["bin_left"],
            hist["n_fraud_labelled"],
            width=widths,
            align="edge",
            color="#e45756",
            edgecolor="white",
            label="known fraud",
        )
    ax.set_yscale("log", nonpositive="clip")
    ax.set_ylim(bottom=0.8)
    ax.axvline(report.threshold, color="#333", linestyle="--", linewidth=1)
    ax.text(
        report.threshold,
        1.0,
        f" threshold {report.threshold:g}",
        transform=ax.get_xaxis_transform(),
        va="top",
        ha="left",
        fontsize=8,
        parse_math=False,
    )
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraud score")
    ax.set_ylabel("transactions (log scale)")
    ax.set_title(f"Score distribution, {report.day.isoformat()}", loc="left", fontsize=10)
    ax.legend(fontsize=8, loc="upper right", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def _trend_chart(report: DailyReport) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    trend = _trend_with_day(report).set_index("day")
    days = [report.day - timedelta(days=TRAILING_DAYS - i) for i in range(TRAILING_DAYS + 1)]
    x = np.arange(len(days))
    present = [d in trend.index for d in days]
    n_tx = [
        float(trend.loc[d, "n_transactions"]) if p else 0.0
        for d, p in zip(days, present, strict=True)
    ]
    alerts = [
        float(trend.loc[d, "alerts_threshold_cards"]) if p else np.nan
        for d, p in zip(days, present, strict=True)
    ]
    colors = ["#4c78a8"] * TRAILING_DAYS + ["#f58518"]
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    ax.bar(x, n_tx, color=colors, label="transactions scored")
    top = max(n_tx) if max(n_tx) > 0 else 1.0
    for xi, p in zip(x, present, strict=True):
        if not p:
            ax.text(
                xi,
                top * 0.02,
                "no data",
                ha="center",
                va="bottom",
                fontsize=8,
                color="#7b8794",
                rotation=90,
                parse_math=False,
            )
    ax.set_ylim(0, top * 1.15)
    ax.set_ylabel("transactions")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xticks(x, [d.strftime("%a %d %b") for d in days], fontsize=8)
    ax2 = ax.twinx()
    ax2.plot(x, alerts, color="#e45756", marker="o", label=f"cards ≥ {report.threshold:g}")
    ax2.set_ylabel("cards at threshold", color="#e45756")
    ax2.set_ylim(0, max(np.nanmax(alerts), 1.0) * 1.25 if any(present) else 1.0)
    ax2.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax.legend(
        handles,
        labels,
        fontsize=8,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=2,
        frameon=False,
    )
    ax.set_title(
        f"Trailing {TRAILING_DAYS} days and the report day (orange)", loc="left", fontsize=10
    )
    ax.grid(axis="y", alpha=0.3)
    return fig


def _alerts_chart(report: DailyReport) -> Figure:
    from matplotlib.figure import Figure

    top = report.alerts.head(report.top_n)
    palette = {1: "#e45756", 0: "#9aa5b1"}
    colors = ["#4c78a8" if _missing(v) else palette[int(v)] for v in top["card_fraud"].tolist()]
    fig = Figure(figsize=(9, 0.5 + 0.32 * max(len(top), 3)))
    ax = fig.add_subplot()
    y = np.arange(len(top))
    ax.barh(y, top["max_score"], color=colors)
    # Ids are data: escape "$" so matplotlib never parses them as mathtext.
    ids = [_short(c).replace("$", r"\$") for c in top["customer_id"].tolist()]
    ax.set_yticks(y, ids, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.axvline(report.threshold, color="#333", linestyle="--", linewidth=1)
    ax.set_xlabel("card score (max of the day's transaction scores)")
    ax.set_title(
        f"Top {len(top)} alerted cards (red: fraud, grey: genuine, blue: label unknown)",
        loc="left",
        fontsize=10,
    )
    ax.grid(axis="x", alpha=0.3)
    return fig


def render_html(report: DailyReport) -> str:
    """Render the report as one self-contained HTML page (inline CSS, base64 PNG charts)."""
    s, cur, n = report.headline, report.currency, report.top_n
    day = report.day.isoformat()
    versions = ", ".join(s.model_versions) or _NA
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Daily fraud report {_h(day)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>Daily fraud report: {_h(day)} (UTC)</h1>",
        f'<p class="sub">Model version(s): {_h(versions)} &middot; alert budget '
        f"{report.alert_budget:,} cards &middot; threshold {report.threshold:g} &middot; "
        f"amounts in {_h(cur)}</p>",
    ]
    if report.notes:
        items = "".join(f"<li>{_h(note)}</li>" for note in report.notes)
        parts.append(f'<div class="notes"><ul>{items}</ul></div>')

    tiles = "".join(
        f'<div class="kpi"><div class="t">{_h(t)}</div><div class="v">{_h(v)}</div>'
        f'<div class="d">{_h(d)}</div></div>'
        for t, v, d in _kpis(report)
    )
    parts.append(f'<div class="kpis">{tiles}</div>')

    parts.append("<h2>Score distribution</h2>")
    if report.is_empty:
        parts.append('<p class="muted">No scores on this day.</p>')
    else:
        parts.append(f"<p>Scores: {_h(_score_line(report))}.</p>")
        parts.append(_img(_histogram_chart(report), "Histogram of fraud scores, log scale"))

    parts.append(f"<h2>Alerts at the budget ({report.alert_budget:,} cards)</h2>")
    if report.alerts.empty:
        parts.append('<p class="muted">No alerts.</p>')
    else:
        shown = min(n, len(report.alerts))
        parts.append(
            f"<p>Cards ranked by their highest transaction score of the day; showing {shown:,} "
            f"of {len(report.alerts):,} alerted cards. Expected precision "
            f"{_h(_fmt_pct(s.expected_precision))}, realised precision "
            f"{_h(_fmt_pct(s.realised_precision))} ({s.n_alerted_cards_labelled:,} alerted "
            f"cards with a known label).</p>"
        )
        parts.append(_img(_alerts_chart(report), "Scores of the top alerted cards"))
        parts.append(_html_frame(report.alerts.head(n), _alert_cols(cur)))

    parts.append(f"<h2>Top {n} terminals by expected fraud amount</h2>")
    if report.top_terminals.empty:
        parts.append('<p class="muted">No terminals.</p>')
    else:
        parts.append(
            _html_frame(report.top_terminals, _entity_cols("terminal_id", "Terminal", cur, False))
        )
    parts.append(f"<h2>Top {n} customers by expected fraud amount</h2>")
    if report.top_customers.empty:
        parts.append('<p class="muted">No customers.</p>')
    else:
        parts.append(
            _html_frame(report.top_customers, _entity_cols("customer_id", "Customer", cur, True))
        )

    parts.append(f"<h2>Trailing {TRAILING_DAYS} days</h2>")
    parts.append(_img(_trend_chart(report), "Transactions and threshold alerts per day"))
    parts.append(_html_frame(_trend_with_day(report), _trend_cols(cur), highlight_last=True))
    if report.missing_days:
        parts.append(
            '<p class="muted">Days with no data (omitted): '
            + _h(", ".join(d.isoformat() for d in report.missing_days))
            + ".</p>"
        )
    parts.append(_html_table(_COMPARISON_HEADERS, _comparison_cells(report), [False] + [True] * 5))
    parts.append(
        "<footer>Scores are calibrated fraud probabilities; expected values are sums of "
        "score &times; amount. A card is one customer; its score is the maximum of its "
        "transactions' scores that day. Realised figures use only labels known at report "
        "time.</footer>"
    )
    parts.append("</main></body></html>")
    return "\n".join(parts)
