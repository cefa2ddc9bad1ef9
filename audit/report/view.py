"""View data of the report: plain values and SVG strings the templates only show.

Everything that needs a decision (which numbers, in which words, which charts) is
made here; :mod:`audit.report.html` renders and writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup

from audit.errors import spell
from audit.probes.registry import condition, judged_conditions
from audit.report import charts
from audit.report.ci import check_cells
from audit.report.format import number, percent, with_interval
from audit.rules.findings import judged_difference
from audit.rules.kinds import KINDS
from audit.rules.verdict import track_verdict
from audit.schema import AuditResult, RunInfo, TrackResult, measured


def _card(label: str, value: str, detail: str = "") -> dict[str, Any]:
    return {"label": label, "value": value, "detail": detail}


def _key_numbers(result: AuditResult) -> list[dict[str, Any]]:
    summary = result.spectral.summary
    against = "white noise" if result.spectral.baseline.kind == "white-noise" else "the baseline"
    numbers = [
        _card(f"SSR vs {against}", number(summary.ssr, 2), "partial" if summary.partial else ">1: more low-pass"),
        _card("network HFER", number(summary.hfer), f"{against}: {number(summary.baseline_hfer)}"),
    ]
    section = result.probes
    if section is not None and section.clean_accuracy is not None:
        base = section.baseline_clean_accuracy
        numbers.append(
            _card(
                "clean accuracy",
                f"{with_interval(section.clean_accuracy, section.clean_accuracy_ci)}%",
                f"baseline {percent(base)}%" if base is not None else f"{section.samples:,} images",
            )
        )
        corruptions = [r for r in section.results if r.accuracy is not None and r.kind != "diagnostic"]
        if corruptions:
            worst = min(corruptions, key=lambda r: measured(r.accuracy))
            numbers.append(_card("hardest corruption", f"{percent(worst.accuracy)}%", condition(worst)))
        compared = [v for v in section.judged if v.kind != "diagnostic" and v.drop_difference is not None]
        if compared:
            largest = max(compared, key=lambda v: judged_difference(v)[0])
            numbers.append(
                _card(
                    "largest loss vs baseline",
                    f"{with_interval(largest.drop_difference, largest.drop_difference_ci, signed=True)}",
                    f"points of drop, mean over {judged_conditions(largest, section.results)}",
                )
            )
    return numbers


def _probe_groups(result: AuditResult) -> dict[str, Any] | None:
    """The probe table as groups (one per probe, kept together on a page)."""
    section = result.probes
    if section is None:
        return None
    meta = {p["name"]: p for p in section.probes}
    groups: dict[str, dict[str, Any]] = {}
    for r in section.results:
        group = groups.setdefault(
            r.probe, {"probe": r.probe, "parameter": meta.get(r.probe, {}).get("parameter", ""), "rows": []}
        )
        group["rows"].append(
            {
                "value": f"{r.value:g}",
                "accuracy": with_interval(r.accuracy, r.accuracy_ci),
                "drop": with_interval(r.accuracy_drop, r.accuracy_drop_ci),
                "agreement": percent(r.agreement),
                "baseline_accuracy": with_interval(r.baseline_accuracy, r.baseline_accuracy_ci),
                # One meaning in every row, the clean one included: model - baseline accuracy
                # (+: the model is better). Drop differences are judged per probe (findings).
                "difference": with_interval(r.difference, r.difference_ci, signed=True)
                if r.difference is not None
                else "—",
                "significant": bool(r.difference_ci and (r.difference_ci[0] > 0 or r.difference_ci[1] < 0)),
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
        "clean": with_interval(section.clean_accuracy, section.clean_accuracy_ci),
        "baseline_clean": with_interval(section.baseline_clean_accuracy, section.baseline_clean_accuracy_ci),
        "clean_difference": with_interval(section.clean_difference, section.clean_difference_ci, signed=True)
        if section.clean_difference is not None
        else "—",
        "has_baseline": section.baseline_clean_accuracy is not None,
        "paired": section.paired,
        "groups": list(groups.values()),
        "notes": section.notes,
        "statistics": section.statistics,
        "examples": [{"label": e["label"], "src": f"data:image/png;base64,{e['png']}"} for e in section.examples],
    }


def _some(names: list[str], shown: int = 3) -> str:
    """'36 layers (conv1, layer1.0.conv1, layer1.0.conv2, ...)': a count and the first few."""
    if not names:
        return "no layer"
    listed = ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")
    return f"{len(names)} layer{'s' if len(names) > 1 else ''} ({listed})"


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
        *([("baseline sha256", result.spectral.baseline.sha256)] if result.spectral.baseline.sha256 else []),
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


def _gates(result: AuditResult) -> dict[str, Any] | None:
    gates = getattr(result, "gates", None)
    if gates is None:
        return None
    return {
        "passed": gates.passed,
        "mode": gates.mode,
        "checks": [
            {"name": c.name, "passed": c.passed, "mode": c.mode, "detail": c.detail, **check_cells(c)}
            for c in gates.checks
        ],
        "notes": gates.notes,
    }


SPECTRAL_CAPTIONS = {
    "radial": "Share of each layer's kernel energy at each radius (cycles/pixel). Look for curves that fall to the "
    "right: energy at low frequencies; a layer whose curve stays high on the right keeps fine detail.",
    "depth": "The same energy shares as a heat map, one panel per kernel size on its own radii. Look for bright "
    "cells on the right in the deep layers: high-frequency filters where a smooth model has few.",
    "hfer": "HFER per layer, input to output, against the baseline's. Look for where the lines part: the layers "
    "whose high-frequency share differs from the baseline's.",
    "hfer-white-noise": "HFER per layer, input to output, against the white-noise reference (what i.i.d. weights of "
    "each kernel size keep). Look for layers far below it: filters that learned smooth, low-frequency patterns.",
}


def report_context(result: AuditResult, options: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Plain data for the templates; charts are SVG strings marked safe (matplotlib
    escapes the text it writes, layer names included)."""
    settings = result.spectral.settings
    white = result.spectral.baseline.kind == "white-noise"
    spectral_charts = [
        {"svg": Markup(svg), "caption": SPECTRAL_CAPTIONS[key]}
        for key, svg in (
            ("radial", charts.radial_energy_chart(result)),
            ("depth", charts.depth_heatmap(result)),
            ("hfer-white-noise" if white else "hfer", charts.hfer_by_depth(result)),
        )
        if svg
    ]
    has_baseline = result.probes is not None and result.probes.baseline_clean_accuracy is not None
    probe_charts = [{"svg": Markup(svg), "name": name} for name, svg in charts.probe_curves(result)]
    summary_svg = charts.summary_chart(result)
    heatmap_svg = charts.fourier_heatmap_chart(result)
    heatmap = result.probes.heatmap if result.probes is not None else None
    unmatched = result.spectral.unmatched
    unmatched_text = ""
    if unmatched.model_only or unmatched.baseline_only:
        unmatched_text = (
            "The baseline is another architecture, so no layer is compared with its namesake: "
            f"{_some(unmatched.model_only)} only in the model and {_some(unmatched.baseline_only)} only in the "
            "baseline; the numbers compare whole networks."
        )
    baseline = result.spectral.baseline
    summary = result.spectral.summary
    findings = [
        {"severity": f.severity, "message": f.message, "id": f.id, "anchor": f"guide-{f.id}" if f.id in KINDS else None}
        for f in result.findings
    ]
    kinds = [KINDS[id] for id in dict.fromkeys(f.id for f in result.findings) if id in KINDS]
    return {
        "model": {"name": Path(result.model.path).name, **vars(result.model)},
        "run": result.run,
        "verdict": result.verdict,
        "verdict_fails": any(f.severity == "error" for f in result.findings)
        or (result.gates is not None and not result.gates.passed),
        "key_numbers": _key_numbers(result),
        "baseline_label": "white-noise reference (expected spectrum of i.i.d. weights)"
        if baseline.kind == "white-noise"
        else f"{baseline.kind} {baseline.source}",
        "cutoff": f"{settings.cutoff:g}",
        "grid": "the kernel's own grid"
        if settings.fft_size is None
        else f"a {settings.fft_size}x{settings.fft_size} zero-padded grid",
        "findings": findings,
        "gates": _gates(result),
        "summary_chart": {
            "svg": Markup(summary_svg),
            "caption": "Accuracy clean and under each corruption at its middle severity"
            + (", the model against the baseline" if has_baseline else "")
            + "; bars are 95% intervals. Look for bars of the model shorter than the baseline's, beyond the intervals.",
        }
        if summary_svg
        else None,
        "spectral_charts": spectral_charts,
        "match_note": summary.match_note,
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
        "probes": _probe_groups(result),
        "probe_charts": probe_charts,
        "probe_charts_caption": "Accuracy (%) at each tested value, harsher to the right; bands are 95% intervals, "
        "dotted lines the clean accuracy. Look for the model's line falling faster than the baseline's.",
        "heatmap_chart": {
            "svg": Markup(heatmap_svg),
            "caption": "Error rate when one Fourier basis image of L2 norm "
            f"{heatmap.norm:g} is added (basis: {heatmap.basis}); DC at the centre. "
            "Look for bright rings far from the centre: frequencies the model is fragile to.",
        }
        if heatmap_svg and heatmap is not None
        else None,
        "guide": [
            {
                "id": kind.id,
                "title": kind.title,
                "meaning": spell(kind.meaning, options),
                "action": spell(kind.action, options),
            }
            for kind in kinds
        ],
        "run_facts": _run_facts(result),
    }


def track_context(track: TrackResult) -> dict[str, Any]:
    run = track.run or RunInfo("unknown", "unknown", "unknown", "unknown")  # built by a library call
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
                "paper_protocol_ssr": number(p.paper_protocol_ssr),
            }
            for p in track.points
        ],
        # --paper: the seed paper's own protocol (one layer, against its reference), per checkpoint.
        "paper_protocol": f"{track.paper_layer} vs {track.paper_reference}" if track.paper_layer else None,
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
