"""Fixtures shared by the core's tests."""

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from fraud_core.columns import CUSTOMER_ID, TRANSACTION_ID, TX_DATETIME, TX_FRAUD


def labelled_frame(
    n: int = 200_000, fraud_rate: float = 0.01, unlabelled: int = 0, seed: int = 0
) -> pd.DataFrame:
    """``n`` transactions (ids shuffled), ``fraud_rate`` of them fraud, the last ``unlabelled``
    with no label yet; one numeric feature that predicts fraud."""
    rng = np.random.default_rng(seed)
    fraud = rng.uniform(size=n) < fraud_rate
    labels = pd.array(fraud.astype("int8"), dtype="Int8")
    if unlabelled:
        labels[n - unlabelled :] = pd.NA
    start = pd.Timestamp("2025-03-01", tz="UTC")
    return pd.DataFrame(
        {
            TRANSACTION_ID: rng.permutation(n).astype("int64") + 10_000_000,
            TX_DATETIME: start + pd.to_timedelta(np.sort(rng.uniform(0, 7 * 86400, n)), "s"),
            CUSTOMER_ID: rng.integers(0, 5_000, n),
            TX_FRAUD: labels,
            "signal": rng.normal(size=n) + 1.5 * fraud,
            "noise": rng.normal(size=n),
        }
    )


@pytest.fixture(scope="session")
def make_labelled_frame() -> Callable[..., pd.DataFrame]:
    """``labelled_frame``: a window of labelled transactions for the training tests."""
    return labelled_frame
