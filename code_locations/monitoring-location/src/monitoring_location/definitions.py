"""Definitions of the monitoring location, loaded from the ``defs`` folder."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """Upstream specs, monitoring assets and checks, the automation sensor and the resources."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
