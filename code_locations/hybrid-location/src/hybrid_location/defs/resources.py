"""Resources per environment, chosen in this one place (LOCAL / BRANCH / PROD).

The per-environment builders are shared with the monitoring location and live in
:mod:`fraud_dagster.builders`; they are re-exported here under their historical names.
"""

import dagster as dg

from fraud_dagster.builders import model_store_resource, snowflake_resource, warehouse_resource
from hybrid_location.environment import Environment, current_environment
from hybrid_location.resources import FraudSettings

__all__ = [
    "build_resources",
    "model_store_resource",
    "resources",
    "snowflake_resource",
    "warehouse_resource",
]


def build_resources(environment: Environment | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources of ``environment`` (default: the current one)."""
    environment = environment or current_environment()
    return {
        "warehouse": warehouse_resource(environment),
        "model_store": model_store_resource(environment),
        "settings": FraudSettings(),
    }


@dg.definitions
def resources() -> dg.Definitions:
    """Bind the resources of the current environment."""
    return dg.Definitions(resources=build_resources())
