"""How sure a measured accuracy is: pure functions over per-image outcomes.

Model and baseline are evaluated on the same images under the same noise, so every
comparison between two numbers is *paired*: per image, both are right, both wrong, or
one of them is. What is compared:

- one accuracy: a Wilson score interval (binomial, no normal approximation at 0 or 1);
- a paired difference of two accuracies (model - baseline, or clean - corrupted for a
  drop) and a difference of drops: a percentile interval from a seeded paired bootstrap.
  The per-image difference takes a few values only (-1, 0, 1; -2..2 for a difference of
  drops), so resampling images is the same as drawing the counts of those values from a
  multinomial: ``resamples`` draws cost microseconds whatever the number of images, and
  the result is that of the image-level bootstrap exactly. Identical outcomes give 0 ± 0.
- model against baseline also gets the exact McNemar p-value from the discordant pairs
  (b: only the model right, c: only the baseline right).

Intervals are 95% unless asked otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 10_000


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion, (lower, upper) in [0, 1]."""
    if trials <= 0:
        return (0.0, 1.0)
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class PairedDifference:
    """mean(per-image difference) with its interval; a difference of fractions."""

    estimate: float
    lower: float
    upper: float

    @property
    def interval(self) -> list[float]:
        return [self.lower, self.upper]

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.lower > 0 or self.upper < 0


def paired_bootstrap(
    differences: np.ndarray, seed: int, resamples: int = RESAMPLES, confidence: float = CONFIDENCE
) -> PairedDifference:
    """Percentile interval of the mean of per-image ``differences`` (small integers),
    bootstrapping images; exact through multinomial draws of the value counts."""
    differences = np.asarray(differences)
    count = differences.size
    if count == 0:
        return PairedDifference(math.nan, math.nan, math.nan)
    values, counts = np.unique(differences, return_counts=True)
    estimate = float(counts @ values) / count
    if values.size == 1:
        return PairedDifference(estimate, estimate, estimate)
    generator = np.random.default_rng(seed)
    draws = generator.multinomial(count, counts / count, size=resamples)
    means = draws @ values.astype(np.float64) / count
    tail = (1 - confidence) / 2
    lower, upper = np.quantile(means, [tail, 1 - tail])
    return PairedDifference(estimate, float(lower), float(upper))


def paired_t_p(differences: np.ndarray) -> float:
    """Two-sided p-value of a paired t-test that the per-image differences average 0
    (scipy's one-sample t-test); identical outcomes give 1, a constant non-zero
    difference 0."""
    differences = np.asarray(differences, dtype=np.float64)
    if differences.size < 2 or np.all(differences == differences.flat[0]):
        return 1.0 if differences.size == 0 or differences.flat[0] == 0 else 0.0
    from scipy.stats import ttest_1samp

    return float(ttest_1samp(differences, 0.0).pvalue)


def holm_adjusted(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment (family-wise error): sort ascending, multiply the k-th
    smallest by (m - k + 1), keep the running maximum, cap at 1; in the input's order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def mcnemar_exact_p(model_only: int, baseline_only: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs as Binomial(b + c, 1/2)."""
    discordant = model_only + baseline_only
    if discordant == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(model_only, discordant, 0.5).pvalue)


def pack_bits(outcomes: np.ndarray) -> str:
    """Per-image booleans as compact base64 (kept in the JSON so that a saved result can
    serve as a paired baseline later)."""
    import base64

    return base64.b64encode(np.packbits(np.asarray(outcomes, dtype=bool)).tobytes()).decode("ascii")


def unpack_bits(text: str, count: int) -> np.ndarray:
    import base64

    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8), count=count).astype(bool)


def stream_seed(seed: int, *parts: str) -> int:
    """A bootstrap seed for one comparison, fixed by the audit's seed and its name."""
    import zlib

    return (seed * 1_000_003 + zlib.crc32("/".join(parts).encode())) % (2**32)
