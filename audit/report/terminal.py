"""Render a result for the terminal with rich (presentation only, no computation).

Written for 80 columns, which is also what CI logs and pipes get: no table row wraps.
Notes that would repeat on every row are said once under the table, long parameter
descriptions once as a caption, and layer names that do not fit are shortened in the
middle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

from audit.report.format import kind_abbreviation, middle_truncate, number, percent, with_interval
from audit.schema import AuditResult, FourierHeatmap, TrackResult

STYLES = {"error": "bold red", "warning": "yellow", "info": "dim"}


def _table(title: str | None = None) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        header_style="bold",
        show_edge=False,
        pad_edge=False,
    )


def _note(console: Console, text: str) -> None:
    """A dim note indented by two, its continuation lines too."""
    console.print(Padding(f"[dim]{text}[/dim]", (0, 0, 0, 2), expand=False), highlight=False)


def _baseline_label(result: AuditResult) -> str:
    baseline = result.spectral.baseline
    if baseline.kind == "white-noise":
        return "the white-noise reference (expected spectrum of i.i.d. weights)"
    return f"{baseline.kind} {baseline.source}"


def layer_table(result: AuditResult, width: int) -> tuple[Table, list[str]]:
    """The per-layer table and the notes said once under it."""
    spectral = result.spectral
    layers = spectral.layers
    kinds = [kind_abbreviation(l.kind) for l in layers]
    show_kind = any(kinds)
    shapes = ["x".join(str(s) for s in l.shape) for l in layers]
    numbers_width = 6 + 6 + 5 + 6 + (6 if show_kind else 0) + 2 * (5 + show_kind)
    name_width = max(12, width - numbers_width - max(len(s) for s in shapes) - 4)
    table = _table()
    table.add_column("layer", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    for column in ("HFER", "base", "SSR", "paper"):
        table.add_column(column, justify="right", no_wrap=True)
    if show_kind:
        table.add_column("kind", no_wrap=True)
    missing = {}
    for layer, shape, kind in zip(layers, shapes, kinds):
        name = escape(middle_truncate(layer.name, name_width))
        if layer.hfer is None:
            mark = "1x1" if layer.note and layer.note.startswith("1x1") else ("NaN" if not layer.finite else "—")
            missing[mark] = layer.note
            row = [name, shape, mark, "", "", ""]
        else:
            row = [
                name,
                shape,
                number(layer.hfer),
                number(layer.baseline_hfer),
                number(layer.ssr, 2),
                number(layer.paper_ssr, 3),
            ]
        table.add_row(*row, *([kind] if show_kind else []))
    notes = [
        f"{mark}: {escape(note.split(': ', 1)[-1] if mark == '1x1' else note)}"
        for mark, note in missing.items()
        if note
    ]
    unknown = sum("groups unknown" in l.kind for l in layers)
    if unknown:
        every = "every layer" if unknown == len(layers) else f"{unknown} layers"
        notes.append(f"groups unknown for {every}: a state_dict does not record groups, stride or dilation")
    if show_kind:
        notes.append("kind: dw depthwise, gN grouped, dN dilated, T transposed")
    notes.append(
        f"HFER: energy above {spectral.settings.cutoff:g} cycles/pixel; base: {escape(_baseline_label(result))}; "
        "SSR = base / HFER (>1: more low-pass); paper: the seed paper's (h_ref - h) / h_ref"
    )
    return table, notes


def _probe_names(result: AuditResult) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in result.probes.probes} if result.probes is not None else {}


def heatmap_summary(heatmap: FourierHeatmap) -> str:
    """One line: the heat map's mean error and its most harmful frequency, model and baseline."""
    import numpy as np

    def describe(grid: list[list[float]]) -> tuple[float, str]:
        errors = np.asarray(grid, dtype=float)
        rows, columns = errors.shape
        i, j = np.unravel_index(int(np.nanargmax(errors)), errors.shape)
        u, v = heatmap.step * (i - rows // 2), heatmap.step * (j - columns // 2)
        return float(np.nanmean(errors)), f"({u:+d}, {v:+d}) cycles/image at {100 * errors[i, j]:.1f}%"

    mean, worst = describe(heatmap.errors)
    text = (
        f"Fourier heat map (norm {heatmap.norm:.1f}, {heatmap.samples} images, {heatmap.frequencies} frequencies, "
        f"every {heatmap.step} per axis): mean error {100 * mean:.1f}%, worst {worst}"
    )
    if heatmap.baseline_errors is not None:
        base_mean, base_worst = describe(heatmap.baseline_errors)
        text += f"; baseline {100 * base_mean:.1f}%, worst {base_worst}"
    return text + "."


def probe_table(result: AuditResult) -> tuple[Table, list[str]]:
    """The probe table (one row per condition, the probe named once) and its caption."""
    section = result.probes
    assert section is not None, "a probe table needs probes"
    baseline = section.baseline_clean_accuracy is not None
    table = _table()
    for column in ("probe", "value"):
        table.add_column(column, no_wrap=True)
    table.add_column("accuracy", justify="right", no_wrap=True)
    table.add_column("drop", justify="right", no_wrap=True)
    if baseline:
        table.add_column("baseline", justify="right", no_wrap=True)
        table.add_column("vs base", justify="right", no_wrap=True)
    else:
        table.add_column("agree", justify="right", no_wrap=True)
    clean = ["clean", "", with_interval(section.clean_accuracy, section.clean_accuracy_ci), ""]
    if baseline:
        clean += [
            with_interval(section.baseline_clean_accuracy, section.baseline_clean_accuracy_ci),
            with_interval(section.clean_difference, section.clean_difference_ci, signed=True)
            if section.clean_difference is not None
            else "",
        ]
    else:
        clean += ["100.0"]
    table.add_row(*clean, end_section=True)
    previous = None
    for r in section.results:
        first = r.probe != previous
        previous = r.probe
        last = r is section.results[-1] or section.results[section.results.index(r) + 1].probe != r.probe
        row = [
            escape(r.probe) if first else "",
            f"{r.value:g}",
            with_interval(r.accuracy, r.accuracy_ci),
            with_interval(r.accuracy_drop, r.accuracy_drop_ci),
        ]
        if baseline:
            row += [
                with_interval(r.baseline_accuracy, r.baseline_accuracy_ci),
                with_interval(r.difference, r.difference_ci, signed=True),
            ]
        else:
            row += [percent(r.agreement)]
        table.add_row(*row, end_section=last)
    caption = [
        "accuracy and drop in %, ± the 95% interval's half-width"
        + (
            "; vs base = model - baseline accuracy in points, every row (+: the model is better; paired: same "
            "images, same noise)"
            if baseline and section.paired
            else ""
        )
        + ("" if baseline else "; agree = same prediction as on the clean image")
    ]
    names = _probe_names(result)
    if names:
        caption.append("value: " + "; ".join(f"{name} = {p['parameter']}" for name, p in names.items()))
    else:
        caption.append("clean accuracy only (--probes none)")
    if baseline and not section.paired:
        caption.append("the baseline's numbers are not paired with the model's: no intervals on differences")
    return table, caption


def _headline(result: AuditResult) -> str:
    model = result.model
    return (
        f"[bold]{escape(model.path)}[/bold]\n  {model.format} · {model.parameters:,} parameters · sha256 "
        f"{model.sha256[:12]}…"
    )


def print_result(result: AuditResult, console: Console, show_layers: bool = True) -> None:
    width = console.width
    console.print(_headline(result), highlight=False)
    for note in result.model.notes:
        _note(console, escape(note))
    summary = result.spectral.summary
    grid = "native grid" if result.spectral.settings.fft_size is None else f"{result.spectral.settings.fft_size}² grid"
    if show_layers:
        console.print()
        console.print(f"[bold]Conv kernel spectra[/bold] ({grid})", highlight=False)
        table, notes = layer_table(result, width)
        console.print(table)
        for note in notes:
            _note(console, note)
    unmatched = result.spectral.unmatched
    for label, names in (
        ("only in the model", unmatched.model_only),
        ("only in the baseline", unmatched.baseline_only),
    ):
        if names:
            console.print(f"[yellow]{label}, not compared:[/yellow] {escape(', '.join(names))}", highlight=False)
    if summary.match_note:
        console.print(f"[dim]{escape(summary.match_note)}[/dim]", highlight=False)
    console.print(
        f"Network: HFER {number(summary.hfer)} vs {number(summary.baseline_hfer)}, SSR {number(summary.ssr, 2)}, "
        f"paper-mode SSR {number(summary.paper_ssr, 3)}; {summary.layers_compared} of {summary.layers} layers "
        f"compared{' (partial)' if summary.partial else ''}, {summary.layers_without_spectrum} without a 2-D spectrum.",
        highlight=False,
    )
    if result.probes is not None:
        section = result.probes
        subset = f" (seeded subset of {section.full_split:,})" if section.full_split else ""
        console.print()
        console.print(
            f"[bold]Robustness probes[/bold] on {escape(section.dataset)}, {section.samples:,} images{subset}, "
            f"seed {section.seed}; {escape(section.runner)}, {section.images_per_second:,.0f} images/s",
            highlight=False,
        )
        if show_layers:
            table, caption = probe_table(result)
            console.print(table)
            for line in caption:
                _note(console, escape(line))
        for note in section.notes:
            _note(console, escape(note))
        if section.heatmap is not None:
            console.print(heatmap_summary(section.heatmap), highlight=False, markup=False)
        if section.output_used not in (None, "output"):
            console.print(f"  [dim]logits taken from model output {escape(section.output_used)}[/dim]", highlight=False)
    elif result.kind == "audit":
        console.print(
            "[dim]Data-free audit (weights only). Add --data with the model's data set (cifar10, imagenet, an "
            "image folder...; cifar10-sample runs offline) to run the robustness probes.[/dim]",
            highlight=False,
        )
    if result.findings:
        console.print()
        for finding in result.findings:
            console.print(
                f"[{STYLES[finding.severity]}]{finding.severity.upper()}[/] {escape(finding.message)}", highlight=False
            )
    console.print()
    console.print(f"[bold]Verdict:[/bold] {escape(result.verdict)}", highlight=False)


def track_table(track: TrackResult) -> Table:
    table = _table("Weight-frequency evolution")
    table.add_column(track.x_label.split(" (")[0], justify="right", no_wrap=True)
    table.add_column("checkpoint", no_wrap=True)
    for column in ("HFER", "SSR", "paper"):
        table.add_column(column, justify="right", no_wrap=True)
    if track.paper_layer:
        table.add_column("protocol", justify="right", no_wrap=True)
    for point in track.points:
        row = [
            "—" if point.epoch is None else str(point.epoch),
            escape(middle_truncate(Path(point.path).name, 40)),
            number(point.hfer),
            number(point.ssr, 2),
            number(point.paper_ssr),
        ]
        if track.paper_layer:
            row.append(number(point.paper_protocol_ssr))
        table.add_row(*row)
    return table


def track_caption(track: TrackResult) -> list[str]:
    lines = ["SSR and paper: network numbers against the first checkpoint (all layers, slice-weighted)"]
    if track.paper_layer:
        lines.append(
            f"protocol: the seed paper's compute_ssr, {track.paper_layer} only, against {track.paper_reference}"
        )
    return lines + list(track.notes)
