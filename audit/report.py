"""The audit report: HTML (Jinja2, self-contained) and PDF (WeasyPrint) from a result.

The reporter prepares plain display data in Python (:func:`report_context`); the
templates in ``templates/`` only show it. Everything is rendered in memory first and
then written atomically, so a failure never leaves half a report where a good one was.
"""

from __future__ import annotations

import os
from pathlib import Path

from markupsafe import Markup

from audit import charts
from audit.errors import AuditError
from audit.result import AuditResult, to_json, write_all_atomic



def templates_folder() -> Path:
    """Installed: audit/templates inside the wheel; from a source checkout: ./templates."""
    here = Path(__file__).resolve().parent
    for folder in (here / "templates", here.parent / "templates"):
        if (folder / "report.html").is_file():
            return folder
    raise AuditError("the report templates are missing from this installation; reinstall spectral-audit.")


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _key_numbers(result: AuditResult) -> list[dict]:
    summary = result.spectral.summary
    numbers = [
        {"label": "network HFER", "value": _fmt(summary.hfer)},
        {"label": "baseline HFER", "value": _fmt(summary.baseline_hfer)},
        {"label": "SSR vs baseline", "value": _fmt(summary.ssr, 2)},
        {"label": "paper-mode SSR", "value": _fmt(summary.paper_ssr)},
    ]
    if result.probes is not None:
        numbers.append({"label": "clean accuracy", "value": f"{_pct(result.probes.clean_accuracy)}%"})
        measured = [r for r in result.probes.results if r.accuracy is not None]
        if measured:
            worst = min(measured, key=lambda r: r.accuracy)
            numbers.append({"label": f"worst probe: {worst.probe} {worst.severity:g}", "value": f"{_pct(worst.accuracy)}%"})
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
        rows.append({
            "probe": r.probe if first else "", "parameter": parameters.get(r.probe, "") if first else "",
            "severity": f"{r.severity:g}", "accuracy": _pct(r.accuracy), "drop": _pct(r.accuracy_drop),
            "agreement": _pct(r.agreement), "baseline_accuracy": _pct(r.baseline_accuracy),
            "baseline_drop": _pct(r.baseline_accuracy_drop),
        })
    return {
        "dataset": section.dataset, "samples": section.samples, "full_split": section.full_split,
        "seed": section.seed, "runner": section.runner,
        "mean": ", ".join(f"{v:g}" for v in section.mean), "std": ", ".join(f"{v:g}" for v in section.std),
        "clean": _pct(section.clean_accuracy), "baseline_clean": _pct(section.baseline_clean_accuracy),
        "has_baseline": section.baseline_clean_accuracy is not None or any(r.baseline_accuracy is not None for r in section.results),
        "rows": rows, "notes": section.notes,
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
        ("FFT grid", "native kernel grid" if result.spectral.settings.fft_size is None else f"{result.spectral.settings.fft_size}x{result.spectral.settings.fft_size}"),
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
            {"name": c.name, "passed": c.passed, "value_text": _fmt(c.value, 4), "threshold_text": _fmt(c.threshold, 4)}
            for c in gates.checks
        ],
    }


def report_context(result: AuditResult) -> dict:
    """Plain data for the templates; charts are SVG strings marked safe (matplotlib
    escapes the text it writes, layer names included)."""
    settings = result.spectral.settings
    spectral_charts = []
    for svg, caption in (
        (charts.radial_energy_chart(result), "Energy fraction per radial frequency for every layer; the dotted line is the HFER cutoff."),
        (charts.depth_heatmap(result), "Energy fraction by layer (rows, input to output) and radial frequency, rebinned to 8 common bins."),
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
        "baseline_label": "white-noise reference (expected spectrum of i.i.d. weights)" if baseline.kind == "white-noise" else f"{baseline.kind} {baseline.source}",
        "cutoff": f"{settings.cutoff:g}",
        "grid": "the kernel's own grid" if settings.fft_size is None else f"a {settings.fft_size}x{settings.fft_size} zero-padded grid",
        "findings": result.findings,
        "gates": _gates(result),
        "spectral_charts": spectral_charts,
        "layers": [
            {
                "name": l.name, "shape": "x".join(map(str, l.shape)), "kind": l.kind, "note": l.note if l.hfer is None else None,
                "hfer": _fmt(l.hfer), "baseline_hfer": _fmt(l.baseline_hfer), "ssr": _fmt(l.ssr, 2), "paper_ssr": _fmt(l.paper_ssr),
            }
            for l in result.spectral.layers
        ],
        "unmatched": unmatched_text,
        "probes": _probe_rows(result),
        "probe_charts": probe_charts,
        "heatmap_chart": {"svg": Markup(heatmap_svg), "caption": "Error rate when one Fourier basis image is added; DC at the centre."} if heatmap_svg else None,
        "run_facts": _run_facts(result),
    }


def render_html(result: AuditResult) -> str:
    return _environment().get_template("report.html").render(**report_context(result))


def render_pdf(html: str) -> bytes:
    import logging

    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    return HTML(string=html, base_url=None).write_pdf()


def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(str(templates_folder())),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def track_verdict(track) -> str:
    first, last = track.points[0], track.points[-1]
    if first.hfer is None or last.hfer is None:
        return "No layer with a 2-D spectrum: nothing to track."
    direction = "fell" if last.hfer < first.hfer else "rose"
    paper = "n/a" if last.paper_ssr is None else f"{last.paper_ssr:.3f}"
    return (f"Network HFER {direction} from {first.hfer:.3f} to {last.hfer:.3f} over {len(track.points)} checkpoints "
            f"(SSR of the last against the first {_fmt(last.ssr, 2)}, paper-mode SSR {paper}).")


def render_track_html(track) -> str:
    run = track.run
    context = {
        "title": Path(track.points[0].path).parent.name or Path(track.points[0].path).name,
        "run": run,
        "cutoff": f"{track.settings.cutoff:g}",
        "verdict": track_verdict(track),
        "charts": [
            {"svg": Markup(charts.track_heatmap(track)), "caption": "Energy fraction per epoch (rows) and radial frequency, all layers pooled by slice count."},
            {"svg": Markup(charts.track_lines(track)), "caption": "Left: HFER of the network (markers) and of each layer. Right: the seed paper's SSR against the first checkpoint (0 for the first)."},
        ],
        "points": [
            {"epoch": "—" if p.epoch is None else p.epoch, "name": Path(p.path).name, "hfer": _fmt(p.hfer),
             "ssr": _fmt(p.ssr, 2), "paper_ssr": _fmt(p.paper_ssr)}
            for p in track.points
        ],
        "run_facts": [
            ("command", " ".join(run.command) if run.command else "(library call)"),
            ("spectral-audit", run.tool_version), ("torch", run.torch_version), ("device", run.device),
            ("created", run.created),
        ] + [(f"epoch {p.epoch}", f"{p.path} sha256 {p.sha256}") for p in track.points],
    }
    return _environment().get_template("track.html").render(**context)


def write_track_report(track, folder, *, html: bool = True, pdf: bool = True, json: bool = True) -> list[Path]:
    """track.html, track.pdf and track.json, rendered first, then written atomically."""
    from audit.tracking import track_json

    _check_folder(folder)
    page = render_track_html(track) if (html or pdf) else None
    return _write_rendered(Path(folder), "track", page, "track.json", track_json(track), html=html, pdf=pdf, json=json)


def _check_folder(folder) -> None:
    if Path(folder).exists() and not Path(folder).is_dir():
        raise AuditError(f"--out {folder} exists and is not a folder.")


def _write_rendered(
    folder: Path, stem: str, page: str | None, json_name: str, json_text: str, *, html: bool, pdf: bool, json: bool
) -> list[Path]:
    """Finish rendering (the PDF), then write each file atomically: STEM.html, STEM.pdf
    and ``json_name``. Nothing is written before everything has rendered."""
    outputs: list[tuple[Path, bytes]] = []
    if json:
        outputs.append((folder / json_name, json_text.encode()))
    if html:
        outputs.append((folder / f"{stem}.html", page.encode()))
    if pdf:
        outputs.append((folder / f"{stem}.pdf", render_pdf(page)))
    write_all_atomic(outputs)
    return [path for path, _ in outputs]


def write_report(
    result: AuditResult, folder: str | os.PathLike, *, html: bool = True, pdf: bool = True, json: bool = True
) -> list[Path]:
    """Render, then write report.html, report.pdf and result.json into ``folder``.

    Nothing is written until everything has rendered; each file replaces the old one
    atomically. Returns the paths written.
    """
    _check_folder(folder)
    page = render_html(result) if (html or pdf) else None
    return _write_rendered(Path(folder), "report", page, "result.json", to_json(result) + "\n", html=html, pdf=pdf, json=json)
