"""When the monitoring assets run: declarative automation, evaluated by the location's sensor.

The hybrid location's assets live in another code location, so they cannot share a run with the
monitoring assets; Dagster's declarative automation sees their materializations across locations
(same asset keys, same daily partitions) and requests the monitoring partitions.

* :func:`on_new_upstream_data` - ``AutomationCondition.eager()`` widened from the latest partition
  to the last ``recent_days`` partitions: day ``D`` of a monitoring asset runs when day ``D`` of
  its upstream (``fraud_scores`` / ``transformed_transactions``) is (re)materialized, including the
  days of a backfill, once nothing upstream is missing or in progress.
* :func:`on_labels_matured` - once, when the partition becomes ``label_delay_days`` old: day ``D``
  is requested again when the latest complete day reaches ``D + label_delay_days``, the first
  moment its labels are complete (the delayed-label performance then turns from provisional to
  mature). ``D`` is the only partition with
  ``in_latest_time_window(delay + 1 days) & ~in_latest_time_window(delay days)``.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

__all__ = [
    "automation_window_days",
    "on_labels_matured",
    "on_new_upstream_data",
    "performance_automation",
]


def automation_window_days(label_delay_days: int) -> int:
    """Partitions the automation watches: enough to reach the day whose labels just matured."""
    return max(7, label_delay_days + 2)


def on_new_upstream_data(recent_days: int) -> dg.AutomationCondition:
    """Eager on each of the last ``recent_days`` daily partitions (not only the latest)."""
    return (
        dg.AutomationCondition.eager()
        .replace(
            "in_latest_time_window",
            dg.AutomationCondition.in_latest_time_window(timedelta(days=recent_days)),
        )
        .with_label(f"eager over the last {recent_days} days")
    )


def on_labels_matured(label_delay_days: int) -> dg.AutomationCondition:
    """True once for day D, when the latest complete day becomes ``D + label_delay_days``."""
    if label_delay_days < 1:
        raise ValueError(
            f"label_delay_days must be >= 1 to wait for labels, got {label_delay_days}"
        )
    aged = (
        dg.AutomationCondition.in_latest_time_window(timedelta(days=label_delay_days + 1))
        & ~dg.AutomationCondition.in_latest_time_window(timedelta(days=label_delay_days))
    ).with_label(f"exactly {label_delay_days} days old")
    return (
        aged
        & aged.newly_true().since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label(f"labels matured ({label_delay_days} days)")


def performance_automation(label_delay_days: int) -> dg.AutomationCondition:
    """Run day D when its scores land (provisional) and again when its labels mature."""
    on_scores = on_new_upstream_data(automation_window_days(label_delay_days))
    if label_delay_days < 1:  # labels complete with the day: the first run is already mature
        return on_scores
    return (on_scores | on_labels_matured(label_delay_days)).with_label(
        "new scores, or labels matured"
    )
