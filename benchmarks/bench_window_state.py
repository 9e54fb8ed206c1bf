"""Benchmark: one day's features from the window state, windows (1, 7, 30) vs (1, 7, 90).

``fraud_core.window_state`` computes a day's features from the day's rows, the raw rows of the
boundary days only and a per-entity window state; its daily cost should not grow with the window
length. For each configuration this script streams simulated days (a handbook-like generator:
customers and terminals on a 100 x 100 grid, each customer using the terminals within radius 5,
Poisson daily counts, normal times of day and amounts, frauds above 220 and 2% unknown labels),
keeps the state current with ``advance_state`` day by day from an empty history, and times the
daily step on the last ``--repeats`` days:

* ``build_day_features`` (the day + the boundary days' rows + the state),
* ``daily_aggregates`` of the day (what the state will add),
* ``advance_state`` to the next day.

It prints the median per part, the ratio (1, 7, 90) / (1, 7, 30), the rows a day reads (the day +
boundary days, vs the ``L + 1`` days of a full recomputation), the state's size and the process
peak RSS. ``--check-rows`` (default 50,000 per day) re-runs the same stream at that volume and
compares every timed day with ``build_features`` on the raw lookback (the full recomputation):
integer columns exactly, floats to rtol 1e-9, and times the full recomputation beside it.
``--check-rows 0`` skips the check; ``--check-rows`` equal to ``--rows`` checks at full volume (the
full recomputation needs the whole lookback in memory: about 150 bytes per history row).

Usage::

    uv run python benchmarks/bench_window_state.py --rows 1000000
    uv run python benchmarks/bench_window_state.py --rows 100000 --check-rows 100000
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from memory import peak_rss

from fraud_core.features import FeatureConfig, build_features, lookback_days
from fraud_core.simulate import _terminals_in_radius
from fraud_core.window_state import (
    DailyAggregates,
    advance_state,
    aggregate_days_for_advance,
    aggregate_days_for_state,
    boundary_days,
    build_day_features,
    build_state,
    daily_aggregates,
)

FIRST_DAY = date(2024, 1, 1)
TX_PER_CUSTOMER_DAY = 2.0  # mean of U(0, 4), the handbook's daily rate
MB = 1024**2


class DayStream:
    """Handbook-like simulated transactions, generated one day at a time (deterministic)."""

    def __init__(self, rows_per_day: int, n_terminals: int = 10_000, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.seed = seed
        n_customers = max(int(rows_per_day / TX_PER_CUSTOMER_DAY), 1)
        cust_xy = rng.uniform(0, 100, (n_customers, 2))
        term_xy = rng.uniform(0, 100, (n_terminals, 2))
        self.offsets, self.neighbours = _terminals_in_radius(cust_xy, term_xy, 5.0)
        self.n_near = np.diff(self.offsets)
        self.mean_amount = rng.uniform(5, 100, n_customers)
        self.rate = rng.uniform(0, 4, n_customers)
        self.rate[self.n_near == 0] = 0.0

    def day(self, index: int) -> pd.DataFrame:
        """The transactions of day ``index`` (0 = FIRST_DAY), in (time, id) order."""
        rng = np.random.default_rng([self.seed, index])
        counts = rng.poisson(self.rate)
        customer = np.repeat(np.arange(len(counts)), counts)
        seconds = np.floor(rng.normal(43_200, 20_000, len(customer)))
        keep = (seconds >= 0) & (seconds < 86_400)
        customer, seconds = customer[keep], seconds[keep].astype(np.int64)
        mu = self.mean_amount[customer]
        amount = rng.normal(mu, mu / 2)
        negative = amount < 0
        amount[negative] = rng.uniform(0, 2 * mu[negative])
        amount = np.round(amount, 2)
        pick = np.minimum(
            (rng.random(len(customer)) * self.n_near[customer]).astype(np.int64),
            self.n_near[customer] - 1,
        )
        terminal = self.neighbours[self.offsets[customer] + pick]
        order = np.argsort(seconds, kind="stable")
        customer, seconds, amount, terminal = (
            customer[order],
            seconds[order],
            amount[order],
            terminal[order],
        )
        n = len(customer)
        fraud = (amount > 220).astype(np.int8)
        unknown = rng.random(n) < 0.02
        start = pd.Timestamp(FIRST_DAY + timedelta(days=index), tz="UTC").as_unit("ns")
        return pd.DataFrame(
            {
                "transaction_id": np.int64(index) * 100_000_000 + np.arange(n, dtype=np.int64),
                "tx_datetime": start + pd.to_timedelta(seconds, unit="s"),
                "customer_id": customer.astype(np.int64),
                "terminal_id": terminal.astype(np.int64),
                "tx_amount": amount,
                "tx_fraud": pd.arrays.IntegerArray(fraud, unknown),
            }
        )


def _empty_aggregates(day: date) -> DailyAggregates:
    empty = pd.DataFrame(
        {
            "transaction_id": np.zeros(0, np.int64),
            "tx_datetime": pd.to_datetime(np.zeros(0, np.int64), utc=True),
            "customer_id": np.zeros(0, np.int64),
            "terminal_id": np.zeros(0, np.int64),
            "tx_amount": np.zeros(0),
            "tx_fraud": pd.array(np.zeros(0, np.int8), dtype="Int8"),
        }
    )
    return daily_aggregates(empty, day)


class AggregateStore:
    """Daily aggregates on disk (parquet), as the warehouse would hold them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put(self, agg: DailyAggregates) -> None:
        """Store the customers and terminals parts of a day's aggregates."""
        agg.customers.to_parquet(self.root / f"{agg.day}.customers.parquet")
        agg.terminals.to_parquet(self.root / f"{agg.day}.terminals.parquet")

    def get(self, day: date, first: date) -> DailyAggregates:
        """Read a day's aggregates (empty before ``first``, the pipeline's first day)."""
        path = self.root / f"{day}.customers.parquet"
        if day < first or not path.exists():
            return _empty_aggregates(day)
        empty_pairs = _empty_aggregates(day).pairs
        return DailyAggregates(
            day,
            pd.read_parquet(path),
            pd.read_parquet(self.root / f"{day}.terminals.parquet"),
            empty_pairs,
        )


class Pipeline:
    """The daily step of one configuration, fed one day at a time from ``start``."""

    def __init__(
        self,
        config: FeatureConfig,
        start: int,
        store: AggregateStore,
        raw: Callable[[date], pd.DataFrame],
    ) -> None:
        self.config = config
        self.start = start
        self.store = store
        self.raw = raw
        self.first = FIRST_DAY + timedelta(days=start)
        days = aggregate_days_for_state(self.first, config)
        self.state = build_state({k: _empty_aggregates(k) for k in days}, self.first, config)

    def step(self, day: date, rows: pd.DataFrame, agg: DailyAggregates, timed: bool) -> dict:
        """Features of ``day`` (when timed), then advance the state; returns seconds per part."""
        seconds: dict[str, float] = {}
        if timed:
            boundary = pd.concat(
                [self.raw(k) for k in boundary_days(day, self.config) if k >= self.first],
                ignore_index=True,
            )
            seconds["read_rows"] = len(rows) + len(boundary)
            gc.collect()
            began = time.perf_counter()
            self.features = build_day_features(rows, self.state, boundary)
            seconds["features"] = time.perf_counter() - began
            del boundary
        # the aggregates the step reads (I/O, untimed): today's from memory, the rest from disk
        needed = {
            k: agg if k == day else self.store.get(k, self.first)
            for k in aggregate_days_for_advance(day, self.config)
        }
        began = time.perf_counter()
        self.state = advance_state(self.state, needed)
        seconds["advance"] = time.perf_counter() - began
        return seconds


def stream(
    configs: list[FeatureConfig], rows_per_day: int, repeats: int, seed: int, root: Path
) -> Iterator[tuple[int, int, dict, pd.DataFrame]]:
    """Feed simulated days to one pipeline per config, all timed on the same last days.

    Yields (config index, day index, seconds per part, features) for each timed day; the
    pipelines start so that each has exactly its lookback of history on the first timed day,
    and the timed days alternate which pipeline runs first.
    """
    days = DayStream(rows_per_day, seed=seed)
    store = AggregateStore(root)
    first_timed = max(lookback_days(c) for c in configs) + 1
    cache: dict[date, pd.DataFrame] = {}

    def raw(k: date) -> pd.DataFrame:
        # reading a boundary day (untimed I/O): regenerated, the stream is deterministic
        if k not in cache:
            cache[k] = days.day((k - FIRST_DAY).days)
        return cache[k]

    pipelines = [Pipeline(c, first_timed - lookback_days(c) - 1, store, raw) for c in configs]
    for i in range(first_timed + repeats):
        day = FIRST_DAY + timedelta(days=i)
        rows = days.day(i)
        cache.clear()
        timed = i >= first_timed
        began = time.perf_counter()
        agg = daily_aggregates(rows, day)
        aggregate_s = time.perf_counter() - began
        store.put(agg)
        order = list(range(len(pipelines)))
        if i % 2:
            order.reverse()
        for j in order:
            p = pipelines[j]
            if i < p.start:
                continue
            seconds = p.step(day, rows, agg, timed)
            if timed:
                seconds["aggregates"] = aggregate_s
                seconds["state_mib"] = p.state.nbytes() / MB
                seconds["pairs"] = len(p.state.pairs)
                seconds["pair_runs"] = len(p.state.pairs.runs)
                yield j, i, seconds, p.features
        del agg


def run(
    configs: list[FeatureConfig], rows: int, repeats: int, seed: int, root: Path
) -> list[dict[str, float]]:
    """Time the daily step of every config side by side; returns the medians per config."""
    parts: list[dict[str, list[float]]] = [{} for _ in configs]
    with peak_rss() as rss:
        for j, i, seconds, features in stream(configs, rows, repeats, seed, root):
            seconds["total"] = seconds["features"] + seconds["aggregates"] + seconds["advance"]
            for k, v in seconds.items():
                parts[j].setdefault(k, []).append(v)
            config = configs[j]
            print(
                f"  {config.windows_days} {FIRST_DAY + timedelta(days=i)}: {len(features):,} "
                f"rows; features {seconds['features']:.2f} s, aggregates "
                f"{seconds['aggregates']:.2f} s, advance {seconds['advance']:.2f} s = "
                f"{seconds['total']:.2f} s; read {int(seconds['read_rows']):,} raw rows (a full "
                f"recomputation reads {lookback_days(config) + 1} days); state "
                f"{seconds['state_mib']:,.0f} MiB ({int(seconds['pairs']):,} pairs in "
                f"{int(seconds['pair_runs'])} runs)",
                flush=True,
            )
    out = [{k: statistics.median(v) for k, v in p.items()} for p in parts]
    for o, p in zip(out, parts, strict=True):
        o["mean_total"] = statistics.mean(p["total"])
        o["peak_mib"] = rss["peak"] / MB
    return out


def check(config: FeatureConfig, rows: int, repeats: int, seed: int, root: Path) -> None:
    """Compare every timed day with build_features on the raw lookback; time both."""
    days = DayStream(rows, seed=seed)
    lookback = lookback_days(config)
    worst = 0.0
    for _j, i, seconds, features in stream([config], rows, repeats, seed, root):
        day = FIRST_DAY + timedelta(days=i)
        history = pd.concat([days.day(k) for k in range(i - lookback, i + 1)], ignore_index=True)
        gc.collect()
        began = time.perf_counter()
        start = pd.Timestamp(day, tz="UTC")
        full = build_features(history, config, start=start, end=start + pd.Timedelta(days=1))
        full_s = time.perf_counter() - began
        del history
        floats = [c for c in full.columns if full[c].dtype == np.float64]
        others = [c for c in full.columns if c not in floats]
        pd.testing.assert_frame_equal(features[others], full[others], check_exact=True)
        pd.testing.assert_frame_equal(features[floats], full[floats], check_exact=False, rtol=1e-9)
        a, b = features[floats].to_numpy(), full[floats].to_numpy()
        big = np.abs(b) > 1e-6
        worst = max(worst, float((np.abs(a - b)[big] / np.abs(b)[big]).max(initial=0.0)))
        step = seconds["features"] + seconds["aggregates"] + seconds["advance"]
        print(
            f"  check {day}: identical to build_features on {lookback + 1} days "
            f"({len(full):,} rows; integer columns exact, floats max rel diff {worst:.1e}); "
            f"full recomputation {full_s:.2f} s vs daily step {step:.2f} s "
            f"(x{full_s / step:.1f})",
            flush=True,
        )


def main() -> None:
    """Run both configurations side by side and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions per day")
    parser.add_argument("--delay", type=int, default=7, help="label delay (days)")
    parser.add_argument("--repeats", type=int, default=4, help="timed days per configuration")
    parser.add_argument("--check-rows", type=int, default=50_000, help="0: skip the check")
    parser.add_argument("--check-repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmp", type=Path, default=None, help="aggregates directory")
    args = parser.parse_args()
    configs = [
        FeatureConfig(windows_days=(1, 7, 30), label_delay_days=args.delay),
        FeatureConfig(windows_days=(1, 7, 90), label_delay_days=args.delay),
    ]
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        print(
            f"{args.rows:,} transactions/day; windows {[c.windows_days for c in configs]}, "
            f"delay {args.delay} d; lookbacks {[lookback_days(c) for c in configs]} days; "
            f"boundary days {[len(boundary_days(FIRST_DAY, c)) for c in configs]}",
            flush=True,
        )
        results = run(configs, args.rows, args.repeats, args.seed, Path(tmp) / "run")
        for config, r in zip(configs, results, strict=True):
            print(
                f"{config.windows_days}: median daily step {r['total']:.2f} s (features "
                f"{r['features']:.2f}, aggregates {r['aggregates']:.2f}, advance "
                f"{r['advance']:.2f}; mean {r['mean_total']:.2f}); state "
                f"{r['state_mib']:,.0f} MiB"
            )
        print(f"process peak RSS (both pipelines): {results[0]['peak_mib']:,.0f} MiB")
        ratio = results[1]["total"] / results[0]["total"]
        mean_ratio = results[1]["mean_total"] / results[0]["mean_total"]
        print(
            f"ratio (1, 7, 90) / (1, 7, 30): {ratio:.2f} median, {mean_ratio:.2f} mean "
            "(target <= 1.5)"
        )
        if args.check_rows:
            for k, config in enumerate(configs):
                print(f"check {config.windows_days} at {args.check_rows:,} transactions/day:")
                root = Path(tmp) / f"check{k}"
                check(config, args.check_rows, args.check_repeats, args.seed, root)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
