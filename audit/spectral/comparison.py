"""SSR of a model's layers against a baseline, and the network-wide summary.

The baseline is either the built-in white-noise reference (each layer against the
expected spectrum of i.i.d. weights on its own grid) or the layers of another model (a
checkpoint or a saved profile). Two models are compared only when they have the same
architecture: the same conv layers by name and shape, or, when only the names differ
(an export that renamed them), the same shapes in the same order. Anything else is
refused unless a partial comparison is asked for, and then the summary says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from audit.errors import AuditError
from audit.schema import LayerSpectrum, MatchedBy, SpectralSummary, Unmatched
from audit.spectral import spectra

FULL, PARTIAL = "full", "partial"
RESCALED_TOLERANCE = 1e-6  # relative: channel-normalised HFERs this close are the same kernels


def _nan_to_none(value: float) -> float | None:
    # An SSR may be infinite (no high-frequency energy at all) and says so; NaN says nothing.
    return None if math.isnan(value) else value


@dataclass
class LayerMatch:
    """Which model layer is compared with which baseline layer, and how they were paired."""

    pairs: list[tuple[LayerSpectrum, LayerSpectrum]]
    by: MatchedBy  # "name", "position" (renamed layers) or "partial" (common names only)
    unmatched: Unmatched = field(default_factory=Unmatched)
    note: str | None = None


def _describe_difference(layers: list[LayerSpectrum], baseline: list[LayerSpectrum]) -> str:
    ours = {l.name: tuple(l.shape) for l in layers}
    theirs = {l.name: tuple(l.shape) for l in baseline}
    common = set(ours) & set(theirs)
    reshaped = [name for name in common if ours[name] != theirs[name]]
    text = (
        f"the model has {len(layers)} conv layers and the baseline {len(baseline)}; {len(common)} names are in common"
    )
    if reshaped:
        text += f", {len(reshaped)} of them with another shape (e.g. {reshaped[0]}: {ours[reshaped[0]]} vs "
        text += f"{theirs[reshaped[0]]})"
    only = [name for name in ours if name not in theirs][:2]
    if only:
        text += f"; only in the model: {', '.join(only)}..."
    return text


def match_layers(layers: list[LayerSpectrum], baseline: list[LayerSpectrum], allow_partial: bool = False) -> LayerMatch:
    """Pair the model's layers with the baseline's: by name when the architecture is the
    same, by position when only the names differ, by common names only when allowed."""
    names = [l.name for l in layers]
    base_names = [l.name for l in baseline]
    shapes = [tuple(l.shape) for l in layers]
    base_shapes = [tuple(l.shape) for l in baseline]
    by_name = {l.name: l for l in baseline}
    if sorted(names) == sorted(base_names) and all(tuple(by_name[l.name].shape) == tuple(l.shape) for l in layers):
        return LayerMatch([(l, by_name[l.name]) for l in layers], "name")
    if shapes == base_shapes:
        renamed = [(a, b) for a, b in zip(names, base_names) if a != b]
        example = f"{renamed[0][0]} <-> {renamed[0][1]}"
        return LayerMatch(
            list(zip(layers, baseline)),
            "position",
            note=f"the layers have other names but the same shapes in the same order; matched by position "
            f"({len(renamed)} renamed, e.g. {example})",
        )
    if not allow_partial:
        raise AuditError(
            f"the model and the baseline are different architectures: {_describe_difference(layers, baseline)}. "
            "An SSR between them would compare unrelated layers.",
            hint="Choose a baseline of the same architecture, or compare the common layers only with {match} partial.",
            code="mismatch",
        )
    pairs = [
        (l, by_name[l.name]) for l in layers if l.name in by_name and tuple(by_name[l.name].shape) == tuple(l.shape)
    ]
    if not pairs:
        raise AuditError(
            f"the model and the baseline share no conv layer of the same name and shape: "
            f"{_describe_difference(layers, baseline)}.",
            code="mismatch",
        )
    paired = {id(a) for a, _ in pairs}
    paired_base = {id(b) for _, b in pairs}
    unmatched = Unmatched(
        model_only=[l.name for l in layers if id(l) not in paired],
        baseline_only=[l.name for l in baseline if id(l) not in paired_base],
    )
    return LayerMatch(
        pairs,
        "partial",
        unmatched,
        note=f"partial comparison: {len(pairs)} of {len(layers)} conv layers have a counterpart",
    )


def compare_layers(layers: list[LayerSpectrum], match: LayerMatch | None) -> list[str]:
    """Fill each layer's baseline_hfer, ssr, baseline_paper_h and paper_ssr in place
    (``match`` None: the white-noise reference). Returns the layers whose kernels are the
    baseline's rescaled per output channel (BatchNorm folded into them): same
    channel-normalised spectrum, different plain one."""
    if match is not None and match.by == PARTIAL:
        # Another architecture: a layer of one is not the same layer of the other because
        # it has the same name (ResNet-56's layer3.0 sits at another depth than
        # ResNet-20's), so only whole networks are compared (see summarise).
        return []
    pairs = [(l, None) for l in layers] if match is None else match.pairs
    rescaled = []
    for layer, base in pairs:
        if base is None:
            base_hfer, base_h = layer.white_noise_hfer, layer.white_noise_paper_h
        else:
            base_hfer, base_h = base.hfer, base.paper_h
        if layer.hfer is None or base_hfer is None:
            continue
        layer.baseline_hfer = base_hfer
        layer.ssr = _nan_to_none(spectra.suppression_ratio(base_hfer, layer.hfer))
        if layer.paper_h is not None and base_h is not None:
            layer.baseline_paper_h = base_h
            layer.paper_ssr = _nan_to_none(spectra.paper_suppression_ratio(base_h, layer.paper_h))
        if base is not None and _rescaled(layer, base):
            rescaled.append(layer.name)
    return rescaled


def _rescaled(layer: LayerSpectrum, base: LayerSpectrum) -> bool:
    if layer.channel_hfer is None or base.channel_hfer is None or layer.hfer is None or base.hfer is None:
        return False
    if layer.hfer == base.hfer:
        return False
    same_shape = abs(layer.channel_hfer - base.channel_hfer) <= RESCALED_TOLERANCE * max(base.channel_hfer, 1e-12)
    return same_shape and abs(layer.hfer - base.hfer) > RESCALED_TOLERANCE * max(base.hfer, 1e-12)


def weighted_mean(pairs: list[tuple[float | None, int]]) -> float | None:
    """sum(value * weight) / sum(weight) over the pairs with a value, None when there is
    no weight."""
    known = [(value, weight) for value, weight in pairs if value is not None]
    total = sum(weight for _, weight in known)
    return sum(value * weight for value, weight in known) / total if total else None


def summarise(
    layers: list[LayerSpectrum],
    match: LayerMatch | None = None,
    rescaled: list[str] | None = None,
    baseline_layers: list[LayerSpectrum] | None = None,
) -> SpectralSummary:
    """Network-wide HFER and SSR over the layers that have a baseline value.

    Network HFER is the slice-weighted mean of layer HFERs (each layer's own weight
    scale does not matter); the baseline's is weighted by the same slice counts, and
    SSR = baseline / model. Paper-mode h is averaged the same way. A partial match
    (another architecture) compares whole networks: each side's network HFER over all of
    its own layers (``baseline_layers``), weighted by its own slices.
    """
    if match is not None and match.by == PARTIAL and baseline_layers is not None:
        compared = [l for l in layers if l.hfer is not None]
        theirs = [l for l in baseline_layers if l.hfer is not None]
        hfer = weighted_mean([(l.hfer, l.slices) for l in compared])
        base = weighted_mean([(l.hfer, l.slices) for l in theirs])
        paper_h = weighted_mean([(l.paper_h, l.slices) for l in compared if l.paper_h is not None])
        base_h = weighted_mean([(l.paper_h, l.slices) for l in theirs if l.paper_h is not None])
    else:
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
        matched_by=match.by if match is not None else None,
        rescaled_layers=list(rescaled or []),
        match_note=match.note if match is not None else None,
    )
