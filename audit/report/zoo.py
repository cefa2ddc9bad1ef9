"""How a zoo result is shown: the terminal table, the Markdown summary, the report's view.

Every view ranks the (statistic, probe, severity) correlations by their
within-architecture rho, the one a forecast for a model of a given architecture may use,
and marks those whose 95% interval excludes zero as supported.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from audit.probes.registry import PROBES
from audit.report.format import label, rho_text, signed
from audit.rules.forecasts import supported
from audit.schema import Correlation, RunInfo, ZooResult, measured
from audit.spectral.statistics import REFERENCE, STATISTICS


def ranked(zoo: ZooResult) -> list[Correlation]:
    """Spectral statistics' correlations with a within-architecture value, strongest first."""
    rows = (c for c in zoo.correlations if c.within is not None and c.statistic != REFERENCE)
    return sorted(rows, key=lambda c: -abs(measured(c.within)))


def weakest(zoo: ZooResult, count: int) -> list[Correlation]:
    """The pairs closest to no relation (narrowest intervals around zero first)."""
    rows = [c for c in zoo.correlations if c.within_low is not None and c.statistic != REFERENCE]
    return sorted(rows, key=lambda c: (abs(measured(c.within)), measured(c.within_high) - measured(c.within_low)))[
        :count
    ]


def middle_rows(zoo: ZooResult) -> tuple[list[str], list[tuple[str, str]], dict[tuple[str, str], Correlation]]:
    """The matrix at each probe's middle severity: statistics, (probe, condition) columns,
    {(statistic, probe): Correlation}."""
    by_probe: dict[str, list[Correlation]] = {}
    for c in zoo.correlations:
        by_probe.setdefault(c.probe, []).append(c)
    probes, cells = [], {}
    for probe, rows in by_probe.items():
        severities = sorted({c.severity for c in rows})
        known = PROBES.get(probe)
        middle = float(known.middle_severity()) if known else severities[len(severities) // 2]
        if middle not in severities:
            middle = severities[len(severities) // 2]
        chosen = [c for c in rows if c.severity == middle]
        probes.append((probe, chosen[0].condition))
        cells.update({(c.statistic, probe): c for c in chosen})
    statistics = [s for s in STATISTICS if any(key[0] == s for key in cells)]
    return statistics, probes, cells


def headline(zoo: ZooResult) -> str:
    spectral = [c for c in zoo.correlations if c.statistic != REFERENCE]
    backed = sum(1 for c in spectral if supported(c))
    return (
        f"{len(zoo.models)} models in {zoo.groups} architecture(s), probed on {zoo.dataset} ({zoo.samples} images, "
        f"probes {zoo.probes}); {backed} of {len(spectral)} spectral statistic/probe pairs are supported: their "
        "95% intervals within architectures, and with clean accuracy held fixed, exclude zero "
        f"({zoo.resamples} bootstrap resamples)."
    )


def zoo_table(zoo: ZooResult, count: int = 12) -> Table:
    from rich import box

    table = Table(
        box=box.SIMPLE_HEAD, title="Strongest correlations with the drop (Spearman rho)", title_justify="left"
    )
    table.add_column("statistic")
    table.add_column("probe")
    table.add_column("within arch.", justify="right")
    table.add_column("accuracy held", justify="right")
    table.add_column("held out", justify="right")
    for c in ranked(zoo)[:count]:
        table.add_row(
            label(c.statistic),
            c.condition,
            rho_text(c.within, c.within_low, c.within_high),
            rho_text(c.partial, c.partial_low, c.partial_high) + ("" if supported(c) else " ~"),
            "" if c.held_out_agreement is None else f"{100 * c.held_out_agreement:.0f}%",
        )
    table.caption = (
        "~: not supported (an interval includes 0). Ranked by rho within architectures. Held out: the share of "
        f"{(zoo.correlations[0].held_out if zoo.correlations else None) or 'model'}s whose leaving-out keeps the sign."
    )
    return table


def _markdown_row(c: Correlation) -> str:
    held = "n/a" if c.held_out_agreement is None else f"{100 * c.held_out_agreement:.0f}% of {c.held_out}s"
    return (
        f"| {label(c.statistic)} | {c.condition} | {rho_text(c.within, c.within_low, c.within_high)} | "
        f"{rho_text(c.partial, c.partial_low, c.partial_high)} | {rho_text(c.rho, c.low, c.high)} | "
        f"{'yes' if supported(c) else 'no'} | {held} |"
    )


def zoo_markdown(zoo: ZooResult, title: str = "Zoo study", count: int = 5) -> str:
    """The Markdown summary: headline, the strongest and weakest pairs, the matrix at each
    probe's middle severity, and what was left out."""
    head = (
        "| statistic | probe | rho within architectures [95%] | ... clean accuracy held fixed [95%] | "
        "rho across all models [95%] | supported | same sign with one left out |\n|---|---|---|---|---|---|---|"
    )
    lines = [f"# {title}", "", headline(zoo), ""]
    lines += ["## Strongest pairs (within architectures)", "", head, *map(_markdown_row, ranked(zoo)[:count]), ""]
    lines += ["## Weakest pairs", "", head, *map(_markdown_row, weakest(zoo, count)), ""]
    statistics, probes, cells = middle_rows(zoo)
    for title, field in (
        ("Spearman rho within architectures", "within"),
        ("The same with clean accuracy held fixed (partial rank correlation)", "partial"),
    ):
        lines += [
            f"## Every statistic against every probe (middle severity): {field}",
            "",
            f"{title}; **bold**: supported (both intervals exclude zero, same sign).",
            "",
            "| statistic | " + " | ".join(condition for _, condition in probes) + " |",
            "|---|" + "---|" * len(probes),
        ]
        for statistic in statistics:
            values = []
            for probe, _ in probes:
                c = cells.get((statistic, probe))
                number = getattr(c, field) if c else None
                text = signed(number)
                values.append(f"**{text}**" if c and supported(c) and number is not None else text)
            lines.append(f"| {label(statistic)} | " + " | ".join(values) + " |")
        lines.append("")
    lines += ["## Statistics", ""] + [f"- **{label(n)}** (`{n}`): {d}" for n, d in zoo.statistics.items()]
    if zoo.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in zoo.notes]
    return "\n".join(lines) + "\n"


def zoo_context(zoo: ZooResult) -> dict[str, Any]:
    """What templates/zoo.html shows."""
    run = zoo.run or RunInfo("unknown", "unknown", "unknown", "unknown")  # built by a library call
    from markupsafe import Markup

    statistics, probes, cells = middle_rows(zoo)
    # Probes as rows and statistics as columns: the numbers are narrow, the probe names
    # long, so this way round fits a printed page. Each cell: rho within architectures,
    # then with clean accuracy held fixed.
    matrix = [
        {
            "label": condition,
            "cells": [
                {
                    "within": signed(cells[(s, p)].within) if (s, p) in cells else "n/a",
                    "partial": signed(cells[(s, p)].partial) if (s, p) in cells else "n/a",
                    "supported": (s, p) in cells and supported(cells[(s, p)]),
                }
                for s in statistics
            ],
        }
        for p, condition in probes
    ]
    from audit.report.charts import zoo_scatter  # matplotlib: only when a report is drawn

    charts = [
        {"condition": condition, "svg": Markup(zoo_scatter(zoo, probe, condition, statistics, cells))}
        for probe, condition in probes
    ]
    return {
        "title": f"{len(zoo.models)} models",
        "headline": headline(zoo),
        "strongest": [_view_row(c) for c in ranked(zoo)[:10]],
        "weakest": [_view_row(c) for c in weakest(zoo, 5)],
        "statistic_labels": [label(s) for s in statistics],
        "matrix": matrix,
        "charts": charts,
        "statistics": [(label(n), n, d) for n, d in zoo.statistics.items()],
        "models": [
            {
                "name": m.name,
                "architecture": m.architecture,
                "accuracy": "n/a" if m.clean_accuracy is None else f"{100 * m.clean_accuracy:.1f}%",
            }
            for m in zoo.models
        ],
        "notes": zoo.notes,
        "run": zoo.run,
        "run_facts": [
            ("command", " ".join(run.command) if run.command else "(library call)"),
            ("spectral-audit", run.tool_version),
            ("torch", run.torch_version),
            ("device", run.device),
            ("data", f"{zoo.dataset}, {zoo.samples} images"),
            ("probes", zoo.probes),
            ("bootstrap resamples", str(zoo.resamples)),
            ("created", run.created),
        ]
        + [(m.name, f"{m.path} sha256 {m.sha256}") for m in zoo.models],
    }


def _view_row(c: Correlation) -> dict[str, Any]:
    return {
        "statistic": label(c.statistic),
        "condition": c.condition,
        "within": rho_text(c.within, c.within_low, c.within_high),
        "partial": rho_text(c.partial, c.partial_low, c.partial_high),
        "all": rho_text(c.rho, c.low, c.high),
        "supported": supported(c),
    }
