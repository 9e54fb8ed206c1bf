"""The sensor that evaluates the monitoring assets' automation conditions.

Named and RUNNING by default (instead of relying on Dagster's implicit default sensor), so a new
deployment starts monitoring without a click. It only targets this location's assets; the hybrid
location's ``fraud_scores`` / ``transformed_transactions`` materializations are what make it
request runs (see ``monitoring_location.automation``).
"""

import dagster as dg

from monitoring_location.defs.assets import GROUP

monitoring_automation_sensor = dg.AutomationConditionSensorDefinition(
    "monitoring_automation_sensor",
    target=dg.AssetSelection.groups(GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description=(
        "Runs the monitoring of day D when the hybrid location writes D's scores or features, "
        "and again when D's labels mature."
    ),
)
