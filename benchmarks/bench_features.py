"""Benchmark: fraud_core.features.build_features vs DuckDB window functions.

Both engines compute the handbook's 14 baseline features on the same in-memory pandas frame, in
this one process: DuckDB with ``RANGE`` window functions (per customer ``(t - n days, t]``, per
terminal the delayed window ``(t - n - d days, t - d days]``), result fetched into pandas with
``.df()`` and ordered like build_features' output. fraud_core additionally computes the rest of
the feature registry (``fraud_core.features.FEATURE_LAYOUT``; its time includes them: 8 more at
three windows, 3 of them the terminal spend family added on 2026-12-04). The two are checked to
agree (allclose) on a sample of rows.

Usage::

    uv run python benchmarks/bench_features.py --rows 1000000
    uv run python benchmarks/bench_features.py --rows 5000000 --windows 1,7,30 --delay 7
    uv run python benchmarks/bench_features.py --source handbook   # the 1.75M-row handbook data

Peak memory: a background thread samples the process RSS every few milliseconds while each
engine runs; it is reported relative to the input frame's size (``memory_usage(deep=True)``),
against the target of at most 3x, and for fraud_core also as the *working memory*: the RSS
growth minus the output's new memory, which build_features has to allocate whatever it does.

pandas Copy-on-Write: build_features is timed under ``mode.copy_on_write = True``, pandas 3's
default behaviour (opt-in on pandas 2.x). With it, the output's key columns share the input's
memory (the input here is already in time order), so the new memory is the features alone;
without it the key columns are copied too (output 3.3x the input at the default windows). For
comparison, build_features also runs without CoW in a child process forked before any
measurement (so that neither run can reuse memory the other freed), and the two outputs are
checked to be identical (``--skip-no-cow`` skips it). Each measured run follows a warm-up call
on 2,000 rows, so that mapping the libraries' code pages does not count as growth, and
``malloc_trim``, so that no free heap memory left by earlier work is reused unseen. DuckDB runs without CoW, as before.
``--tracemalloc`` adds a run under tracemalloc (numpy/pandas buffers), ``--stages`` one that
reports the peak RSS growth during each stage of build_features (where the peak is): the
stages are the private steps of ``fraud_core.features.table``, one per window group of the
registry.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import io
import multiprocessing
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from memory import peak_rss, release_free_heap, rss_bytes

import fraud_core.features.table as table_module
from fraud_core.columns import (
    CUSTOMER_ID,
    TERMINAL_ID,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
)
from fraud_core.features import FeatureConfig, build_features, feature_dtypes
from fraud_core.features.registry import (
    CUSTOMER_ACTIVITY,
    TERMINAL_RISK,
    TX_DURING_NIGHT,
    TX_DURING_WEEKEND,
)

HANDBOOK = Path("/work/shared/data/fdh/simulated_raw_2018-04-01_2018-09-30.parquet")
ROWS_PER_CUSTOMER = 356  # the handbook simulator's average over 183 days
MB = 1024**2
RSS_TARGET = 3.0  # peak RSS growth during build_features, in input frames


def baseline_columns(config: FeatureConfig) -> list[str]:
    """Return the handbook's baseline feature names for ``config`` (DuckDB computes these)."""
    return [
        TX_DURING_WEEKEND.name,
        TX_DURING_NIGHT.name,
        *CUSTOMER_ACTIVITY.columns(config),
        *TERMINAL_RISK.columns(config),
    ]


def random_transactions(rows: int, seed: int = 0, days: int = 183) -> pd.DataFrame:
    """Return ``rows`` random canonical transactions (handbook-like sizes), time-sorted."""
    rng = np.random.default_rng(seed)
    n_customers = max(rows // ROWS_PER_CUSTOMER, 1)
    seconds = np.sort(rng.integers(0, days * 86_400, rows))
    start = pd.Timestamp("2018-04-01", tz="UTC").as_unit("ns")
    fraud = (rng.random(rows) < 0.008).astype(np.int8)
    return pd.DataFrame(
        {
            TRANSACTION_ID: np.arange(rows, dtype=np.int64),
            TX_DATETIME: start + pd.to_timedelta(seconds, unit="s"),
            CUSTOMER_ID: rng.integers(0, n_customers, rows),
            TERMINAL_ID: rng.integers(0, 2 * n_customers, rows),
            TX_AMOUNT: np.round(rng.gamma(2.0, 27.0, rows), 2),
            TX_FRAUD: pd.arrays.IntegerArray(fraud, np.zeros(rows, dtype=bool)),
        }
    )


def simulated_transactions(rows: int, seed: int = 0) -> pd.DataFrame:
    """Return about ``rows`` transactions from fraud_core.simulate (random data if absent)."""
    try:
        from fraud_core.simulate import simulate_transactions
    except ImportError:
        print("fraud_core.simulate not available: using random data")
        return random_transactions(rows, seed)
    n_customers = max(round(rows / ROWS_PER_CUSTOMER), 1)
    return simulate_transactions(
        n_customers=n_customers, n_terminals=2 * n_customers, n_days=183, seed=seed
    )


def handbook_transactions() -> pd.DataFrame:
    """Return the handbook's published transactions in the canonical schema."""
    raw = pd.read_parquet(HANDBOOK)
    raw.columns = [c.lower() for c in raw.columns]
    return pd.DataFrame(
        {
            TRANSACTION_ID: raw[TRANSACTION_ID],
            TX_DATETIME: raw[TX_DATETIME].dt.tz_localize("UTC").dt.as_unit("ns"),
            CUSTOMER_ID: raw[CUSTOMER_ID],
            TERMINAL_ID: raw[TERMINAL_ID],
            TX_AMOUNT: raw[TX_AMOUNT],
            TX_FRAUD: raw[TX_FRAUD].astype("Int8"),
            TX_FRAUD_SCENARIO: raw[TX_FRAUD_SCENARIO].astype("Int8"),
        }
    )


def duckdb_query(config: FeatureConfig) -> str:
    """Return the DuckDB SQL computing the 14 baseline features of the registered ``tx``."""
    day_us = 86_400 * 10**6
    d = config.label_delay_days
    nb_tx, avg_amount = (f.name for f in CUSTOMER_ACTIVITY.features)
    terminal_nb_tx, risk = (f.name for f in TERMINAL_RISK.features)
    cols = [
        f"CAST(dayofweek({TX_DATETIME}) IN (0, 6) AS TINYINT) AS {TX_DURING_WEEKEND.name}",
        f"CAST(hour({TX_DATETIME}) <= 6 AS TINYINT) AS {TX_DURING_NIGHT.name}",
    ]
    for n in config.windows_days:
        # RANGE offsets are inclusive: n days minus 1 us gives (t - n days, t] on us timestamps
        w = (
            f"OVER (PARTITION BY {CUSTOMER_ID} ORDER BY us "
            f"RANGE BETWEEN {n * day_us - 1} PRECEDING AND CURRENT ROW)"
        )
        cols += [
            f"COUNT(*) {w} AS {nb_tx(n)}",
            f"AVG({TX_AMOUNT}) {w} AS {avg_amount(n)}",
        ]
    for n in config.windows_days:
        w = (
            f"OVER (PARTITION BY {TERMINAL_ID} ORDER BY us "
            f"RANGE BETWEEN {(n + d) * day_us - 1} PRECEDING AND {d * day_us} PRECEDING)"
        )
        cols += [
            f"COUNT(*) {w} AS {terminal_nb_tx(n)}",
            f"COALESCE(SUM({TX_FRAUD}) {w} / NULLIF(COUNT({TX_FRAUD}) {w}, 0), 0) AS {risk(n)}",
        ]
    return (
        f"SELECT {TRANSACTION_ID}, {TX_DATETIME}, {', '.join(cols)} "
        f"FROM (SELECT *, epoch_us({TX_DATETIME}) AS us FROM tx) "
        f"ORDER BY {TX_DATETIME}, {TRANSACTION_ID}"
    )


def duckdb_features(
    transactions: pd.DataFrame, config: FeatureConfig, threads: int
) -> pd.DataFrame:
    """Return DuckDB's 14 baseline features of ``transactions`` as a pandas frame."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute("SET TimeZone = 'UTC'")
        con.register("tx", transactions)
        return con.execute(duckdb_query(config)).df()
    finally:
        con.close()


def timed(fn: Callable[[], Any]) -> tuple[Any, float, dict[str, int]]:
    """Run ``fn`` once; return its result, wall seconds and RSS samples."""
    gc.collect()
    with peak_rss() as rss:
        t0 = time.perf_counter()
        out = fn()
        elapsed = time.perf_counter() - t0
    return out, elapsed, rss


def _buffers(col: pd.Series) -> list[np.ndarray]:
    """The numpy buffers behind a column (values, and the mask of a nullable column)."""
    arr = col.array
    attrs = ("_data", "_mask", "_ndarray")
    return [getattr(arr, a) for a in attrs if isinstance(getattr(arr, a, None), np.ndarray)]


def shared_bytes(out: pd.DataFrame, transactions: pd.DataFrame) -> int:
    """Bytes of ``out``'s buffers that share memory with ``transactions`` (no new memory)."""
    total = 0
    for col in out.columns.intersection(transactions.columns):
        for x, y in zip(_buffers(out[col]), _buffers(transactions[col]), strict=False):
            if np.shares_memory(x, y):
                total += x.nbytes
    return total


def run_fraud_core(
    transactions: pd.DataFrame, config: FeatureConfig, input_bytes: int, *, cow: bool
) -> tuple[pd.DataFrame, float]:
    """Time build_features with or without pandas Copy-on-Write; print its memory figures."""
    with pd.option_context("mode.copy_on_write", cow):
        # warm-up on a few rows: maps the code pages first (a forked child starts without them)
        build_features(transactions.iloc[:2000], config)
        release_free_heap()
        ours, t_ours, rss = timed(lambda: build_features(transactions, config))
    out_bytes = int(ours.memory_usage(deep=True).sum())
    n_features = len(feature_dtypes(config))
    new_bytes = out_bytes - shared_bytes(ours, transactions)
    mode = (
        "with pandas Copy-on-Write (pandas 3's default; opt-in on pandas 2.x)"
        if cow
        else "without Copy-on-Write (pandas 2.x's default)"
    )
    shared = (
        " (the rest shares the input's key columns)" if new_bytes < out_bytes else " (no sharing)"
    )
    print(
        f"fraud_core.build_features {mode}: {t_ours:7.2f} s  ({n_features} features incl. "
        f"{n_features - len(baseline_columns(config))} beyond the handbook's); output "
        f"{out_bytes / MB:,.0f} MiB, of which new memory "
        f"{new_bytes / MB:,.0f} MiB = {new_bytes / input_bytes:.2f}x input{shared}"
    )
    growth = rss["peak"] - rss["start"]
    ratio = growth / input_bytes
    print(
        f"  RSS peak during: +{growth / MB:,.0f} MiB over the {rss['start'] / MB:,.0f} MiB before "
        f"= {ratio:.2f}x input (target <= {RSS_TARGET:g}x: "
        f"{'met' if ratio <= RSS_TARGET else 'MISSED'}); process peak {rss['peak'] / MB:,.0f} MiB"
    )
    print(
        f"  peak growth minus the new output: {(growth - new_bytes) / MB:,.0f} MiB = "
        f"{(growth - new_bytes) / input_bytes:.2f}x input (temporaries alive at the peak; "
        "--stages shows where it is); process peak / (input + new output) = "
        f"{rss['peak'] / (input_bytes + new_bytes):.2f} (interpreter and libraries included)"
    )
    return ours, t_ours


# build_features' stages (private functions of fraud_core.features.table): a stage per call,
# named by the function, or by the window group for the group stage
STAGES = {
    "calendar_features": "calendar",
    "_group_features": "windows",
    "_seconds_since_previous": "seconds since previous",
    "_first_use_feature": "first use",
    "output_frame": "output frame",
}


def _stage_label(name: str, args: tuple[Any, ...]) -> str:
    """The stage a call of ``name`` is: ``customer_current windows``, ``first use``, ..."""
    if name == "_group_features":
        return f"{args[3].name} windows"  # (entity, codes, ngroups, group, ...)
    return STAGES[name]


def stage_peaks(transactions: pd.DataFrame, config: FeatureConfig, input_bytes: int) -> None:
    """Extra CoW run printing the peak RSS growth during each stage of build_features."""
    marks = ["input handling"]  # the stage running now is the last one
    originals = {name: getattr(table_module, name) for name in STAGES}

    def staged(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            label = _stage_label(name, args)
            marks.append(label)
            try:
                return originals[name](*args, **kwargs)
            finally:  # one sample at the end too: a stage may be shorter than the interval
                peaks[label] = max(peaks.get(label, 0), rss_bytes())
                marks.append("between stages")

        return call

    peaks: dict[str, int] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            stage, rss = marks[-1], rss_bytes()
            peaks[stage] = max(peaks.get(stage, 0), rss)
            stop.wait(0.002)

    with pd.option_context("mode.copy_on_write", True):
        build_features(transactions.iloc[:2000], config)
        release_free_heap()
        for name in STAGES:
            setattr(table_module, name, staged(name))
        thread = threading.Thread(target=sample, daemon=True)
        start = rss_bytes()
        thread.start()
        try:
            build_features(transactions, config)
        finally:
            stop.set()
            thread.join()
            for name, fn in originals.items():
                setattr(table_module, name, fn)
    order = [s for s in dict.fromkeys(marks) if s != "between stages"]  # first-seen order
    print(
        "  RSS peak growth by stage (extra CoW run), x input: "
        + ", ".join(f"{s} {(peaks[s] - start) / input_bytes:.2f}" for s in order if s in peaks)
    )


def digest(frame: pd.DataFrame) -> str:
    """A hash of ``frame``'s columns, dtypes and values (every row)."""
    h = hashlib.sha256(repr(list(frame.dtypes.items())).encode())
    h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return h.hexdigest()


def _no_cow_child(
    conn: Any, transactions: pd.DataFrame, config: FeatureConfig, input_bytes: int
) -> None:
    """In a forked child: measure build_features without CoW; send its report and digest."""
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        plain, _ = run_fraud_core(transactions, config, input_bytes, cow=False)
    conn.send((report.getvalue(), digest(plain)))
    conn.close()


def start_no_cow_run(
    transactions: pd.DataFrame, config: FeatureConfig, input_bytes: int
) -> tuple[str, str]:
    """Run the no-CoW measurement in a child forked now; return its report and digest."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_no_cow_child, args=(send, transactions, config, input_bytes))
    child.start()
    send.close()
    report, frame_digest = receive.recv()
    child.join()
    return report, frame_digest


def compare(
    ours: pd.DataFrame,
    theirs: pd.DataFrame,
    transactions: pd.DataFrame,
    columns: list[str],
    sample: int,
) -> None:
    """Print whether the two agree on ``columns`` for a random sample of transactions."""
    # DuckDB's RANGE frame includes same-instant peers; fraud_core orders them by id.
    tied = transactions.duplicated([CUSTOMER_ID, TX_DATETIME], keep=False)
    tied_ids = set(transactions.loc[tied, TRANSACTION_ID])
    rng = np.random.default_rng(0)
    pos = rng.choice(len(ours), size=min(sample, len(ours)), replace=False)
    ids = ours[TRANSACTION_ID].to_numpy()[pos]
    ids = ids[~np.isin(ids, list(tied_ids))]
    a = ours.set_index(TRANSACTION_ID).loc[ids, columns].to_numpy(np.float64)
    b = theirs.set_index(TRANSACTION_ID).loc[ids, columns].to_numpy(np.float64)
    ok = np.isclose(a, b, rtol=1e-9, atol=1e-9)
    same_order = ours[TRANSACTION_ID].equals(theirs[TRANSACTION_ID])
    print(
        f"check: {len(ids):,} sampled rows ({len(tied_ids):,} rows in customer same-instant ties "
        f"excluded), {len(columns)} features: "
        f"{'all close' if ok.all() else f'{(~ok).sum()} MISMATCHES'}"
        f" (max abs diff {np.abs(a - b).max():.3g}); same row order: {same_order}"
    )
    if not ok.all():
        bad = sorted({columns[j] for j in np.flatnonzero((~ok).any(axis=0))})
        print(f"  mismatching columns: {bad}")


def main() -> None:
    """Parse arguments, run both engines and print times, ratio, memory and the check."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to simulate")
    parser.add_argument("--windows", default="1,7,30", help="comma-separated windows (days)")
    parser.add_argument("--delay", type=int, default=7, help="label delay (days)")
    parser.add_argument(
        "--source",
        choices=["simulate", "random", "handbook"],
        default="simulate",
        help="fraud_core.simulate (default), uniform random rows, or the handbook parquet",
    )
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check-sample", type=int, default=50_000, help="rows to compare")
    parser.add_argument("--skip-duckdb", action="store_true", help="time fraud_core only")
    parser.add_argument(
        "--skip-no-cow",
        action="store_true",
        help="skip the comparison run of build_features without pandas Copy-on-Write",
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="extra fraud_core run under tracemalloc"
    )
    parser.add_argument(
        "--stages", action="store_true", help="extra fraud_core run: peak RSS per stage"
    )
    args = parser.parse_args()
    config = FeatureConfig(
        windows_days=tuple(int(w) for w in args.windows.split(",")),
        label_delay_days=args.delay,
    )

    t0 = time.perf_counter()
    if args.source == "handbook":
        transactions = handbook_transactions()
    elif args.source == "random":
        transactions = random_transactions(args.rows, args.seed)
    else:
        transactions = simulated_transactions(args.rows, args.seed)
    input_bytes = int(transactions.memory_usage(deep=True).sum())
    print(
        f"input: {len(transactions):,} rows ({args.source}), "
        f"{transactions[CUSTOMER_ID].nunique():,} customers, "
        f"{transactions[TERMINAL_ID].nunique():,} terminals, {input_bytes / MB:,.0f} MiB, "
        f"made in {time.perf_counter() - t0:.1f} s; windows {config.windows_days}, "
        f"delay {config.label_delay_days} d"
    )

    if not args.skip_no_cow:  # first, so that the child starts from the same state
        no_cow_report, no_cow_digest = start_no_cow_run(transactions, config, input_bytes)
    ours, t_ours = run_fraud_core(transactions, config, input_bytes, cow=True)
    if args.stages:
        stage_peaks(transactions, config, input_bytes)
    if args.tracemalloc:
        gc.collect()
        tracemalloc.start()
        with pd.option_context("mode.copy_on_write", True):
            build_features(transactions, config)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"  tracemalloc peak (numpy/pandas allocations, incl. the output): "
            f"{peak / input_bytes:.2f}x input"
        )

    if not args.skip_duckdb:
        theirs, t_duck, rss = timed(lambda: duckdb_features(transactions, config, args.threads))
        print(f"duckdb ({args.threads} threads, 14 baseline features): {t_duck:7.2f} s")
        print(
            f"  RSS peak during: +{(rss['peak'] - rss['start']) / MB:,.0f} MiB over the "
            f"{rss['start'] / MB:,.0f} MiB before = "
            f"{(rss['peak'] - rss['start']) / input_bytes:.2f}x input"
        )
        print(f"ratio fraud_core / duckdb: {t_ours / t_duck:.3f}")
        compare(ours, theirs, transactions, baseline_columns(config), args.check_sample)

    if not args.skip_no_cow:
        print("for comparison (in a child process forked before the runs above):")
        print(no_cow_report, end="")
        print(f"  identical to the Copy-on-Write output: {no_cow_digest == digest(ours)}")


if __name__ == "__main__":
    main()
