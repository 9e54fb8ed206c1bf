"""Definitions of the hybrid location, loaded from the ``defs`` folder."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """All assets, checks, schedules and resources under ``defs/``."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
