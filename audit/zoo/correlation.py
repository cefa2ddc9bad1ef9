"""Spearman rank correlations between statistics and probe drops, with bootstrap intervals.

For a statistic matrix X (models x statistics) and a drop matrix Y (models x probes),
every (statistic, probe) pair gets

- ``rho``: Spearman's rank correlation across all models (ties take their mean rank),
  with a 95% percentile-bootstrap interval from resampling models with replacement;
- ``within``: the correlation of ranks taken *within* each group of equal architecture,
  pooled (each group's ranks centred on its own mean), with a bootstrap that resamples
  models within each group. A statistic that only tells a deep model from a shallow one
  has a large ``rho`` and a ``within`` near zero;
- ``partial`` (with a ``control`` such as the clean accuracy): the within-architecture
  rank correlation with the control held fixed, (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)
  (1 - r_yz^2)), from the same resamples. A drop in points is bounded by the clean
  accuracy, so a statistic that merely tracks accuracy keeps ``within`` and loses
  ``partial``.

A column without variation (in the sample or in a resample) has no correlation: NaN,
ignored by the interval's percentiles. All functions are pure and seeded.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
    partial: np.ndarray | None = None
    partial_low: np.ndarray | None = None
    partial_high: np.ndarray | None = None


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


def partial_correlation(r_xy: np.ndarray, r_xz: np.ndarray, r_yz: np.ndarray) -> np.ndarray:
    """Correlations of x's columns with y's, z held fixed: (s, p) from (s, p), (s,), (p,)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = np.sqrt((1 - r_xz**2)[:, None] * (1 - r_yz**2)[None, :])
        out = (r_xy - r_xz[:, None] * r_yz[None, :]) / denominator
    out[~(denominator > 1e-9)] = np.nan
    # x (or y) that is z itself, up to rounding (clean accuracy against clean accuracy):
    # nothing is left once z is held fixed; rounding must not make a "correlation" of it.
    out[(1 - np.abs(r_xz) < 1e-9)[:, None] | (1 - np.abs(r_yz) < 1e-9)[None, :]] = np.nan
    return np.clip(out, -1.0, 1.0)


def _within_and_partial(
    x: np.ndarray, y: np.ndarray, labels: np.ndarray, control: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    within = spearman(x, y, labels)
    if control is None:
        return within, None
    r_xz = spearman(x, control[:, None], labels)[:, 0]
    r_yz = spearman(y, control[:, None], labels)[:, 0]
    return within, partial_correlation(within, r_xz, r_yz)


def held_out_within(
    x: np.ndarray, y: np.ndarray, groups: Sequence[str], folds: list[Any], control: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """Out-of-sample check of the within-architecture correlations: for each distinct fold
    label, the within rho (with ``control`` held fixed where given: the statistic the
    support test uses) computed without that fold's models, and its sign compared with the
    full zoo's. Returns the share of folds that agree, per (statistic, probe), and the
    number of folds."""
    labels = np.unique(np.asarray(groups), return_inverse=True)[1]
    fold_of = np.asarray([str(f) for f in folds])

    def tested(
        within: np.ndarray, partial: np.ndarray | None
    ) -> np.ndarray:  # what the support test uses: partial where defined, else within
        return within if partial is None else np.where(np.isnan(partial), within, partial)

    full = tested(*_within_and_partial(x, y, labels, control))
    agree = np.zeros_like(full)
    names = sorted(set(fold_of))
    for name in names:
        keep = fold_of != name
        rest = tested(
            *_within_and_partial(x[keep], y[keep], labels[keep], control[keep] if control is not None else None)
        )
        agree += np.sign(rest) == np.sign(full)
    return np.where(np.isnan(full), np.nan, agree / max(1, len(names))), len(names)


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
    x: np.ndarray,
    y: np.ndarray,
    groups: list[str] | np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    control: np.ndarray | None = None,
) -> CorrelationTable:
    """Spearman correlations overall and within groups (and, with ``control``, within
    groups with the control held fixed), with bootstrap 95% intervals."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    control = None if control is None else np.asarray(control, float)
    labels = np.asarray(groups)
    n = len(x)
    rng = np.random.default_rng(seed)
    overall = np.empty((resamples, x.shape[1], y.shape[1]))
    within = np.empty_like(overall)
    partial = np.empty_like(overall) if control is not None else None
    for draw in range(resamples):
        rows = _resample(rng, n, None)
        overall[draw] = spearman(x[rows], y[rows])
        rows = _resample(rng, n, labels)
        within[draw], held = _within_and_partial(
            x[rows], y[rows], labels[rows], None if control is None else control[rows]
        )
        if partial is not None:
            partial[draw] = held
    low, high = _interval(overall)
    within_low, within_high = _interval(within)
    point_within, point_partial = _within_and_partial(x, y, labels, control)
    partial_low, partial_high = _interval(partial) if partial is not None else (None, None)
    return CorrelationTable(
        rho=spearman(x, y),
        low=low,
        high=high,
        within=point_within,
        within_low=within_low,
        within_high=within_high,
        partial=point_partial,
        partial_low=partial_low,
        partial_high=partial_high,
    )
