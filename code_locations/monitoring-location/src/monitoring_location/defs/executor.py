"""Runs of this location execute their steps one after another, in the run's own process.

Monitoring steps are small (seconds each), so a process per step (the default multiprocess
executor) would cost more in imports than it saves, and locally it would open the embedded DuckDB
file from several processes at once, which DuckDB refuses (one process per file).
"""

import dagster as dg


@dg.definitions
def executor() -> dg.Definitions:
    """The in-process executor for every job of the location."""
    return dg.Definitions(executor=dg.in_process_executor)
