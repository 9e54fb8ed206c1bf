"""Resources per environment: the SAME warehouse, shape and business knobs as the hybrid location.

Everything shared comes from :mod:`fraud_dagster` (the per-environment builders, the business
knobs ``settings``, the pipeline ``shape`` read once from ``FRAUD_WINDOWS_DAYS`` /
``FRAUD_LABEL_DELAY_DAYS``), so this location reads exactly the tables the hybrid location writes
(``./data/warehouse.duckdb`` locally, Snowflake in BRANCH/PROD, a branch deployment's own output
schema included) and judges them with the same label delay, threshold and review budget. It only
reads the pipeline's tables and never seeds a missing source. ``monitoring`` holds the
monitoring-only knobs.
"""

import dagster as dg

from fraud_dagster.builders import warehouse_resource
from fraud_dagster.environment import Environment, current_environment
from fraud_dagster.settings import FraudSettings
from fraud_dagster.shape import shape_resource
from monitoring_location.settings import MonitoringSettings

__all__ = ["build_resources", "resources"]


def build_resources(environment: Environment | None = None) -> dict[str, object]:
    """The resources of ``environment`` (default: the current one)."""
    environment = environment or current_environment()
    return {
        "warehouse": warehouse_resource(environment, seed_missing_source=False),
        "settings": FraudSettings(),
        "shape": shape_resource(),
        "monitoring": MonitoringSettings(),
    }


@dg.definitions
def resources() -> dg.Definitions:
    """Bind the resources of the current environment."""
    return dg.Definitions(resources=build_resources())
