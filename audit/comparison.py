"""SSR of a model's layers against a baseline, and the network-wide summary.

The baseline is either the built-in white-noise reference (each layer against the
expected spectrum of i.i.d. weights on its own grid) or the layers of another model
(a checkpoint or a saved profile), matched by layer name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from audit import spectra
from audit.profile import LayerSpectrum


@dataclass
class Baseline:
    """What the model is compared with. kind: 'white-noise', 'checkpoint' or 'profile'."""

    kind: str = "white-noise"
    source: str | None = None
    sha256: str | None = None


@dataclass
class SpectralSummary:
    """Network-wide numbers: means over compared layers weighted by their slice counts."""

    hfer: float | None
    baseline_hfer: float | None
    ssr: float | None
    paper_h: float | None
    baseline_paper_h: float | None
    paper_ssr: float | None
    layers: int
    layers_compared: int
    layers_without_spectrum: int
    slices: int


@dataclass
class Unmatched:
    """Layer names present on one side only (only for a model baseline)."""

    model_only: list[str] = field(default_factory=list)
    baseline_only: list[str] = field(default_factory=list)


def _none_if_nan(value: float) -> float | None:
    return None if value is None or math.isnan(value) else value


def compare_layers(
    layers: list[LayerSpectrum], baseline_layers: list[LayerSpectrum] | None
) -> Unmatched:
    """Fill each layer's baseline_hfer, ssr, baseline_paper_h and paper_ssr in place.

    With ``baseline_layers`` None the white-noise reference is used. Otherwise layers
    are matched by name; names present on one side only are returned.
    """
    unmatched = Unmatched()
    by_name = {layer.name: layer for layer in baseline_layers or []}
    if baseline_layers is not None:
        names = {layer.name for layer in layers}
        unmatched.baseline_only = [l.name for l in baseline_layers if l.name not in names]

    for layer in layers:
        if baseline_layers is None:
            base_hfer, base_h = layer.white_noise_hfer, layer.white_noise_paper_h
        elif layer.name in by_name:
            base_hfer, base_h = by_name[layer.name].hfer, by_name[layer.name].paper_h
        else:
            unmatched.model_only.append(layer.name)
            continue
        if layer.hfer is None or base_hfer is None:
            continue
        layer.baseline_hfer = base_hfer
        layer.ssr = _none_if_nan(spectra.suppression_ratio(base_hfer, layer.hfer))
        if layer.paper_h is not None and base_h is not None:
            layer.baseline_paper_h = base_h
            layer.paper_ssr = _none_if_nan(spectra.paper_suppression_ratio(base_h, layer.paper_h))
    return unmatched


def _weighted_mean(pairs: list[tuple[float, int]]) -> float | None:
    total = sum(weight for _, weight in pairs)
    return sum(value * weight for value, weight in pairs) / total if total else None


def summarise(layers: list[LayerSpectrum]) -> SpectralSummary:
    """Network-wide HFER and SSR over the layers that have a baseline value.

    Network HFER is the slice-weighted mean of layer HFERs (each layer's own weight
    scale does not matter); the baseline's is weighted by the same slice counts, and
    SSR = baseline / model. Paper-mode h is averaged the same way.
    """
    compared = [l for l in layers if l.hfer is not None and l.baseline_hfer is not None]
    hfer = _weighted_mean([(l.hfer, l.slices) for l in compared])
    base = _weighted_mean([(l.baseline_hfer, l.slices) for l in compared])
    paper = [l for l in compared if l.paper_h is not None and l.baseline_paper_h is not None]
    paper_h = _weighted_mean([(l.paper_h, l.slices) for l in paper])
    base_h = _weighted_mean([(l.baseline_paper_h, l.slices) for l in paper])
    ssr = (
        _none_if_nan(spectra.suppression_ratio(base, hfer))
        if hfer is not None and base is not None
        else None
    )
    paper_ssr = (
        _none_if_nan(spectra.paper_suppression_ratio(base_h, paper_h))
        if paper_h is not None and base_h is not None
        else None
    )
    return SpectralSummary(
        hfer=hfer,
        baseline_hfer=base,
        ssr=ssr,
        paper_h=paper_h,
        baseline_paper_h=base_h,
        paper_ssr=paper_ssr,
        layers=len(layers),
        layers_compared=len(compared),
        layers_without_spectrum=sum(1 for l in layers if l.hfer is None),
        slices=sum(l.slices for l in compared),
    )


def verdict(summary: SpectralSummary, baseline: Baseline, layers: list[LayerSpectrum] | None = None) -> str:
    """One sentence a reviewer understands about the network-wide SSR."""
    broken = [l.name for l in layers or [] if not l.finite]
    if broken:
        return (
            f"{len(broken)} layer(s) hold NaN or Inf weights ({', '.join(broken[:3])}): the checkpoint is "
            f"broken; the spectra of the other layers are reported but do not describe a usable model."
        )
    against = "the white-noise reference" if baseline.kind == "white-noise" else "the baseline"
    if summary.ssr is None or summary.hfer is None or summary.baseline_hfer is None:
        return f"No layer could be compared with {against}: no SSR."
    numbers = f"(HFER {summary.hfer:.3f} vs {summary.baseline_hfer:.3f}, SSR {summary.ssr:.2f})"
    if math.isinf(summary.ssr):
        return f"The kernels hold no energy above the cutoff, unlike {against} {numbers}."
    if summary.ssr > 1.05:
        return f"The kernels suppress high frequencies {summary.ssr:.2f}x more than {against} {numbers}."
    if summary.ssr < 0.95:
        return (
            f"The kernels keep {1 / summary.ssr:.2f}x the high-frequency energy of {against} "
            f"{numbers}: expect sensitivity to blur and low resolution."
        )
    return f"The kernels' high-frequency share is close to {against} {numbers}."
