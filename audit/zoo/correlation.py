"""Spearman rank correlations between statistics and probe drops, with bootstrap intervals.

For a statistic matrix X (models x statistics) and a drop matrix Y (models x probes),
every (statistic, probe) pair gets

- ``rho``: Spearman's rank correlation across all models (ties take their mean rank),
  with a 95% percentile-bootstrap interval from resampling models with replacement;
- ``within``: the correlation of ranks taken *within* each group of equal architecture,
  pooled (each group's ranks centred on its own mean), with a bootstrap that resamples
  models within each group. A statistic that only tells a deep model from a shallow one
  has a large ``rho`` and a ``within`` near zero.

A column without variation (in the sample or in a resample) has no correlation: NaN,
ignored by the interval's percentiles. All functions are pure and seeded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass
class CorrelationTable:
    """Arrays of shape (statistics, probes)."""

    rho: np.ndarray
    low: np.ndarray
    high: np.ndarray
    within: np.ndarray
    within_low: np.ndarray
    within_high: np.ndarray


def _pearson_of_centred(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Correlation of every column of a with every column of b (both centred already)."""
    norms = np.sqrt((a**2).sum(0))[:, None] * np.sqrt((b**2).sum(0))[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (a.T @ b) / norms
    out[norms <= 1e-12 * max(1.0, float(np.max(norms, initial=0.0)))] = np.nan
    return np.clip(out, -1.0, 1.0)


def _centred_ranks(values: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """Column ranks, centred per group (or overall when ``groups`` is None)."""
    if groups is None:
        ranks = rankdata(values, axis=0)
        return ranks - ranks.mean(0)
    out = np.empty(values.shape, dtype=float)
    for group in np.unique(groups):
        rows = groups == group
        ranks = rankdata(values[rows], axis=0)
        out[rows] = ranks - ranks.mean(0)
    return out


def spearman(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Spearman correlations of the columns of x (n, s) with those of y (n, p): (s, p).

    With ``groups``, ranks are taken within each group and pooled."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return _pearson_of_centred(_centred_ranks(x, groups), _centred_ranks(y, groups))


def _resample(rng: np.random.Generator, n: int, groups: np.ndarray | None) -> np.ndarray:
    if groups is None:
        return rng.integers(0, n, n)
    picks = [rng.choice(np.flatnonzero(groups == g), size=int((groups == g).sum())) for g in np.unique(groups)]
    return np.concatenate(picks)


def _interval(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tail = 100 * (1 - CONFIDENCE) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no interval
        return np.nanpercentile(draws, tail, axis=0), np.nanpercentile(draws, 100 - tail, axis=0)


def correlate(
    x: np.ndarray, y: np.ndarray, groups: list[str] | np.ndarray, resamples: int = RESAMPLES, seed: int = 0
) -> CorrelationTable:
    """Spearman correlations overall and within groups, with bootstrap 95% intervals."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    labels = np.asarray(groups)
    n = len(x)
    rng = np.random.default_rng(seed)
    overall = np.empty((resamples, x.shape[1], y.shape[1]))
    within = np.empty_like(overall)
    for draw in range(resamples):
        rows = _resample(rng, n, None)
        overall[draw] = spearman(x[rows], y[rows])
        rows = _resample(rng, n, labels)
        within[draw] = spearman(x[rows], y[rows], labels[rows])
    low, high = _interval(overall)
    within_low, within_high = _interval(within)
    return CorrelationTable(
        rho=spearman(x, y),
        low=low,
        high=high,
        within=spearman(x, y, labels),
        within_low=within_low,
        within_high=within_high,
    )
