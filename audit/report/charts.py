"""Charts of an audit result as inline SVG strings (matplotlib, vector, no network).

Every chart reads only the JSON-able result, has labelled axes with units, and stays
readable in greyscale: series differ by line style and marker, not only by colour,
and colour maps are monotonic in luminance (viridis, magma).
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from audit.io import use_private_matplotlib_config

# Before matplotlib is imported: its config and font cache go to the run's scratch folder,
# never ~/.config or ~/.cache (a CI tool leaves nothing behind).
use_private_matplotlib_config()

import matplotlib
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from audit.probes.registry import condition
from audit.schema import AuditResult, LayerSpectrum, ProbeResult, TrackResult, ZooResult

# Applied around each chart with rc_context: matplotlib's global settings stay untouched,
# and Figure objects (not pyplot) keep no global registry of open figures.
STYLE: dict[str, Any] = {
    "svg.fonttype": "none",  # keep text as text: searchable, selectable, small
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "spectral-audit",  # deterministic ids
}


Chart = TypeVar("Chart", bound=Callable[..., Any])


def _styled(chart: Chart) -> Chart:
    @functools.wraps(chart)
    def draw(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(STYLE):
            return chart(*args, **kwargs)

    return cast(Chart, draw)


MODEL_STYLE: dict[str, Any] = {"linestyle": "-", "marker": "o", "color": "#1f3b73", "markersize": 4}
SMALL_MODEL_STYLE: dict[str, Any] = {
    "linestyle": "-",
    "marker": "o",
    "color": "#1f3b73",
    "markersize": 3,
    "linewidth": 1.2,
}
SMALL_BASELINE_STYLE: dict[str, Any] = {
    "linestyle": "--",
    "marker": "s",
    "color": "#9a6b00",
    "markersize": 3,
    "linewidth": 1.2,
}
BASELINE_STYLE: dict[str, Any] = {"linestyle": "--", "marker": "s", "color": "#9a6b00", "markersize": 4}


def _svg(figure: Figure, label: str, tight: bool = True) -> str:
    """The figure as inline SVG. ``tight=False`` keeps the figure's own size, so that panels
    meant to line up keep one size whatever their labels hold."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight" if tight else None, metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # drop the XML prologue and DOCTYPE: the SVG is inlined
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)  # RDF boilerplate
    text = re.sub(r"<svg ", f'<svg role="img" aria-label="{label}" ', text, count=1)
    return text


def _spectral_layers(result: AuditResult) -> list[LayerSpectrum]:
    return [l for l in result.spectral.layers if l.hfer is not None and l.radial_energy]


@_styled
def radial_energy_chart(result: AuditResult) -> str | None:
    layers = _spectral_layers(result)
    if not layers:
        return None
    figure = Figure(figsize=(6.4, 2.2))
    axes = figure.subplots()
    colours = matplotlib.colormaps["viridis"]
    for depth, layer in enumerate(layers):
        shade = colours(depth / max(1, len(layers) - 1))
        axes.plot(layer.radii, layer.radial_energy, "-", color=shade, alpha=0.8, linewidth=1, marker=".", markersize=3)
    cutoff = result.spectral.settings.cutoff
    # The cutoff is named in a framed legend, not written over the curves.
    axes.axvline(cutoff, color="black", linestyle=":", linewidth=1, label=f"HFER cutoff {cutoff:g} cycles/pixel")
    axes.legend(loc="upper right", fontsize=7.5, framealpha=0.95)
    axes.set_xlabel("radial frequency (cycles/pixel)")
    axes.set_ylabel("energy fraction")
    axes.set_title("Radial energy per layer (light = deeper)")
    mappable = ScalarMappable(cmap=colours, norm=Normalize(0, len(layers) - 1))
    figure.colorbar(mappable, ax=axes, label="layer depth (index)", ticks=MaxNLocator(integer=True))
    return _svg(figure, "radial energy fraction per layer")


@_styled
def depth_heatmap(result: AuditResult) -> str | None:
    """Layer x radius heat map of energy fractions, one panel per kernel size, each on its
    own true radii (a 3x3 kernel has exactly 0, 1/3 and sqrt(2)/3: no column stands for a
    radius the kernel cannot have)."""
    layers = _spectral_layers(result)
    if not layers:
        return None
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for layer in layers:
        groups.setdefault(tuple(layer.kernel_size), []).append(layer)
    largest = max(max(l.radial_energy or [0.0]) for l in layers) or 1
    tallest = max(len(g) for g in groups.values())
    # Constrained layout keeps each panel's layer names clear of its neighbour; rows get
    # thinner as layers grow, so 55 layers take half a page, not a whole one.
    row = 0.2 if tallest <= 12 else max(0.075, 2.4 / tallest)
    figure = Figure(figsize=(min(7.2, 1.6 + 2.6 * len(groups)), min(5.5, 1.4 + row * tallest)), layout="constrained")
    panels = figure.subplots(1, len(groups), squeeze=False)[0]
    for axes, (size, group) in zip(panels, groups.items()):
        radii = group[0].radii
        image = axes.imshow(
            [l.radial_energy for l in group], aspect="auto", cmap="magma", vmin=0, vmax=largest, interpolation="nearest"
        )
        axes.set_xticks(
            range(len(radii)), [_radius_label(r) for r in radii], fontsize=7, rotation=90 if len(radii) > 6 else 0
        )
        # Every layer named where they fit; else every k-th, so the depth axis always has names.
        every = max(1, -(-len(group) // 30))
        shown = range(0, len(group), every)
        axes.set_yticks(list(shown), [group[i].name for i in shown], fontsize=7 if len(group) <= 12 else 5.5)
        axes.set_title(f"{'x'.join(map(str, size))} kernels", fontsize=8)
        axes.set_xlabel("radius (cycles/pixel)", fontsize=8)
    panels[0].set_ylabel("layer (input to output)")
    figure.colorbar(image, ax=list(panels), label="energy fraction")
    return _svg(figure, "heat map of radial energy by layer depth, per kernel size")


def _radius_label(radius: float) -> str:
    """Short exact-looking labels: 0, 1/3 -> '0.333', sqrt(2)/3 -> '0.471'."""
    return "0" if radius == 0 else f"{radius:.3f}".rstrip("0")


@_styled
def probe_curves(result: AuditResult) -> list[tuple[str, str]]:
    """One small chart per probe, drawn at its printed size (a third of the page width, so
    its 7-pt text prints at 7 pt): accuracy (%) at each tested value, the values evenly
    spaced from the mildest on the left to the harshest on the right, ticks at the values
    tested, 95% intervals as bands. The legend is drawn once, in the first chart."""
    section = result.probes
    if section is None or section.clean_accuracy is None:
        return []
    meta = {p["name"]: p for p in section.probes}
    charts = []
    for index, probe in enumerate(dict.fromkeys(r.probe for r in section.results)):
        lower_is_harsher = meta.get(probe, {}).get("harsher") == "lower"
        rows = sorted((r for r in section.results if r.probe == probe), key=lambda r: r.value, reverse=lower_is_harsher)
        positions = list(range(len(rows)))
        figure = Figure(figsize=(2.35, 1.75))
        axes = figure.subplots()
        figure.subplots_adjust(left=0.2, right=0.97, bottom=0.27, top=0.87)  # one size for every panel
        _curve(axes, positions, rows, "accuracy", "accuracy_ci", "model", SMALL_MODEL_STYLE)
        axes.axhline(
            100 * section.clean_accuracy, color=MODEL_STYLE["color"], linestyle=":", linewidth=1, label="model clean"
        )
        if any(r.baseline_accuracy is not None for r in rows):
            _curve(axes, positions, rows, "baseline_accuracy", "baseline_accuracy_ci", "baseline", SMALL_BASELINE_STYLE)
            if section.baseline_clean_accuracy is not None:
                axes.axhline(
                    100 * section.baseline_clean_accuracy,
                    color=BASELINE_STYLE["color"],
                    linestyle="-.",
                    linewidth=1,
                    label="baseline clean",
                )
        axes.set_xticks(positions, [f"{r.value:g}" for r in rows], fontsize=7)
        axes.tick_params(axis="y", labelsize=7)
        axes.set_ylim(0, 100)
        # The parameter's name only ("kernel size k"); its definition is in the caption.
        name = meta.get(probe, {}).get("parameter", "severity").split(" (")[0]
        axes.set_xlabel(f"{name}, harsher →", fontsize=7)
        axes.set_ylabel("accuracy (%)", fontsize=7)
        axes.set_title(probe, fontsize=8)
        if index == 0:
            axes.legend(frameon=False, fontsize=7, loc="lower left", handlelength=1.6, borderaxespad=0.2)
        charts.append((probe, _svg(figure, f"accuracy under {probe} against its parameter", tight=False)))
    return charts


def _curve(
    axes: Any,
    values: Sequence[float],
    rows: list[ProbeResult],
    field: str,
    interval_field: str,
    label: str,
    style: dict[str, Any],
) -> None:
    """A line with markers and, where intervals exist, a band of the same colour."""
    points = [(v, getattr(r, field)) for v, r in zip(values, rows) if getattr(r, field) is not None]
    if not points:
        return
    axes.plot([v for v, _ in points], [100 * a for _, a in points], label=label, **style)
    bands = [(v, getattr(r, interval_field)) for v, r in zip(values, rows) if getattr(r, interval_field)]
    if len(bands) == len(points):
        axes.fill_between(
            [v for v, _ in bands],
            [100 * ci[0] for _, ci in bands],
            [100 * ci[1] for _, ci in bands],
            color=style["color"],
            alpha=0.15,
            linewidth=0,
        )


@_styled
def summary_chart(result: AuditResult) -> str | None:
    """Page one's chart: accuracy, clean and at each corruption's middle severity, for the
    model and the baseline, with 95% intervals."""
    section = result.probes
    if section is None or section.clean_accuracy is None:
        return None
    meta = {p["name"]: p for p in section.probes}
    chosen = []
    for name, info in meta.items():
        if info.get("kind") == "diagnostic":
            continue
        rows = [r for r in section.results if r.probe == name]
        if rows:
            middle = sorted((r.value for r in rows), reverse=info.get("harsher") == "lower")[len(rows) // 2]
            chosen.append(next(r for r in rows if r.value == middle))
    labels = ["clean"] + [condition(r) for r in chosen]
    model = [(section.clean_accuracy, section.clean_accuracy_ci)] + [(r.accuracy, r.accuracy_ci) for r in chosen]
    baseline = [(section.baseline_clean_accuracy, section.baseline_clean_accuracy_ci)] + [
        (r.baseline_accuracy, r.baseline_accuracy_ci) for r in chosen
    ]
    has_baseline = section.baseline_clean_accuracy is not None
    figure = Figure(figsize=(6.6, 0.5 + 0.2 * len(labels) * (1.7 if has_baseline else 1)))
    axes = figure.subplots()
    height = 0.38 if has_baseline else 0.6
    positions = list(range(len(labels)))
    for offset, series, style, label in (
        (-height / 2 if has_baseline else 0, model, MODEL_STYLE, "model"),
        (height / 2, baseline, BASELINE_STYLE, "baseline"),
    ):
        if label == "baseline" and not has_baseline:
            continue
        values = [100 * (v or 0) for v, _ in series]
        errors = [
            [100 * ((v or 0) - ci[0]) if ci else 0 for v, ci in series],
            [100 * (ci[1] - (v or 0)) if ci else 0 for v, ci in series],
        ]
        axes.barh(
            [p + offset for p in positions],
            values,
            height=height,
            xerr=errors,
            color=style["color"],
            alpha=0.85 if label == "model" else 0.55,
            label=label,
            error_kw={"elinewidth": 0.8, "capsize": 2},
        )
    axes.set_yticks(positions, labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("accuracy (%), 95% intervals")
    axes.legend(frameon=False, fontsize=7.5, loc="lower right")
    return _svg(figure, "accuracy clean and under each corruption, model against baseline")


@_styled
def hfer_by_depth(result: AuditResult) -> str | None:
    layers = _spectral_layers(result)
    if not layers:
        return None
    figure = Figure(figsize=(6.4, 2.1))
    axes = figure.subplots()
    depth = list(range(len(layers)))
    axes.plot(depth, [l.hfer for l in layers], label="model", **MODEL_STYLE)
    if any(l.baseline_hfer is not None for l in layers):
        label = "white-noise reference" if result.spectral.baseline.kind == "white-noise" else "baseline"
        # NaN where a layer has no counterpart: the line breaks there instead of inventing a trend.
        base = [math.nan if l.baseline_hfer is None else l.baseline_hfer for l in layers]
        axes.plot(depth, base, label=label, **BASELINE_STYLE)
    axes.set_ylim(0, 1)
    if len(layers) <= 24:  # each layer named under its point
        axes.set_xticks(depth, [l.name for l in layers], rotation=50, ha="right", fontsize=6.5)
        axes.set_xlabel("layer, input to output")
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("layer depth (index, input to output)")
    axes.set_ylabel(f"HFER (energy > {result.spectral.settings.cutoff:g} cyc/px)")
    axes.set_title("High-frequency energy ratio by depth")
    axes.legend(frameon=False, fontsize=7.5)
    return _svg(figure, "HFER by layer depth, model against baseline")


@_styled
def fourier_heatmap_chart(result: AuditResult) -> str | None:
    section = result.probes
    if section is None or section.heatmap is None:
        return None
    heatmap = section.heatmap
    panels = [("model", heatmap.errors)] + ([("baseline", heatmap.baseline_errors)] if heatmap.baseline_errors else [])
    figure = Figure(figsize=(3.3 * len(panels), 3.0))
    axes_list = figure.subplots(1, len(panels), squeeze=False)
    height, width = len(heatmap.errors), len(heatmap.errors[0])
    step = heatmap.step or 1  # each cell is a frequency step apart
    extent = tuple(
        step * e
        for e in (-(width // 2) - 0.5, width - width // 2 - 0.5, height - height // 2 - 0.5, -(height // 2) - 0.5)
    )
    for axes, (name, grid) in zip(axes_list[0], panels):
        image = axes.imshow([[100 * v for v in row] for row in grid], cmap="viridis", vmin=0, vmax=100, extent=extent)
        sampled = f", every {step}th frequency" if step > 1 else ""
        axes.set_title(f"{name}: error under Fourier noise (L2 {heatmap.norm:g}{sampled})", fontsize=8)
        axes.set_xlabel("horizontal frequency (cycles/image)")
        axes.set_ylabel("vertical frequency (cycles/image)")
    figure.colorbar(image, ax=list(axes_list[0]), label="error rate (%)")
    return _svg(figure, "Fourier heat map of error rates")


@_styled
def track_heatmap(track: TrackResult) -> str:
    """Checkpoint x radius heat map of the network's energy fractions, on the true radii."""
    labels = [str(p.epoch) if p.epoch is not None else str(i) for i, p in enumerate(track.points)]
    figure = Figure(figsize=(6.4, min(8.0, 1.5 + 0.16 * len(track.points))))
    axes = figure.subplots()
    rows = [p.radial_profile for p in track.points]
    image = axes.imshow(rows, aspect="auto", cmap="magma", interpolation="nearest")
    radii = track.bin_edges
    axes.set_xticks(range(len(radii)), [_radius_label(r) for r in radii], fontsize=7)
    step = max(1, len(labels) // 20)
    axes.set_yticks(range(0, len(labels), step), labels[::step], fontsize=7)
    axes.set_ylabel(track.x_label)
    axes.set_xlabel("radius (cycles/pixel)")
    axes.set_title("Energy fraction by checkpoint and radius (all layers)")
    figure.colorbar(image, ax=axes, label="energy fraction")
    return _svg(figure, "heat map of radial energy by checkpoint")


@_styled
def track_lines(track: TrackResult) -> str:
    """HFER over epochs: the network (bold) and each layer (thin), plus paper-mode SSR."""
    x = [p.epoch if p.epoch is not None else i for i, p in enumerate(track.points)]
    figure = Figure(figsize=(7.2, 3.0))
    left, right = figure.subplots(1, 2)
    shades = matplotlib.colormaps["viridis"]
    for index, name in enumerate(track.layers):
        values = [p.layer_hfer.get(name) for p in track.points]
        if all(v is None for v in values):
            continue
        left.plot(
            x,
            [math.nan if v is None else v for v in values],
            linewidth=0.8,
            alpha=0.6,
            color=shades(index / max(1, len(track.layers) - 1)),
        )
    left.plot(x, [p.hfer for p in track.points], label="network", **MODEL_STYLE)
    left.set_xlabel(track.x_label)
    left.set_ylabel("HFER")
    left.set_title("HFER over training (thin: layers)")
    left.legend(frameon=False)
    right.plot(x, [math.nan if p.paper_ssr is None else p.paper_ssr for p in track.points], **BASELINE_STYLE)
    right.axhline(0, color="black", linewidth=0.8, linestyle=":")
    right.set_xlabel(track.x_label)
    right.set_ylabel("paper-mode SSR vs first")
    right.set_title("(h_first - h) / h_first")
    figure.tight_layout()
    return _svg(figure, "HFER and paper-mode SSR over training")


GROUP_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
GROUP_COLOURS = ("#1f3b73", "#9a6b00", "#2f7d4f", "#8c2d5a", "#4d4d4d", "#5b8fd1", "#c98a1b", "#7a9e3a")


@_styled
def zoo_scatter(
    zoo: ZooResult, probe: str, condition_text: str, statistics: list[str], cells: dict[tuple[str, str], Any]
) -> str:
    """One small scatter per statistic: its value (x) against the drop under ``probe``
    (y), one marker shape per architecture, titled with the within-architecture rho."""
    from audit.report.format import label, rho_text
    from audit.zoo.table import drop_key, statistic_value

    groups = sorted({m.architecture for m in zoo.models})
    columns = 3
    rows = -(-len(statistics) // columns)
    figure = Figure(figsize=(6.6, 1.75 * rows + 0.35))
    axes_grid = figure.subplots(rows, columns, squeeze=False)
    severity = next(iter(cells[(s, probe)] for s in statistics if (s, probe) in cells)).severity
    key = drop_key(probe, severity)
    for index, axes in enumerate(axes_grid.flat):
        if index >= len(statistics):
            axes.set_visible(False)
            continue
        statistic = statistics[index]
        for number, group in enumerate(groups):
            # One point per model with both numbers: the x and y lists stay aligned.
            points = [
                (x, 100 * y)
                for m in zoo.models
                if m.architecture == group
                and (x := statistic_value(m, statistic)) is not None
                and (y := (m.drops.get(key) or [None])[0]) is not None
            ]
            axes.scatter(
                [x for x, _ in points],
                [y for _, y in points],
                s=9,
                marker=GROUP_MARKERS[number % len(GROUP_MARKERS)],
                color=GROUP_COLOURS[number % len(GROUP_COLOURS)],
                label=group if index == 0 else None,
            )
        c = cells.get((statistic, probe))
        rho = rho_text(c.within, c.within_low, c.within_high) if c else "n/a"
        held = f"; accuracy held {c.partial:+.2f}" if c and c.partial is not None else ""
        axes.set_title(f"{label(statistic)}\nρ {rho}{held}", fontsize=6.5)
        axes.tick_params(labelsize=6)
        axes.xaxis.set_major_locator(MaxNLocator(3))
        if index % columns == 0:
            axes.set_ylabel("drop (points)", fontsize=7)
    if len(groups) > 1:
        figure.legend(loc="lower center", ncol=min(len(groups), 3), fontsize=6.5, frameon=False)
    figure.suptitle(f"accuracy drop under {condition_text} against each statistic", fontsize=8)
    figure.tight_layout(rect=(0, 0.05 if len(groups) > 1 else 0, 1, 0.97))
    return _svg(figure, f"each spectral statistic against the drop under {condition_text}")
