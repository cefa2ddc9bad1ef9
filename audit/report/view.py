"""View data of the report: plain values and SVG strings the templates only show.

Everything that needs a decision (which numbers, in which words, which charts) is
made here; :mod:`audit.report.html` renders and writes.
"""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from audit.report import charts
from audit.report.format import number, percent
from audit.rules.verdict import track_verdict
from audit.schema import AuditResult, TrackResult


def _key_numbers(result: AuditResult) -> list[dict]:
    summary = result.spectral.summary
    numbers = [
        {"label": "network HFER", "value": number(summary.hfer)},
        {"label": "baseline HFER", "value": number(summary.baseline_hfer)},
        {"label": "SSR vs baseline", "value": number(summary.ssr, 2)},
        {"label": "paper-mode SSR", "value": number(summary.paper_ssr)},
    ]
    if result.probes is not None:
        numbers.append({"label": "clean accuracy", "value": f"{percent(result.probes.clean_accuracy)}%"})
        measured = [r for r in result.probes.results if r.accuracy is not None and r.kind != "diagnostic"]
        if measured:
            worst = min(measured, key=lambda r: r.accuracy)
            numbers.append(
                {"label": f"worst probe: {worst.probe} {worst.severity:g}", "value": f"{percent(worst.accuracy)}%"}
            )
    return numbers


def _probe_rows(result: AuditResult) -> dict | None:
    section = result.probes
    if section is None:
        return None
    parameters = {p["name"]: p["parameter"] for p in section.probes}
    rows, previous = [], None
    for r in section.results:
        first = r.probe != previous
        previous = r.probe
        rows.append(
            {
                "probe": r.probe if first else "",
                "parameter": parameters.get(r.probe, "") if first else "",
                "severity": f"{r.severity:g}",
                "accuracy": percent(r.accuracy),
                "drop": percent(r.accuracy_drop),
                "agreement": percent(r.agreement),
                "baseline_accuracy": percent(r.baseline_accuracy),
                "baseline_drop": percent(r.baseline_accuracy_drop),
            }
        )
    return {
        "dataset": section.dataset,
        "samples": section.samples,
        "full_split": section.full_split,
        "seed": section.seed,
        "runner": section.runner,
        "mean": ", ".join(f"{v:g}" for v in section.mean),
        "std": ", ".join(f"{v:g}" for v in section.std),
        "clean": percent(section.clean_accuracy),
        "baseline_clean": percent(section.baseline_clean_accuracy),
        "has_baseline": section.baseline_clean_accuracy is not None
        or any(r.baseline_accuracy is not None for r in section.results),
        "rows": rows,
        "notes": section.notes,
    }


def _run_facts(result: AuditResult) -> list[tuple[str, str]]:
    run, model = result.run, result.model
    facts = [
        ("command", " ".join(run.command) if run.command else "(library call)"),
        ("spectral-audit", run.tool_version),
        ("torch", run.torch_version),
        ("onnxruntime", run.onnxruntime_version or "not installed"),
        ("python", run.python_version or "?"),
        ("device", run.device),
        ("precision", run.precision),
        ("checkpoint", model.path),
        ("checkpoint sha256", model.sha256),
        ("format", model.format),
        ("baseline", f"{result.spectral.baseline.kind}: {result.spectral.baseline.source}"),
        ("HFER cutoff", f"{result.spectral.settings.cutoff:g} cycles/pixel"),
        (
            "FFT grid",
            "native kernel grid"
            if result.spectral.settings.fft_size is None
            else f"{result.spectral.settings.fft_size}x{result.spectral.settings.fft_size}",
        ),
        ("created", run.created),
    ]
    if result.probes is not None:
        facts += [
            ("data", f"{result.probes.dataset} ({result.probes.source})"),
            ("samples", str(result.probes.samples)),
            ("seed", str(result.probes.seed)),
            ("batch size", str(result.probes.batch_size)),
            ("probe time", f"{result.probes.seconds:.1f} s, {result.probes.images_per_second:,.0f} images/s"),
        ]
    facts += [("note", note) for note in model.notes]
    return facts


def _gates(result: AuditResult) -> dict | None:
    gates = getattr(result, "gates", None)
    if gates is None:
        return None
    return {
        "passed": gates.passed,
        "checks": [
            {
                "name": c.name,
                "passed": c.passed,
                "value_text": number(c.value, 4),
                "threshold_text": number(c.threshold, 4),
            }
            for c in gates.checks
        ],
    }


def report_context(result: AuditResult) -> dict:
    """Plain data for the templates; charts are SVG strings marked safe (matplotlib
    escapes the text it writes, layer names included)."""
    settings = result.spectral.settings
    spectral_charts = []
    for svg, caption in (
        (
            charts.radial_energy_chart(result),
            "Energy fraction per radial frequency for every layer; the dotted line is the HFER cutoff.",
        ),
        (
            charts.depth_heatmap(result),
            "Energy fraction by layer (rows, input to output) and radial frequency, rebinned to 8 common bins.",
        ),
        (charts.hfer_by_depth(result), "HFER of each layer against the baseline's."),
    ):
        if svg:
            spectral_charts.append({"svg": Markup(svg), "caption": caption})
    probe_charts = [
        {"svg": Markup(svg), "caption": f"Accuracy under {name}; dotted/dash-dot lines: clean accuracy."}
        for name, svg in charts.probe_curves(result)
    ]
    heatmap_svg = charts.fourier_heatmap_chart(result)
    unmatched = result.spectral.unmatched
    unmatched_text = ""
    if unmatched.model_only or unmatched.baseline_only:
        unmatched_text = (
            f"Not compared — only in the model: {', '.join(unmatched.model_only) or 'none'}; "
            f"only in the baseline: {', '.join(unmatched.baseline_only) or 'none'}."
        )
    baseline = result.spectral.baseline
    return {
        "model": {"name": Path(result.model.path).name, **vars(result.model)},
        "run": result.run,
        "verdict": result.verdict,
        "key_numbers": _key_numbers(result),
        "baseline_label": "white-noise reference (expected spectrum of i.i.d. weights)"
        if baseline.kind == "white-noise"
        else f"{baseline.kind} {baseline.source}",
        "cutoff": f"{settings.cutoff:g}",
        "grid": "the kernel's own grid"
        if settings.fft_size is None
        else f"a {settings.fft_size}x{settings.fft_size} zero-padded grid",
        "findings": result.findings,
        "gates": _gates(result),
        "spectral_charts": spectral_charts,
        "layers": [
            {
                "name": l.name,
                "shape": "x".join(map(str, l.shape)),
                "kind": l.kind,
                "note": l.note if l.hfer is None else None,
                "hfer": number(l.hfer),
                "baseline_hfer": number(l.baseline_hfer),
                "ssr": number(l.ssr, 2),
                "paper_ssr": number(l.paper_ssr),
            }
            for l in result.spectral.layers
        ],
        "unmatched": unmatched_text,
        "probes": _probe_rows(result),
        "probe_charts": probe_charts,
        "heatmap_chart": {
            "svg": Markup(heatmap_svg),
            "caption": "Error rate when one Fourier basis image is added; DC at the centre.",
        }
        if heatmap_svg
        else None,
        "run_facts": _run_facts(result),
    }


def track_context(track: TrackResult) -> dict:
    run = track.run
    context = {
        "title": Path(track.points[0].path).parent.name or Path(track.points[0].path).name,
        "run": run,
        "cutoff": f"{track.settings.cutoff:g}",
        "verdict": track_verdict(track),
        "charts": [
            {
                "svg": Markup(charts.track_heatmap(track)),
                "caption": "Energy fraction per epoch (rows) and radial frequency, all layers pooled by slice count.",
            },
            {
                "svg": Markup(charts.track_lines(track)),
                "caption": "Left: HFER of the network (markers) and of each layer. "
                "Right: the seed paper's SSR against the first checkpoint (0 for the first).",
            },
        ],
        "points": [
            {
                "epoch": "—" if p.epoch is None else p.epoch,
                "name": Path(p.path).name,
                "hfer": number(p.hfer),
                "ssr": number(p.ssr, 2),
                "paper_ssr": number(p.paper_ssr),
            }
            for p in track.points
        ],
        "run_facts": [
            ("command", " ".join(run.command) if run.command else "(library call)"),
            ("spectral-audit", run.tool_version),
            ("torch", run.torch_version),
            ("device", run.device),
            ("created", run.created),
        ]
        + [(f"epoch {p.epoch}", f"{p.path} sha256 {p.sha256}") for p in track.points],
    }
    return context
