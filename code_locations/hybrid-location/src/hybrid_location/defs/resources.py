"""Resources per environment, chosen in this one place (LOCAL / BRANCH / PROD).

Everything is built by :mod:`fraud_dagster.builders` (shared with the monitoring location): the
warehouse and model store of the environment, the shared business knobs (``settings``), this
location's training knobs (``training``), and what run config must never change: the pipeline
shape (``shape``, read once from ``FRAUD_WINDOWS_DAYS`` / ``FRAUD_LABEL_DELAY_DAYS``), the
promotion policy (``promotion_policy``, from ``FRAUD_PROMOTION_TOLERANCE`` / ``FRAUD_MIN_*``; in
PROD only stricter than the code) and the report directory (``report_dir``, ``FRAUD_REPORT_DIR``).
"""

import dagster as dg

from fraud_dagster.builders import (
    model_store_resource,
    promotion_policy_resource,
    report_directory_resource,
    warehouse_resource,
)
from fraud_dagster.environment import Environment, current_environment
from fraud_dagster.settings import FraudSettings
from fraud_dagster.shape import shape_resource
from hybrid_location.settings import TrainingSettings

__all__ = ["build_resources", "resources"]


def build_resources(environment: Environment | None = None) -> dict[str, object]:
    """The resources of ``environment`` (default: the current one)."""
    environment = environment or current_environment()
    return {
        "warehouse": warehouse_resource(environment),
        "model_store": model_store_resource(environment),
        "settings": FraudSettings(),
        "training": TrainingSettings(),
        "shape": shape_resource(),
        "promotion_policy": promotion_policy_resource(environment),
        "report_dir": report_directory_resource(environment=environment),
    }


@dg.definitions
def resources() -> dg.Definitions:
    """Bind the resources of the current environment."""
    return dg.Definitions(resources=build_resources())
