"""pytest plugin: the suite's first daily partition is pinned, not derived from today.

Outside tests a LOCAL deployment starts its partitions at its seeded source's first day
(``fraud_dagster.partitions.partitions_start``), which moves with the calendar. The suite's data
are fixed dates (2025-03-xx, 2018-04-01 for the handbook), so this plugin pins
``FRAUD_PARTITIONS_START`` to the documented default unless the caller set it. It does so when
pytest loads it (entry-point plugins load before the initial conftest.py files, which import the
code locations and so read the variable); subprocesses inherit it. Tests of the derivation
itself unset it with ``monkeypatch``.
"""

from __future__ import annotations

import os

PINNED_PARTITIONS_START = "2024-01-01"

os.environ.setdefault("FRAUD_PARTITIONS_START", PINNED_PARTITIONS_START)
