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


# --- probes judged across severities, with Holm's adjustment -------------------------------


def test_holm_matches_a_worked_example():
    # Holm (1979): sorted p 0.01, 0.02, 0.03, 0.04 times 4, 3, 2, 1 = 0.04, 0.06, 0.06, 0.04 -> running max.
    assert stats.holm_adjusted([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert stats.holm_adjusted([0.5, 0.9]) == [1.0, 1.0] and stats.holm_adjusted([]) == []


def test_paired_t_p_matches_the_t_formula():
    from scipy.stats import t

    differences = np.array([1, 0, 0, 2, -1, 1, 0, 1, 1, 0] * 20)
    statistic = differences.mean() / (differences.std(ddof=1) / math.sqrt(differences.size))
    assert stats.paired_t_p(differences) == pytest.approx(2 * t.sf(abs(statistic), differences.size - 1))
    assert stats.paired_t_p(np.zeros(50)) == 1.0 and stats.paired_t_p(np.ones(50)) == 0.0


def _judge(model_rows, baseline_rows, probes):
    """judge_probes over hand-made per-image outcomes (rows: clean first, then each task)."""
    from audit.probes.summary import judge_probes

    tasks = [(None, 0.0)] + [(PROBES[name], severity) for name, severity in probes]
    agrees = np.ones((len(tasks), model_rows.shape[1]), dtype=bool)
    return judge_probes(tasks, Outcomes(model_rows, agrees), Outcomes(baseline_rows, agrees), 10, seed=0)


def _column(count: int, wrong: int, offset: int = 0) -> np.ndarray:
    row = np.ones(count, dtype=bool)
    row[offset : offset + wrong] = False
    return row


def test_a_difference_significant_alone_is_not_after_holm_over_three_probes():
    count = 846
    clean = _column(count, 0)
    # Under noise the model misses 28 images the baseline gets right and the baseline 14 the
    # model gets right: a paired t p of about 0.03. Blur and low resolution: identical outcomes.
    model = np.stack([clean, _column(count, 28), _column(count, 100), _column(count, 100)])
    baseline = np.stack([clean, _column(count, 14, offset=400), _column(count, 100), _column(count, 100)])
    conditions = [("gaussian_noise", 0.1), ("gaussian_blur", 5.0), ("low_resolution", 16.0)]
    alone = _judge(model[:2], baseline[:2], conditions[:1])[0]
    assert 0.01 < alone.p_value < 0.05 and alone.adjusted_p == alone.p_value and alone.significant
    judged = _judge(model, baseline, conditions)
    noise = judged[0]
    assert noise.p_value == alone.p_value and noise.comparisons == 3
    assert noise.adjusted_p == pytest.approx(3 * noise.p_value) and not noise.significant
    assert noise.drop_difference == pytest.approx(14 / count)
    assert noise.accuracy_difference == pytest.approx(-14 / count)


def test_severities_where_the_baseline_is_near_chance_are_not_judged():
    count = 1000
    clean = _column(count, 0)
    # Mild noise: the model keeps 100 more images; harsh noise: both near chance (10%), the
    # baseline at 16% and the model at 14% -- the row that used to headline a regression.
    model = np.stack([clean, _column(count, 100), _column(count, 860)])
    baseline = np.stack([clean, _column(count, 200), _column(count, 840)])
    (noise,) = _judge(model, baseline, [("gaussian_noise", 0.04), ("gaussian_noise", 0.2)])
    assert noise.judged == [0.04] and noise.left_out == [0.2]
    assert noise.drop_difference == pytest.approx(-0.1) and noise.significant
