"""The reliability guarantees of docs/reliability.md, proven through the real assets.

Most tests start from one small pipeline run (module fixture ``pipeline``: 12 simulated days on
DuckDB, a promoted model, two scored days) and work on a copy of its files, so each test pays only
for what it checks. Faults are injected at the warehouse's named write steps (``WRITE_STEPS``), in
the model store, by killing processes and by killing the Snowflake emulator.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

from fraud_core.shape import PipelineShape, ShapeMismatchError
from fraud_dagster.resources import WAREHOUSE_POOL, DuckDBWarehouseResource, TablesConfig
from fraud_storage import ModelStore, WarehouseError
from fraud_storage.duckdb_warehouse import DuckDBWarehouse, connect_path
from fraud_storage.model_store import COMPLETE_MARKER, PROMOTED_FILE, ModelNotFoundError
from fraud_storage.models import load_model, save_model
from fraud_storage.warehouse import WRITE_STEPS
from fraud_testing.pipeline import SMALL_SHAPE, reports_dir
from fraud_testing.runs import failure_message, retries
from fraud_testing.runs import materialize as run_assets
from hybrid_location import pipeline as a
from hybrid_location.cli import PipelineRun, run_pipeline
from hybrid_location.defs.reporting import REPORT_TRAILING_DAYS

ALL = a.PIPELINE_ASSETS
PER_DAY = [
    a.raw_customer_transactions,
    a.transformed_transactions,
    a.fraud_scores,
    a.fraud_alerts,
    a.daily_fraud_report,
]
DAY = date(2025, 3, 31)  # the last simulated day (conftest)
PREVIOUS = DAY - timedelta(days=1)
ROLES = ("validated", "rejected", "transformed", "scores", "alerts", "report")
REPO = Path(__file__).resolve().parents[3]


class InjectedCrash(ValueError):
    """A fault injected by a test. A ValueError, so the asset fails at once (no retry delays)."""


# --- helpers -------------------------------------------------------------------------------------


@functools.cache
def _location_conftest() -> ModuleType:
    """This directory's conftest (its ``small_resources``), usable from module-scoped fixtures."""
    path = Path(__file__).with_name("conftest.py")
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) == str(path):
            return module
    spec = importlib.util.spec_from_file_location("_hybrid_location_test_conftest", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_resources(root: Path, **overrides: Any) -> dict[str, Any]:
    return _location_conftest().small_resources(root, **overrides)


def warehouse_at(root: Path) -> DuckDBWarehouse:
    """The DuckDB warehouse under ``root``, opened as any other process would (no seeding)."""
    return DuckDBWarehouse.at_path(root / "warehouse.duckdb")


def day_bounds(day: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(day, tz="UTC")
    return start, start + pd.Timedelta(days=1)


def bad_rows(warehouse: DuckDBWarehouse, day: date, first_id: int) -> pd.DataFrame:
    """Three rows of ``day`` that validation rejects: a duplicated id and a negative amount."""
    rows = warehouse.read_source(*day_bounds(day)).head(3).copy()
    rows["transaction_id"] = [first_id, first_id, first_id + 1]
    rows.loc[rows.index[2], "tx_amount"] = -5.0
    return rows


def add_bad_rows(root: Path) -> None:
    warehouse = warehouse_at(root)
    warehouse.load_source(bad_rows(warehouse, DAY, 10**9))
    warehouse.load_source(bad_rows(warehouse, PREVIOUS, 2 * 10**9))


def table(root: Path, role: str, days: list[date] | None = None) -> pd.DataFrame:
    """An output table's rows (of ``days``, default all), in a canonical order."""
    warehouse = warehouse_at(root)
    name = getattr(warehouse.tables, role)
    if days is None:
        frame = warehouse.read_partitions(name, date(2000, 1, 1), date(2100, 1, 1))
    else:
        parts = [warehouse.read_partitions(name, d, d + timedelta(1)) for d in days]
        frame = pd.concat(parts, ignore_index=True)
    frame = frame[sorted(frame.columns)]
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def snapshot(root: Path, days: list[date] | None = None) -> dict[str, pd.DataFrame]:
    return {role: table(root, role, days) for role in ROLES}


def assert_same(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    assert left.keys() == right.keys()
    for role in left:
        assert len(left[role]) > 0, role  # a comparison of empty tables proves nothing
        pd.testing.assert_frame_equal(left[role], right[role], obj=role)


materialize = partial(run_assets, ALL)


def copy_pipeline(source: Path, target: Path) -> Path:
    """Copy a pipeline's warehouse file and model store (no connection is open on them)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob("warehouse.duckdb*"):
        shutil.copy2(path, target / path.name)
    shutil.copytree(source / "models", target / "models")
    return target


# --- the shared pipeline run ---------------------------------------------------------------------


@dataclass
class Pipeline:
    root: Path
    resources: dict[str, Any]
    instance: dg.DagsterInstance
    run: PipelineRun

    def copy(self, target: Path) -> tuple[Path, dict[str, Any]]:
        """A copy of the warehouse, model store and reports, with resources pointing at them."""
        copy_pipeline(self.root, target)
        resources = small_resources(target)
        shutil.copytree(reports_dir(self.root), reports_dir(target))
        return target, resources


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """fraud-pipeline for the last two days, on a source with a few bad rows on both days."""
    root = tmp_path_factory.mktemp("pipeline")
    resources = small_resources(root)
    resources["warehouse"].get_warehouse()  # seeds the source
    add_bad_rows(root)
    with dg.instance_for_test() as instance:
        run = run_pipeline(resources, instance, days=2)
        assert run.scored_days == [PREVIOUS, DAY]
        yield Pipeline(root, resources, instance, run)


# --- 2. idempotence ----------------------------------------------------------------------------


@pytest.mark.slow
def test_materializing_a_day_three_times_keeps_exactly_one_copy(pipeline: Pipeline) -> None:
    first = snapshot(pipeline.root)
    assert len(table(pipeline.root, "rejected", [DAY])) == 3  # the quarantine is not empty
    for _ in range(2):  # fraud-pipeline was the first time
        result = materialize(PER_DAY, pipeline.resources, pipeline.instance, DAY)
        assert result.success
    third = snapshot(pipeline.root)
    assert_same(first, third)
    for role in ("validated", "transformed", "scores"):
        assert third[role]["transaction_id"].is_unique, role
    assert third["report"]["partition_date"].is_unique


@pytest.mark.slow
def test_a_backfill_in_any_order_equals_day_by_day_runs(pipeline: Pipeline, tmp_path: Path) -> None:
    """fraud-pipeline ran raw+features day by day in order; here each asset sweeps the range with
    one run per partition, latest day first: a backfill only keeps the declared dependencies (an
    asset's days after their upstream days), not the order of the days."""
    resources = {
        **small_resources(tmp_path),
        "model_store": pipeline.resources["model_store"],  # the same promoted model
    }
    resources["warehouse"].get_warehouse()
    add_bad_rows(tmp_path)
    days, scored = pipeline.run.prepared_days, pipeline.run.scored_days
    with dg.instance_for_test() as instance:
        for selection, targets in (
            ([a.raw_customer_transactions], days),
            ([a.matured_terminal_labels], days),
            ([a.transformed_transactions], scored),
            ([a.fraud_scores], scored),
            ([a.fraud_alerts], scored),
            ([a.daily_fraud_report], scored),
        ):
            for day in reversed(targets):
                assert materialize(selection, resources, instance, day).success
    for role in ("validated", "rejected"):
        pd.testing.assert_frame_equal(table(tmp_path, role), table(pipeline.root, role))
    assert_same(snapshot(tmp_path, scored), snapshot(pipeline.root, scored))
    assert table(tmp_path, "report", [DAY])["trailing_days_with_data"].tolist() == [1]
    for day in scored:
        html = f"fraud_report_{day.isoformat()}.html"
        theirs = (reports_dir(pipeline.root) / html).read_text()
        assert (reports_dir(tmp_path) / html).read_text() == theirs


def test_the_report_declares_its_trailing_week_of_scores() -> None:
    """Without it a backfill may report a day before the days it compares with are scored."""
    mapping = a.daily_fraud_report.get_partition_mapping(a.fraud_scores.key)
    assert isinstance(mapping, dg.TimeWindowPartitionMapping)
    assert (mapping.start_offset, mapping.end_offset) == (-REPORT_TRAILING_DAYS, 0)


# --- 3. crash safety: faults at every write step, through the assets -----------------------------


class CrashingDuckDBWarehouse(DuckDBWarehouseResource):
    """The real DuckDB warehouse with a fault at one step of the n-th partition write of a step."""

    crash_write: int
    crash_step: str

    def get_warehouse(self) -> DuckDBWarehouse:
        warehouse = super().get_warehouse()
        writes = 0

        def hook(step: str) -> None:
            nonlocal writes
            writes += step == "staged"  # every write starts by staging its frame
            if writes == self.crash_write and step == self.crash_step:
                raise InjectedCrash(f"injected crash at {step} of write {writes}")

        warehouse._fault_hook = hook
        return warehouse


def crashing(resources: dict[str, Any], write: int, step: str) -> dict[str, Any]:
    honest = resources["warehouse"]
    faulty = CrashingDuckDBWarehouse(
        duckdb=honest.duckdb, seed=honest.seed, crash_write=write, crash_step=step
    )
    return {**resources, "warehouse": faulty}


def new_rows_for(root: Path, day: date) -> None:
    """Change the day in the source (12 more transactions, one bad) so a re-run differs."""
    warehouse = warehouse_at(root)
    rows = warehouse.read_source(*day_bounds(day)).tail(12).copy()
    rows["transaction_id"] = range(3 * 10**9, 3 * 10**9 + 12)
    rows.loc[rows.index[0], "tx_fraud"] = 5  # quarantined: invalid label
    warehouse.load_source(rows)


def day_state(root: Path, roles: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    return {role: table(root, role, [DAY]) for role in roles}


def equal(left: pd.DataFrame, right: pd.DataFrame) -> bool:
    try:
        pd.testing.assert_frame_equal(left, right)
    except AssertionError:
        return False
    return True


@pytest.mark.slow
def test_a_fault_at_any_write_step_leaves_each_table_old_or_new(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """raw (two writes: validated, rejected), transformed, alerts and report, 4 steps each: 20
    faults."""
    root, resources = pipeline.copy(tmp_path)
    report_html = reports_dir(root) / f"fraud_report_{DAY}.html"
    instance = pipeline.instance  # knows which days were validated (history of the features)
    roles = ("validated", "rejected", "transformed", "alerts", "report")
    old = day_state(root, roles)
    old_html = report_html.read_text()
    new_rows_for(root, DAY)
    seen: dict[tuple[str, str], dict[str, pd.DataFrame]] = {}  # (written table, step) -> state

    for asset, writes in (
        (a.raw_customer_transactions, ("validated", "rejected")),
        (a.transformed_transactions, ("transformed",)),
        (a.fraud_alerts, ("alerts",)),
        (a.daily_fraud_report, ("report",)),
    ):
        if asset is a.fraud_alerts:  # the alerts (then the report) of the new day need its scores
            assert materialize([a.fraud_scores], resources, instance, DAY).success
        for write, written in enumerate(writes, start=1):
            for step in WRITE_STEPS:
                result = materialize([asset], crashing(resources, write, step), instance, DAY)
                assert not result.success
                assert "injected crash at " + step in failure_message(result)
                assert retries(result) == 0
                seen[(written, step)] = day_state(root, roles)
                if asset is a.daily_fraud_report:
                    assert report_html.read_text() == old_html  # written after the table
        assert materialize([asset], resources, instance, DAY).success  # the clean re-run

    new = day_state(root, roles)
    for role in roles:
        assert not equal(old[role], new[role]), f"{role}: the re-run changed nothing"
    assert report_html.read_text() != old_html
    for (written, step), state in seen.items():
        for role in roles:  # every table is old or new, never partial
            assert equal(state[role], old[role]) or equal(state[role], new[role]), (
                f"{role} is partial after a fault at {step} of the {written} write"
            )
        committed = step == "after_swap"  # the hook runs after COMMIT
        assert equal(state[written], new[written] if committed else old[written]), (written, step)
    with capsys.disabled():
        print(f"\n{len(seen)} faults injected; {len(seen) * len(roles)} table states, 0 partial")


# --- processes: killed mid-write, and four writers on one DuckDB file ----------------------------

WORKERS = textwrap.dedent(
    """
    import json, os, signal, sys, time, traceback, warnings
    warnings.filterwarnings("ignore")
    import dagster as dg
    import duckdb
    from dagster_duckdb import DuckDBResource
    from fraud_dagster.resources import DuckDBWarehouseResource
    from hybrid_location import pipeline as a

    spec = json.loads(sys.argv[1])
    real_connect, conflicts = duckdb.connect, []

    def counting_connect(*args, **kwargs):  # what dagster-duckdb's get_connection calls
        try:
            return real_connect(*args, **kwargs)
        except duckdb.IOException as error:
            conflicts.append(str(error)[:80])
            raise

    class Warehouse(DuckDBWarehouseResource):
        kill_step: str | None = None

        def get_warehouse(self):
            warehouse = super().get_warehouse()
            if self.kill_step:
                def hook(step):
                    if step == self.kill_step:  # its first occurrence: the validated write
                        os.kill(os.getpid(), signal.SIGKILL)
                warehouse._fault_hook = hook
            return warehouse

    def work(job):
        duckdb.connect = counting_connect
        warehouse = Warehouse(duckdb=DuckDBResource(database=job["db"]), kill_step=job["kill"])
        while spec["go"] and not os.path.exists(spec["go"]):
            time.sleep(0.01)
        runs = []
        with dg.instance_for_test() as instance:
            for _ in range(job["repeat"]):
                result = dg.materialize(
                    [a.raw_customer_transactions], partition_key=job["day"],
                    resources={"warehouse": warehouse}, instance=instance, raise_on_error=False,
                )
                meta = {}
                if result.success:
                    event = result.asset_materializations_for_node("raw_customer_transactions")[0]
                    meta |= {k: event.metadata[k].value for k in ("rows_read", "rows_valid")}
                runs.append({"success": result.success, **meta})
        with open(job["out"], "w") as out:
            json.dump({"runs": runs, "lock_conflicts": len(conflicts)}, out)
        return all(r["success"] for r in runs)

    children = {}
    for job in spec["jobs"]:  # fork after the imports: one import for every worker
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = 0 if work(job) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        children[pid] = job
    open(spec["ready"], "w").close()
    statuses = {}
    for pid, job in children.items():
        _, status = os.waitpid(pid, 0)
        statuses[job["out"]] = {
            "killed_by": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        }
    print(json.dumps(statuses))
    """
)


def run_workers(
    jobs: list[dict[str, Any]], tmp: Path, *, hold_lock_on: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Fork one process per job (each materializes raw_customer_transactions for its day).

    With ``hold_lock_on``, this process holds that DuckDB file while the workers start, so every
    worker first meets a locked file.
    """
    ready, go = tmp / "ready", tmp / "go"
    for index, job in enumerate(jobs):
        job.setdefault("repeat", 1)
        job.setdefault("kill", None)
        job["out"] = str(tmp / f"worker-{index}.json")
    spec = {"jobs": jobs, "ready": str(ready), "go": str(go) if hold_lock_on else ""}
    process = subprocess.Popen(
        [sys.executable, "-c", WORKERS, json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp,
    )
    try:
        if hold_lock_on is not None:
            deadline = time.monotonic() + 240
            while not ready.exists() and process.poll() is None:
                assert time.monotonic() < deadline, "workers did not start"
                time.sleep(0.05)
            with duckdb.connect(str(hold_lock_on)):
                go.touch()
                time.sleep(1.0)
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err[-3000:]
    statuses = json.loads(out.strip().splitlines()[-1])
    for job in jobs:
        job.update(statuses[job["out"]])
        path = Path(job["out"])
        job["result"] = json.loads(path.read_text()) if path.exists() else None
        if job["result"] is None and job["killed_by"] is None:  # died of an error: show it
            start = max(err.rfind("Traceback"), 0)
            job["stderr"] = err[start : start + 3000]
    return {job["out"]: job for job in jobs}


@pytest.mark.slow
def test_a_killed_process_leaves_the_table_old_or_new(pipeline: Pipeline, tmp_path: Path) -> None:
    """SIGKILL (no rollback, no cleanup) at each step of the validated write, then reopen."""
    expected_root, resources = pipeline.copy(tmp_path / "expected")
    old = table(expected_root, "validated", [DAY])
    new_rows_for(expected_root, DAY)
    assert materialize([a.raw_customer_transactions], resources, pipeline.instance, DAY).success
    new = table(expected_root, "validated", [DAY])
    assert not equal(old, new)
    jobs = []
    for step in WRITE_STEPS:
        root, _ = pipeline.copy(tmp_path / step)
        new_rows_for(root, DAY)
        jobs.append({"db": str(root / "warehouse.duckdb"), "day": DAY.isoformat(), "kill": step})
    run_workers(jobs, tmp_path)
    for step, job in zip(WRITE_STEPS, jobs, strict=True):
        assert job["killed_by"] == signal.SIGKILL, job  # it really died mid-run
        root = tmp_path / step
        after = table(root, "validated", [DAY])  # DuckDB recovers the file on open
        assert equal(after, new if step == "after_swap" else old), step
        assert equal(table(root, "rejected", [DAY]), table(pipeline.root, "rejected", [DAY]))


@pytest.mark.slow
def test_four_processes_writing_one_duckdb_file_lose_and_duplicate_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Four partitions, two runs each, in four processes at once, without a Dagster pool limit
    (the worst case): every write waits for the file lock and nothing is lost or doubled."""
    resources = small_resources(tmp_path)
    resources["warehouse"].get_warehouse()  # the source exists before the workers start
    add_bad_rows(tmp_path)
    days = [DAY - timedelta(days=i) for i in range(4)]
    db = tmp_path / "warehouse.duckdb"
    source = warehouse_at(tmp_path).read_source(day_bounds(days[-1])[0], day_bounds(DAY)[1])
    per_day = source["tx_datetime"].dt.date.value_counts().to_dict()
    began = time.perf_counter()
    jobs = [{"db": str(db), "day": d.isoformat(), "repeat": 2} for d in days]
    run_workers(jobs, tmp_path, hold_lock_on=db)
    elapsed = time.perf_counter() - began
    conflicts = sum(job["result"]["lock_conflicts"] for job in jobs)
    for job in jobs:
        assert job["exit"] == 0, job.get("stderr", job)
        assert [run["success"] for run in job["result"]["runs"]] == [True, True]
    assert conflicts >= len(jobs)  # every worker met the lock at least once
    valid, rejected = table(tmp_path, "validated"), table(tmp_path, "rejected")
    stored = (
        valid["partition_date"]
        .value_counts()
        .add(rejected["partition_date"].value_counts(), fill_value=0)
    )
    assert stored.astype(int).to_dict() == {d: per_day[d] for d in days}  # none lost
    assert valid["transaction_id"].is_unique  # nothing doubled
    assert len(rejected) == 6  # the bad rows of DAY and PREVIOUS, once each
    assert set(valid["transaction_id"]) <= set(source["transaction_id"])
    with capsys.disabled():
        print(
            f"\n4 processes x 2 runs: {len(valid)} valid + {len(rejected)} rejected = "
            f"{len(source)} read, {conflicts} lock waits, {elapsed:.1f}s"
        )


# --- 3b. crash safety of the model store, through the training asset ----------------------------


def train(resources: dict[str, Any], instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return materialize([a.fraud_detection_model], resources, instance)


def scored_with(resources: dict[str, Any], instance: dg.DagsterInstance) -> str:
    """Score DAY; the model version the scores were made with."""
    result = materialize([a.fraud_scores], resources, instance, DAY)
    assert result.success, failure_message(result)
    return result.asset_materializations_for_node("fraud_scores")[0].metadata["model_version"].value


@pytest.mark.slow
def test_a_crash_while_saving_a_model_leaves_no_model_scoring_could_pick_up(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, resources = pipeline.copy(tmp_path)
    store = ModelStore(root / "models")
    before, versions = store.promoted(), store.versions()
    path_type = type(store.root / "x")
    write_text = path_type.write_text

    def crash_on_marker(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.name == COMPLETE_MARKER:  # the model's files are written, its marker is not
            raise InjectedCrash("injected crash before the completion marker")
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(path_type, "write_text", crash_on_marker)
    result = train(resources, pipeline.instance)
    monkeypatch.undo()

    assert not result.success
    assert retries(result) == 0
    assert "completion marker" in failure_message(result)
    half = [p for p in (root / "models" / "versions").iterdir() if p.name not in versions]
    assert len(half) == 1
    assert {p.name for p in half[0].iterdir()} == {"model.cbm", "metadata.json", "model_card.html"}
    assert store.versions() == versions  # not listed, so never promoted nor compared
    assert store.promoted() == before
    with pytest.raises(ModelNotFoundError):
        store.load(half[0].name)
    with pytest.raises(ModelNotFoundError):
        store.promote(half[0].name, reason="by hand")
    assert scored_with(resources, pipeline.instance) == before.version


@pytest.mark.slow
def test_a_crash_while_promoting_keeps_the_previous_promotion(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, resources = pipeline.copy(tmp_path)
    store = ModelStore(root / "models")
    before = store.promoted()
    promoted_bytes = (root / "models" / PROMOTED_FILE).read_bytes()
    attempts: list[str] = []

    def crash_on_rename(source: Any, target: Any) -> None:
        attempts.append(str(target))
        raise InjectedCrash("injected crash before the promotion record is renamed into place")

    monkeypatch.setattr("fraud_storage.model_store.os.replace", crash_on_rename)
    result = train(resources, pipeline.instance)
    monkeypatch.undo()

    assert attempts, "the candidate never reached promotion: the test proves nothing"
    assert not result.success
    assert retries(result) == 0
    assert (root / "models" / PROMOTED_FILE).read_bytes() == promoted_bytes
    assert store.promoted() == before
    candidate = next(v for v in store.versions() if v != before.version)  # complete, unpromoted

    # a crash half-way through writing the new record: the old one is still whole
    path_type = type(store.root / "x")
    write_text = path_type.write_text

    def half_written(self: Any, text: str, *args: Any, **kwargs: Any) -> Any:
        if self.name.startswith(f".{PROMOTED_FILE}"):
            write_text(self, text[: len(text) // 2])
            raise InjectedCrash("injected crash while writing the promotion record")
        return write_text(self, text, *args, **kwargs)

    monkeypatch.setattr(path_type, "write_text", half_written)
    with pytest.raises(InjectedCrash):
        store.promote(candidate, reason="by hand")
    monkeypatch.undo()
    assert (root / "models" / PROMOTED_FILE).read_bytes() == promoted_bytes
    assert scored_with(resources, pipeline.instance) == before.version


# --- 5. model safety ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_model_for_other_features_is_refused_then_replaced(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    from fraud_core.model import TrainConfig, train_model

    root, resources = pipeline.copy(tmp_path)
    store = ModelStore(root / "models")
    expected = SMALL_SHAPE.feature_columns()  # the shape the pipeline runs with
    other = [c for c in expected if "terminal" not in c]  # e.g. trained before a feature change
    history = warehouse_at(root).read_partitions(
        warehouse_at(root).tables.transformed, DAY - timedelta(days=9), DAY
    )
    foreign = train_model(history, TrainConfig(device="cpu", iterations=20, features=tuple(other)))
    version = save_model(store, foreign)  # records no pipeline shape, as models before shapes
    with pytest.raises(ShapeMismatchError, match="no recorded pipeline shape"):
        load_model(store, version, SMALL_SHAPE)
    store.promote(version, reason="promoted by hand, bypassing the gate")  # the store is generic
    scores_before = table(root, "scores", [DAY])

    result = materialize([a.fraud_scores], resources, pipeline.instance, DAY)
    assert not result.success
    assert retries(result) == 0
    assert re.search(
        rf"ShapeMismatchError: model {version} was trained with no recorded pipeline shape.*"
        rf"this deployment runs .*{re.escape(SMALL_SHAPE.fingerprint)}.*Retrain the model",
        failure_message(result),
    )
    assert equal(table(root, "scores", [DAY]), scores_before)  # nothing written

    # the next training cannot compare with it, so the candidate must beat the floors to replace it
    result = train(resources, pipeline.instance)
    assert result.success, failure_message(result)
    gate = result.get_asset_check_evaluations()[0]
    assert gate.passed
    assert gate.metadata["current_version"].value == version
    assert store.promoted().version not in (version, pipeline_promoted(pipeline))
    assert scored_with(resources, pipeline.instance) == store.promoted().version


def pipeline_promoted(pipeline: Pipeline) -> str:
    return ModelStore(pipeline.root / "models").promoted().version


@pytest.mark.slow
def test_a_corrupt_promoted_model_fails_training_instead_of_lowering_the_gate(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """Only a declared shape mismatch makes the promoted model incomparable (the candidate then
    faces the floors alone); a corrupt metadata.json fails the run and promotes nothing: the
    version's SHA-256 manifest catches the change before anything parses the file."""
    root, resources = pipeline.copy(tmp_path)
    store = ModelStore(root / "models")
    before = store.promoted()
    metadata = root / "models" / "versions" / before.version / "metadata.json"
    metadata.write_text(metadata.read_text()[:-40])
    result = train(resources, pipeline.instance)
    assert not result.success
    assert retries(result) == 0
    message = failure_message(result)
    assert "ModelIntegrityError" in message, message
    assert "metadata.json" in message
    assert "the file changed after the version was saved" in message
    assert store.promoted() == before


@pytest.mark.slow
@pytest.mark.parametrize(
    ("label", "message"),
    [(0, "no fraud labels"), (None, "no labelled rows")],
    ids=["all genuine", "none labelled"],
)
def test_training_without_fraud_labels_fails_with_a_message(
    pipeline: Pipeline, tmp_path: Path, label: int | None, message: str
) -> None:
    root, resources = pipeline.copy(tmp_path)
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:  # labels come from the source
        con.execute("UPDATE raw.customer_transactions SET tx_fraud = ?", [label])
    store = ModelStore(root / "models")
    versions, promoted = store.versions(), store.promoted()
    result = train(resources, pipeline.instance)
    assert not result.success
    assert retries(result) == 0
    assert message in failure_message(result)
    assert store.versions() == versions
    assert store.promoted() == promoted


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "not found (or incomplete)"),
        ("incomplete", "not found (or incomplete)"),
        ("corrupt", "JSONDecodeError"),
    ],
)
def test_scoring_fails_clearly_when_the_promotion_record_is_broken(
    pipeline: Pipeline, tmp_path: Path, damage: str, message: str
) -> None:
    root, resources = pipeline.copy(tmp_path)
    models = root / "models"
    record = json.loads((models / PROMOTED_FILE).read_text())
    if damage == "missing":
        record["version"] = "20990101T000000Z-deadbeef"
        (models / PROMOTED_FILE).write_text(json.dumps(record))
    elif damage == "incomplete":
        (models / "versions" / record["version"] / COMPLETE_MARKER).unlink()
    else:
        (models / PROMOTED_FILE).write_text('{"version": "2025')
    before = table(root, "scores", [DAY])
    result = materialize([a.fraud_scores], resources, pipeline.instance, DAY)
    assert not result.success
    assert retries(result) == 0
    assert message in failure_message(result)
    assert equal(table(root, "scores", [DAY]), before)


def test_features_without_their_history_fail_fast_naming_the_days(
    make_resources: Callable[..., dict[str, Any]], instance: dg.DagsterInstance
) -> None:
    result = materialize([a.transformed_transactions], make_resources(), instance, DAY)
    assert not result.success
    assert retries(result) == 0  # deterministic: retrying 10 s later finds the same gap
    assert re.search(r"needs raw_customer_transactions for \d+ day\(s\)", failure_message(result))


HOLD_LOCK = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(float(sys.argv[2]))"


@contextlib.contextmanager
def lock_held(db: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the DuckDB file (read-write) for ``seconds``."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_a_locked_file_is_waited_for_then_reported_by_name(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    warehouse = DuckDBWarehouse.at_path(db)
    warehouse.load_source(two_rows())
    with lock_held(db, 1.5):
        began = time.monotonic()
        assert warehouse.source_time_range() is not None  # waits, then reads
        assert time.monotonic() - began > 0.2
    impatient = DuckDBWarehouse(connect_path(db, lock_wait_s=0.5))
    with lock_held(db, 30), pytest.raises(WarehouseError, match=r"warehouse\.duckdb stayed locked"):
        impatient.source_time_range()


def two_rows() -> pd.DataFrame:
    start = pd.Timestamp(DAY, tz="UTC")
    return pd.DataFrame(
        {
            "transaction_id": [1, 2],
            "tx_datetime": [start, start + pd.Timedelta(hours=1)],
            "customer_id": [1, 2],
            "terminal_id": [1, 2],
            "tx_amount": [1.0, 2.0],
            "tx_fraud": [0, 1],
        }
    )


def test_seeding_if_missing_loads_once_however_many_callers(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse.at_path(tmp_path / "warehouse.duckdb")
    assert warehouse.load_source(two_rows(), if_missing=True) == 2
    assert warehouse.load_source(two_rows(), if_missing=True) == 0
    assert len(warehouse.read_source(*day_bounds(DAY))) == 2


def test_processes_that_find_the_warehouse_empty_together_seed_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resource = small_resources(tmp_path)["warehouse"]
    # both processes checked before either loaded: the interleaving of a concurrent first use
    monkeypatch.setattr(DuckDBWarehouse, "table_exists", lambda self, table: False)
    resource.get_warehouse()
    resource.get_warehouse()
    monkeypatch.undo()
    source = warehouse_at(tmp_path).read_source(*day_bounds(DAY))
    assert source["transaction_id"].is_unique


def documented_pool_config() -> dict[str, Any]:
    """The dagster.yaml block of docs/reliability.md that limits the warehouse pool."""
    doc = (REPO / "docs" / "reliability.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)]
    return next(b for b in blocks if isinstance(b, dict) and "concurrency" in b)


def test_the_documented_pool_limit_is_valid_and_covers_every_writer() -> None:
    """The dagster.yaml block of docs/reliability.md loads, and limits the assets' pool to 1."""
    doc = (REPO / "docs" / "reliability.md").read_text(encoding="utf-8")
    config = documented_pool_config()
    with dg.instance_for_test(overrides=config) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    assert f"dagster instance concurrency set {WAREHOUSE_POOL} 1" in doc
    for asset in PER_DAY:
        assert asset.op.pool == WAREHOUSE_POOL, asset.key


def test_every_op_that_touches_the_warehouse_is_in_its_pool(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Training reads the warehouse too (issue 15): every asset or check of the loaded location
    that requires the ``warehouse`` resource holds a slot of the pool while it runs."""
    from hybrid_location.definitions import defs

    for key in ("DAGSTER_CLOUD_DEPLOYMENT_NAME", "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FRAUD_ENV", "local")
    monkeypatch.setenv("FRAUD_DATA_DIR", str(tmp_path))
    definitions = defs()
    loaded = [*(definitions.assets or []), *(definitions.asset_checks or [])]
    pools = {
        node.op.name: node.op.pool
        for node in loaded
        if isinstance(node, dg.AssetsDefinition) and "warehouse" in node.required_resource_keys
    }
    assert {asset.op.name for asset in ALL} <= pools.keys()  # the whole pipeline is checked
    assert pools == dict.fromkeys(pools, WAREHOUSE_POOL)


# --- 6. transient faults: the Snowflake emulator killed and restarted mid-run --------------------

SECRET = "Sup3r-S3cret-Pa55-xyz"


def two_simulated_days() -> pd.DataFrame:
    from fraud_core.simulate import simulate_transactions

    return simulate_transactions(
        n_customers=300, n_terminals=600, start_date=PREVIOUS, n_days=2, seed=11
    )


@pytest.mark.slow
@pytest.mark.snowflake
@pytest.mark.timeout(300)
# the connector's query-abort thread hits the killed server and reports it as a thread error
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_emulator_killed_mid_write_is_retried_and_the_run_completes(
    fakesnow_servers: Callable[..., Any],
    instance: dg.DagsterInstance,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from dagster_snowflake import SnowflakeResource

    from fraud_dagster.resources import SnowflakeWarehouseResource
    from fraud_storage.snowflake_config import connection_factory
    from fraud_storage.snowflake_warehouse import SnowflakeWarehouse

    caplog.set_level("DEBUG")
    server = fakesnow_servers()  # a private emulator this test may kill
    endpoint = {"host": server.host, "port": server.port, "protocol": "http"}
    session = {"session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}}
    login = {"account": "fakesnow", "user": "fake", "password": SECRET, "database": "RESTART"}
    source = two_simulated_days()

    def load_source() -> None:  # the durable data a real restart keeps; the emulator forgets it
        connect = connection_factory(**login, **endpoint, **session, schema="PUBLIC")
        SnowflakeWarehouse(connect).load_source(source)

    restarts: list[threading.Thread] = []

    def restart() -> None:
        server.start()
        load_source()

    class KillingSnowflakeWarehouse(SnowflakeWarehouseResource):
        def get_warehouse(self) -> Any:
            warehouse = super().get_warehouse()

            def kill_between_delete_and_insert(step: str) -> None:
                if step == "during_swap" and not restarts:
                    server.stop(hard=True)  # SIGKILL with the transaction open
                    restarts.append(threading.Thread(target=restart, daemon=True))
                    restarts[0].start()

            warehouse._fault_hook = kill_between_delete_and_insert
            return warehouse

    load_source()
    snowflake = SnowflakeResource(
        **login,
        schema="PUBLIC",
        login_timeout=60,  # the connector keeps trying to log in while the server restarts
        network_timeout=30,
        additional_snowflake_connection_args={**endpoint, **session},
    )
    began = time.perf_counter()
    result = dg.materialize(
        [a.raw_customer_transactions],
        partition_key=DAY.isoformat(),
        resources={"warehouse": KillingSnowflakeWarehouse(snowflake=snowflake)},
        instance=instance,
        raise_on_error=False,
    )
    elapsed = time.perf_counter() - began
    assert restarts, "the emulator was never killed"
    restarts[0].join(timeout=120)
    assert result.success, failure_message(result)
    assert "transient error on attempt 1/" in caplog.text  # the write was retried
    day = source[source["tx_datetime"].dt.date == DAY]
    with dg.build_resources({"warehouse": SnowflakeWarehouseResource(snowflake=snowflake)}) as r:
        warehouse = r.warehouse.get_warehouse()
        valid = warehouse.read_partitions(warehouse.tables.validated, DAY, DAY + timedelta(1))
        counts = warehouse.partition_counts(warehouse.tables.rejected)
    assert sorted(valid["transaction_id"]) == sorted(day["transaction_id"])  # whole, once
    assert counts.get(DAY, 0) == 0
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["rows_conserved"]
    assert SECRET not in caplog.text
    assert elapsed < 240


# --- 7. secrets and configuration-supplied identifiers ------------------------------------------

INJECTIONS = {  # a statement, a quote that closes the quoted name, comments, a string quote
    "FRAUD_SOURCE_TABLE": ["RAW.x; DROP TABLE y", 'RAW."T""; DROP TABLE y; --"'],
    "FRAUD_OUTPUT_SCHEMA": ["FRAUD /* c */ -- d", "FRA'UD"],
}


@pytest.mark.parametrize(
    ("variable", "value"),
    [(variable, value) for variable, values in INJECTIONS.items() for value in values],
)
@pytest.mark.parametrize("engine", ["duckdb", "snowflake"])
def test_injected_identifiers_in_configuration_are_refused_before_any_sql(
    engine: str,
    variable: str,
    value: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instance: dg.DagsterInstance,
) -> None:
    """Table names from the environment reach the run; no connection is opened, nothing retried."""
    import snowflake.connector

    from fraud_dagster.environment import Environment
    from hybrid_location.defs.resources import build_resources

    connections: list[str] = []

    def no_sql(*args: Any, **kwargs: Any) -> Any:
        connections.append(engine)
        raise AssertionError("a connection was opened")

    monkeypatch.setattr(snowflake.connector, "connect", no_sql)
    monkeypatch.setattr(duckdb, "connect", no_sql)
    env = {"FRAUD_ENV": "local", "FRAUD_WAREHOUSE": engine, "FRAUD_DATA_DIR": str(tmp_path)}
    if engine == "snowflake":  # never reached: nothing listens there
        env |= {
            "SNOWFLAKE_ACCOUNT": "acct",
            "SNOWFLAKE_USER": "user",
            "SNOWFLAKE_PASSWORD": SECRET,
            "SNOWFLAKE_DATABASE": "DB",
            "SNOWFLAKE_HOST": "127.0.0.1",
            "SNOWFLAKE_PORT": "9",
            "SNOWFLAKE_PROTOCOL": "http",
        }
    for key, setting in {**env, variable: value}.items():
        monkeypatch.setenv(key, setting)
    resources = {
        **small_resources(tmp_path),
        "warehouse": build_resources(Environment.LOCAL)["warehouse"],
    }
    result = materialize([a.raw_customer_transactions], resources, instance, DAY)
    assert not result.success
    assert retries(result) == 0
    message = failure_message(result)
    assert "InvalidIdentifierError" in message
    assert value.split(".")[-1].strip('"') in message or value in message  # names the bad value
    assert SECRET not in message
    assert connections == []
    assert list(tmp_path.glob("*.duckdb")) == []  # not even the file was created


def snowflake_day(warehouse: Any, day: date) -> dict[str, pd.DataFrame]:
    """Each output table's rows (ROLES) of ``day`` on Snowflake, in a canonical order."""
    state = {}
    for role in ROLES:
        frame = warehouse.read_partitions(getattr(warehouse.tables, role), day, day + timedelta(1))
        frame = frame[sorted(frame.columns)]
        state[role] = frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)
    return state


@pytest.mark.slow
@pytest.mark.snowflake
def test_on_snowflake_three_runs_keep_one_copy_and_no_credential_leaks(
    snowflake_database: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Raw, features, scores, alerts and report of a day on the emulator, three times, with a
    distinctive password, then a failing run.

    2. Idempotence on Snowflake: after the second and third runs every output table holds exactly
       the rows of the first (bad rows included), ids unique.
    7. Secrets: every log line (Python logging at DEBUG, the connector's included; stdout and
       stderr), every event with its metadata and error, the run records, the report table and the
       HTML reports are searched for the password.
    """
    from fraud_core.features import build_features
    from fraud_core.model import TrainConfig, train_model
    from fraud_dagster.environment import Environment
    from fraud_dagster.resources import SnowflakeWarehouseResource
    from hybrid_location.defs.resources import build_resources

    secret = f"Fake-Pw-{uuid.uuid4().hex}"
    env = snowflake_database.environment(SNOWFLAKE_PASSWORD=secret)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    caplog.set_level("DEBUG")
    # one-day windows, no label delay: a day's features need only the day before
    shape = PipelineShape(windows_days=(1,), label_delay_days=0)
    resources = {
        **small_resources(tmp_path, shape=shape),
        "warehouse": build_resources(Environment.LOCAL)["warehouse"],
    }
    source = two_simulated_days()
    bad = source[source["tx_datetime"].dt.date == DAY].head(3).copy()
    bad["transaction_id"] = [10**9, 10**9, 10**9 + 1]  # a duplicated id, then a negative amount
    bad.loc[bad.index[2], "tx_amount"] = -5.0
    with dg.build_resources({"warehouse": resources["warehouse"]}) as ready:
        warehouse = ready.warehouse.get_warehouse()
        warehouse.load_source(pd.concat([source, bad], ignore_index=True))
    train = TrainConfig(device="cpu", iterations=20)
    store = ModelStore(tmp_path / "models")
    features = build_features(source, shape.feature_config())
    version = save_model(store, train_model(features, train, shape=shape))
    store.promote(version, reason="a tiny model for this test")

    runs, states = [], []
    with dg.instance_for_test() as instance:
        result = materialize([a.raw_customer_transactions], resources, instance, PREVIOUS)
        assert result.success, failure_message(result)
        runs.append(result)
        for _ in range(3):
            result = materialize(PER_DAY, resources, instance, DAY)
            assert result.success, failure_message(result)
            runs.append(result)
            states.append(snowflake_day(warehouse, DAY))
        failing = SnowflakeWarehouseResource(
            snowflake=resources["warehouse"].snowflake,
            tables=TablesConfig(output_database="NO_SUCH_DB"),
        )
        failed = materialize(
            [a.raw_customer_transactions], {**resources, "warehouse": failing}, instance, DAY
        )
        assert not failed.success
        error = failure_message(failed)
        assert "NO_SUCH_DB" in error
        records = [r for run in [*runs, failed] for r in instance.all_logs(run.run_id)]
        run_records = [instance.get_run_by_id(run.run_id) for run in [*runs, failed]]
    out, err = capfd.readouterr()

    # idempotence: one copy of the day, whatever the number of runs
    assert len(states[0]["rejected"]) == 3
    assert len(states[0]["report"]) == 1
    assert_same(states[0], states[1])
    assert_same(states[0], states[2])
    for role in ("validated", "transformed", "scores"):
        assert states[2][role]["transaction_id"].is_unique, role
    assert states[2]["alerts"]["customer_id"].is_unique  # one alert per card

    # secrets
    html = [p.read_text(encoding="utf-8") for p in Path(tmp_path / "reports").rglob("*.htm*")]
    searched = {
        "python logging": caplog.text,
        "stdout and stderr": out + err,
        "event log (messages, metadata, errors)": "\n".join(dg.serialize_value(r) for r in records),
        "run records": "\n".join(dg.serialize_value(r) for r in run_records),
        "error message": error,
        "output tables": "\n".join(frame.to_json() for frame in states[2].values()),
        "html reports": "\n".join(html),
    }
    # the search covers what it claims: the connector logged, metadata and the report are there
    assert "snowflake.connector" in caplog.text
    assert '"rows_read"' in searched["event log (messages, metadata, errors)"]
    assert html
    for where, text in searched.items():
        assert text, where
        assert secret not in text, f"the password leaked into the {where}"
