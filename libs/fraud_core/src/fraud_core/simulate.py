"""Simulated card transactions following the handbook's generative process.

The process is the one published in *Reproducible Machine Learning for Credit Card Fraud
Detection* (Le Borgne et al., chapter 3, "Transaction data simulator"):

* customers and terminals lie uniformly on a 100 x 100 grid; a customer uses the terminals
  within radius 5 of it (customers with no terminal in range make no transactions);
* each customer has a mean amount ~ U(5, 100), std = mean / 2, and a mean number of
  transactions per day ~ U(0, 4);
* per customer and day, the number of transactions is Poisson(mean_nb_tx_per_day); each
  transaction gets a time of day ~ N(43200, 20000) s (draws outside [0, 86400) are discarded,
  not redrawn), an amount ~ N(mean, std) (negative draws are replaced by U(0, 2 * mean)),
  rounded to cents, and a terminal chosen uniformly among the customer's terminals in range;
* frauds, applied in this order (later scenarios overwrite earlier ones):
  1. every amount > 220 is fraud (scenario 1);
  2. each day, 2 random terminals are compromised for 28 days: all their transactions in that
     window are fraud (scenario 2);
  3. each day, 3 random customers are compromised for 14 days: a third of their transactions in
     that window (drawn at random) get their amount multiplied by 5 and are fraud (scenario 3).

Everything is vectorised with numpy (one Poisson draw of shape (customers, days), np.repeat for
the per-transaction attributes, grid bucketing and a CSR neighbour list for the terminal choice);
only the fraud scenarios loop, once per day. Known differences from the handbook's code, none of
which changes the distribution: it seeds Python's and numpy's legacy generators per customer,
so the exact rows differ from the published file; its fraud loops stop one day before the end
of the period (here every day of the period compromises terminals and customers); it truncates
times of day with int() and drops t == 0 (here floor and keep [0, 86400)).

Labels: the handbook's output knows every label (its benchmarks and validation protocol need
them), and so does :func:`simulate_transactions` by default. A real source learns a transaction's
label only once its label delay has passed; :func:`labels_known_at` (or ``label_delay_days=``)
gives the source as a team would hold it at a given moment: ``tx_fraud`` (and the scenario) NULL
for every transaction younger than the delay.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd

from fraud_core.columns import (
    CUSTOMER_ID,
    TERMINAL_ID,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
)

__all__ = [
    "COMPROMISED_CUSTOMERS_PER_DAY",
    "COMPROMISED_CUSTOMER_DAYS",
    "COMPROMISED_TERMINALS_PER_DAY",
    "COMPROMISED_TERMINAL_DAYS",
    "FRAUD_AMOUNT_THRESHOLD",
    "GRID_SIZE",
    "TERMINAL_RADIUS",
    "labels_known_at",
    "simulate_transactions",
]

GRID_SIZE = 100.0
TERMINAL_RADIUS = 5.0
SECONDS_PER_DAY = 86_400
TIME_OF_DAY_MEAN = SECONDS_PER_DAY / 2
TIME_OF_DAY_STD = 20_000.0
FRAUD_AMOUNT_THRESHOLD = 220.0
COMPROMISED_TERMINALS_PER_DAY = 2
COMPROMISED_TERMINAL_DAYS = 28
COMPROMISED_CUSTOMERS_PER_DAY = 3
COMPROMISED_CUSTOMER_DAYS = 14
COMPROMISED_AMOUNT_FACTOR = 5.0


def simulate_transactions(
    n_customers: int = 5000,
    n_terminals: int = 10000,
    start_date: str | date = "2018-04-01",
    n_days: int = 183,
    seed: int = 0,
    label_delay_days: int | None = None,
) -> pd.DataFrame:
    """Simulate card transactions in the canonical schema (deterministic per seed).

    Every label is known (the handbook's output) unless ``label_delay_days`` is given: then the
    labels are those known the day after the last simulated day (:func:`labels_known_at`).
    """
    for name, value in (
        ("n_customers", n_customers),
        ("n_terminals", n_terminals),
        ("n_days", n_days),
        *([("label_delay_days", label_delay_days)] if label_delay_days is not None else []),
    ):
        _require_non_negative_int(name, value)
    start = _utc(pd.Timestamp(start_date)).as_unit("ns")
    transactions = _simulate(n_customers, n_terminals, start, n_days, seed)
    if label_delay_days is None:
        return transactions
    return labels_known_at(transactions, start + pd.Timedelta(days=n_days), label_delay_days)


def labels_known_at(
    transactions: pd.DataFrame, now: pd.Timestamp | date | str, label_delay_days: int
) -> pd.DataFrame:
    """The transactions with only the labels known at ``now``: a label arrives
    ``label_delay_days`` after its transaction, NULL until then (the scenario too)."""
    _require_non_negative_int("label_delay_days", label_delay_days)
    times = transactions[TX_DATETIME]
    moment = pd.Timestamp(now)
    if times.dt.tz is None:
        moment = moment.tz_convert("UTC").tz_localize(None) if moment.tzinfo else moment
    else:
        moment = _utc(moment)
    unknown = (times + pd.Timedelta(days=label_delay_days) > moment).to_numpy()
    known = transactions.copy(deep=False)
    for column in (TX_FRAUD, TX_FRAUD_SCENARIO):
        if column in known:
            known[column] = transactions[column].mask(unknown)
    return known


def _require_non_negative_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def _utc(moment: pd.Timestamp) -> pd.Timestamp:
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


def _simulate(
    n_customers: int, n_terminals: int, start: pd.Timestamp, n_days: int, seed: int
) -> pd.DataFrame:
    """The handbook's generative process from ``start`` (UTC, ns): every label known."""

    seeds = np.random.SeedSequence(seed).spawn(5)
    rng_cust, rng_term, rng_tx, rng_s2, rng_s3 = (np.random.default_rng(s) for s in seeds)

    # Customer and terminal profiles.
    cust_xy = rng_cust.uniform(0.0, GRID_SIZE, size=(n_customers, 2))
    mean_amount = rng_cust.uniform(5.0, 100.0, size=n_customers)
    std_amount = mean_amount / 2.0
    mean_nb_tx_per_day = rng_cust.uniform(0.0, 4.0, size=n_customers)
    term_xy = rng_term.uniform(0.0, GRID_SIZE, size=(n_terminals, 2))
    nb_offsets, nb_terminals = _terminals_in_radius(cust_xy, term_xy, TERMINAL_RADIUS)
    nb_count = np.diff(nb_offsets)

    # Number of transactions per (customer, day): one Poisson draw for the whole table.
    counts = rng_tx.poisson(mean_nb_tx_per_day[:, None], size=(n_customers, n_days))
    counts[nb_count == 0] = 0
    idx_dtype = np.int32 if n_customers * max(n_days, 1) < 2**31 else np.int64
    cell = np.repeat(np.arange(n_customers * n_days, dtype=idx_dtype), counts.ravel())
    del counts

    # Time of day: draws outside [0, 86400) are discarded (as in the handbook).
    time_of_day = np.floor(rng_tx.normal(TIME_OF_DAY_MEAN, TIME_OF_DAY_STD, size=cell.size))
    keep = (time_of_day >= 0) & (time_of_day < SECONDS_PER_DAY)
    cell = cell[keep]
    seconds = time_of_day[keep].astype(np.int64)
    del time_of_day, keep
    customer = (cell // n_days).astype(idx_dtype) if n_days else cell
    day = (cell % n_days).astype(np.int32) if n_days else cell.astype(np.int32)
    del cell
    seconds += day.astype(np.int64) * SECONDS_PER_DAY

    # Amounts: N(mean, std), negative draws replaced by U(0, 2 * mean), rounded to cents.
    mu = mean_amount[customer]
    amount = rng_tx.normal(mu, std_amount[customer])
    negative = np.flatnonzero(amount < 0)
    amount[negative] = rng_tx.uniform(0.0, 2.0 * mu[negative])
    amount = np.round(amount, 2)
    del mu

    # Terminal: uniform among the customer's terminals in range (CSR lookup).
    pick = np.floor(rng_tx.random(customer.size) * nb_count[customer]).astype(np.int64)
    np.minimum(pick, nb_count[customer] - 1, out=pick)
    terminal = nb_terminals[nb_offsets[customer] + pick]
    del pick

    # Time order; ties broken by generation order (customer, day), so it is deterministic.
    order = _stable_order(seconds)
    seconds, customer, day = seconds[order], customer[order], day[order]
    terminal, amount = terminal[order], amount[order]
    del order

    fraud = np.zeros(customer.size, dtype=np.int8)
    scenario = np.zeros(customer.size, dtype=np.int8)
    # Scenario 1: large amounts.
    large = amount > FRAUD_AMOUNT_THRESHOLD
    fraud[large] = 1
    scenario[large] = 1
    del large
    # Scenario 2: compromised terminals.
    terminal_schedule = _draw_compromised(
        n_terminals, COMPROMISED_TERMINALS_PER_DAY, n_days, rng_s2
    )
    s2 = _compromised_terminal_mask(terminal, day, terminal_schedule)
    fraud[s2] = 1
    scenario[s2] = 2
    del s2
    # Scenario 3: compromised customers (amount x5 on a third of their transactions).
    customer_schedule = _draw_compromised(
        n_customers, COMPROMISED_CUSTOMERS_PER_DAY, n_days, rng_s3
    )
    s3 = _compromised_customer_rows(customer, day, customer_schedule, amount, rng_s3)
    fraud[s3] = 1
    scenario[s3] = 3

    n_tx = customer.size
    ns = seconds * 1_000_000_000 + start.value  # UTC epoch nanoseconds
    del seconds
    # Columns are inserted one by one: the dict constructor would consolidate (copy) blocks.
    out = pd.DataFrame(index=pd.RangeIndex(n_tx))
    out[TRANSACTION_ID] = np.arange(n_tx, dtype=np.int64)
    out[TX_DATETIME] = pd.Series(ns.view("datetime64[ns]"), copy=False).dt.tz_localize("UTC")
    out[CUSTOMER_ID] = customer.astype(np.int64)
    out[TERMINAL_ID] = terminal.astype(np.int64)
    out[TX_AMOUNT] = amount
    out[TX_FRAUD] = pd.arrays.IntegerArray(fraud, np.zeros(n_tx, dtype=bool))
    out[TX_FRAUD_SCENARIO] = pd.arrays.IntegerArray(scenario, np.zeros(n_tx, dtype=bool))
    return out


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """Permutation sorting non-negative int64 keys, ties kept in input order."""
    n = keys.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if int(keys.max()) < (2**62) // n:
        # Unique composite keys sort with numpy's fast (SIMD) unstable sort; no argsort needed.
        composite = keys * n + np.arange(n, dtype=np.int64)
        composite.sort()
        return composite % n
    return np.argsort(keys, kind="stable")


def _terminals_in_radius(
    cust_xy: np.ndarray, term_xy: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """CSR (offsets, terminal ids) of the terminals strictly within radius of each customer."""
    n_customers = cust_xy.shape[0]
    offsets = np.zeros(n_customers + 1, dtype=np.int64)
    if n_customers == 0 or term_xy.shape[0] == 0:
        return offsets, np.zeros(0, dtype=np.int64)
    # Bucket terminals into square cells of side `radius`: the terminals within radius of a
    # customer all lie in the 3 x 3 cells around the customer's cell.
    n_side = max(1, math.ceil(GRID_SIZE / radius))
    term_cx, term_cy = _cell(term_xy, radius, n_side)
    term_cell = term_cx * n_side + term_cy
    by_cell = np.argsort(term_cell, kind="stable")
    cell_start = np.searchsorted(term_cell[by_cell], np.arange(n_side * n_side + 1))
    cust_cx, cust_cy = _cell(cust_xy, radius, n_side)
    shifts = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)], dtype=np.int64)
    ncx = cust_cx[:, None] + shifts[:, 0]
    ncy = cust_cy[:, None] + shifts[:, 1]
    inside_grid = (ncx >= 0) & (ncx < n_side) & (ncy >= 0) & (ncy < n_side)
    ncell = np.where(inside_grid, ncx * n_side + ncy, 0)
    first = cell_start[ncell]
    count = np.where(inside_grid, cell_start[ncell + 1] - first, 0)
    # Candidates per customer can be many (dense terminals): process customers in chunks.
    per_customer = count.sum(axis=1)
    chunk_ends = np.searchsorted(
        np.cumsum(per_customer),
        np.arange(1, 1 + per_customer.sum() // _CANDIDATES_PER_CHUNK) * _CANDIDATES_PER_CHUNK,
    )
    neighbours, lengths = [], []
    for lo, hi in zip(np.r_[0, chunk_ends], np.r_[chunk_ends, n_customers], strict=True):
        if hi <= lo:
            continue
        cnt = count[lo:hi].ravel()
        cand = by_cell[_ragged_arange(first[lo:hi].ravel(), cnt)]
        owner = np.repeat(np.arange(lo, hi, dtype=np.int64), per_customer[lo:hi])
        near = np.sum((term_xy[cand] - cust_xy[owner]) ** 2, axis=1) < radius * radius
        neighbours.append(cand[near])
        lengths.append(np.bincount(owner[near] - lo, minlength=hi - lo))
    np.cumsum(np.concatenate(lengths), out=offsets[1:])
    return offsets, np.concatenate(neighbours).astype(np.int64)


_CANDIDATES_PER_CHUNK = 4_000_000


def _cell(xy: np.ndarray, size: float, n_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid cell (column, row) of each point, clipped to the grid."""
    cells = np.clip(np.floor(xy / size).astype(np.int64), 0, n_side - 1)
    return cells[:, 0], cells[:, 1]


def _ragged_arange(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(start, start + length) for every (start, length) pair."""
    total = int(lengths.sum())
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(total, dtype=np.int64)


def _draw_compromised(
    n_items: int, per_day: int, n_days: int, rng: np.random.Generator
) -> np.ndarray:
    """(n_days, k) array: the items (terminals or customers) compromised on each day."""
    k = min(per_day, n_items)
    if k == 0:
        return np.zeros((n_days, 0), dtype=np.int64)
    return np.stack([rng.choice(n_items, size=k, replace=False) for _ in range(n_days)]).astype(
        np.int64
    )


def _compromised_terminal_mask(
    terminal: np.ndarray, day: np.ndarray, schedule: np.ndarray
) -> np.ndarray:
    """Rows whose terminal is compromised on the row's day (scenario 2).

    schedule[d] holds the terminals compromised on day d, for COMPROMISED_TERMINAL_DAYS days.
    """
    mask = np.zeros(terminal.size, dtype=bool)
    if terminal.size == 0 or schedule.size == 0:
        return mask
    n_days, k = schedule.shape
    comp_term = schedule.ravel()
    comp_day = np.repeat(np.arange(n_days, dtype=np.int64), k)
    # Expand every window into its (terminal, day) keys and look rows up by key.
    offsets = np.arange(COMPROMISED_TERMINAL_DAYS, dtype=np.int64)
    window_day = (comp_day[:, None] + offsets).ravel()
    keys = np.repeat(comp_term, COMPROMISED_TERMINAL_DAYS) * n_days + window_day
    keys = np.unique(keys[window_day < n_days])
    candidates = np.flatnonzero(np.isin(terminal, np.unique(comp_term)))
    row_keys = terminal[candidates].astype(np.int64) * n_days + day[candidates]
    pos = np.minimum(np.searchsorted(keys, row_keys), keys.size - 1)
    mask[candidates[keys[pos] == row_keys]] = True
    return mask


def _compromised_customer_rows(
    customer: np.ndarray,
    day: np.ndarray,
    schedule: np.ndarray,
    amount: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Apply scenario 3 in place on amount (x5) and return the defrauded rows (boolean mask).

    schedule[d] holds the customers compromised on day d, for COMPROMISED_CUSTOMER_DAYS days;
    rows must be in time order (day non-decreasing).
    """
    mask = np.zeros(customer.size, dtype=bool)
    if customer.size == 0 or schedule.size == 0:
        return mask
    # CSR of the rows of every customer ever compromised, sorted by (customer, time).
    rows = np.flatnonzero(np.isin(customer, np.unique(schedule)))
    rows = rows[np.argsort(customer[rows], kind="stable")]
    row_cust, row_day = customer[rows], day[rows]
    for first_day, customers in enumerate(schedule):
        lo = np.searchsorted(row_cust, customers, side="left")
        hi = np.searchsorted(row_cust, customers, side="right")
        window = []
        for a, b in zip(lo, hi, strict=True):
            days = row_day[a:b]
            start = a + np.searchsorted(days, first_day, side="left")
            stop = a + np.searchsorted(days, first_day + COMPROMISED_CUSTOMER_DAYS, side="left")
            window.append(rows[start:stop])
        in_window = np.concatenate(window)
        n_fraud = in_window.size // 3
        if n_fraud == 0:
            continue
        chosen = rng.choice(in_window, size=n_fraud, replace=False)
        # Sequential, as in the handbook: a row drawn in two overlapping windows is x5 twice.
        amount[chosen] = np.round(amount[chosen] * COMPROMISED_AMOUNT_FACTOR, 2)
        mask[chosen] = True
    return mask
