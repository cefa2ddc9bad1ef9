"""The verdict: two to four sentences a reviewer reads first.

It joins the spectral evidence (against what baseline), the measured evidence (paired
differences whose interval excludes zero, or drops when there is no baseline), the gates,
and what to do. Sanity problems come first and replace the rest: robustness numbers of a
model at chance mean nothing.
"""

from __future__ import annotations

from audit.probes.registry import condition, judged_conditions
from audit.rules import kinds
from audit.rules.findings import Thresholds, judged_difference, negated, points
from audit.rules.forecasts import Calibrations, Forecast, forecasts
from audit.schema import AuditResult, ProbeResult, ProbeVerdict, TrackPoint, TrackResult, measured
from audit.spectral.statistics import STATISTICS


def _spectral_sentence(result: AuditResult, tolerance: float) -> str:
    """How the model's spectrum compares with the baseline's, in one sentence."""
    summary = result.spectral.summary
    if summary.ssr is None or summary.hfer is None:
        return "No layer could be compared with the baseline, so there is no SSR."
    if result.spectral.baseline.kind == "white-noise":
        cutoff = result.spectral.settings.cutoff
        if summary.ssr > 1 + tolerance:
            kind = "low-pass filters, as trained CNNs have"
        elif summary.ssr < 1 - tolerance:
            kind = "more high-frequency than random weights, which is unusual for a trained CNN"
        else:
            kind = "as spread as random weights (untrained, or trained very little)"
        return (
            f"Its kernels keep {summary.hfer:.2f} of their energy above {cutoff:g} cycles/pixel against "
            f"{summary.baseline_hfer:.2f} for white noise (SSR {summary.ssr:.2f}): {kind}."
        )
    scope = ""
    if summary.partial:
        scope = (
            f"Compared as whole networks with a baseline of another architecture (HFER {summary.hfer:.3f} vs "
            f"{summary.baseline_hfer:.3f}), "
        )
    if abs(summary.ssr - 1) < tolerance:
        folded = " (its kernels are the baseline's with BatchNorm folded in)" if summary.rescaled_layers else ""
        sentence = f"spectrally the same as the baseline (SSR {summary.ssr:.2f}){folded}."
    elif summary.ssr > 1:
        sentence = f"more low-pass than the baseline (SSR {summary.ssr:.2f})."
    else:
        sentence = f"less low-pass than the baseline: it keeps more high-frequency energy (SSR {summary.ssr:.2f})."
    return (scope + "it is " + sentence) if scope else ("It is " + sentence)


def _gains_and_losses(better: list[ProbeVerdict], worse: list[ProbeVerdict], results: list[ProbeResult]) -> str:
    """'loses less than the baseline under blur k=3-7 (3.2 ± 1.1 points) and more under
    noise σ=0.04-0.10 (7.1 ± 1.6 points)': each probe's mean drop difference over the
    severities it was judged at."""
    parts = []
    if better:
        items = [
            f"{judged_conditions(v, results)} ({points(-estimate, negated(interval))} points)"
            for v in better
            for estimate, interval in [judged_difference(v)]
        ]
        parts.append("less than the baseline under " + _listed(items))
    if worse:
        items = [f"{judged_conditions(v, results)} ({points(*judged_difference(v))} points)" for v in worse]
        parts.append(("more under " if better else "more than the baseline under ") + _listed(items))
    return "loses " + " and ".join(parts)


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _significant(judged: list[ProbeVerdict]) -> tuple[list[ProbeVerdict], list[ProbeVerdict]]:
    """The corruption probes that lose significantly more, and less, than the baseline
    (Holm-adjusted across the probes)."""
    corruptions = [v for v in judged if v.kind != "diagnostic" and v.significant]
    return (
        [v for v in corruptions if judged_difference(v)[0] > 0],
        [v for v in corruptions if judged_difference(v)[0] < 0],
    )


def _measured_sentence(result: AuditResult, expected: dict[str, tuple[bool, str]]) -> str | None:
    """What the probes measured; ``expected``: probe -> (the zoo-study forecast, True for a
    larger drop than the baseline's; the statistic that made it), for the probes the
    studies support a forecast for."""
    section = result.probes
    if section is None or section.clean_accuracy is None:
        return None
    corruptions = [r for r in section.results if r.kind != "diagnostic" and r.accuracy_drop is not None]
    if not corruptions:
        return None
    if not section.paired:
        worst = max(corruptions, key=lambda r: measured(r.accuracy_drop))
        unpaired = "" if section.baseline_clean_accuracy is None else "; the baseline's numbers are not paired"
        return (
            f"Clean accuracy {100 * section.clean_accuracy:.1f}%; the hardest corruption, {condition(worst)}, costs "
            f"{points(measured(worst.accuracy_drop), worst.accuracy_drop_ci)} points (no baseline to compare "
            f"with{unpaired})."
        )
    worse, better = _significant(section.judged)
    if not worse and not better:
        if all(r.drop_difference_ci == [0.0, 0.0] for r in corruptions):
            return "Under the probes it predicts what the baseline predicts on every image: every difference is 0 ± 0."
        compared = [v for v in section.judged if v.kind != "diagnostic" and v.drop_difference is not None]
        if not compared:
            return (
                "Under the probes nothing can be judged: the baseline is not above twice chance at any corrupted "
                "severity."
            )
        largest = max(compared, key=lambda v: abs(judged_difference(v)[0]))
        return (
            "Under the probes it is as robust as the baseline: no probe's mean drop difference is significant after "
            f"Holm's adjustment over {largest.comparisons} probes (largest: "
            f"{points(*judged_difference(largest))} points under "
            f"{judged_conditions(largest, section.results)})."
        )
    # Only a forecast the zoo study supports is compared with what was measured; the
    # rest is reported as measured, with no appeal to a theory the data did not back.

    def agrees(verdict: ProbeVerdict, larger: bool) -> bool | None:
        return None if verdict.probe not in expected else expected[verdict.probe][0] == larger

    as_forecast = [v for v in better if agrees(v, False)], [v for v in worse if agrees(v, True)]
    against = [v for v in better if agrees(v, False) is False], [v for v in worse if agrees(v, True) is False]
    other = [v for v in better if agrees(v, False) is None], [v for v in worse if agrees(v, True) is None]

    def statistic(group: tuple[list[ProbeVerdict], list[ProbeVerdict]]) -> str:
        return " and ".join(sorted({expected[v.probe][1] for v in [*group[0], *group[1]]}))

    sentences = []
    if any(as_forecast):
        lead = f"As its {statistic(as_forecast)} forecast (zoo studies), it "
        sentences.append(lead + _gains_and_losses(*as_forecast, section.results))
    if any(against):
        lead = "; against" if sentences else "Against"
        lead += f" what its {statistic(against)} forecast (zoo studies), it "
        sentences.append(lead + _gains_and_losses(*against, section.results))
    if any(other):
        lead = "; it also " if sentences else "Measured on the same images, it "
        sentences.append(lead + _gains_and_losses(*other, section.results))
    return "".join(sentences) + "."


def _forecast_sentence(made: list[Forecast]) -> str | None:
    """Data-free: 'From its spectrum, the zoo study forecasts a larger drop than the
    baseline's under blur k=7 and a smaller one under noise σ=0.10.'"""
    if not made:
        return None
    larger = [f.condition for f in made if f.larger_drop]
    smaller = [f.condition for f in made if not f.larger_drop]
    parts = []
    if larger:
        parts.append("a larger drop than the baseline's under " + _listed(larger))
    if smaller:
        parts.append(
            ("a smaller one under " if larger else "a smaller drop than the baseline's under ") + _listed(smaller)
        )
    return (
        "From its spectrum, a forecast that replicates across the zoo studies suggests "
        + " and ".join(parts)
        + "; the probes ({data}) would measure it."
    )


def _gates_sentence(result: AuditResult) -> str | None:
    gates = result.gates
    if gates is None:
        return None
    if gates.passed:
        return "No gate failed." if gates.checks else None
    failed = gates.failed
    names = ", ".join(c.name for c in failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    return f"{len(failed)} gate(s) failed ({names})."


def _action(result: AuditResult) -> str:
    findings = result.findings
    if any(f.severity == "error" for f in findings):
        return "Do not release it: fix the errors first."
    if any(f.id == kinds.ROBUSTNESS_REGRESSION and f.severity == "warning" for f in findings):
        return "Review the robustness regressions before release."
    if result.spectral.summary.partial:
        return "For a layer-by-layer comparison, use a baseline of the same architecture."
    if result.gates is not None and not result.gates.passed:
        return "Fix what the failed gates name before release."
    if any(f.severity == "warning" for f in findings):
        return "Read the warnings before release."
    return "Nothing here calls for action."


def audit_verdict(result: AuditResult, limits: Thresholds = Thresholds(), calibration: Calibrations = None) -> str:
    """Two to four sentences joining the spectral and the measured evidence (or, with no
    probes, the forecasts the zoo study supports), the gates and what a reviewer should do."""
    at_chance = (kinds.CHANCE_LEVEL_ACCURACY, kinds.BASELINE_CHANCE_LEVEL_ACCURACY)
    chance = next((f for f in result.findings if f.id in at_chance), None)
    if chance is not None:
        who = "The model" if chance.id == kinds.CHANCE_LEVEL_ACCURACY else "The baseline"
        evidence = chance.evidence
        sentences = [
            f"{who} is not classifying these images: clean accuracy {100 * evidence['accuracy']:.1f}% is at chance "
            f"({100 * evidence['chance']:.1f}%), so every robustness number is meaningless.",
            "Check the weights (untrained?), the normalisation ({mean}/{std}), the class order and the model output "
            "({logits}) before anything else.",
        ]
        gates = _gates_sentence(result)
        return " ".join(sentences + ([gates] if gates else []))
    untrained = next((f for f in result.findings if f.id == kinds.UNTRAINED_WEIGHTS), None)
    if untrained is not None:
        evidence = untrained.evidence
        gates = _gates_sentence(result)
        return " ".join(
            [
                f"The model looks untrained: its kernels keep white noise's high-frequency share (SSR "
                f"{evidence['ssr']:.2f} against i.i.d. weights) while the baseline's are a trained model's (SSR "
                f"{evidence['baseline_ssr']:.2f}), so no comparison with the baseline means anything.",
                "Check that the file holds the trained weights ({checkpoint_key}, the architecture options).",
                *([gates] if gates else []),
                "Do not release it: fix the errors first.",
            ]
        )
    broken = next((f for f in result.findings if f.id == kinds.NON_FINITE_WEIGHTS), None)
    if broken is not None:
        return (
            f"The checkpoint is broken: {len(broken.evidence['layers'])} layer(s) hold NaN or Inf weights. "
            "The other layers' spectra are reported but do not describe a usable model. Do not release it."
        )
    spectral = _spectral_sentence(result, limits.ssr_tolerance)
    sentences = [spectral]
    made = forecasts(result, calibration, limits.ssr_tolerance)
    measured = _measured_sentence(result, {f.probe: (f.larger_drop, STATISTICS[f.statistic].label) for f in made})
    if measured:
        sentences.append(measured)
    elif result.probes is None:
        forecast = _forecast_sentence(made)
        if forecast:
            sentences.append(forecast)
        elif result.spectral.baseline.kind != "white-noise" and not result.spectral.summary.partial:
            sentences.append(
                "The weights alone do not predict its robustness against the baseline's (no forecast replicates "
                "across the zoo studies); run the probes ({data}) to measure it."
            )
    gates = _gates_sentence(result)
    if gates:
        sentences.append(gates)
    sentences.append(_action(result))
    return " ".join(sentences[:4])


def track_verdict(track: TrackResult) -> str:
    """How the network HFER moved over a training run, and the paper protocol's number."""
    first, last = track.points[0], track.points[-1]
    if first.hfer is None or last.hfer is None:
        return "No layer with a 2-D spectrum: nothing to track."
    where = {"epoch": "epoch", "step": "step"}.get(track.x_label)

    def at(point: TrackPoint) -> str:
        return f"{where} {point.epoch}" if where else f"checkpoint {(point.epoch or 0) + 1}"

    direction = "fell" if last.hfer < first.hfer else "rose"
    ssr = "n/a" if last.ssr is None else f"{last.ssr:.2f}"
    paper = "n/a" if last.paper_ssr is None else f"{last.paper_ssr:+.3f}"
    text = (
        f"Network HFER {direction} from {first.hfer:.3f} ({at(first)}) to {last.hfer:.3f} ({at(last)}) over "
        f"{len(track.points)} checkpoints: network SSR of the last against the first {ssr}, network paper-mode SSR "
        f"{paper} against the first (all layers, slice-weighted)."
    )
    if track.order in ("file order", "order given"):
        text += f" The checkpoints record no epoch and their names give none: x is their position ({track.order})."
    if track.paper_layer and last.paper_protocol_ssr is not None:
        text += (
            f" The seed paper's own protocol ({track.paper_layer} only, against {track.paper_reference}, its "
            f"compute_ssr) gives {last.paper_protocol_ssr:+.3f} for the last checkpoint."
        )
    return text
