"""Benchmark: peak memory of reading transactions from the DuckDB warehouse into pandas.

Target: reading ``--rows`` source rows through ``DuckDBWarehouse.read_source`` peaks at no more
than 1.5x the final frame plus one Arrow batch. Each variant runs in a fresh subprocess (so no
allocator state is shared) and reports the growth of its peak RSS (``ru_maxrss``) over the RSS
just before the read, relative to the final frame's size (``memory_usage(deep=True)``):

* ``read_source``: the warehouse layer as it is now;
* ``df``: ``execute(...).df()`` + ``normalise_frame`` (what ``read_source`` did before);
* ``arrow_batches``: Arrow record batches (``fetch_record_batch`` / ``to_arrow_reader``) collected
  and converted to pandas once, freeing the Arrow buffers as columns are converted;
* ``arrow_table``: ``to_arrow_table()`` / ``.arrow()`` then one ``to_pandas``;
* ``df_unordered``: ``.df()`` without the ``ORDER BY`` (what DuckDB's sort costs).

The source table is created once (``--db``, simulated transactions, written by a separate process
that has exited before the first read) and reused.

Usage::

    uv run python benchmarks/bench_ingest.py --rows 10000000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from memory import rss_bytes

from fraud_storage.duckdb_warehouse import DuckDBWarehouse
from fraud_storage.warehouse import normalise_frame

VARIANTS = ("read_source", "df", "arrow_batches", "arrow_table", "df_unordered")
BATCH_ROWS = 1_000_000
START = pd.Timestamp("2000-01-01", tz="UTC")
END = pd.Timestamp("2100-01-01", tz="UTC")
MB = 1024**2


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def create_source(db: Path, rows: int) -> None:
    """Create the DuckDB source table with about ``rows`` simulated transactions."""
    from fraud_core.simulate import simulate_transactions

    n_customers = max(rows // 356, 1)  # the handbook's 356 transactions per customer in 183 days
    frame = simulate_transactions(n_customers=n_customers, n_terminals=2 * n_customers, seed=0)
    DuckDBWarehouse.at_path(db).load_source(frame, replace=True)
    print(f"created {db} with {len(frame):,} rows", file=sys.stderr)


def _query(wh: DuckDBWarehouse, ordered: bool = True) -> str:
    order = " ORDER BY tx_datetime, transaction_id" if ordered else ""
    return (
        f"SELECT * FROM {wh.tables.source.quoted('duckdb')} "
        f"WHERE tx_datetime >= ? AND tx_datetime < ?{order}"
    )


def read_variant(db: Path, variant: str) -> pd.DataFrame:
    """Read the whole source with one variant."""
    import duckdb
    import pyarrow as pa

    wh = DuckDBWarehouse.at_path(db)
    if variant == "read_source":
        return wh.read_source(START, END)
    con = duckdb.connect(str(db))
    try:
        con.execute("SET TimeZone = 'UTC'")
        result = con.execute(_query(wh, variant != "df_unordered"), [START, END])
        if variant in ("df", "df_unordered"):
            frame = result.df()
        elif variant == "arrow_table":
            table = result.to_arrow_table() if hasattr(result, "to_arrow_table") else result.arrow()
            frame = table.to_pandas(self_destruct=True, split_blocks=True)
            del table
        else:
            fetch = getattr(result, "fetch_record_batch", None) or result.to_arrow_reader
            reader = fetch(BATCH_ROWS)
            table = pa.Table.from_batches(list(reader), schema=reader.schema)
            frame = table.to_pandas(self_destruct=True, split_blocks=True)
            del table
    finally:
        con.close()
    return normalise_frame(frame)


def child(db: Path, variant: str) -> None:
    """Measure one variant in this (fresh) process; print a JSON line."""
    import duckdb  # noqa: F401  (imported before the baseline, as read_source would have it)
    import pyarrow  # noqa: F401

    gc.collect()
    before = rss_bytes()
    began = time.perf_counter()
    frame = read_variant(db, variant)
    seconds = time.perf_counter() - began
    peak = _peak_rss()
    frame_bytes = int(frame.memory_usage(deep=True).sum())
    print(
        json.dumps(
            {
                "variant": variant,
                "rows": len(frame),
                "seconds": seconds,
                "before": before,
                "peak": peak,
                "frame": frame_bytes,
                "batch": frame_bytes * min(BATCH_ROWS, len(frame)) // max(len(frame), 1),
                "dtypes": {c: str(t) for c, t in frame.dtypes.items()},
            }
        )
    )


def main() -> None:
    """Create the source if needed, run every variant in a subprocess, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/bench_ingest/warehouse.duckdb"))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--create", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.db, args.child)
        return
    if args.create:
        create_source(args.db, args.rows)
        return
    marker = args.db.with_suffix(f".{args.rows}.ok")
    if not marker.exists():
        args.db.parent.mkdir(parents=True, exist_ok=True)
        args.db.unlink(missing_ok=True)
        # in its own process, finished before any read: as in production, where the loader is
        # another process. (Read by children of the very process that wrote the file, the same
        # read_source measured 3.44x instead of 1.50x at 10M rows; the cause is not identified.)
        subprocess.run(
            [sys.executable, __file__, "--db", str(args.db), "--rows", str(args.rows), "--create"],
            check=True,
        )
        marker.touch()
    print(f"load average: {os.getloadavg()[0]:.2f}")
    results = []
    for variant in args.variants.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--db", str(args.db), "--child", variant],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[-1]
        growth = r["peak"] - r["before"]
        target = 1.5 * r["frame"] + r["batch"]
        print(
            f"{variant:>14}: {r['rows']:,} rows in {r['seconds']:5.1f} s; frame "
            f"{r['frame'] / MB:,.0f} MiB; peak RSS +{growth / MB:,.0f} MiB over "
            f"{r['before'] / MB:,.0f} MiB = {growth / r['frame']:.2f}x frame "
            f"(target 1.5x frame + one {BATCH_ROWS:,}-row batch = {target / MB:,.0f} MiB: "
            f"{'PASS' if growth <= target else 'FAIL'})",
            flush=True,
        )
    dtypes = {json.dumps(r["dtypes"], sort_keys=True) for r in results}
    print(f"same dtypes in every variant: {len(dtypes) == 1}")


if __name__ == "__main__":
    main()
