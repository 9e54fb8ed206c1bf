"""Jobs and schedules: daily scoring after the day closes, weekly retraining."""

import dagster as dg

# The asset definitions themselves (not hybrid_location.pipeline's catalogued copies): the defs
# folder loads every asset found in its modules, and a copy with the same key would be a duplicate.
from hybrid_location.defs.alerts import fraud_alerts
from hybrid_location.defs.features import transformed_transactions
from hybrid_location.defs.ingestion import matured_terminal_labels, raw_customer_transactions
from hybrid_location.defs.reporting import daily_fraud_report
from hybrid_location.defs.scoring import fraud_scores
from hybrid_location.defs.training import fraud_detection_model

daily_fraud_job = dg.define_asset_job(
    "daily_fraud_job",
    selection=dg.AssetSelection.assets(
        raw_customer_transactions,
        matured_terminal_labels,
        transformed_transactions,
        fraud_scores,
        fraud_alerts,
        daily_fraud_report,
    ),
    description=("Validate, count the labels now due, featurise, score, alert and report one day."),
)

weekly_training_job = dg.define_asset_job(
    "weekly_training_job",
    selection=dg.AssetSelection.assets(fraud_detection_model),
    description="Retrain the fraud model on the trailing labelled window and gate its promotion.",
)

daily_fraud_schedule = dg.build_schedule_from_partitioned_job(
    daily_fraud_job,
    hour_of_day=2,
    minute_of_hour=0,
    description="02:00 UTC: the previous day is closed; validate, score and report it.",
)

weekly_training_schedule = dg.ScheduleDefinition(
    job=weekly_training_job,
    cron_schedule="0 4 * * 1",
    execution_timezone="UTC",
    description="Mondays 04:00 UTC, after Sunday's scoring run.",
)
