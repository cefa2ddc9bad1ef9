"""Findings: rules over an audit's numbers, each a sentence a reviewer understands.

A rule reads the spectral and probe sections and returns zero or more
:class:`Finding` s with an id, a severity (info, warning, error), one sentence and the
numbers behind it. Thresholds are the named fields of :class:`Thresholds`, which a
policy file can override.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.schema import SEVERITIES, AuditResult, Finding


@dataclass(frozen=True)
class Thresholds:
    """Where a rule fires. Accuracy drops are fractions (0.15 = 15 points)."""

    layer_high_frequency_ratio: float = 1.25  # layer HFER / baseline HFER at or above this
    network_ssr_below: float = 1.0  # network SSR below this: less low-pass than the baseline
    steep_blur_drop: float = 0.15  # drop at the middle severity of blur / low resolution
    steep_noise_drop: float = 0.15  # drop at the middle severity of Gaussian noise
    near_zero_energy: float = 1e-12  # mean squared weight below this: a dead layer


# Allowed (low, high, meaning) of each threshold, checked when a policy sets one.
THRESHOLD_RANGES = {
    "layer_high_frequency_ratio": (0.0, 1e6, "a positive ratio"),
    "network_ssr_below": (0.0, 1e6, "a positive ratio"),
    "steep_blur_drop": (0.0, 1.0, "a fraction in [0, 1]"),
    "steep_noise_drop": (0.0, 1.0, "a fraction in [0, 1]"),
    "near_zero_energy": (0.0, 1e6, "a non-negative mean squared weight"),
}


def _layer_rules(result, limits: Thresholds) -> list[Finding]:
    findings = []
    layers = result.spectral.layers
    broken = [l.name for l in layers if not l.finite]
    if broken:
        findings.append(
            Finding(
                "non-finite-weights",
                "error",
                f"{len(broken)} layer(s) hold NaN or Inf weights ({', '.join(broken[:5])}): the checkpoint is "
                "corrupt or training diverged.",
                {"layers": broken},
            )
        )
    dead = [
        l.name for l in layers if l.finite and l.mean_square is not None and l.mean_square < limits.near_zero_energy
    ]
    if dead:
        findings.append(
            Finding(
                "zero-kernels",
                "warning",
                f"{len(dead)} layer(s) have (near-)zero kernels ({', '.join(dead[:5])}; mean squared weight below "
                f"{limits.near_zero_energy:g}): they pass no signal.",
                {"layers": dead, "threshold": limits.near_zero_energy},
            )
        )
    against = "the reference" if result.spectral.baseline.kind == "white-noise" else "the baseline"
    heavy = []
    for layer in layers:
        if layer.hfer is None or not layer.baseline_hfer:
            continue
        ratio = layer.hfer / layer.baseline_hfer
        if ratio >= limits.layer_high_frequency_ratio:
            heavy.append((layer.name, ratio, layer.hfer, layer.baseline_hfer))
    heavy.sort(key=lambda item: -item[1])
    for name, ratio, hfer, base in heavy[:10]:
        findings.append(
            Finding(
                "layer-high-frequency",
                "warning",
                f"{name} keeps {ratio:.1f}x the high-frequency energy of {against} (HFER {hfer:.3f} vs "
                f"{base:.3f}): expect sensitivity to blur and low resolution.",
                {
                    "layer": name,
                    "hfer": hfer,
                    "baseline_hfer": base,
                    "ratio": ratio,
                    "threshold": limits.layer_high_frequency_ratio,
                },
            )
        )
    if len(heavy) > 10:
        findings.append(
            Finding(
                "layer-high-frequency",
                "warning",
                f"{len(heavy) - 10} more layers keep at least {limits.layer_high_frequency_ratio}x the "
                f"high-frequency energy of {against}.",
                {"layers": [h[0] for h in heavy[10:]]},
            )
        )
    summary = result.spectral.summary
    if summary.ssr is not None and summary.ssr < limits.network_ssr_below:
        findings.append(
            Finding(
                "network-ssr-below-one",
                "warning",
                f"The network is less low-pass than {against}: SSR {summary.ssr:.2f} "
                f"(HFER {summary.hfer:.3f} vs {summary.baseline_hfer:.3f}).",
                {
                    "ssr": summary.ssr,
                    "hfer": summary.hfer,
                    "baseline_hfer": summary.baseline_hfer,
                    "threshold": limits.network_ssr_below,
                },
            )
        )
    elif summary.ssr is not None:
        findings.append(
            Finding(
                "network-ssr",
                "info",
                f"Network SSR {summary.ssr:.2f} against {against} (HFER {summary.hfer:.3f} vs "
                f"{summary.baseline_hfer:.3f}; paper-mode SSR "
                f"{'n/a' if summary.paper_ssr is None else f'{summary.paper_ssr:.3f}'}).",
                {"ssr": summary.ssr, "paper_ssr": summary.paper_ssr},
            )
        )
    return findings


def _middle(results: list, probe: str):
    sweep = sorted((r for r in results if r.probe == probe and r.accuracy_drop is not None), key=lambda r: r.value)
    if probe in ("low_resolution",):  # lower resolution is the harsher end
        sweep.reverse()
    return sweep[len(sweep) // 2] if sweep else None


def _probe_rules(result, limits: Thresholds) -> list[Finding]:
    section = result.probes
    if section is None:
        return []
    findings = []
    for probe, limit, rule, consequence in (
        ("gaussian_blur", limits.steep_blur_drop, "steep-blur-drop", "it relies on fine detail that blur removes"),
        (
            "low_resolution",
            limits.steep_blur_drop,
            "steep-low-resolution-drop",
            "it relies on fine detail that low resolution removes",
        ),
        (
            "gaussian_noise",
            limits.steep_noise_drop,
            "steep-noise-drop",
            "the accuracy-robustness trade-off: a model specialised in low frequencies is thrown off "
            "by broadband noise",
        ),
    ):
        middle = _middle(section.results, probe)
        if middle is None or middle.accuracy_drop < limit:
            continue
        versus = ""
        if middle.baseline_accuracy_drop is not None:
            versus = f" (baseline loses {100 * middle.baseline_accuracy_drop:.1f})"
        findings.append(
            Finding(
                rule,
                "warning",
                f"Accuracy drops {100 * middle.accuracy_drop:.1f} points under {probe} {middle.severity:g}{versus}: "
                f"{consequence}.",
                {
                    "probe": probe,
                    "severity": middle.severity,
                    "accuracy": middle.accuracy,
                    "accuracy_drop": middle.accuracy_drop,
                    "baseline_accuracy_drop": middle.baseline_accuracy_drop,
                    "threshold": limit,
                },
            )
        )
    return findings


def evaluate_findings(result: AuditResult, limits: Thresholds = Thresholds()) -> list[Finding]:
    """All findings for an audit result, most severe first."""
    findings = _layer_rules(result, limits) + _probe_rules(result, limits)
    order = {name: index for index, name in enumerate(reversed(SEVERITIES))}
    return sorted(findings, key=lambda f: order[f.severity])
