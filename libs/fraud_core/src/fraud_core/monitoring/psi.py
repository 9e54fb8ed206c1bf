"""Population stability index (PSI) of one variable against a reference sample (package doc)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_EPSILON",
    "DEFAULT_N_BINS",
    "DEFAULT_PSI_THRESHOLD",
    "PsiResult",
    "bin_shares",
    "population_stability_index",
    "psi_from_shares",
    "quantile_edges",
]

DEFAULT_N_BINS = 10
DEFAULT_EPSILON = 1e-4
DEFAULT_PSI_THRESHOLD = 0.2


def sample_values(sample: Any, what: str) -> np.ndarray:
    """``sample`` as a float array (NaN for missing), refusing an empty one (``what`` names it)."""
    if isinstance(sample, pd.Series):
        array = pd.to_numeric(sample, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        array = np.asarray(sample, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError(f"PSI: the {what} sample is empty")
    return array


def quantile_edges(reference: Any, n_bins: int = DEFAULT_N_BINS) -> np.ndarray:
    """Interior cut points of ``n_bins`` reference-quantile bins, ascending, duplicates removed."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 2:
        raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    values = sample_values(reference, "reference")
    present = values[~np.isnan(values)]
    if present.size == 0:
        return np.empty(0)
    cuts = np.quantile(present, np.arange(1, n_bins) / n_bins)
    return np.unique(cuts)


def bin_shares(
    values: Any, edges: Sequence[float] | np.ndarray, *, missing_bin: bool = False
) -> np.ndarray:
    """Share of ``values`` in each right-closed bin of ``edges`` (+ a last missing-value bin).

    Without ``missing_bin`` the shares are over the non-missing values (missing ones ignored).
    """
    array = sample_values(values, "binned")
    cuts = np.asarray(edges, dtype=np.float64)
    missing = np.isnan(array)
    present = array[~missing]
    # side="left": a value equal to a cut point belongs to the bin that ends there (right-closed).
    counts = np.bincount(np.searchsorted(cuts, present, side="left"), minlength=cuts.size + 1)
    if missing_bin:
        counts = np.append(counts, missing.sum())
    total = counts.sum()
    return counts / total if total else np.zeros(counts.size)


def psi_from_shares(expected: Any, actual: Any, *, epsilon: float = DEFAULT_EPSILON) -> float:
    """``sum (a - e) * ln(a / e)`` with every share below ``epsilon`` raised to ``epsilon``."""
    if not 0.0 < epsilon < 1.0:
        raise ValueError(f"epsilon must be in (0, 1), got {epsilon}")
    e = np.maximum(np.asarray(expected, dtype=np.float64), epsilon)
    a = np.maximum(np.asarray(actual, dtype=np.float64), epsilon)
    if e.shape != a.shape:
        raise ValueError(f"PSI: {e.size} expected shares for {a.size} actual shares")
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class PsiResult:
    """The PSI of one variable and the bins it was computed on."""

    psi: float
    edges: tuple[float, ...]
    """Interior cut points; bin ``i`` is ``(edges[i-1], edges[i]]`` with open outer ends."""
    reference_shares: tuple[float, ...]
    actual_shares: tuple[float, ...]
    """Per bin, before the epsilon floor; the last entry is the missing bin when ``missing_bin``."""
    missing_bin: bool
    n_reference: int
    n_actual: int
    epsilon: float = DEFAULT_EPSILON

    @property
    def n_bins(self) -> int:
        """Number of bins, the missing-value bin included."""
        return len(self.reference_shares)

    def bins(self) -> pd.DataFrame:
        """One row per bin: bounds, both shares and the bin's contribution to the PSI."""
        lower = [-math.inf, *self.edges]
        upper = [*self.edges, math.inf]
        labels = [f"({lo:.6g}, {hi:.6g}]" for lo, hi in zip(lower, upper, strict=True)]
        if self.missing_bin:
            lower, upper, labels = [*lower, math.nan], [*upper, math.nan], [*labels, "missing"]
        frame = pd.DataFrame(
            {
                "bin": labels,
                "lower": lower,
                "upper": upper,
                "reference_share": self.reference_shares,
                "actual_share": self.actual_shares,
            }
        )
        e = np.maximum(frame["reference_share"].to_numpy(), self.epsilon)
        a = np.maximum(frame["actual_share"].to_numpy(), self.epsilon)
        frame["contribution"] = (a - e) * np.log(a / e)
        return frame


def population_stability_index(
    reference: Any,
    actual: Any,
    *,
    n_bins: int = DEFAULT_N_BINS,
    epsilon: float = DEFAULT_EPSILON,
) -> PsiResult:
    """PSI of ``actual`` against ``reference`` on ``n_bins`` reference-quantile bins (module doc)."""
    ref = sample_values(reference, "reference")
    act = sample_values(actual, "actual")
    edges = quantile_edges(ref, n_bins)
    missing_bin = bool(np.isnan(ref).any() or np.isnan(act).any())
    expected = bin_shares(ref, edges, missing_bin=missing_bin)
    observed = bin_shares(act, edges, missing_bin=missing_bin)
    return PsiResult(
        psi=psi_from_shares(expected, observed, epsilon=epsilon),
        edges=tuple(float(c) for c in edges),
        reference_shares=tuple(float(s) for s in expected),
        actual_shares=tuple(float(s) for s in observed),
        missing_bin=missing_bin,
        n_reference=int(ref.size),
        n_actual=int(act.size),
        epsilon=float(epsilon),
    )
