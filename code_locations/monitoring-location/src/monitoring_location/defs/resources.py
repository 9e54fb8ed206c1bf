"""Resources per environment: the SAME warehouse as the hybrid location, plus monitoring settings.

The warehouse comes from the shared builder (:mod:`fraud_dagster.builders`), so this location reads
exactly the tables the hybrid location writes: ``./data/warehouse.duckdb`` locally, Snowflake in
BRANCH/PROD (a branch deployment's own output schema included). It only reads the pipeline's
tables and never seeds a missing source.
"""

import dagster as dg

from fraud_dagster.builders import warehouse_resource
from fraud_dagster.environment import Environment, current_environment
from monitoring_location.settings import MonitoringSettings

__all__ = ["build_resources", "resources"]


def build_resources(environment: Environment | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources of ``environment`` (default: the current one)."""
    environment = environment or current_environment()
    return {
        "warehouse": warehouse_resource(environment, seed_missing_source=False),
        "monitoring": MonitoringSettings(),
    }


@dg.definitions
def resources() -> dg.Definitions:
    """Bind the resources of the current environment."""
    return dg.Definitions(resources=build_resources())
