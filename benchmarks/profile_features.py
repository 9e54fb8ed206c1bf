"""Profile build_features and one day of build_day_features with pyinstrument (not installed).

The day's state comes from ``window_totals_from_rows`` on the raw lookback (in the pipeline the
warehouse computes those totals); only ``build_day_features`` is profiled.

Usage::

    uv run --with pyinstrument python benchmarks/profile_features.py [--rows 5000000] [--day-rows 300000]
"""

from __future__ import annotations

import argparse
from datetime import timedelta

import pandas as pd
from day_stream import FIRST_DAY, DayStream, day_index
from pyinstrument import Profiler

from fraud_core.features import (
    FeatureConfig,
    boundary_days,
    build_day_features,
    build_features,
    lookback_days,
    state_from_totals,
    window_totals_from_rows,
)
from fraud_core.simulate import simulate_transactions


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
    stream = DayStream(args.day_rows)
    last = lookback_days(config)
    day = FIRST_DAY + timedelta(days=last)
    history = stream.days(0, last + 1)
    state = state_from_totals(day, config, window_totals_from_rows(history, day, config))
    del history
    day_rows = stream.day(last)
    boundary = pd.concat(
        [stream.day(day_index(k)) for k in boundary_days(day, config)], ignore_index=True
    )
    profiler = Profiler(interval=0.002)
    profiler.start()
    build_day_features(day_rows, state, boundary)
    profiler.stop()
    print(f"build_day_features for {day}: {len(day_rows):,} rows")
    print(profiler.output_text(color=False))


if __name__ == "__main__":
    main()
