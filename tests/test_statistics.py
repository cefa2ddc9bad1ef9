"""The intervals against independent computations: the Wilson formula by hand, an
image-level bootstrap in plain NumPy, the exact McNemar p-value from binomial sums, and
the coverage of the paired interval on simulated data with a known difference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audit.probes import statistics as stats
from audit.probes.registry import PROBES
from audit.probes.summary import Outcomes, summarise


@pytest.mark.parametrize("hits,count", [(0, 10), (10, 10), (563, 846), (1, 1000), (50, 100)])
def test_wilson_interval_matches_the_formula(hits, count):
    z = 1.959963984540054
    p = hits / count
    centre = (p + z * z / (2 * count)) / (1 + z * z / count)
    half = z / (1 + z * z / count) * math.sqrt(p * (1 - p) / count + z * z / (4 * count * count))
    low, high = stats.wilson_interval(hits, count)
    assert low == pytest.approx(max(0, centre - half), abs=1e-12) and high == pytest.approx(
        min(1, centre + half), abs=1e-12
    )


def test_paired_bootstrap_equals_an_image_level_bootstrap():
    """Resampling images (plain NumPy, one draw of indices per resample) and drawing the
    value counts from a multinomial give the same distribution of the mean."""
    generator = np.random.default_rng(0)
    differences = generator.choice([-1, 0, 0, 0, 1, 1], size=500)
    ours = stats.paired_bootstrap(differences, seed=1, resamples=20_000)
    means = np.array([differences[generator.integers(0, 500, 500)].mean() for _ in range(20_000)])
    reference = np.quantile(means, [0.025, 0.975])
    assert ours.estimate == pytest.approx(differences.mean())
    assert ours.lower == pytest.approx(reference[0], abs=0.006) and ours.upper == pytest.approx(reference[1], abs=0.006)


def test_identical_outcomes_give_zero_plus_minus_zero():
    result = stats.paired_bootstrap(np.zeros(846, dtype=np.int8), seed=0)
    assert (result.estimate, result.lower, result.upper) == (0.0, 0.0, 0.0) and not result.significant


def test_paired_interval_covers_the_true_difference_about_95_percent_of_the_time():
    """Pairs drawn from a known joint distribution: both right 55%, only the model 9%,
    only the baseline 5%, neither 31%; the true difference is 9% - 5% = 4 points."""
    generator = np.random.default_rng(3)
    truth, trials, covered = 0.04, 400, 0
    for trial in range(trials):
        kind = generator.choice(4, size=400, p=[0.55, 0.09, 0.05, 0.31])
        model = (kind == 0) | (kind == 1)
        baseline = (kind == 0) | (kind == 2)
        interval = stats.paired_bootstrap(model.astype(np.int8) - baseline, seed=trial, resamples=2000)
        covered += interval.lower <= truth <= interval.upper
    assert 0.92 <= covered / trials <= 0.98


@pytest.mark.parametrize("b,c", [(0, 0), (5, 0), (12, 3), (30, 31), (7, 19)])
def test_mcnemar_exact_p_matches_binomial_sums(b, c):
    n = b + c
    if n == 0:
        assert stats.mcnemar_exact_p(b, c) == 1.0
        return
    tail = sum(math.comb(n, k) for k in range(0, min(b, c) + 1)) / 2**n
    assert stats.mcnemar_exact_p(b, c) == pytest.approx(min(1.0, 2 * tail), rel=1e-9)


def test_bits_round_trip():
    generator = np.random.default_rng(4)
    outcomes = generator.random(851) < 0.5
    assert np.array_equal(stats.unpack_bits(stats.pack_bits(outcomes), 851), outcomes)


def test_a_model_against_itself_has_every_difference_zero():
    generator = np.random.default_rng(5)
    probe = PROBES["gaussian_blur"]
    tasks = [(None, 0.0)] + [(probe, s) for s in probe.severities]
    correct = generator.random((len(tasks), 300)) < 0.6
    same = Outcomes(correct, np.ones_like(correct))
    results, clean = summarise(tasks, same, Outcomes(correct.copy(), np.ones_like(correct)), 32, seed=0)
    assert clean.difference == 0 and clean.difference_ci == [0.0, 0.0] and clean.mcnemar_p == 1.0
    for row in results:
        assert row.difference == 0 and row.difference_ci == [0.0, 0.0]
        assert row.drop_difference == 0 and row.drop_difference_ci == [0.0, 0.0]
