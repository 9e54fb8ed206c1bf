"""The model card: what a trained model is, what it learnt from, how it validated, the gate's verdict.

A card is built from what training already computed, never recomputed: the scores of the labelled
validation rows the promotion gate used (:func:`fraud_core.training.validate_by_chunk`), the
model's metadata (windows, label counts, sampling, device), the hash of the training sample
(:func:`fraud_core.training.sample_hash`) and the gate's decision. It holds two curves of the
validation window:

* the precision-recall curve, one point per score threshold, thinned to at most
  :data:`PR_CURVE_POINTS` points spread evenly over recall (each the best precision reaching
  that recall, and the curve's two ends);
* the handbook's card precision@k (:func:`fraud_core.evaluation.card_precision_at_k`: per day the
  top k cards by their highest score, cards detected on an earlier day dropped, averaged over the
  days) for every k from 1 to the alert budget: its last point is the gate's ``card_precision@k``.

:func:`render_model_card_html` renders it as one self-contained page (base64 PNG figures), stored
next to the model in its version (``fraud_storage.models``); :func:`model_card_markdown` and the
``*_markdown`` tables are the short forms for an orchestrator's metadata.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fraud_core.columns import CUSTOMER_ID, FRAUD_SCORE, TX_DATETIME, TX_FRAUD
from fraud_core.model.metadata import ModelMetadata
from fraud_core.promotion import PromotionDecision
from fraud_core.report.charts import png_base64
from fraud_core.report.formatting import NA, fmt_int, fmt_score, fmt_share
from fraud_core.report.html import BASE_CSS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fraud_core.model.classifier import FraudModel
    from fraud_core.training import TrainingWindows, Validation

__all__ = [
    "PR_CURVE_POINTS",
    "ModelCard",
    "ValidationCounts",
    "build_model_card",
    "card_precision_curve",
    "importances_markdown",
    "model_card_markdown",
    "pr_curve_markdown",
    "precision_at_k_markdown",
    "precision_recall_points",
    "render_model_card_html",
]

PR_CURVE_POINTS = 200
"""At most this many points of the precision-recall curve are kept."""
TABLE_POINTS = 12
"""Rows of the card precision@k Markdown table."""
RECALL_LEVELS = 11
"""Rows of the PR curve's Markdown table: recall 0, 0.1, .., 1."""
TOP_FEATURES = 10
"""Features in the Markdown importances table (the HTML card lists them all)."""

_PR_COLUMNS = ["recall", "precision", "threshold"]
_K_COLUMNS = ["k", "card_precision"]
_METRICS = ("average_precision", "roc_auc")


# --- the card -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationCounts:
    """What the validation window held: labelled rows, frauds, cards and days."""

    rows: int
    frauds: int
    cards: int
    fraud_cards: int
    days: int

    @classmethod
    def of(cls, scored: pd.DataFrame) -> ValidationCounts:
        """The counts of the scored labelled validation rows."""
        fraud = scored[TX_FRAUD].to_numpy(dtype=np.float64, na_value=0.0) == 1.0
        has_cards = CUSTOMER_ID in scored.columns
        customers = scored[CUSTOMER_ID] if has_cards else pd.Series([], dtype="int64")
        days = scored[TX_DATETIME].dt.floor("D").nunique() if TX_DATETIME in scored else 0
        return cls(
            rows=len(scored),
            frauds=int(fraud.sum()),
            cards=int(customers.nunique()),
            fraud_cards=int(customers[fraud].nunique()) if has_cards else 0,
            days=int(days),
        )


@dataclass(frozen=True, eq=False)
class ModelCard:
    """A trained model's card: its facts, validation metrics and curves, and the gate's verdict."""

    version: str
    metadata: ModelMetadata
    train_window: str
    validation_window: str
    data_hash: str
    """SHA-256 of the training sample's transaction ids and labels (order-independent)."""
    metrics: dict[str, float]
    validation: ValidationCounts
    importances: pd.Series
    """Global feature importances (sum 100), highest first."""
    pr_curve: pd.DataFrame
    """``recall, precision, threshold``, recall ascending."""
    precision_at_k: pd.DataFrame
    """``k, card_precision`` for k = 1 .. the alert budget."""
    decision: PromotionDecision
    alert_budget: int
    policy: dict[str, float | str]
    current_version: str | None = None

    @property
    def card_precision_name(self) -> str:
        """The name of the gate's card precision metric, e.g. ``card_precision@100``."""
        return f"card_precision@{self.alert_budget}"

    def headline(self) -> list[tuple[str, str]]:
        """The validation's headline numbers, (name, formatted value)."""
        m = self.metrics
        return [
            ("average precision", fmt_score(m.get("average_precision"))),
            ("ROC AUC", fmt_score(m.get("roc_auc"))),
            (f"card precision@{self.alert_budget}", fmt_share(m.get(self.card_precision_name))),
            ("validation frauds", f"{self.validation.frauds:,} of {self.validation.rows:,}"),
        ]

    def training_facts(self) -> list[tuple[str, str]]:
        """Windows, label counts, sampling and data hashes, (name, formatted value)."""
        meta = self.metadata
        before = meta.n_labelled_before_sampling
        rate = meta.genuine_sample_rate
        sampling = (
            "none (every labelled row)"
            if rate is None or rate >= 1.0
            else f"every fraud; genuine at rate {rate:g}, weighted {1 / rate:g}, seed "
            f"{meta.sample_seed}"
        )
        return [
            ("training window", self.train_window),
            ("validation window", self.validation_window),
            ("pipeline shape", meta.pipeline_shape or NA),
            ("rows read", fmt_int(meta.n_rows)),
            ("unlabelled (excluded)", fmt_int(meta.n_unlabelled_excluded)),
            ("labelled", fmt_int(before if before is not None else meta.n_labelled)),
            ("frauds (all kept)", fmt_int(meta.n_fraud)),
            ("genuine trained on", fmt_int(meta.n_labelled - meta.n_fraud)),
            ("sampling", sampling),
            ("data hash (sample ids and labels)", self.data_hash),
            ("features hash (trained rows)", meta.data_hash),
            ("validation", self._validation_line()),
        ]

    def model_facts(self) -> list[tuple[str, str]]:
        """Device, training time and the CatBoost parameters, (name, formatted value)."""
        meta = self.metadata
        device = (
            meta.device
            if meta.device == meta.device_requested
            else (f"{meta.device} (requested {meta.device_requested})")
        )
        if meta.gpu_fallback_reason:
            device += f"; GPU failed: {meta.gpu_fallback_reason}"
        params = meta.params
        return [
            ("version", self.version),
            ("created", meta.created_at),
            ("device", device),
            ("training time", f"{meta.training_seconds:,.1f} s"),
            ("trees", str(params.get("iterations", NA))),
            ("depth", str(params.get("depth", NA))),
            ("learning rate", str(params.get("learning_rate", NA))),
            ("features", str(len(meta.features))),
            ("CatBoost", meta.catboost_version),
            ("fraud-core", meta.fraud_core_version),
        ]

    def gate_rows(self) -> list[tuple[str, str, str]]:
        """The gate's metrics: (metric, candidate, current model)."""
        current = self.decision.current or {}
        names = [*_METRICS, self.card_precision_name]
        return [
            (name, fmt_score(self.metrics.get(name)), fmt_score(current.get(name)))
            for name in names
        ]

    def verdict(self) -> str:
        """``promoted`` or ``not promoted``, and the gate's reason."""
        word = "promoted" if self.decision.promote else "not promoted"
        return f"{word}: {self.decision.reason}"

    def _validation_line(self) -> str:
        v = self.validation
        return (
            f"{v.rows:,} labelled rows over {v.days} days, {v.frauds:,} frauds "
            f"({fmt_share(v.frauds / v.rows if v.rows else None)}), {v.fraud_cards:,} of "
            f"{v.cards:,} cards with a fraud (never sampled)"
        )


def build_model_card(
    model: FraudModel,
    validation: Validation,
    decision: PromotionDecision,
    *,
    windows: TrainingWindows,
    data_hash: str,
    alert_budget: int = 100,
    policy: Mapping[str, float | str] | None = None,
    current_version: str | None = None,
) -> ModelCard:
    """The card of ``model``, validated as ``validation`` and judged by the gate as ``decision``."""
    scored = validation.scored
    labels = scored[TX_FRAUD].to_numpy(dtype=np.float64, na_value=np.nan)
    scores = scored[FRAUD_SCORE].to_numpy(dtype=np.float64)
    importances = model.feature_importances().sort_values(ascending=False, kind="mergesort")
    return ModelCard(
        version=model.metadata.model_id,
        metadata=model.metadata,
        train_window=windows.describe_train(),
        validation_window=windows.describe_validation(),
        data_hash=data_hash,
        metrics=dict(validation.metrics),
        validation=ValidationCounts.of(scored),
        importances=importances,
        pr_curve=precision_recall_points(labels, scores),
        precision_at_k=card_precision_curve(scored, alert_budget),
        decision=decision,
        alert_budget=alert_budget,
        policy=dict(policy or {}),
        current_version=current_version,
    )


# --- the curves ---------------------------------------------------------------------------------


def precision_recall_points(
    labels: Any, scores: Any, max_points: int = PR_CURVE_POINTS
) -> pd.DataFrame:
    """Precision and recall at each score threshold, recall ascending, at most ``max_points``."""
    from sklearn.metrics import precision_recall_curve

    if max_points < 3:
        raise ValueError(f"max_points must be >= 3, got {max_points}")
    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    known = ~np.isnan(y)
    y, s = y[known], s[known]
    if not (y == 1.0).any():  # recall is undefined without a fraud
        return pd.DataFrame({c: pd.Series([], dtype="float64") for c in _PR_COLUMNS})
    precision, recall, thresholds = precision_recall_curve(y.astype(np.int8), s)
    # sklearn's order is recall descending; its last point (recall 0) has no threshold
    curve = pd.DataFrame(
        {
            "recall": recall[::-1],
            "precision": precision[::-1],
            "threshold": np.append(thresholds, np.nan)[::-1],
        }
    )
    if len(curve) <= max_points:
        return curve
    targets = np.linspace(0.0, 1.0, max_points - 1)
    picked = np.searchsorted(curve["recall"].to_numpy(), targets, side="left")
    keep = np.unique(np.concatenate([[0, len(curve) - 1], np.minimum(picked, len(curve) - 1)]))
    return curve.iloc[keep].reset_index(drop=True)


def card_precision_curve(
    scored: pd.DataFrame, k_max: int, *, score_column: str = FRAUD_SCORE
) -> pd.DataFrame:
    """The handbook's card precision@k (mean over the days) for every k from 1 to ``k_max``."""
    if k_max < 1:
        raise ValueError(f"k_max must be >= 1, got {k_max}")
    if scored.empty or not {CUSTOMER_ID, TX_DATETIME} <= set(scored.columns):
        return pd.DataFrame({"k": pd.Series([], dtype="int64"), "card_precision": []})
    frame = pd.DataFrame(
        {
            "day": scored[TX_DATETIME].dt.floor("D").to_numpy(),
            "customer": scored[CUSTOMER_ID].to_numpy(),
            "label": scored[TX_FRAUD].to_numpy(dtype=np.int64),
            "score": scored[score_column].to_numpy(dtype=np.float64),
        }
    )
    ranked_days = []
    for _, day_frame in frame.groupby("day", sort=True):
        # as the handbook: one row per card (max score, max label), cards in ascending order,
        # then a stable sort by score, so ties keep the card order
        cards = day_frame.groupby("customer", sort=True)[["score", "label"]].max()
        top = cards.sort_values("score", ascending=False, kind="mergesort")
        ranked_days.append((top.index.to_numpy(), top["label"].to_numpy() == 1))
    ks = np.arange(1, k_max + 1)
    precision = [_mean_card_precision(ranked_days, int(k)) for k in ks]
    return pd.DataFrame({"k": ks, "card_precision": precision})


def _mean_card_precision(ranked_days: Sequence[tuple[np.ndarray, np.ndarray]], k: int) -> float:
    """Card precision@k averaged over the days; a card detected on a day is dropped after it."""
    detected: set[Any] = set()
    daily = []
    for cards, fraud in ranked_days:
        # at most len(detected) of the first k + len(detected) cards were detected before
        head = slice(0, k + len(detected))
        head_cards, head_fraud = cards[head], fraud[head]
        if detected:
            fresh = np.fromiter((c not in detected for c in head_cards), bool, len(head_cards))
            head_cards, head_fraud = head_cards[fresh], head_fraud[fresh]
        hits = head_cards[:k][head_fraud[:k]]
        detected.update(hits.tolist())
        daily.append(len(hits) / k)
    return float(np.mean(daily))


# --- Markdown -----------------------------------------------------------------------------------


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    align = ["---:" if r else "---" for r in right]
    lines = [f"| {' | '.join(headers)} |", f"| {' | '.join(align)} |"]
    lines += [f"| {' | '.join(_md_cell(c) for c in row)} |" for row in rows]
    return "\n".join(lines)


def _md_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def importances_markdown(card: ModelCard, top: int = TOP_FEATURES) -> str:
    """The ``top`` features by global importance as a Markdown table."""
    rows = [
        (str(i), str(name), f"{value:.2f}")
        for i, (name, value) in enumerate(card.importances.head(top).items(), start=1)
    ]
    return _md_table(["#", "feature", "importance (sum 100)"], rows, [True, False, True])


def pr_curve_markdown(card: ModelCard, points: int = RECALL_LEVELS) -> str:
    """The PR curve at ``points`` recall levels as a Markdown table (best precision reaching each)."""
    curve = card.pr_curve
    if curve.empty:
        return "_no precision-recall curve: no fraud in the validation window_"
    recall = curve["recall"].to_numpy()
    rows = []
    for target in np.linspace(0.0, 1.0, points):
        at = min(int(np.searchsorted(recall, target - 1e-12, side="left")), len(curve) - 1)
        row = curve.iloc[at]
        rows.append((f"{target:.2f}", fmt_score(row["precision"]), fmt_score(row["threshold"])))
    return _md_table(["recall ≥", "precision", "score threshold"], rows, [True, True, True])


def precision_at_k_markdown(card: ModelCard, points: int = TABLE_POINTS) -> str:
    """Card precision@k at ``points`` values of k as a Markdown table."""
    curve = card.precision_at_k
    if curve.empty:
        return "_no card precision@k: the validation rows carry no cards or times_"
    ks = np.unique(np.round(np.linspace(1, len(curve), min(points, len(curve)))).astype(int))
    rows = [(str(k), fmt_share(curve["card_precision"].iloc[k - 1])) for k in ks]
    return _md_table(["k (cards a day)", "card precision@k"], rows, [True, True])


def model_card_markdown(card: ModelCard) -> str:
    """The card in short: headline numbers, the gate's verdict, training facts, top features."""
    facts = dict(card.training_facts())
    lines = [
        f"**Model {card.version}**: {card.verdict()}",
        "",
        _md_table(["validation", "value"], card.headline(), [False, True]),
        "",
        f"Trained on {facts['training window']} ({facts['labelled']} labelled, "
        f"{facts['frauds (all kept)']} frauds; sampling: {facts['sampling']}) on "
        f"{card.metadata.device.upper()}; validated on {card.validation_window}. "
        f"Data hash `{card.data_hash[:16]}`.",
        "",
        importances_markdown(card, top=5),
    ]
    return "\n".join(lines)


# --- HTML ---------------------------------------------------------------------------------------

_CSS = (
    BASE_CSS
    + """
.verdict { padding: 8px 16px; margin: 16px 0; border-left: 4px solid; background: #fff; }
.verdict.yes { border-color: #3ebd93; } .verdict.no { border-color: #e45756; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; }
.kpi { background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 3px #0002; }
.kpi .t { color: #52606d; font-size: 0.85rem; }
.kpi .v { font-size: 1.5rem; font-weight: 600; margin: 4px 0; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; background: #fff; width: 100%; margin: 8px 0;
  font-size: 0.9rem; box-shadow: 0 1px 3px #0002; }
th, td { padding: 6px 10px; border-bottom: 1px solid #e4e7eb; text-align: left; }
th { background: #f0f4f8; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td code { font-size: 0.8rem; word-break: break-all; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 12px; }
.chart { background: #fff; border-radius: 8px; padding: 8px; box-shadow: 0 1px 3px #0002; }
.chart img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
.muted { color: #7b8794; }
"""
)


def _h(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _html_table(
    headers: Sequence[str] | None, rows: Sequence[Sequence[str]], right: Sequence[bool]
) -> str:
    def cell(tag: str, value: str, r: bool) -> str:
        attribute = ' class="num"' if r else ""
        return f"<{tag}{attribute}>{_h(value)}</{tag}>"

    head = (
        ""
        if headers is None
        else "<thead><tr>"
        + "".join(cell("th", h, r) for h, r in zip(headers, right, strict=True))
        + "</tr></thead>"
    )
    body = "".join(
        "<tr>" + "".join(cell("td", c, r) for c, r in zip(row, right, strict=True)) + "</tr>"
        for row in rows
    )
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _facts_table(facts: Sequence[tuple[str, str]]) -> str:
    return _html_table(None, facts, [False, False])


def _img(draw: Callable[[ModelCard], Figure], card: ModelCard, alt: str) -> str:
    return (
        f'<div class="chart"><img alt="{_h(alt)}" '
        f'src="data:image/png;base64,{png_base64(draw(card))}"></div>'
    )


def pr_chart(card: ModelCard) -> Figure:
    """The validation PR curve, the fraud rate (a random ranking) dashed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4))
    ax = fig.add_subplot()
    curve = card.pr_curve
    if not curve.empty:
        ax.plot(curve["recall"], curve["precision"], color="#4c78a8", drawstyle="steps-post")
    v = card.validation
    if v.rows:
        ax.axhline(v.frauds / v.rows, color="#9aa5b1", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall (share of validation frauds above the threshold)")
    ax.set_ylabel("precision")
    ap = card.metrics.get("average_precision")
    ax.set_title(f"Precision-recall, validation (AP {fmt_score(ap)})", loc="left", fontsize=10)
    ax.grid(alpha=0.3)
    return fig


def precision_at_k_chart(card: ModelCard) -> Figure:
    """Card precision@k for k = 1 .. the alert budget."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4))
    ax = fig.add_subplot()
    curve = card.precision_at_k
    if not curve.empty:
        ax.plot(curve["k"], curve["card_precision"], color="#f58518")
        ax.set_xlim(1, max(int(curve["k"].iloc[-1]), 2))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("k (cards reviewed a day, highest score first)")
    ax.set_ylabel("card precision@k (mean over days)")
    ax.set_title("Card precision@k, validation", loc="left", fontsize=10)
    ax.grid(alpha=0.3)
    return fig


def importances_chart(card: ModelCard, top: int = 20) -> Figure:
    """Horizontal bars of the ``top`` features' global importances."""
    from matplotlib.figure import Figure

    shown = card.importances.head(top)
    fig = Figure(figsize=(9, 0.6 + 0.3 * max(len(shown), 3)))
    ax = fig.add_subplot()
    y = np.arange(len(shown))
    ax.barh(y, shown.to_numpy(), color="#4c78a8")
    ax.set_yticks(y, [str(n).replace("$", r"\$") for n in shown.index], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("importance (PredictionValuesChange, sums to 100)")
    ax.set_title(f"Top {len(shown)} features", loc="left", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def render_model_card_html(card: ModelCard) -> str:
    """The card as one self-contained HTML page (inline CSS, base64 PNG figures)."""
    kpis = "".join(
        f'<div class="kpi"><div class="t">{_h(t)}</div><div class="v">{_h(v)}</div></div>'
        for t, v in card.headline()
    )
    verdict = "yes" if card.decision.promote else "no"
    current = card.current_version or "none"
    importances = [
        (str(i), str(name), f"{value:.2f}")
        for i, (name, value) in enumerate(card.importances.items(), start=1)
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Model card {_h(card.version)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>Model card: {_h(card.version)}</h1>",
        f'<p class="sub">Fraud classifier (CatBoost) trained on {_h(card.train_window)}, '
        f"validated on {_h(card.validation_window)}; alert budget {card.alert_budget:,} cards "
        "a day.</p>",
        f'<div class="verdict {verdict}"><strong>Promotion gate: {_h(card.verdict())}</strong>'
        f'<br><span class="muted">compared with the promoted model: {_h(current)}</span></div>',
        f'<div class="kpis">{kpis}</div>',
        "<h2>Validation curves</h2>",
        '<div class="charts">',
        _img(pr_chart, card, "Precision-recall curve on the validation window"),
        _img(precision_at_k_chart, card, "Card precision at k on the validation window"),
        "</div>",
        "<h2>Promotion gate</h2>",
        _html_table(
            ["metric", "candidate", f"promoted model ({current})"],
            card.gate_rows(),
            [False, True, True],
        ),
        _html_table(
            ["gate policy", "value"],
            [(k, str(v)) for k, v in card.policy.items()],
            [False, True],
        )
        if card.policy
        else "",
        "<h2>Feature importances</h2>",
        _img(importances_chart, card, "Global feature importances"),
        _html_table(["#", "feature", "importance"], importances, [True, False, True]),
        "<h2>Training data</h2>",
        _facts_table(card.training_facts()),
        "<h2>Model</h2>",
        _facts_table(card.model_facts()),
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p)
