"""Render an AuditResult for the terminal with rich (presentation only, no computation)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from audit.report.format import number, percent
from audit.schema import AuditResult, TrackResult


def _baseline_label(result: AuditResult) -> str:
    baseline = result.spectral.baseline
    return "white-noise reference" if baseline.kind == "white-noise" else escape(f"{baseline.kind} {baseline.source}")


def layer_table(result: AuditResult) -> Table:
    spectral = result.spectral
    settings = spectral.settings
    grid = "native grid" if settings.fft_size is None else f"{settings.fft_size}x{settings.fft_size} grid"
    table = Table(
        title=f"Conv kernel spectra — HFER above {settings.cutoff:g} cycles/pixel, {grid}",
        caption=f"baseline: {_baseline_label(result)}. SSR = baseline HFER / HFER (>1: more low-pass).",
        header_style="bold",
    )
    table.add_column("layer", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    table.add_column("HFER", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("SSR", justify="right")
    table.add_column("paper SSR", justify="right")
    table.add_column("kind / note")
    for layer in spectral.layers:
        shape = "x".join(str(s) for s in layer.shape)
        if layer.hfer is None:
            table.add_row(escape(layer.name), shape, "—", "", "", "", f"[dim]{escape(layer.note)}[/dim]")
            continue
        table.add_row(
            escape(layer.name),
            shape,
            number(layer.hfer),
            number(layer.baseline_hfer),
            number(layer.ssr, 2),
            number(layer.paper_ssr, 3),
            layer.kind,
        )
    return table


def probe_table(result: AuditResult) -> Table:
    section = result.probes
    has_baseline = section.baseline_clean_accuracy is not None or any(
        r.baseline_accuracy is not None for r in section.results
    )
    parameters = {p["name"]: p["parameter"] for p in section.probes}
    subset = f" (seeded subset of {section.full_split})" if section.full_split else ""
    table = Table(
        title=f"Robustness probes — {section.dataset}, {section.samples} images{subset}, seed {section.seed}",
        caption=f"accuracy and drop in %, agreement = same prediction as on the clean image. {section.runner}.",
        header_style="bold",
    )
    for column in ("probe", "parameter", "severity"):
        table.add_column(column, no_wrap=column != "parameter")
    for column in ("accuracy", "drop", "agreement"):
        table.add_column(column, justify="right")
    if has_baseline:
        table.add_column("baseline acc.", justify="right")
        table.add_column("baseline drop", justify="right")
    clean = ["clean", "", "", percent(section.clean_accuracy), "", "100.0"]
    if has_baseline:
        clean += [percent(section.baseline_clean_accuracy), ""]
    table.add_row(*clean)
    previous = None
    for r in section.results:
        first = r.probe != previous  # name and parameter once per probe
        previous = r.probe
        row = [
            r.probe if first else "",
            parameters.get(r.probe, "") if first else "",
            f"{r.severity:g}",
            percent(r.accuracy),
            percent(r.accuracy_drop),
            percent(r.agreement),
        ]
        if has_baseline:
            row += [percent(r.baseline_accuracy), percent(r.baseline_accuracy_drop)]
        table.add_row(*row)
    return table


def print_result(result: AuditResult, console: Console, show_layers: bool = True) -> None:
    model = result.model
    summary = result.spectral.summary
    console.print(
        f"[bold]{escape(model.path)}[/bold]  {model.format}, {model.parameters:,} parameters, "
        f"sha256 {model.sha256[:12]}…"
    )
    for note in model.notes:
        console.print(f"  [dim]{escape(note)}[/dim]")
    if show_layers:
        console.print(layer_table(result))
    unmatched = result.spectral.unmatched
    if unmatched.model_only:
        console.print(f"[yellow]only in the model, not compared:[/yellow] {escape(', '.join(unmatched.model_only))}")
    if unmatched.baseline_only:
        console.print(
            f"[yellow]only in the baseline, not compared:[/yellow] {escape(', '.join(unmatched.baseline_only))}"
        )
    console.print(
        f"Network: HFER {number(summary.hfer)}, baseline {number(summary.baseline_hfer)}, "
        f"SSR {number(summary.ssr, 2)}, paper-mode SSR {number(summary.paper_ssr, 3)} "
        f"over {summary.layers_compared} of {summary.layers} layers "
        f"({summary.layers_without_spectrum} without a 2-D spectrum)."
    )
    if result.probes is not None:
        section = result.probes
        if show_layers:
            console.print(probe_table(result))
        for note in section.notes:
            console.print(f"  [dim]{escape(note)}[/dim]")
        worst = min(
            (r for r in section.results if r.accuracy is not None and r.kind != "diagnostic"),
            key=lambda r: r.accuracy,
            default=None,
        )
        line = f"Probes: clean accuracy {percent(section.clean_accuracy)}%"
        if worst is not None:
            line += f", worst {worst.probe} {worst.severity:g} at {percent(worst.accuracy)}%"
        line += f"; {section.images_per_second:,.0f} images/s ({section.seconds:.1f} s, {section.runner})."
        if section.output_used not in (None, "output"):
            line += f" Logits taken from model output {section.output_used}."
        console.print(line, markup=False)
    elif result.kind == "audit":
        console.print(
            "[dim]Data-free audit (weights only). Add --data cifar10 (or --data cifar10-sample, offline) "
            "to run the robustness probes.[/dim]"
        )
    styles = {"error": "bold red", "warning": "yellow", "info": "dim"}
    for finding in result.findings:
        console.print(f"[{styles[finding.severity]}]{finding.severity.upper()}[/] {escape(finding.message)}")
    console.print(f"[bold]Verdict:[/bold] {escape(result.verdict)}")


def track_table(track: TrackResult) -> Table:
    table = Table(title="Weight-frequency evolution", header_style="bold")
    for column in ("epoch", "checkpoint", "HFER", "SSR vs first", "paper SSR vs first"):
        table.add_column(column, justify="left" if column == "checkpoint" else "right")
    for point in track.points:
        table.add_row(
            "—" if point.epoch is None else str(point.epoch),
            escape(Path(point.path).name),
            number(point.hfer),
            number(point.ssr, 2),
            number(point.paper_ssr),
        )
    return table
