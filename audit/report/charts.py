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

import matplotlib
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

# Applied around each chart with rc_context: matplotlib's global settings stay untouched,
# and Figure objects (not pyplot) keep no global registry of open figures.
STYLE = {
    "svg.fonttype": "none",  # keep text as text: searchable, selectable, small
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "spectral-audit",  # deterministic ids
}


def _styled(chart):
    @functools.wraps(chart)
    def draw(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return chart(*args, **kwargs)

    return draw


MODEL_STYLE = {"linestyle": "-", "marker": "o", "color": "#1f3b73", "markersize": 4}
BASELINE_STYLE = {"linestyle": "--", "marker": "s", "color": "#9a6b00", "markersize": 4}


def _svg(figure, label: str) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # drop the XML prologue and DOCTYPE: the SVG is inlined
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)  # RDF boilerplate
    text = re.sub(r"<svg ", f'<svg role="img" aria-label="{label}" ', text, count=1)
    return text


def _spectral_layers(result):
    return [l for l in result.spectral.layers if l.hfer is not None and l.radial_energy]


@_styled
def radial_energy_chart(result) -> str | None:
    layers = _spectral_layers(result)
    if not layers:
        return None
    figure = Figure(figsize=(6.4, 3.2))
    axes = figure.subplots()
    colours = matplotlib.colormaps["viridis"]
    for depth, layer in enumerate(layers):
        shade = colours(depth / max(1, len(layers) - 1))
        axes.plot(layer.radii, layer.radial_energy, "-", color=shade, alpha=0.8, linewidth=1, marker=".", markersize=3)
    cutoff = result.spectral.settings.cutoff
    axes.axvline(cutoff, color="black", linestyle=":", linewidth=1)
    axes.text(cutoff, axes.get_ylim()[1] * 0.95, f" HFER cutoff {cutoff:g}", fontsize=8, va="top")
    axes.set_xlabel("radial frequency (cycles/pixel)")
    axes.set_ylabel("energy fraction")
    axes.set_title("Radial energy per layer (light = deeper)")
    mappable = ScalarMappable(cmap=colours, norm=Normalize(0, len(layers) - 1))
    figure.colorbar(mappable, ax=axes, label="layer depth (index)")
    return _svg(figure, "radial energy fraction per layer")


@_styled
def depth_heatmap(result) -> str | None:
    """Layer x radius heat map of energy fractions, one panel per kernel size, each on its
    own true radii (a 3x3 kernel has exactly 0, 1/3 and sqrt(2)/3: no column stands for a
    radius the kernel cannot have)."""
    layers = _spectral_layers(result)
    if not layers:
        return None
    groups: dict[tuple, list] = {}
    for layer in layers:
        groups.setdefault(tuple(layer.kernel_size), []).append(layer)
    largest = max(max(l.radial_energy) for l in layers) or 1
    tallest = max(len(g) for g in groups.values())
    figure = Figure(figsize=(min(7.2, 1.4 + 2.2 * len(groups)), min(9.0, 1.4 + 0.2 * tallest)))
    panels = figure.subplots(1, len(groups), squeeze=False)[0]
    for axes, (size, group) in zip(panels, groups.items()):
        radii = group[0].radii
        image = axes.imshow(
            [l.radial_energy for l in group], aspect="auto", cmap="magma", vmin=0, vmax=largest, interpolation="nearest"
        )
        axes.set_xticks(
            range(len(radii)), [_radius_label(r) for r in radii], fontsize=7, rotation=90 if len(radii) > 6 else 0
        )
        if len(group) <= 40:
            axes.set_yticks(range(len(group)), [l.name for l in group], fontsize=7)
        axes.set_title(f"{'x'.join(map(str, size))} kernels", fontsize=8)
        axes.set_xlabel("radius (cycles/pixel)", fontsize=8)
    panels[0].set_ylabel("layer (input to output)")
    figure.colorbar(image, ax=list(panels), label="energy fraction")
    return _svg(figure, "heat map of radial energy by layer depth, per kernel size")


def _radius_label(radius: float) -> str:
    """Short exact-looking labels: 0, 1/3 -> '0.333', sqrt(2)/3 -> '0.471'."""
    return "0" if radius == 0 else f"{radius:.3f}".rstrip("0")


@_styled
def hfer_by_depth(result) -> str | None:
    layers = _spectral_layers(result)
    if not layers:
        return None
    figure = Figure(figsize=(6.4, 3.0))
    axes = figure.subplots()
    depth = list(range(len(layers)))
    axes.plot(depth, [l.hfer for l in layers], label="model", **MODEL_STYLE)
    compared = [(i, l.baseline_hfer) for i, l in enumerate(layers) if l.baseline_hfer is not None]
    if compared:
        label = "white-noise reference" if result.spectral.baseline.kind == "white-noise" else "baseline"
        axes.plot(*zip(*compared), label=label, **BASELINE_STYLE)
    axes.set_ylim(0, 1)
    axes.set_xlabel("layer depth (index)")
    axes.set_ylabel(f"HFER (energy > {result.spectral.settings.cutoff:g} cyc/px)")
    axes.set_title("High-frequency energy ratio by depth")
    axes.legend(frameon=False)
    return _svg(figure, "HFER by layer depth, model against baseline")


@_styled
def probe_curves(result) -> list[tuple[str, str]]:
    """One chart per probe: accuracy (%) against the severity parameter."""
    section = result.probes
    if section is None or section.clean_accuracy is None:
        return []
    parameters = {p["name"]: p["parameter"] for p in section.probes}
    charts = []
    for probe in dict.fromkeys(r.probe for r in section.results):
        rows = sorted((r for r in section.results if r.probe == probe), key=lambda r: r.severity)
        figure = Figure(figsize=(3.2, 2.5))
        axes = figure.subplots()
        severities = [r.severity for r in rows]
        axes.plot(severities, [100 * r.accuracy for r in rows], label="model", **MODEL_STYLE)
        axes.axhline(
            100 * section.clean_accuracy, color=MODEL_STYLE["color"], linestyle=":", linewidth=1, label="model clean"
        )
        if any(r.baseline_accuracy is not None for r in rows):
            points = [(r.severity, 100 * r.baseline_accuracy) for r in rows if r.baseline_accuracy is not None]
            axes.plot(*zip(*points), label="baseline", **BASELINE_STYLE)
            if section.baseline_clean_accuracy is not None:
                axes.axhline(
                    100 * section.baseline_clean_accuracy,
                    color=BASELINE_STYLE["color"],
                    linestyle="-.",
                    linewidth=1,
                    label="baseline clean",
                )
        axes.set_ylim(0, 100)
        axes.set_xlabel(parameters.get(probe, "severity"), fontsize=8)
        axes.set_ylabel("accuracy (%)")
        axes.set_title(probe)
        axes.legend(frameon=False, fontsize=6)
        charts.append((probe, _svg(figure, f"accuracy under {probe} against severity")))
    return charts


@_styled
def fourier_heatmap_chart(result) -> str | None:
    section = result.probes
    if section is None or section.heatmap is None:
        return None
    heatmap = section.heatmap
    panels = [("model", heatmap.errors)] + ([("baseline", heatmap.baseline_errors)] if heatmap.baseline_errors else [])
    figure = Figure(figsize=(3.3 * len(panels), 3.0))
    axes_list = figure.subplots(1, len(panels), squeeze=False)
    height, width = len(heatmap.errors), len(heatmap.errors[0])
    extent = (-(width // 2) - 0.5, width - width // 2 - 0.5, height - height // 2 - 0.5, -(height // 2) - 0.5)
    for axes, (name, grid) in zip(axes_list[0], panels):
        image = axes.imshow([[100 * v for v in row] for row in grid], cmap="viridis", vmin=0, vmax=100, extent=extent)
        axes.set_title(f"{name}: error under Fourier noise (L2 {heatmap.norm:g})", fontsize=8)
        axes.set_xlabel("horizontal frequency (cycles/image)")
        axes.set_ylabel("vertical frequency (cycles/image)")
    figure.colorbar(image, ax=list(axes_list[0]), label="error rate (%)")
    return _svg(figure, "Fourier heat map of error rates")


@_styled
def track_heatmap(track) -> str:
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
def track_lines(track) -> str:
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
