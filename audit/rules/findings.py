"""Findings: rules over an audit's numbers, each a sentence a reviewer understands.

A finding says what is unusual *against something* (the baseline, chance, what the
checkpoint itself records, a policy), with the numbers behind it:

- sanity first: a clean accuracy that cannot be told from chance is an error (nothing
  measured after it means anything); one far below the accuracy the checkpoint records
  is a warning;
- broken weights: NaN/Inf (error), layers that pass no signal (warning);
- spectra: a tolerance band around SSR 1 (the same spectrum within 5% is "the same");
  kernels that equal the baseline's up to a per-channel scale (BatchNorm folded) are
  named, not flagged;
- robustness: against a baseline, each probe is judged across the severities where the
  baseline is at least twice chance, by its mean drop difference (paired interval), and
  a corruption probe is a regression only when its Holm-adjusted p is below 0.05 ("loses
  4.1 ± 1.3 points more than the baseline under blur k=3-7"); without a baseline, drops
  are information, unless a policy sets limits for them.

Thresholds are the named fields of :class:`Thresholds`, which a policy can override.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from audit.probes.registry import PROBES, condition, judged_conditions
from audit.rules import kinds
from audit.rules.forecasts import Calibrations, Forecast, forecasts
from audit.schema import (
    SEVERITIES,
    AuditResult,
    Correlation,
    Finding,
    ProbeResult,
    ProbeSection,
    ProbeVerdict,
    measured,
)
from audit.spectral.comparison import weighted_mean
from audit.spectral.statistics import STATISTICS


@dataclass(frozen=True)
class Thresholds:
    """Where a rule fires. Accuracy drops are fractions (0.15 = 15 points)."""

    layer_high_frequency_ratio: float = 1.25  # layer HFER / baseline HFER at or above this
    ssr_tolerance: float = 0.05  # |SSR - 1| below this: the same spectrum as the baseline
    network_ssr_below: float | None = None  # a policy may ask for a warning below this SSR
    chance_multiple: float = 2.0  # clean accuracy not shown to exceed this x chance: an error
    recorded_accuracy_margin: float = 0.05  # interval's top this far below the recorded accuracy: warning
    steep_blur_drop: float | None = None  # policy: warn when a blur/low-resolution drop surely exceeds this
    steep_noise_drop: float | None = None  # policy: warn when a noise drop surely exceeds this
    near_zero_energy: float = 1e-12  # mean squared weight below this: a dead layer


# Allowed (low, high, meaning) of each threshold, checked when a policy sets one.
THRESHOLD_RANGES = {
    "layer_high_frequency_ratio": (0.0, 1e6, "a positive ratio"),
    "ssr_tolerance": (0.0, 1.0, "a fraction in [0, 1]"),
    "network_ssr_below": (0.0, 1e6, "a positive ratio"),
    "chance_multiple": (1.0, 1e6, "a multiple of chance, at least 1"),
    "recorded_accuracy_margin": (0.0, 1.0, "a fraction in [0, 1]"),
    "steep_blur_drop": (0.0, 1.0, "a fraction in [0, 1]"),
    "steep_noise_drop": (0.0, 1.0, "a fraction in [0, 1]"),
    "near_zero_energy": (0.0, 1e6, "a non-negative mean squared weight"),
}

# What the spectral-bias account predicts for a model more low-pass than another:
# it keeps more accuracy when high frequencies are removed, and loses more to broadband noise.
REMOVES_HIGH_FREQUENCIES = ("blur", "low_resolution", "pixelate")
ADDS_HIGH_FREQUENCIES = ("noise",)


def points(estimate: float, interval: list[float] | None, signed: bool = False) -> str:
    """A difference of fractions in points with its 95% half-width: '4.1 ± 1.3' ('+4.1 ±
    1.3' signed)."""
    value = f"{100 * estimate:+.1f}" if signed else f"{100 * estimate:.1f}"
    if not interval:
        return value
    half = max(abs(estimate - interval[0]), abs(interval[1] - estimate))
    return f"{value} ± {100 * half:.1f}"


def bracket(interval: list[float]) -> str:
    """A 95% interval of a fraction in percent: '[61.2, 67.6]'."""
    return f"[{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"


def judged_difference(verdict: ProbeVerdict) -> tuple[float, list[float]]:
    """A judged probe's mean drop difference and its interval (both set when it was judged)."""
    assert verdict.drop_difference is not None and verdict.drop_difference_ci is not None
    return verdict.drop_difference, verdict.drop_difference_ci


def negated(interval: list[float]) -> list[float]:
    """The interval of -x from the interval of x."""
    return [-interval[1], -interval[0]]


def probe_family(name: str) -> str | None:
    """'removes' (blur, low resolution...), 'adds' (noise) or None (the rest)."""
    if any(word in name for word in REMOVES_HIGH_FREQUENCIES):
        return "removes"
    if any(word in name for word in ADDS_HIGH_FREQUENCIES):
        return "adds"
    return None


def _against(result: AuditResult) -> str:
    return "the white-noise reference" if result.spectral.baseline.kind == "white-noise" else "the baseline"


# --- sanity ------------------------------------------------------------------------------


def _non_finite_logits(section: ProbeSection) -> list[Finding]:
    findings = []
    for who, count in (("model", section.non_finite_logits), ("baseline", section.baseline_non_finite_logits)):
        if count:
            findings.append(
                Finding(
                    kinds.NON_FINITE_LOGITS,
                    "error",
                    f"The {who} produced NaN or infinite logits for {count} of {section.samples} clean images; they "
                    "count as wrong and agree with nothing, so its robustness numbers describe a broken model. Check "
                    "the weights (NaN or Inf), the input normalisation and the precision ({precision} fp32).",
                    {"who": who, "images": count, "samples": section.samples},
                )
            )
    return findings


def _sanity_rules(result: AuditResult, limits: Thresholds) -> list[Finding]:
    section = result.probes
    if section is None:
        return []
    findings = _non_finite_logits(section)
    if section.clean_accuracy is None or not section.num_classes:
        return findings
    chance = 1 / section.num_classes
    for who, accuracy, interval in (
        ("model", section.clean_accuracy, section.clean_accuracy_ci),
        ("baseline", section.baseline_clean_accuracy, section.baseline_clean_accuracy_ci),
    ):
        if accuracy is None or interval is None:
            continue
        if interval[1] <= limits.chance_multiple * chance:
            subject = "The model's" if who == "model" else "The baseline's"
            findings.append(
                Finding(
                    kinds.CHANCE_LEVEL_ACCURACY if who == "model" else kinds.BASELINE_CHANCE_LEVEL_ACCURACY,
                    "error",
                    f"{subject} clean accuracy is {100 * accuracy:.1f}% {bracket(interval)} on {section.samples} "
                    f"images, not above {limits.chance_multiple:g}x chance "
                    f"({100 * limits.chance_multiple * chance:.1f}%: chance is {100 * chance:.1f}% for "
                    f"{section.num_classes} classes): it is not classifying these images. Likely causes: untrained "
                    "weights, the wrong normalisation ({mean}/{std}), another class order, or the wrong model output "
                    "({logits}). Nothing measured on it below means anything until this is fixed.",
                    {
                        "who": who,
                        "accuracy": accuracy,
                        "interval": interval,
                        "chance": chance,
                        "threshold": limits.chance_multiple,
                    },
                )
            )
    recorded = result.model.recorded.get("accuracy")
    interval = section.clean_accuracy_ci
    if recorded is not None and interval and interval[1] < recorded - limits.recorded_accuracy_margin:
        if not any(f.id == kinds.CHANCE_LEVEL_ACCURACY for f in findings):
            key = result.model.recorded.get("accuracy_key", "accuracy")
            findings.append(
                Finding(
                    kinds.BELOW_RECORDED_ACCURACY,
                    "warning",
                    f"Clean accuracy {100 * section.clean_accuracy:.1f}% {bracket(interval)} "
                    f"is far below the {100 * recorded:.1f}% the checkpoint records ('{key}'): check the normalisation "
                    "({mean}/{std}), the input size and the class order before trusting the robustness numbers.",
                    {
                        "accuracy": section.clean_accuracy,
                        "interval": interval,
                        "recorded": recorded,
                        "key": key,
                        "threshold": limits.recorded_accuracy_margin,
                    },
                )
            )
    return findings


# --- weights and spectra -----------------------------------------------------------------


def _layer_rules(result: AuditResult, limits: Thresholds) -> list[Finding]:
    findings = []
    layers = result.spectral.layers
    summary = result.spectral.summary
    broken = [l.name for l in layers if not l.finite]
    if broken:
        findings.append(
            Finding(
                kinds.NON_FINITE_WEIGHTS,
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
                kinds.ZERO_KERNELS,
                "warning",
                f"{len(dead)} layer(s) have (near-)zero kernels ({', '.join(dead[:5])}; mean squared weight below "
                f"{limits.near_zero_energy:g}): they pass no signal.",
                {"layers": dead, "threshold": limits.near_zero_energy},
            )
        )
    if summary.partial:
        findings.append(
            Finding(
                kinds.PARTIAL_COMPARISON,
                "warning",
                "Partial comparison: the baseline is another architecture, so no layer is compared with another by "
                "name (the same name sits at another depth); only whole networks are compared, each by the "
                f"slice-weighted HFER over all of its own conv layers ({summary.layers_compared} in the model).",
                {"layers_compared": summary.layers_compared, "layers": summary.layers},
            )
        )
    if summary.rescaled_layers:
        names = summary.rescaled_layers
        findings.append(
            Finding(
                kinds.BATCHNORM_FOLDED,
                "info",
                f"{len(names)} layer(s) hold the baseline's kernels rescaled per output channel "
                f"({', '.join(names[:3])}{'...' if len(names) > 3 else ''}): BatchNorm folded into the convolutions, "
                "as optimised ONNX exports do. Their filters are the same; the small SSR differences come from the "
                "rescaling.",
                {"layers": names},
            )
        )
    against = _against(result)
    rescaled = set(summary.rescaled_layers)
    heavy = []
    for layer in layers:
        if layer.hfer is None or not layer.baseline_hfer or layer.name in rescaled:
            continue
        ratio = layer.hfer / layer.baseline_hfer
        if ratio >= limits.layer_high_frequency_ratio:
            heavy.append((layer.name, ratio, layer.hfer, layer.baseline_hfer))
    heavy.sort(key=lambda item: -item[1])
    # A description, not a forecast: no per-layer ratio is a statistic the zoo study supports.
    for name, ratio, hfer, base in heavy[:5]:
        findings.append(
            Finding(
                kinds.LAYER_HIGH_FREQUENCY,
                "info",
                f"{name} keeps {ratio:.2f}x the high-frequency energy of {against} (HFER {hfer:.3f} vs {base:.3f}).",
                {
                    "layer": name,
                    "hfer": hfer,
                    "baseline_hfer": base,
                    "ratio": ratio,
                    "threshold": limits.layer_high_frequency_ratio,
                },
            )
        )
    if len(heavy) > 5:
        findings.append(
            Finding(
                kinds.LAYER_HIGH_FREQUENCY,
                "info",
                f"{len(heavy) - 5} more layers keep at least {limits.layer_high_frequency_ratio}x the high-frequency "
                f"energy of {against}.",
                {"layers": [h[0] for h in heavy[5:]], "threshold": limits.layer_high_frequency_ratio},
            )
        )
    return findings


def _untrained_rules(result: AuditResult, limits: Thresholds) -> list[Finding]:
    """Weights whose high-frequency share is white noise's, compared with a baseline that is
    clearly trained: an error, since no comparison (spectral, forecast or measured) between
    an untrained model and a trained one means anything. Against the white-noise reference
    the same weights are a warning (network-ssr): there is no trained model to compare."""
    if result.spectral.baseline.kind == "white-noise":
        return []
    compared = [
        l
        for l in result.spectral.layers
        if l.hfer is not None and l.baseline_hfer is not None and l.white_noise_hfer is not None
    ]
    model = weighted_mean([(measured(l.hfer), l.slices) for l in compared])
    base = weighted_mean([(measured(l.baseline_hfer), l.slices) for l in compared])
    noise = weighted_mean([(measured(l.white_noise_hfer), l.slices) for l in compared])
    if not model or not base or noise is None:
        return []
    model_ssr, base_ssr = noise / model, noise / base
    if abs(model_ssr - 1) >= limits.ssr_tolerance or base_ssr <= 1 + limits.ssr_tolerance:
        return []
    return [
        Finding(
            kinds.UNTRAINED_WEIGHTS,
            "error",
            f"The model's kernels are as spread as white noise (network HFER {model:.3f} vs {noise:.3f} for i.i.d. "
            f"weights, SSR {model_ssr:.2f}), while the baseline's are a trained model's (HFER {base:.3f}, SSR "
            f"{base_ssr:.2f} against white noise): the weights look untrained or lost in loading. No comparison with "
            "the baseline means anything until this is fixed.",
            {
                "hfer": model,
                "baseline_hfer": base,
                "white_noise_hfer": noise,
                "ssr": model_ssr,
                "baseline_ssr": base_ssr,
            },
        )
    ]


# Info findings that interpret the probes or forecast them: none once an error stands.
def _network_rules(result: AuditResult, limits: Thresholds, forecast_made: bool) -> list[Finding]:
    summary = result.spectral.summary
    if summary.ssr is None:
        return []
    against = _against(result)
    white = result.spectral.baseline.kind == "white-noise"
    evidence = {
        "ssr": summary.ssr,
        "hfer": summary.hfer,
        "baseline_hfer": summary.baseline_hfer,
        "paper_ssr": summary.paper_ssr,
        "tolerance": limits.ssr_tolerance,
    }
    numbers = f"SSR {summary.ssr:.2f}: HFER {summary.hfer:.3f} vs {summary.baseline_hfer:.3f}"
    measured = result.probes is not None and result.probes.paired
    if abs(summary.ssr - 1) < limits.ssr_tolerance:
        if not white:
            return []  # the same spectrum as the baseline: nothing unusual to report
        return [
            Finding(
                kinds.NETWORK_SSR,
                "warning",
                f"The kernels' high-frequency share is that of white noise within "
                f"{100 * limits.ssr_tolerance:.0f}% ({numbers}): the weights look untrained.",
                evidence,
            )
        ]
    if not measured and not white and not forecast_made:
        unsupported = (
            " The weights alone do not predict robustness for this architecture: no spectral statistic that differs "
            "here ranks a probe's drop with the same sign in every zoo study. Run the probes ({data}) to measure it."
        )
    else:
        unsupported = ""
    if summary.ssr > 1:
        return [
            Finding(
                kinds.NETWORK_SSR,
                "info",
                f"The kernels are more low-pass than {against} ({numbers}).{unsupported}",
                evidence,
            )
        ]
    if limits.network_ssr_below is not None and summary.ssr < limits.network_ssr_below:
        return [
            Finding(
                kinds.NETWORK_SSR_BELOW_POLICY,
                "warning",
                f"Network SSR {summary.ssr:.2f} is below the policy's {limits.network_ssr_below:g} ({numbers}).",
                evidence,
            )
        ]
    if white:
        return [
            Finding(
                kinds.NETWORK_SSR,
                "warning",
                f"The kernels hold more high-frequency energy than white noise "
                f"({numbers}): that is unusual for a trained CNN; check that the weights are trained and "
                "intact.",
                evidence,
            )
        ]
    if measured:  # the probes measured what the spectrum could only forecast
        return [
            Finding(
                kinds.NETWORK_SSR,
                "info",
                f"The kernels keep more high-frequency energy than the baseline "
                f"({numbers}); the probes below show what that costs.",
                evidence,
            )
        ]
    return [
        Finding(
            kinds.NETWORK_SSR,
            "info",
            f"The kernels keep more high-frequency energy than the baseline ({numbers}).{unsupported}",
            evidence,
        )
    ]


def _strength(description: str, models: int, correlation: Correlation) -> str:
    held = ""
    if correlation.partial is not None:
        held = (
            f"; {correlation.partial:+.2f} [{correlation.partial_low:+.2f}, {correlation.partial_high:+.2f}] with "
            "clean accuracy held fixed"
        )
    return (
        f"rho {correlation.within:+.2f} [{correlation.within_low:+.2f}, {correlation.within_high:+.2f}]{held} "
        f"in {description}, n={models}"
    )


def _forecast_sentence(forecast: Forecast) -> str:
    """'a larger drop than the baseline's under blur k=7 is likely: its late-stage HFER is
    0.394 against the baseline's 0.636, and in every study late-stage HFER ranked that drop
    with the same sign (rho, interval and n of each)'."""
    statistic = STATISTICS[forecast.statistic].label
    more = "larger" if forecast.larger_drop else "smaller"
    support = forecast.support or [(forecast.source, forecast.models, forecast.correlation)]
    where = "every study" if len(support) > 1 else "the study"
    return (
        f"a {more} drop than the baseline's under {forecast.condition} is likely: its {statistic} is "
        f"{forecast.model_value:.3f} against the baseline's {forecast.baseline_value:.3f}, and in {where} "
        f"{statistic} ranked that drop within architectures with the same sign ("
        + "; and ".join(_strength(*s) for s in support)
        + ")"
    )


def forecast_message(made: list[Forecast]) -> str:
    """All forecasts in one finding: 'Forecast from the weights: a larger drop ... ; a smaller
    drop ... Rank correlations across models, not measurements of this one.'"""
    return (
        "Forecast from the weights: "
        + "; ".join(_forecast_sentence(f) for f in made)
        + ". Rank correlations across models, not measurements of this one: run the probes ({data}) to measure "
        "them."
    )


def _forecast_evidence(forecast: Forecast) -> dict[str, Any]:
    return {
        "statistic": forecast.statistic,
        "probe": forecast.probe,
        "severity": forecast.severity,
        "value": forecast.model_value,
        "baseline_value": forecast.baseline_value,
        "rho": forecast.correlation.within,
        "rho_ci": [forecast.correlation.within_low, forecast.correlation.within_high],
        "rho_accuracy_held_fixed": forecast.correlation.partial,
        "study_models": forecast.models,
        "studies": [
            {
                "study": description,
                "models": models,
                "rho": c.within,
                "rho_ci": [c.within_low, c.within_high],
                "rho_accuracy_held_fixed": c.partial,
            }
            for description, models, c in forecast.support
        ],  # fmt: skip
        "larger_drop": forecast.larger_drop,
    }


def _forecast_rules(result: AuditResult, limits: Thresholds, calibration: Calibrations) -> list[Finding]:
    """Data-free forecasts, only from statistics the zoo studies support, in one finding (a
    warning when any forecasts a larger drop); none once the probes have measured the model
    against the baseline."""
    if result.probes is not None and result.probes.paired:
        return []
    made = forecasts(result, calibration, limits.ssr_tolerance)
    if not made:
        return []
    return [
        Finding(
            kinds.SPECTRAL_FORECAST,
            "warning" if any(f.larger_drop for f in made) else "info",
            forecast_message(made),
            {"forecasts": [_forecast_evidence(f) for f in made]},
        )
    ]


# --- robustness ----------------------------------------------------------------------------


def _probe_rules(result: AuditResult, limits: Thresholds) -> list[Finding]:
    section = result.probes
    if section is None or section.clean_accuracy is None:
        return []
    if any(f.severity == "error" for f in _sanity_rules(result, limits)):
        return []  # robustness of a model that does not classify says nothing
    findings = []
    by_probe: dict[str, list[ProbeResult]] = {}
    for row in section.results:
        by_probe.setdefault(row.probe, []).append(row)
    judged = {v.probe: v for v in section.judged}
    for name, rows in by_probe.items():
        diagnostic = rows[0].kind == "diagnostic"
        if section.paired:
            if name in judged:
                findings += _judged_findings(judged[name], rows, section)
            continue
        # Only severities where the model is above twice chance say anything about it: a
        # probe at chance at every value (high-pass on a large image) makes no finding.
        chance = 1 / section.num_classes if section.num_classes else 0.0
        telling = [r for r in rows if r.accuracy is not None and r.accuracy > 2 * chance]
        if not telling:
            continue
        probe = PROBES.get(name)
        middle = probe.middle_severity() if probe else rows[len(rows) // 2].severity
        row = next((r for r in telling if float(r.severity) == float(middle)), telling[len(telling) // 2])
        if row.accuracy_drop is None:
            continue
        limit = limits.steep_noise_drop if probe_family(name) == "adds" else limits.steep_blur_drop
        steep = limit is not None and row.accuracy_drop_ci and row.accuracy_drop_ci[0] > limit and not diagnostic
        # "No baseline" is said once, on the first such finding, not after every probe.
        first = not any(f.id == kinds.PROBE_DROP for f in findings)
        findings.append(
            Finding(
                kinds.PROBE_DROP_ABOVE_POLICY if steep else kinds.PROBE_DROP,
                "warning" if steep else "info",
                f"Accuracy drops {points(row.accuracy_drop, row.accuracy_drop_ci)} points under {condition(row)}"
                + (
                    f", more than the policy's {100 * measured(limit):.0f}."
                    if steep
                    else (" (no baseline to compare with; the same for the probes below)." if first else ".")
                ),
                {**_evidence(row), "threshold": limit},
            )
        )
    return findings


def _judged_findings(verdict: ProbeVerdict, rows: list[ProbeResult], section: ProbeSection) -> list[Finding]:
    """A probe against the baseline, judged across its severities (see ProbeVerdict): a
    corruption probe is a regression (warning) or an improvement only when its Holm-
    adjusted p is below 0.05; a diagnostic only informs, on its unadjusted interval."""
    if verdict.drop_difference is None:
        return []
    estimate, interval = judged_difference(verdict)
    low, high = interval
    if verdict.kind == "diagnostic":
        worse, better = low > 0, high < 0
    else:
        worse = verdict.significant and estimate > 0
        better = verdict.significant and estimate < 0
    if not (worse or better):
        return []
    judged = [r for r in rows if float(r.severity) in set(verdict.judged)]
    model = sum(measured(r.accuracy) for r in judged) / len(judged)
    base = sum(measured(r.baseline_accuracy) for r in judged) / len(judged)
    where = judged_conditions(verdict, rows)
    count = f"{len(judged)} severities" if len(judged) > 1 else "one severity"
    if worse:
        lead = f"Loses {points(estimate, interval)} points more"
    else:
        lead = f"Loses {points(-estimate, negated(interval))} points less"
    difference = points(measured(verdict.accuracy_difference), verdict.accuracy_difference_ci, signed=True)
    message = (
        f"{lead} than the baseline under {where} (mean over {count}); its accuracy there is "
        f"{100 * model:.1f}% vs {100 * base:.1f}%, an accuracy difference of {difference} points."
    )
    if verdict.adjusted_p is not None:
        message += f" p = {verdict.adjusted_p:.2g}, Holm-adjusted over {verdict.comparisons} probes."
    if verdict.left_out:
        left = [r for r in rows if float(r.severity) in set(verdict.left_out)]
        chance = 1 / section.num_classes if section.num_classes else 0.0
        message += (
            f" Not judged: {', '.join(condition(r) for r in left)}, where the baseline is at "
            f"{', '.join(f'{100 * measured(r.baseline_accuracy):.1f}%' for r in left)}, not above twice chance "
            f"({100 * 2 * chance:.1f}%)."
        )
    evidence = {
        **dataclasses.asdict(verdict),
        "accuracy": model,
        "baseline_accuracy": base,
        "conditions": where,
    }
    return [
        Finding(
            kinds.ROBUSTNESS_REGRESSION if worse else kinds.ROBUSTNESS_IMPROVEMENT,
            "warning" if worse and verdict.kind != "diagnostic" else "info",
            message,
            evidence,
        )
    ]


def _evidence(row: ProbeResult) -> dict[str, Any]:
    return {
        "probe": row.probe,
        "severity": row.severity,
        "value": row.value,
        "accuracy": row.accuracy,
        "accuracy_drop": row.accuracy_drop,
        "accuracy_drop_ci": row.accuracy_drop_ci,
        "baseline_accuracy": row.baseline_accuracy,
        "baseline_accuracy_drop": row.baseline_accuracy_drop,
        "drop_difference": row.drop_difference,
        "drop_difference_ci": row.drop_difference_ci,
        "mcnemar_p": row.mcnemar_p,
    }


def evaluate_findings(
    result: AuditResult, limits: Thresholds = Thresholds(), calibration: Calibrations = None
) -> list[Finding]:
    """All findings for an audit result: sanity first, then by severity.

    calibration: the zoo study whose correlations support data-free forecasts (see
    :mod:`audit.rules.forecasts`); None makes none."""
    untrained = _untrained_rules(result, limits)
    forecast = [] if untrained else _forecast_rules(result, limits, calibration)
    findings = (
        _sanity_rules(result, limits)
        + untrained
        + _layer_rules(result, limits)
        + _network_rules(result, limits, bool(forecast))
        + forecast
        + _probe_rules(result, limits)
    )
    if any(f.severity == "error" for f in findings):
        findings = [f for f in findings if not (f.severity == "info" and kinds.KINDS[f.id].interprets)]
    order = {name: index for index, name in enumerate(reversed(SEVERITIES))}
    return sorted(findings, key=lambda f: (not kinds.KINDS[f.id].sanity, order[f.severity]))
