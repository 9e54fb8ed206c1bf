"""Daily fraud report: headline numbers, alerts, top risks and a 7-day trend, from a scores frame.

Input contract (what the pipeline's ``fraud_scores`` asset holds), one row per scored transaction:
``transaction_id``, ``tx_datetime`` (datetime64[ns, UTC]; tz-naive values are taken as UTC),
``customer_id``, ``terminal_id``, ``tx_amount`` (float64), ``tx_fraud`` (nullable Int8 0/1/<NA>,
NA = label not known yet), ``fraud_score`` (float64 probability in [0, 1]), ``model_version``
(str), and the reason columns (``reason_1_feature`` ... ``reason_3_text``) where present. Other
columns are ignored.

Conventions:

* The report covers ONE UTC calendar day: rows of ``scores`` outside ``[day 00:00, day+1 00:00)``
  UTC are ignored, so a multi-day frame can be passed as is.
* The trailing comparison uses the 7 days before ``day``, taken from ``history`` when given,
  otherwise from ``scores`` itself. Trailing days without any row are omitted from the tables and
  listed in ``DailyReport.missing_days``.
* Alerts at the budget are CARDS (customers), not transactions: a card's score is the max of its
  transactions' scores that day (the handbook's card-precision convention). The top
  ``alert_budget`` cards are alerted, ordered by score descending, then ``customer_id`` ascending,
  so ties are deterministic (:mod:`fraud_core.alerts`). The report shows the day's alerts table
  (``FRAUD_ALERTS``) when given one, else builds it from the scores; either way with the reasons
  of each card's top transaction.
* A card's label for the day is 1 when any of its transactions is labelled fraud, 0 when all of
  its transactions are labelled genuine, and unknown otherwise (genuine so far, but some labels
  still missing). Realised precision is the share of fraudulent cards among the alerted cards whose
  label is known, and ``None`` (never 0) when no alerted card has a known label.
* Money values are in the currency given by ``currency`` (a label only; no conversion).

Modules: :mod:`fraud_core.scores` (input contract), :mod:`~fraud_core.report.entities`
(card, terminal and customer tables, the alerts with their labels), :mod:`~fraud_core.report.compute` (headline numbers, trailing
comparison, :func:`daily_report`), :mod:`~fraud_core.report.summary` (the warehouse row),
:mod:`~fraud_core.report.formatting` and :mod:`~fraud_core.report.sections` (text shared by the
renderers), :mod:`~fraud_core.report.markdown`, :mod:`~fraud_core.report.html` and
:mod:`~fraud_core.report.charts` (matplotlib, imported only when a chart is drawn).
"""

from __future__ import annotations

from fraud_core.report.compute import TRAILING_DAYS, DailyReport, DayStats, daily_report
from fraud_core.report.html import render_html
from fraud_core.report.markdown import render_markdown
from fraud_core.report.summary import report_summary_frame
from fraud_core.scores import REQUIRED_COLUMNS

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
