"""Handbook-like simulated transactions, generated one day at a time, for the day benchmarks.

Customers and terminals on a 100 x 100 grid, each customer using the terminals within radius 5,
Poisson daily counts (mean rate U(0, 4) per customer), normal times of day and amounts, frauds
above 220 and 2% unknown labels. Deterministic: day ``i`` depends only on the seed and ``i``, so
a benchmark can regenerate any day instead of keeping it.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from fraud_core.columns import (
    CUSTOMER_ID,
    TERMINAL_ID,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
)
from fraud_core.simulate import _terminals_in_radius

__all__ = ["FIRST_DAY", "DayStream", "day_index"]

FIRST_DAY = date(2024, 1, 1)
"""Day 0 of every stream."""
TX_PER_CUSTOMER_DAY = 2.0  # mean of U(0, 4), the handbook's daily rate


def day_index(day: date) -> int:
    """The stream index of ``day`` (0 for :data:`FIRST_DAY`)."""
    return (day - FIRST_DAY).days


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
                TRANSACTION_ID: np.int64(index) * 100_000_000 + np.arange(n, dtype=np.int64),
                TX_DATETIME: start + pd.to_timedelta(seconds, unit="s"),
                CUSTOMER_ID: customer.astype(np.int64),
                TERMINAL_ID: terminal.astype(np.int64),
                TX_AMOUNT: amount,
                TX_FRAUD: pd.arrays.IntegerArray(fraud, unknown),
            }
        )

    def days(self, first: int, end: int) -> pd.DataFrame:
        """The transactions of days ``[first, end)`` in one frame, in (time, id) order."""
        return pd.concat([self.day(i) for i in range(first, end)], ignore_index=True)
