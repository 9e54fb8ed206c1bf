"""Profile build_features and one window-state day with pyinstrument (not installed by default).

Usage::

    uv run --with pyinstrument python benchmarks/profile_features.py [--rows 5000000] [--day-rows 300000]
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
from pyinstrument import Profiler

from fraud_core.features import FeatureConfig, build_features, lookback_days
from fraud_core.simulate import simulate_transactions
from fraud_core.window_state import (
    advance_state,
    aggregate_days_for_advance,
    aggregate_days_for_state,
    boundary_days,
    build_day_features,
    build_state,
    daily_aggregates,
)

sys.path.insert(0, str(Path(__file__).parent))
from bench_window_state import FIRST_DAY, DayStream, _empty_aggregates


def main() -> None:
    """Print a call tree of build_features, then of one build_day_features call."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="build_features input rows")
    parser.add_argument("--day-rows", type=int, default=300_000, help="transactions per day")
    args = parser.parse_args()

    n_customers = max(args.rows // 356, 1)  # the handbook's 356 transactions per customer
    tx = simulate_transactions(n_customers=n_customers, n_terminals=2 * n_customers, seed=0)
    profiler = Profiler(interval=0.005)
    profiler.start()
    build_features(tx)
    profiler.stop()
    print(f"build_features on {len(tx):,} rows")
    print(profiler.output_text(color=False))
    del tx

    config = FeatureConfig()
    days = DayStream(args.day_rows)
    first = aggregate_days_for_state(FIRST_DAY, config)
    state = build_state({k: _empty_aggregates(k) for k in first}, FIRST_DAY, config)
    raw: dict = {}
    aggregates: dict = {}
    last = lookback_days(config) + 1
    for i in range(last + 1):
        day = FIRST_DAY + timedelta(days=i)
        raw[day] = days.day(i)
        aggregates[day] = daily_aggregates(raw[day], day)
        if i == last:
            boundary = pd.concat([raw[k] for k in boundary_days(day, config)], ignore_index=True)
            profiler = Profiler(interval=0.002)
            profiler.start()
            build_day_features(raw[day], state, boundary)
            profiler.stop()
            print(f"build_day_features for {day}: {len(raw[day]):,} rows")
            print(profiler.output_text(color=False))
            break
        needed = {
            k: aggregates.get(k) or _empty_aggregates(k)
            for k in aggregate_days_for_advance(day, config)
        }
        state = advance_state(state, needed)


if __name__ == "__main__":
    main()
