"""Benchmark: one day's features from the window state, windows (1, 7, 30) vs (1, 7, 90).

``fraud_core.features.build_day_features`` computes a day's features from the day's rows, the raw
rows of its boundary days only (``boundary_days``: at most ``2 * len(windows) + 1`` days,
whatever the window lengths) and a ``WindowState``: per entity active on the day, the totals of
the whole days inside each window. Its cost should not grow with the window length. In the
pipeline a warehouse computes those totals (``Warehouse.entity_window_totals`` of
``window_totals_request``); here ``window_totals_from_rows`` computes them in memory from the raw
lookback and ``state_from_totals`` turns them into the state, both untimed for the kernel and
reported apart ("in-memory totals", "state"): that is the warehouse's work, which
``bench_feature_history.py`` measures through DuckDB.

The days come from ``day_stream.DayStream`` (handbook-like customers and terminals). Both
configurations compute the same last ``--repeats`` days, each with exactly its lookback of history
before it, alternating which runs first. Per configuration it prints the median time of
``build_day_features`` (and the mean), the ratio (1, 7, 90) / (1, 7, 30) (target <= 1.5), the raw
rows the day reads (the day + its boundary days) against the ``L + 1`` days of a full
recomputation, the state's size, the peak RSS growth during the kernel (free heap returned to
the system first, so that the kernel cannot reuse memory unseen) and the process peak RSS (which
includes the in-memory lookback the totals are computed from: about 45 bytes per history row,
plus the totals' temporaries).

``--check-rows`` (default 20,000 per day) re-runs the same days at that volume and compares every
timed day with ``build_features`` on the raw lookback (the full recomputation): integer and flag
columns exactly, floats to rtol 1e-9 (absolute 1e-12 for values that are float noise around 0,
such as the z-score of an amount equal to the card's mean); it times the full recomputation
beside the kernel. ``--check-rows 0`` skips the check.

Usage::

    uv run python benchmarks/bench_day_features.py --rows 200000 --repeats 3 --check-rows 20000
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from day_stream import FIRST_DAY, DayStream, day_index
from memory import peak_rss, release_free_heap

from fraud_core.features import (
    FeatureConfig,
    WindowState,
    boundary_days,
    build_day_features,
    build_features,
    lookback_days,
    state_from_totals,
    window_totals_from_rows,
)

MB = 1024**2
RATIO_TARGET = 1.5


class History:
    """Consecutive simulated days in one frame, sliced by day (rows are in time order)."""

    def __init__(self, stream: DayStream, first: int, end: int) -> None:
        days = [stream.day(i) for i in range(first, end)]
        self.first = first
        self.bounds = np.cumsum([0, *(len(d) for d in days)])
        self.frame = pd.concat(days, ignore_index=True)

    def rows(self, first: int, end: int) -> pd.DataFrame:
        """Rows of days ``[first, end)`` (stream indexes): a slice of the frame."""
        a, b = self.bounds[first - self.first], self.bounds[end - self.first]
        return self.frame.iloc[a:b]

    def read(self, days: list[date]) -> pd.DataFrame:
        """Rows of ``days`` as a new frame, as a warehouse read would return them."""
        parts = [self.rows(day_index(k), day_index(k) + 1) for k in days]
        return pd.concat(parts, ignore_index=True)


def state_bytes(state: WindowState) -> int:
    """Memory of the state: its group frames and its pair table."""
    frames = sum(int(f.memory_usage(deep=True).sum()) for f in state.groups.values())
    return frames + state.pairs.keys.nbytes + state.pairs.last.nbytes


@dataclass
class DayRun:
    """One configuration's day: its features and what producing them cost."""

    features: pd.DataFrame
    kernel_s: float
    kernel_rss: int
    totals_s: float
    state_s: float
    rows_read: int
    lookback_rows: int
    state_mib: float
    pairs: int


def day_features(history: History, i: int, config: FeatureConfig) -> DayRun:
    """Features of day ``i``: state from in-memory totals (untimed), then the timed kernel."""
    day = FIRST_DAY + timedelta(days=i)
    lookback = history.rows(i - lookback_days(config), i + 1)
    began = time.perf_counter()
    totals = window_totals_from_rows(lookback, day, config)
    totals_s = time.perf_counter() - began
    began = time.perf_counter()
    state = state_from_totals(day, config, totals)
    state_s = time.perf_counter() - began
    lookback_rows = len(lookback)
    del totals, lookback
    day_rows = history.read([day])
    boundary = history.read(boundary_days(day, config))
    release_free_heap()  # else the kernel reuses the totals' freed memory unseen
    with peak_rss() as rss:
        began = time.perf_counter()
        features = build_day_features(day_rows, state, boundary)
        kernel_s = time.perf_counter() - began
    return DayRun(
        features,
        kernel_s,
        rss["peak"] - rss["start"],
        totals_s,
        state_s,
        len(day_rows) + len(boundary),
        lookback_rows,
        state_bytes(state) / MB,
        len(state.pairs),
    )


def timed_days(
    configs: list[FeatureConfig], rows: int, repeats: int, seed: int
) -> Iterator[tuple[int, int, History, DayRun]]:
    """Yield (config index, day index, history, run) for the last ``repeats`` days of a stream.

    The first timed day has exactly the longest lookback before it; the timed days alternate
    which configuration runs first.
    """
    first_timed = max(lookback_days(c) for c in configs)
    history = History(DayStream(rows, seed=seed), 0, first_timed + repeats)
    for i in range(first_timed, first_timed + repeats):
        order = list(range(len(configs)))
        if i % 2:
            order.reverse()
        for j in order:
            yield j, i, history, day_features(history, i, configs[j])


def run(configs: list[FeatureConfig], rows: int, repeats: int, seed: int) -> list[dict]:
    """Time the kernel of every configuration on the same days; returns the medians."""
    parts: list[dict[str, list[float]]] = [{} for _ in configs]
    with peak_rss() as process:
        for j, i, _, r in timed_days(configs, rows, repeats, seed):
            values = {
                "kernel_s": r.kernel_s,
                "kernel_rss": r.kernel_rss,
                "totals_s": r.totals_s,
                "state_s": r.state_s,
                "rows_read": r.rows_read,
                "lookback_rows": r.lookback_rows,
                "state_mib": r.state_mib,
                "pairs": r.pairs,
            }
            for k, v in values.items():
                parts[j].setdefault(k, []).append(v)
            config = configs[j]
            print(
                f"  {config.windows_days} {FIRST_DAY + timedelta(days=i)}: "
                f"{len(r.features):,} rows; build_day_features {r.kernel_s:.3f} s "
                f"(+{r.kernel_rss / MB:,.0f} MiB RSS); read {r.rows_read:,} raw rows (day + "
                f"{len(boundary_days(FIRST_DAY, config))} boundary days; a full recomputation "
                f"reads {r.lookback_rows:,}: {lookback_days(config) + 1} days); state "
                f"{r.state_mib:,.0f} MiB ({r.pairs:,} pairs); untimed: in-memory totals "
                f"{r.totals_s:.2f} s, state_from_totals {r.state_s:.2f} s",
                flush=True,
            )
    out = [{k: statistics.median(v) for k, v in p.items()} for p in parts]
    for o, p in zip(out, parts, strict=True):
        o["kernel_mean_s"] = statistics.mean(p["kernel_s"])
        o["process_peak_mib"] = process["peak"] / MB
    return out


def assert_same(ours: pd.DataFrame, full: pd.DataFrame) -> float:
    """Integer and flag columns exactly, floats rtol 1e-9 (atol 1e-12); the worst rel diff."""
    assert list(ours.columns) == list(full.columns)
    assert (ours.dtypes == full.dtypes).all()
    floats = [c for c in full.columns if full[c].dtype.kind == "f"]
    others = [c for c in full.columns if c not in floats]
    pd.testing.assert_frame_equal(ours[others], full[others], check_exact=True)
    a, b = ours[floats].to_numpy(), full[floats].to_numpy()
    for k, column in enumerate(floats):
        np.testing.assert_allclose(a[:, k], b[:, k], rtol=1e-9, atol=1e-12, err_msg=column)
    big = np.abs(b) > 1e-6
    return float((np.abs(a - b)[big] / np.abs(b)[big]).max(initial=0.0))


def check(config: FeatureConfig, rows: int, repeats: int, seed: int) -> None:
    """Compare every timed day with build_features on the raw lookback; time both."""
    lookback = lookback_days(config)
    worst = 0.0
    for _, i, history, r in timed_days([config], rows, repeats, seed):
        day = FIRST_DAY + timedelta(days=i)
        raw = history.rows(i - lookback, i + 1)
        gc.collect()
        start = pd.Timestamp(day, tz="UTC")
        began = time.perf_counter()
        full = build_features(raw, config, start=start, end=start + pd.Timedelta(days=1))
        full_s = time.perf_counter() - began
        worst = max(worst, assert_same(r.features, full))
        print(
            f"  check {day}: identical to build_features on {lookback + 1} days "
            f"({len(full):,} rows; integer columns exact, floats max rel diff {worst:.1e}); "
            f"full recomputation {full_s:.2f} s vs build_day_features {r.kernel_s:.3f} s "
            f"(x{full_s / r.kernel_s:.1f}; with the in-memory totals and state "
            f"{r.kernel_s + r.totals_s + r.state_s:.2f} s)",
            flush=True,
        )


def main() -> None:
    """Run both configurations side by side, print the ratio, then check against the full way."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=200_000, help="transactions per day")
    parser.add_argument("--delay", type=int, default=7, help="label delay (days)")
    parser.add_argument("--repeats", type=int, default=3, help="timed days per configuration")
    parser.add_argument("--check-rows", type=int, default=20_000, help="0: skip the check")
    parser.add_argument("--check-repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    configs = [
        FeatureConfig(windows_days=(1, 7, 30), label_delay_days=args.delay),
        FeatureConfig(windows_days=(1, 7, 90), label_delay_days=args.delay),
    ]
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(
        f"{args.rows:,} transactions/day; windows {[c.windows_days for c in configs]}, "
        f"delay {args.delay} d; lookbacks {[lookback_days(c) for c in configs]} days; "
        f"boundary days {[len(boundary_days(FIRST_DAY, c)) for c in configs]}",
        flush=True,
    )
    results = run(configs, args.rows, args.repeats, args.seed)
    for config, r in zip(configs, results, strict=True):
        print(
            f"{config.windows_days}: build_day_features median {r['kernel_s']:.3f} s (mean "
            f"{r['kernel_mean_s']:.3f} s, RSS +{r['kernel_rss'] / MB:,.0f} MiB); reads "
            f"{r['rows_read']:,.0f} raw rows vs {r['lookback_rows']:,.0f} for the full "
            f"lookback ({r['rows_read'] / r['lookback_rows']:.2f}); state {r['state_mib']:,.0f} "
            f"MiB ({r['pairs']:,.0f} pairs); untimed: in-memory totals {r['totals_s']:.2f} s, "
            f"state_from_totals {r['state_s']:.2f} s"
        )
    print(
        f"process peak RSS (both configurations, in-memory lookback for the totals included): "
        f"{results[0]['process_peak_mib']:,.0f} MiB"
    )
    ratio = results[1]["kernel_s"] / results[0]["kernel_s"]
    mean_ratio = results[1]["kernel_mean_s"] / results[0]["kernel_mean_s"]
    print(
        f"ratio (1, 7, 90) / (1, 7, 30): {ratio:.2f} median, {mean_ratio:.2f} mean "
        f"(target <= {RATIO_TARGET}: {'met' if ratio <= RATIO_TARGET else 'MISSED'})"
    )
    if args.check_rows:
        for config in configs:
            print(f"check {config.windows_days} at {args.check_rows:,} transactions/day:")
            check(config, args.check_rows, args.check_repeats, args.seed)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
