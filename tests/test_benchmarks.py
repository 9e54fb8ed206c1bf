"""Smoke runs of the benchmark scripts at tiny sizes (marker ``benchmark``: not in the default run).

They check that every benchmark of ``benchmarks/`` still runs and prints its ratio; the numbers
themselves are recorded in ``benchmarks/RESULTS.md``. Run with ``uv run pytest -m benchmark tests``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def test_features_vs_duckdb() -> None:
    out = _run("bench_features.py", "--rows", "50000", "--stages")
    assert "ratio fraud_core / duckdb:" in out
    assert "14 features: all close" in out
    assert "identical to the Copy-on-Write output: True" in out
    stages = next(line for line in out.splitlines() if "RSS peak growth by stage" in line)
    for stage in ("customer_current windows", "terminal_delayed windows", "output frame"):
        assert stage in stages


def test_day_features_ratio_and_check() -> None:
    out = _run(
        "bench_day_features.py",
        *("--rows", "3000", "--check-rows", "3000", "--repeats", "1", "--check-repeats", "1"),
    )
    assert "ratio (1, 7, 90) / (1, 7, 30):" in out
    assert "in-memory totals" in out
    # one check per configuration, each against build_features on its own lookback
    assert "identical to build_features on 38 days" in out
    assert "identical to build_features on 98 days" in out


def test_ingest_memory(tmp_path: Path) -> None:
    out = _run("bench_ingest.py", "--rows", "50000", "--db", str(tmp_path / "w.duckdb"))
    assert "read_source:" in out
    assert "same dtypes in every variant: True" in out


def test_model_scoring_and_training() -> None:
    out = _run(
        "bench_model.py",
        *("--train-rows", "20000", "--score-rows", "20000", "--iterations", "10"),
        *("--repeats", "1"),
    )
    assert "rows/s" in out
    assert "per 1M rows" in out


def test_pipeline_end_to_end(tmp_path: Path) -> None:
    out = _run(
        "bench_pipeline.py",
        *("--sizes", "5000", "--tmp", str(tmp_path), "--chart", str(tmp_path / "chart.png")),
    )
    assert "**the day**" in out
    assert (tmp_path / "chart.png").exists()


def test_feature_history_bounded_vs_full(tmp_path: Path) -> None:
    out = _run(
        "bench_feature_history.py",
        *("--rows", "2000", "--repeats", "1", "--tmp", str(tmp_path)),
    )
    assert "ratio (1, 7, 90) / (1, 7, 30) (bounded):" in out
    assert "bounded and full gave identical features" in out


def test_training_memory_sampled_vs_unsampled(tmp_path: Path) -> None:
    out = _run(
        "bench_training_memory.py",
        *("--windows", "1500x2,1500x4,3000x2", "--iterations", "5"),
        *("--validation-days", "1", "--tmp", str(tmp_path)),
    )
    assert "| sampled, rate" in out
    assert "| unsampled (rate 1) |" in out
    # per arm: the sweep over days (1,500 a day) and over the daily volume (2 training days)
    assert out.count("MiB of peak RSS growth per 1M window rows") == 4


def test_training_sample_on_the_handbook_protocol() -> None:
    out = _run(
        "bench_training_sample.py",
        *("--days", "25", "--iterations", "10", "--rates", "0.5", "--seeds", "1", "--threads", "1"),
    )
    if out.startswith("skipped: data not found"):
        pytest.skip("the handbook parquet is not here")
    assert "| unsampled | 1 |" in out
    assert "| sampled 0.5 | 0.5 | 1 |" in out
    assert "smallest rate within 0.01 for every seed:" in out


def test_scoring_with_reasons_off_on_and_above_a_score() -> None:
    out = _run(
        "bench_scoring_reasons.py",
        *("--rows", "20000", "--full-rows", "5000", "--train-rows", "5000"),
        *("--customers", "300", "--iterations", "20", "--repeats", "1", "--top-cards", "10"),
    )
    assert "ratio every row / off:" in out
    assert "| every row (measured on 5,000 rows, extrapolated) | 20,000 (100.00%) |" in out
    assert "| top 10 cards only |" in out
    assert "| top 0.1% (score >=" in out
