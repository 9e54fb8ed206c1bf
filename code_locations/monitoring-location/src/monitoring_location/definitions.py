"""Definitions of the monitoring location, loaded from the ``defs`` folder, with their catalog."""

from pathlib import Path

import dagster as dg

from monitoring_location.catalog import catalogued


@dg.definitions
def defs() -> dg.Definitions:
    """Upstream specs, monitoring assets and checks, the automation sensor and the resources,
    the monitoring assets described by the catalog (owners, tags, table schemas and names, code
    versions and references: :mod:`monitoring_location.catalog`)."""
    return catalogued(dg.load_from_defs_folder(path_within_project=Path(__file__).parent))
