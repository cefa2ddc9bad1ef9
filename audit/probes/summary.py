"""Per-image outcomes of the probe suite -> the numbers of the report, with intervals.

The same arithmetic serves a baseline run beside the model and a baseline loaded from a
saved result (its per-image bits), so both are compared image by image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.probes import statistics as stats
from audit.probes.registry import Probe
from audit.schema import ProbeResult, ProbeVerdict

ABOVE_CHANCE = 2.0  # a severity is judged only where the baseline is at least twice chance
SIGNIFICANCE = 1 - stats.CONFIDENCE

METHOD = (
    "95% intervals: Wilson for accuracies; seeded paired bootstrap over images ({resamples:,} resamples, "
    "exact through multinomial counts) for drops and model-baseline differences; exact McNemar p-values"
)


@dataclass
class Outcomes:
    """One runner's per-image results over the tasks (clean first)."""

    correct: np.ndarray | None  # bool (tasks, images), None without labels
    agrees: np.ndarray  # bool (tasks, images)


@dataclass
class CleanNumbers:
    accuracy: float | None
    accuracy_ci: list[float] | None
    baseline_accuracy: float | None = None
    baseline_accuracy_ci: list[float] | None = None
    difference: float | None = None
    difference_ci: list[float] | None = None
    mcnemar_p: float | None = None
    correct_bits: str | None = None


def _accuracy(correct: np.ndarray) -> tuple[float, list[float]]:
    hits, count = int(correct.sum()), int(correct.size)
    return hits / count, list(stats.wilson_interval(hits, count))


def _paired(difference: np.ndarray, seed: int, *stream: str) -> stats.PairedDifference:
    return stats.paired_bootstrap(difference.astype(np.int8), stats.stream_seed(seed, *stream))


def summarise(
    tasks: list[tuple[Probe | None, float]],
    model: Outcomes,
    baseline: Outcomes | None,
    image_size: int,
    seed: int,
) -> tuple[list[ProbeResult], CleanNumbers]:
    """ProbeResults for every task but the clean one, and the clean numbers."""
    model_correct = model.correct  # None: no labels
    baseline_correct = baseline.correct if baseline is not None else None
    clean = CleanNumbers(None, None)
    if model_correct is not None:
        clean.accuracy, clean.accuracy_ci = _accuracy(model_correct[0])
        clean.correct_bits = stats.pack_bits(model_correct[0])
    if model_correct is not None and baseline_correct is not None:
        clean.baseline_accuracy, clean.baseline_accuracy_ci = _accuracy(baseline_correct[0])
        compared = _paired(model_correct[0].astype(np.int8) - baseline_correct[0], seed, "clean", "difference")
        clean.difference, clean.difference_ci = compared.estimate, compared.interval
        clean.mcnemar_p = stats.mcnemar_exact_p(*_discordant(model_correct[0], baseline_correct[0]))

    results = []
    for index, (probe, severity) in enumerate(tasks[1:], start=1):
        assert probe is not None  # only the first task, the clean one, has none
        name = f"{severity:g}"
        result = ProbeResult(
            probe=probe.name,
            severity=severity,
            value=float(probe.parameter_value(severity, image_size)),
            accuracy=None,
            agreement=float(model.agrees[index].mean()),
            kind=probe.kind,
        )
        if baseline is not None:
            result.baseline_agreement = float(baseline.agrees[index].mean())
        if model_correct is not None:
            correct, clean_correct = model_correct[index], model_correct[0]
            result.accuracy, result.accuracy_ci = _accuracy(correct)
            drop = _paired(clean_correct.astype(np.int8) - correct, seed, probe.name, name, "drop")
            result.accuracy_drop, result.accuracy_drop_ci = drop.estimate, drop.interval
            result.correct = stats.pack_bits(correct)
        if model_correct is not None and baseline_correct is not None:
            base, base_clean = baseline_correct[index], baseline_correct[0]
            result.baseline_accuracy, result.baseline_accuracy_ci = _accuracy(base)
            drop = _paired(base_clean.astype(np.int8) - base, seed, probe.name, name, "baseline drop")
            result.baseline_accuracy_drop, result.baseline_accuracy_drop_ci = drop.estimate, drop.interval
            difference = _paired(correct.astype(np.int8) - base, seed, probe.name, name, "difference")
            result.difference, result.difference_ci = difference.estimate, difference.interval
            model_drop = clean_correct.astype(np.int8) - correct
            baseline_drop = base_clean.astype(np.int8) - base
            drops = _paired(model_drop - baseline_drop, seed, probe.name, name, "drop difference")
            result.drop_difference, result.drop_difference_ci = drops.estimate, drops.interval
            result.mcnemar_p = stats.mcnemar_exact_p(*_discordant(correct, base))
        results.append(result)
    return results, clean


def _discordant(model: np.ndarray, baseline: np.ndarray) -> tuple[int, int]:
    """(images only the model gets right, images only the baseline gets right)."""
    return int((model & ~baseline).sum()), int((~model & baseline).sum())


def judge_probes(
    tasks: list[tuple[Probe | None, float]], model: Outcomes, baseline: Outcomes, num_classes: int | None, seed: int
) -> list[ProbeVerdict]:
    """Each probe against the baseline, across the severities where the baseline is at
    least twice chance: the per-image mean over those severities of the drop difference
    and of the accuracy difference (paired bootstrap intervals), a paired t-test, and
    Holm's adjustment over the corruption probes judged (diagnostics are judged but not
    counted: they never headline)."""
    chance = 1 / num_classes if num_classes else 0.0
    model_correct, baseline_correct = model.correct, baseline.correct
    if model_correct is None or baseline_correct is None:
        return []  # no labels: nothing to judge
    probes: dict[str, Probe] = {}
    by_probe: dict[str, list[int]] = {}
    for index, (probe, _) in enumerate(tasks[1:], start=1):
        assert probe is not None  # only the clean task has none
        probes[probe.name] = probe
        by_probe.setdefault(probe.name, []).append(index)
    clean_m, clean_b = model_correct[0].astype(np.int8), baseline_correct[0].astype(np.int8)
    verdicts = []
    for name, indices in by_probe.items():
        judged = [i for i in indices if baseline_correct[i].mean() >= ABOVE_CHANCE * chance]
        verdict = ProbeVerdict(
            probe=name,
            kind=probes[name].kind,
            judged=[tasks[i][1] for i in judged],
            left_out=[tasks[i][1] for i in indices if i not in judged],
        )
        if judged:
            # Integer per-image sums over the judged severities keep the bootstrap exact
            # (few distinct values); the mean is the sum over their count.
            drops = np.sum([(clean_m - model_correct[i]) - (clean_b - baseline_correct[i]) for i in judged], axis=0)
            differences = np.sum([model_correct[i].astype(np.int8) - baseline_correct[i] for i in judged], axis=0)
            count = len(judged)
            drop = _paired(drops.astype(np.int16), seed, name, "judged", "drop difference")
            accuracy = _paired(differences.astype(np.int16), seed, name, "judged", "difference")
            verdict.drop_difference = drop.estimate / count
            verdict.drop_difference_ci = [v / count for v in drop.interval]
            verdict.accuracy_difference = accuracy.estimate / count
            verdict.accuracy_difference_ci = [v / count for v in accuracy.interval]
            verdict.p_value = stats.paired_t_p(drops)
        verdicts.append(verdict)
    counted = [(v, v.p_value) for v in verdicts if v.kind != "diagnostic" and v.p_value is not None]
    for (verdict, _), adjusted in zip(counted, stats.holm_adjusted([p for _, p in counted]), strict=True):
        verdict.adjusted_p, verdict.comparisons = adjusted, len(counted)
        verdict.significant = adjusted < SIGNIFICANCE
    return verdicts
