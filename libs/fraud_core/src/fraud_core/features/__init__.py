"""Point-in-time, label-delay-aware transaction features.

Input: canonical transactions (``transaction_id``, ``tx_datetime`` UTC, ``customer_id``,
``terminal_id``, ``tx_amount``, ``tx_fraud`` as nullable ``Int8`` where ``<NA>`` means "label not
known yet", optional ``tx_fraud_scenario``). Output: one row per transaction, the key columns plus
the features of :data:`registry.FEATURE_LAYOUT`, sorted by ``(tx_datetime, transaction_id)``.

Every feature is declared once in :mod:`fraud_core.features.registry`: names, dtypes, the window
groups' measures, the day state's columns and the warehouse totals' SQL are derived from it.

Ordering and ties
    Transactions are ordered by ``(tx_datetime, transaction_id)``. "Earlier" always means earlier
    in that order, so two transactions of the same card at the same instant are ordered by
    ``transaction_id``: the smaller id is seen by the larger one's windows, never the reverse.
    This is exactly what the handbook's per-customer ``rolling("nd")`` gives on data sorted by
    time then id. ``transaction_id`` is expected to be unique (the schema validates it).

Calendar features are computed in UTC. ``n`` is each window of ``FeatureConfig.windows_days``,
``W`` the largest window, ``d`` the label delay and ``L = W + d`` the lookback
(:func:`lookback_days`). Windows are in exact nanoseconds, ``(a, b]`` meaning
``a < tx_datetime <= b``.

The features (registry order; the raw ``tx_amount`` comes first in :func:`feature_columns`):

* ``tx_during_weekend``, ``tx_during_night`` (hour <= 6), ``tx_hour`` (int8);
* card activity (handbook): ``customer_id_nb_tx_{n}day_window`` (int32) and
  ``customer_id_avg_amount_{n}day_window`` over ``(t - n, t]``, the transaction included;
* terminal risk (handbook): ``terminal_id_nb_tx_{n}day_window`` (int32) and
  ``terminal_id_risk_{n}day_window`` (frauds / labelled; unknown labels count as neither; 0 when
  none is labelled) over ``(t - n - d, t - d]``, never the transaction itself;
* ``customer_id_seconds_since_prev_tx``: capped at ``L`` days (also when there is none);
* amount deviation: ``customer_id_amount_to_avg_{W}day_window`` (amount / mean of the card's
  EARLIER transactions of the largest window, mean floored at 1.0; 1.0 when none) and
  ``customer_id_amount_zscore_{W}day_window`` ((amount - mean) / sqrt(var + 1), sample
  variance, 0 with fewer than two; 0 when none);
* ``customer_terminal_first_use``: 1 if the card has no earlier transaction at this terminal
  within ``(t - L, t]`` (int8);
* terminal spend: ``terminal_id_avg_amount_{n}day_window``, the terminal's mean amount over
  ``(t - n, t]``, the transaction included.

History and incremental use
    Every feature of a transaction at ``t`` depends only on earlier transactions with
    ``tx_datetime > t - L days``; the label windows additionally only on labels of transactions
    at or before ``t - d``. So the features of a partition ``[start, end)`` computed from the
    transactions in ``[start - L days, end)`` are identical to those computed on the whole table.
    :func:`build_day_features` computes one day from the day, a few boundary days and a
    :class:`WindowState` of whole-day totals (the pipeline's way, at a cost bounded by the day).
"""

from fraud_core.features.config import DEFAULT_CONFIG, FeatureConfig, lookback_days
from fraud_core.features.day import build_day_features
from fraud_core.features.registry import (
    FEATURE_LAYOUT,
    Alignment,
    Measure,
    PointFeature,
    Statistic,
    WindowAggregate,
    WindowFeature,
    WindowGroup,
    feature_columns,
    feature_dtypes,
    matured_measures,
    window_groups,
)
from fraud_core.features.state import (
    GroupTotalsRequest,
    TotalsSource,
    WindowState,
    WindowTotal,
    WindowTotals,
    WindowTotalsRequest,
    boundary_days,
    empty_totals,
    labels_due_days,
    labels_due_on,
    matured_totals,
    state_from_totals,
    window_totals_from_rows,
    window_totals_request,
)
from fraud_core.features.table import build_features

__all__ = [
    "DEFAULT_CONFIG",
    "FEATURE_LAYOUT",
    "Alignment",
    "FeatureConfig",
    "GroupTotalsRequest",
    "Measure",
    "PointFeature",
    "Statistic",
    "TotalsSource",
    "WindowAggregate",
    "WindowFeature",
    "WindowGroup",
    "WindowState",
    "WindowTotal",
    "WindowTotals",
    "WindowTotalsRequest",
    "boundary_days",
    "build_day_features",
    "build_features",
    "empty_totals",
    "feature_columns",
    "feature_dtypes",
    "labels_due_days",
    "labels_due_on",
    "lookback_days",
    "matured_measures",
    "matured_totals",
    "state_from_totals",
    "window_groups",
    "window_totals_from_rows",
    "window_totals_request",
]
