"""The dg CLI sees the location: definitions load; the monitoring assets hang off the hybrid
location's tables, declared here as external (non-executable) upstream specs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LOCATION = Path(__file__).resolve().parents[1]
DG = str(Path(sys.executable).with_name("dg"))

pytestmark = pytest.mark.slow


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_CLOUD", "FRAUD_"))}
    return {**env, "FRAUD_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path)}


def test_dg_check_defs_passes_in_the_location(tmp_path: Path) -> None:
    out = subprocess.run(
        [DG, "check", "defs"], cwd=LOCATION, env=_env(tmp_path), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "All definitions loaded successfully" in out.stdout + out.stderr
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()  # loading touches no data


def test_dg_list_defs_shows_monitoring_and_the_external_upstream_specs(tmp_path: Path) -> None:
    out = subprocess.run(
        [DG, "list", "defs", "--json"],
        cwd=LOCATION,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    listed = json.loads(out.stdout)
    assets = {a["asset_key"]: a for a in listed["assets"]}
    assert {k: set(a["dependency_keys"]) for k, a in assets.items()} == {
        "fraud_scores": set(),
        "transformed_transactions": set(),
        "score_drift": {"fraud_scores"},
        "feature_drift": {"transformed_transactions"},
        "delayed_label_performance": {"fraud_scores"},
        "model_health": {"score_drift", "feature_drift", "delayed_label_performance"},
    }
    for external in ("fraud_scores", "transformed_transactions"):
        assert assets[external]["is_executable"] is False
        assert assets[external]["group_name"] == "fraud_detection"
    for key in ("score_drift", "feature_drift", "delayed_label_performance", "model_health"):
        assert assets[key]["is_executable"] is True
        assert assets[key]["group_name"] == "fraud_monitoring"
        assert assets[key]["automation_condition"]["label"]
    assert "labels matured" in " ".join(
        assets["delayed_label_performance"]["automation_condition"]["expanded_label"]
    )
    assert {c["key"] for c in listed["asset_checks"]} == {
        "score_drift:score_psi_below_threshold",
        "feature_drift:feature_psi_below_threshold",
        "delayed_label_performance:realised_precision_above_floor",
        "delayed_label_performance:alert_volume_within_budget",
        "model_health:model_is_healthy",
    }
    assert [s["name"] for s in listed["sensors"]] == ["monitoring_automation_sensor"]
    assert {r["name"] for r in listed["resources"]} >= {"warehouse", "monitoring"}
