"""Definitions of the hybrid location, loaded from the ``defs`` folder, with their catalog."""

from pathlib import Path

import dagster as dg

from hybrid_location.catalog import catalogued


@dg.definitions
def defs() -> dg.Definitions:
    """All assets, checks, schedules and resources under ``defs/``, described by the catalog
    (owners, tags, table schemas and names, code versions and references, the report's
    freshness policy: :mod:`hybrid_location.catalog`)."""
    return catalogued(dg.load_from_defs_folder(path_within_project=Path(__file__).parent))
