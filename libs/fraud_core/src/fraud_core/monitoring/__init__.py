"""Model monitoring: drift, realised performance once labels arrive, alert volume, health.

Pure pandas/numpy (no orchestration), so any service can monitor the scores the pipeline writes.

Modules
    :mod:`~fraud_core.monitoring.psi` (the PSI of one variable), :mod:`~fraud_core.monitoring.drift`
    (drift tables, reference windows, the per-day :class:`ScoreDrift` and :class:`FeatureDrift`),
    :mod:`~fraud_core.monitoring.performance` (label maturity, realised performance, alert volume,
    the per-day :class:`DayPerformance`), :mod:`~fraud_core.monitoring.health` (the verdict and
    the per-day :class:`DayHealth`), :mod:`~fraud_core.monitoring.reporting` (how numbers are
    stored and reported). A per-day record holds what its monitoring table stores for the day
    (``frame(evaluated_at)``), the verdicts its checks use and the numbers it reports
    (``numbers()``); everything is importable from this package.

Population stability index (PSI)
    ``PSI = sum_i (a_i - e_i) * ln(a_i / e_i)`` over bins ``i``, with ``e_i`` the share of the
    *reference* sample and ``a_i`` the share of the *actual* sample (the monitored day) in bin ``i``.

    * Bins are fixed by the reference: the interior cut points are the reference's quantiles at
      ``1/n, 2/n, ..., (n-1)/n`` (numpy's default, linearly interpolated), duplicates removed, so a
      feature with few distinct values (a 0/1 flag, a count) gets fewer bins, never empty-by-
      construction ones. Bins are right-closed: ``(-inf, c_1], (c_1, c_2], ..., (c_m, +inf)``; values
      outside the reference's range fall into the outer bins.
    * Missing values (NaN/None) are not dropped: when either sample has any, they form one extra bin
      (a change in the missing rate is drift too). Shares are over all rows, missing included.
    * Empty bins: ``ln(a/e)`` is infinite when a share is 0, so every share below ``epsilon``
      (default ``1e-4``) is raised to ``epsilon`` before the sum. Non-empty bins are untouched (the
      shares then sum to at most ``1 + n_bins * epsilon``); a bin empty in both samples contributes 0.
    * Reading: below 0.1 stable, 0.1-0.2 moderate shift, above 0.2 (:data:`DEFAULT_PSI_THRESHOLD`)
      a significant shift worth an alert.

Label delay and realised performance
    Labels (``tx_fraud``) arrive ``label_delay_days`` after the transaction. Day ``D`` is *mature*
    (evaluable) once the data reaches ``D + label_delay_days``: :func:`labels_mature` is
    ``D <= as_of - label_delay_days`` where ``as_of`` is the latest day with data, the same rule the
    training window uses. Before that, :func:`realised_performance` still reports the numbers on
    the labels known so far, flagged ``labels_mature=False`` (provisional).

    * Transaction level, at the alert threshold: precision = frauds among the *labelled* alerted
      transactions (``score >= threshold``); recall = alerted share of the labelled frauds.
    * Card level, at the review budget ``k``: the handbook's card precision@k
      (:func:`fraud_core.evaluation.card_precision_at_k_daily`: one row per card with its max score,
      detected frauded cards in the top ``k`` divided by ``k``) on the labelled rows, and card
      recall@k = detected / frauded cards. Average precision and ROC AUC come from
      :func:`fraud_core.evaluation.evaluate_scores` when both classes are present.

Alert volume
    Alerts are cards (customers) whose max score of the day reaches the threshold, as in the daily
    report; :func:`alert_volume` compares their number with the budget of cards the fraud team can
    review in a day.

Per-day records (one day of each monitoring table)
    * Drift (:class:`ScoreDrift`, :class:`FeatureDrift`): the day against the (sampled) rows of
      the ``n`` days before it; the PSI is computed only when both samples hold at least
      ``min_rows`` rows (and one), otherwise the day's rows say so (``psi`` NaN, never drifted,
      reported as ``not computed``).
    * Performance (:class:`DayPerformance`): provisional (``provisional: labels mature on
      D + delay``) until the labels mature; a mature day is judged against the precision floor only
      when it had a fraudulent card (otherwise ``no fraudulent card that day``).
    * Health (:class:`DayHealth`): the day's stored drift and performance rows plus the latest day
      evaluated with mature labels (:func:`latest_mature_performance`, looked up from
      :func:`mature_lookback_start`); a mature day without fraud gives no precision.
"""

from fraud_core.monitoring.drift import (
    DAY_CONSTANT_FEATURES,
    DRIFT_COLUMNS,
    NON_FEATURE_COLUMNS,
    DriftSettings,
    FeatureDrift,
    Reference,
    ReferenceWindow,
    ScoreDrift,
    drift_table,
    not_computed_drift_table,
    numeric_feature_columns,
    reference_days,
    sample_reference_day,
    tracked_features,
)
from fraud_core.monitoring.health import (
    MATURE_LOOKBACK_DAYS,
    DayHealth,
    HealthStatus,
    HealthThresholds,
    ModelHealth,
    assess_health,
    latest_mature_performance,
    mature_lookback_start,
    top_feature_drift,
)
from fraud_core.monitoring.performance import (
    AlertVolume,
    DayPerformance,
    RealisedPerformance,
    alert_volume,
    label_maturity_date,
    labels_mature,
    latest_mature_day,
    realised_performance,
)
from fraud_core.monitoring.psi import (
    DEFAULT_EPSILON,
    DEFAULT_N_BINS,
    DEFAULT_PSI_THRESHOLD,
    PsiResult,
    bin_shares,
    population_stability_index,
    psi_from_shares,
    quantile_edges,
)
from fraud_core.monitoring.reporting import NOT_COMPUTED, Metadata, markdown_table

__all__ = [
    "DAY_CONSTANT_FEATURES",
    "DEFAULT_EPSILON",
    "DEFAULT_N_BINS",
    "DEFAULT_PSI_THRESHOLD",
    "DRIFT_COLUMNS",
    "MATURE_LOOKBACK_DAYS",
    "NON_FEATURE_COLUMNS",
    "NOT_COMPUTED",
    "AlertVolume",
    "DayHealth",
    "DayPerformance",
    "DriftSettings",
    "FeatureDrift",
    "HealthStatus",
    "HealthThresholds",
    "Metadata",
    "ModelHealth",
    "PsiResult",
    "RealisedPerformance",
    "Reference",
    "ReferenceWindow",
    "ScoreDrift",
    "alert_volume",
    "assess_health",
    "bin_shares",
    "drift_table",
    "label_maturity_date",
    "labels_mature",
    "latest_mature_day",
    "latest_mature_performance",
    "markdown_table",
    "mature_lookback_start",
    "not_computed_drift_table",
    "numeric_feature_columns",
    "population_stability_index",
    "psi_from_shares",
    "quantile_edges",
    "realised_performance",
    "reference_days",
    "sample_reference_day",
    "top_feature_drift",
    "tracked_features",
]
