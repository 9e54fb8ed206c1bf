"""The monitoring location is light: it neither installs nor imports CatBoost.

CatBoost is fraud-core's ``model`` extra; only the hybrid location installs it (``fraud-core[model]``).
Two checks: importing ``monitoring_location.definitions`` in a clean interpreter of the workspace
environment (which has CatBoost) never imports it, and the monitoring location's own environment,
built by uv from the lock exactly as its image is (``--no-dev``), has no CatBoost and still loads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("catboost", "fraud_core.model", "fraud_storage.models")
"""Modules the monitoring location must not import: CatBoost and what needs it."""

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    if callable(getattr(module, "defs", None)):
        module.defs()  # dg.definitions are lazy: load the defs folder as a code server does
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'catboost' or m in {heavy})))
""".replace("{heavy}", repr(set(HEAVY)))


def imported_heavy_modules(*modules: str) -> list[str]:
    """The heavy modules a clean interpreter holds after importing ``modules``."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_loading_the_monitoring_location_does_not_import_catboost() -> None:
    assert imported_heavy_modules("monitoring_location.definitions") == []
    # the probe is not vacuous: what scores does pull CatBoost in
    assert "catboost" in imported_heavy_modules("fraud_storage.models")


@pytest.mark.slow
def test_the_monitoring_environment_has_no_catboost_and_loads() -> None:
    """What the image holds: the location and its runtime dependencies from uv.lock, no dev group
    (uv's cache is reused, so after the first run this takes seconds)."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    check = (
        "import importlib.util, sys\n"
        "import monitoring_location.definitions as d\n"
        "assert importlib.util.find_spec('catboost') is None, 'catboost is installed'\n"
        "assert importlib.util.find_spec('hybrid_location') is None, 'another location is'\n"
        "assert d.defs().resolve_asset_graph().get_all_asset_keys()\n"
        "assert 'catboost' not in sys.modules\n"
        "print('light', sys.prefix)\n"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    command = [uv, "run", "--isolated", "--no-dev", "--frozen", "--package", "monitoring-location"]
    result = subprocess.run(
        [*command, "python", "-c", check],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "light" in result.stdout
