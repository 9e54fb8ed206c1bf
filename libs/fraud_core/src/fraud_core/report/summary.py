"""The report's headline numbers as one flat, typed row for the warehouse."""

from __future__ import annotations

from typing import Any

import pandas as pd

from fraud_core.report.compute import DailyReport, optional_float

__all__ = ["report_summary_frame"]


def _summary_row(report: DailyReport) -> dict[str, Any]:
    s = report.headline
    cmp = report.comparison.set_index("metric")

    def trailing_mean(metric: str) -> float | None:
        return optional_float(cmp.loc[metric, "trailing_mean"])

    return {
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


def report_summary_frame(report: DailyReport) -> pd.DataFrame:
    """One flat, warehouse-storable row with the report's headline numbers."""
    row = _summary_row(report)
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
