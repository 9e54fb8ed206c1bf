"""The hybrid location's per-day tables, declared here as upstream external assets.

Same asset keys, same group and the same daily partitions definition as in ``hybrid-location``:
the Dagster UI draws one graph across both code locations, day D of a monitoring asset depends on
day D of these (identity partition mapping), and declarative automation in this location reacts to
their materializations. This location never materializes them (they are not executable here).
"""

import dagster as dg

from fraud_dagster.partitions import daily_partitions

UPSTREAM_LOCATION = "hybrid-location"
UPSTREAM_GROUP = "fraud_detection"

fraud_scores = dg.AssetSpec(
    "fraud_scores",
    partitions_def=daily_partitions,
    group_name=UPSTREAM_GROUP,
    description=(
        "Fraud probability of every transaction of the day (table FRAUD.FRAUD_SCORES), "
        f"materialized by {UPSTREAM_LOCATION}; monitored here."
    ),
    metadata={"materialized_by": UPSTREAM_LOCATION},
)

transformed_transactions = dg.AssetSpec(
    "transformed_transactions",
    partitions_def=daily_partitions,
    group_name=UPSTREAM_GROUP,
    description=(
        "Point-in-time features of the day's transactions (table "
        f"FRAUD.TRANSFORMED_TRANSACTIONS), materialized by {UPSTREAM_LOCATION}; monitored here."
    ),
    metadata={"materialized_by": UPSTREAM_LOCATION},
)

UPSTREAM_SPECS = [fraud_scores, transformed_transactions]
