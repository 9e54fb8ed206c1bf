"""Benchmark: what transformed_transactions costs for one day, windows (1, 7, 30) vs (1, 7, 90).

Both ways of computing a day's features run against the same DuckDB warehouse (the local
default), through the same ``Warehouse`` calls the asset makes, so warehouse time is included:

* **bounded** (what the asset does): ``fraud_storage.feature_inputs.read_feature_inputs`` reads
  the day and its boundary days (labels refreshed from the source) and the per-entity window
  totals the warehouse computes for the day's entities (customers and pairs from the validated
  rows, terminals from the matured terminal label table); ``build_day_features`` computes the day;
* **full** (the peer, what the asset did before): every validated row of the ``max(window) +
  delay`` days, labels refreshed from the source over the same days, ``build_features``.

The warehouse is seeded once with ``--days`` (default 98) days of ``--rows`` simulated
transactions a day (``day_stream.DayStream``: handbook-like customers and terminals):
source, validated partitions and matured terminal label counts (untimed); both configurations then compute the last day, ``--repeats``
times each, interleaved. It prints the median time and peak RSS growth per way and
configuration, the rows each reads, the ratios (1, 7, 90) / (1, 7, 30) (target for the bounded
way: at most 1.5) and checks that both ways give the same features (integers exactly, floats to
rtol 1e-9; absolute 1e-12 for values that are float noise around 0, such as the z-score of an
amount equal to the card's mean).

Usage::

    uv run python benchmarks/bench_feature_history.py --rows 200000
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from day_stream import FIRST_DAY, DayStream
from memory import peak_rss

from fraud_core.columns import TRANSACTION_DAY, TRANSACTION_ID
from fraud_core.features import (
    FeatureConfig,
    build_day_features,
    build_features,
    labels_due_on,
    lookback_days,
    matured_totals,
)
from fraud_core.schema import validate_transactions
from fraud_storage.duckdb_warehouse import DuckDBWarehouse
from fraud_storage.feature_inputs import read_days, read_feature_inputs
from fraud_storage.warehouse import date_column

CONFIGS = {
    "(1, 7, 30)": FeatureConfig(windows_days=(1, 7, 30), label_delay_days=7),
    "(1, 7, 90)": FeatureConfig(windows_days=(1, 7, 90), label_delay_days=7),
}
MB = 1024**2


def seed(warehouse: DuckDBWarehouse, stream: DayStream, n_days: int) -> int:
    """Load ``n_days`` days into the source, the validated table and the matured terminal label
    table (what raw_customer_transactions and matured_terminal_labels write); returns the rows."""
    delays = {c.label_delay_days for c in CONFIGS.values()}
    assert len(delays) == 1, "one matured label table serves every configuration"
    config = FeatureConfig(label_delay_days=delays.pop())
    total = 0
    for i in range(n_days):
        day = FIRST_DAY + timedelta(i)
        rows = stream.day(i)
        warehouse.load_source(rows)
        result = validate_transactions(rows)
        assert result.n_rejected == 0
        warehouse.replace_partition(warehouse.tables.validated, result.valid, day)
        labels = matured_totals(result.valid, day, config)
        labels[TRANSACTION_DAY] = date_column(day, labels.index)
        due = labels_due_on(day, config)
        warehouse.replace_partition(warehouse.tables.terminal_labels, labels, due)
        total += len(rows)
    return total


def bounded(warehouse: DuckDBWarehouse, day, config: FeatureConfig) -> tuple[pd.DataFrame, int]:
    """The asset's way: the day, its boundary days and warehouse window totals."""
    inputs = read_feature_inputs(warehouse, day, config)
    return build_day_features(inputs.day_rows, inputs.state, inputs.boundary_rows), inputs.rows_read


def full(warehouse: DuckDBWarehouse, day, config: FeatureConfig) -> tuple[pd.DataFrame, int]:
    """The peer: the whole lookback of validated rows, labels refreshed, all re-sorted."""
    first = day - timedelta(days=lookback_days(config))
    history = read_days(warehouse, first, day + timedelta(1))  # labels refreshed from the source
    day_start = pd.Timestamp(day, tz="UTC")
    out = build_features(history, config, start=day_start, end=day_start + pd.Timedelta(days=1))
    return out, len(history)


def measure(fn, warehouse, day, config) -> dict:
    gc.collect()
    with peak_rss() as rss:
        began = time.perf_counter()
        out, rows_read = fn(warehouse, day, config)
        seconds = time.perf_counter() - began
    return {"s": seconds, "rss": rss["peak"] - rss["start"], "rows_read": rows_read, "out": out}


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Integer and flag columns exactly, floats to rtol 1e-9, same rows in the same order."""
    assert list(a.columns) == list(b.columns)
    assert a[TRANSACTION_ID].tolist() == b[TRANSACTION_ID].tolist()
    for column in a.columns:
        x, y = a[column], b[column]
        if x.dtype.kind == "f":  # atol: z-scores of amounts equal to the mean are noise around 0
            np.testing.assert_allclose(
                x.to_numpy(), y.to_numpy(), rtol=1e-9, atol=1e-12, err_msg=column
            )
        else:
            assert x.equals(y), column


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="transactions per day")
    parser.add_argument("--days", type=int, default=98, help="days seeded (>= 98 for 90+7)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tmp", type=Path, default=None, help="directory for the DuckDB file")
    args = parser.parse_args()
    need = max(lookback_days(c) for c in CONFIGS.values()) + 1
    if args.days < need:
        parser.error(f"--days must be at least {need}")

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        warehouse = DuckDBWarehouse.at_path(Path(tmp) / "history.duckdb")
        began = time.perf_counter()
        total = seed(warehouse, DayStream(args.rows, seed=7), args.days)
        day = FIRST_DAY + timedelta(days=args.days - 1)
        print(
            f"seeded {total:,} transactions over {args.days} days "
            f"({total / args.days:,.0f}/day) in {time.perf_counter() - began:.1f} s; day {day}",
            flush=True,
        )
        runs: dict[tuple[str, str], list[dict]] = {}
        for _ in range(args.repeats):
            for name, config in CONFIGS.items():
                for way, fn in (("bounded", bounded), ("full", full)):
                    m = measure(fn, warehouse, day, config)
                    runs.setdefault((way, name), []).append(m)
                    print(
                        f"  {way:<8} {name}: {m['s']:6.2f} s, +{m['rss'] / MB:6,.0f} MiB, "
                        f"{m['rows_read']:,} rows read",
                        flush=True,
                    )
                a, b = runs[("bounded", name)][-1]["out"], runs[("full", name)][-1]["out"]
                assert_same(a, b)
                for way in ("bounded", "full"):
                    runs[(way, name)][-1]["out"] = None

    print("\n| way | windows | rows read | median time | peak RSS growth |")
    print("|---|---|---|---|---|")
    median = {}
    for (way, name), ms in runs.items():
        median[(way, name)] = statistics.median(m["s"] for m in ms)
        rss = statistics.median(m["rss"] for m in ms) / MB
        print(
            f"| {way} | {name} | {ms[0]['rows_read']:,} | {median[(way, name)]:.2f} s "
            f"| +{rss:,.0f} MiB |"
        )
    names = list(CONFIGS)
    for way in ("bounded", "full"):
        ratio = median[(way, names[1])] / median[(way, names[0])]
        print(f"ratio {names[1]} / {names[0]} ({way}): {ratio:.2f}")
    for name in names:
        print(f"bounded / full at {name}: {median[('bounded', name)] / median[('full', name)]:.2f}")
    print(
        "bounded and full gave identical features on every run "
        "(ints exact, floats rtol 1e-9, atol 1e-12)"
    )


if __name__ == "__main__":
    main()
