"""SSR of a model's layers against a baseline, and the network-wide summary.

The baseline is either the built-in white-noise reference (each layer against the
expected spectrum of i.i.d. weights on its own grid) or the layers of another model
(a checkpoint or a saved profile), matched by layer name.
"""

from __future__ import annotations

import math

from audit.schema import LayerSpectrum, SpectralSummary, Unmatched
from audit.spectral import spectra


def _nan_to_none(value: float) -> float | None:
    # An SSR may be infinite (no high-frequency energy at all) and says so; NaN says nothing.
    return None if math.isnan(value) else value


def compare_layers(layers: list[LayerSpectrum], baseline_layers: list[LayerSpectrum] | None) -> Unmatched:
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
        layer.ssr = _nan_to_none(spectra.suppression_ratio(base_hfer, layer.hfer))
        if layer.paper_h is not None and base_h is not None:
            layer.baseline_paper_h = base_h
            layer.paper_ssr = _nan_to_none(spectra.paper_suppression_ratio(base_h, layer.paper_h))
    return unmatched


def weighted_mean(pairs: list[tuple[float, int]]) -> float | None:
    """sum(value * weight) / sum(weight), None when there is no weight."""
    total = sum(weight for _, weight in pairs)
    return sum(value * weight for value, weight in pairs) / total if total else None


def summarise(layers: list[LayerSpectrum]) -> SpectralSummary:
    """Network-wide HFER and SSR over the layers that have a baseline value.

    Network HFER is the slice-weighted mean of layer HFERs (each layer's own weight
    scale does not matter); the baseline's is weighted by the same slice counts, and
    SSR = baseline / model. Paper-mode h is averaged the same way.
    """
    compared = [l for l in layers if l.hfer is not None and l.baseline_hfer is not None]
    hfer = weighted_mean([(l.hfer, l.slices) for l in compared])
    base = weighted_mean([(l.baseline_hfer, l.slices) for l in compared])
    paper = [l for l in compared if l.paper_h is not None and l.baseline_paper_h is not None]
    paper_h = weighted_mean([(l.paper_h, l.slices) for l in paper])
    base_h = weighted_mean([(l.baseline_paper_h, l.slices) for l in paper])
    ssr = _nan_to_none(spectra.suppression_ratio(base, hfer)) if hfer is not None and base is not None else None
    paper_ssr = (
        _nan_to_none(spectra.paper_suppression_ratio(base_h, paper_h))
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
