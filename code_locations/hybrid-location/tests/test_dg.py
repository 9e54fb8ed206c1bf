"""The dg CLI sees the location: definitions load, the asset graph is right, `dg dev` serves it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

LOCATION = Path(__file__).resolve().parents[1]
ROOT = LOCATION.parents[1]
DG = str(Path(sys.executable).with_name("dg"))
EXPECTED_DEPS = {
    "raw_customer_transactions": set(),
    "matured_terminal_labels": {"raw_customer_transactions"},
    "transformed_transactions": {"raw_customer_transactions", "matured_terminal_labels"},
    "fraud_detection_model": {"transformed_transactions"},
    "fraud_scores": {"fraud_detection_model", "transformed_transactions"},
    "fraud_alerts": {"fraud_scores"},
    "daily_fraud_report": {"fraud_scores", "fraud_alerts"},
}
MONITORING_DEPS = {
    "score_drift": {"fraud_scores"},
    "feature_drift": {"transformed_transactions"},
    "delayed_label_performance": {"fraud_scores"},
    "model_health": {"score_drift", "feature_drift", "delayed_label_performance"},
}
"""The monitoring location's assets: in the workspace they hang off this location's assets."""
EXPECTED_KINDS = {
    "raw_customer_transactions": {"snowflake", "python"},
    "matured_terminal_labels": {"snowflake", "python"},
    "transformed_transactions": {"python", "pandas"},
    "fraud_detection_model": {"python", "machine-learning"},
    "fraud_scores": {"snowflake", "python"},
    "fraud_alerts": {"snowflake", "python"},
    "daily_fraud_report": {"snowflake", "reporting"},
}


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_CLOUD", "FRAUD_"))}
    return {**env, "FRAUD_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path)}


@pytest.mark.slow
def test_dg_check_defs_passes_in_the_location_and_the_workspace(tmp_path: Path) -> None:
    for cwd in (LOCATION, ROOT):
        out = subprocess.run(
            [DG, "check", "defs"], cwd=cwd, env=_env(tmp_path), capture_output=True, text=True
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "All definitions loaded successfully" in out.stdout + out.stderr


@pytest.mark.slow
def test_dg_list_defs_shows_the_assets_with_their_deps_and_kinds(tmp_path: Path) -> None:
    out = subprocess.run(
        [DG, "list", "defs", "--json"],
        cwd=LOCATION,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    assets = {a["asset_key"]: a for a in json.loads(out.stdout)["assets"]}
    assert {k: set(a["dependency_keys"]) for k, a in assets.items()} == EXPECTED_DEPS
    assert {k: set(a["kinds"]) for k, a in assets.items()} == EXPECTED_KINDS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _restore_sigint() -> None:
    # A background process inherits SIG_IGN for SIGINT from a non-interactive shell, and Dagster
    # copies that disposition to its children: restore the default so SIGINT stops the server.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_dg_dev_serves_the_asset_graph_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    log = (tmp_path / "dg_dev.log").open("w")
    proc = subprocess.Popen(
        [DG, "dev", "--port", str(port), "--host", "127.0.0.1"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_restore_sigint,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                    break
            except OSError:
                assert proc.poll() is None, (tmp_path / "dg_dev.log").read_text()
                assert time.monotonic() < deadline, "dg dev did not answer within 240 s"
                time.sleep(1)
        query = "{ assetNodes { assetKey { path } dependencyKeys { path } } }"
        wanted = set(EXPECTED_DEPS) | set(MONITORING_DEPS)
        for _ in range(60):  # the code servers may still be loading the locations
            nodes = _graphql(port, query).get("data", {}).get("assetNodes") or []
            if {"/".join(n["assetKey"]["path"]) for n in nodes} >= wanted:
                break
            time.sleep(2)
        keys = ["/".join(n["assetKey"]["path"]) for n in nodes]
        graph = {
            "/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]}
            for n in nodes
        }
        # One graph across both code locations: fraud_scores and transformed_transactions appear
        # once (materialized here, declared as external specs by monitoring-location).
        assert sorted(keys) == sorted(set(keys))
        assert graph == {**EXPECTED_DEPS, **MONITORING_DEPS}
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail("dg dev did not stop on SIGINT within 60 s")
        log.close()
    assert code in (0, -signal.SIGINT, 130), (tmp_path / "dg_dev.log").read_text()
