"""How a training run's spectra evolve: one point per checkpoint, compared with the first.

Pure functions over measured layers; loading the checkpoints in order is the caller's.
"""

from __future__ import annotations

import math

from audit.schema import LayerSpectrum, TrackPoint, finite_or_none
from audit.spectral import spectra
from audit.spectral.comparison import weighted_mean

RADIAL_BINS = 8  # common radius bins (0 to sqrt(2)/2 cycles/pixel) for the epoch heat map
BIN_EDGES = [i * (math.sqrt(0.5) + 1e-9) / RADIAL_BINS for i in range(RADIAL_BINS + 1)]


def common_bins(layers: list[LayerSpectrum], edges: list[float] = BIN_EDGES) -> list[float]:
    """Energy fractions of all layers pooled (slice-weighted) into common radius bins."""
    bins = len(edges) - 1
    profile = [0.0] * bins
    total = 0
    for layer in layers:
        if layer.radial_energy is None:
            continue
        for radius, fraction in zip(layer.radii, layer.radial_energy):
            index = min(bins - 1, int(radius / edges[-1] * bins))
            profile[index] += fraction * layer.slices
        total += layer.slices
    return [v / total for v in profile] if total else profile


def track_point(path: str, epoch: int | None, sha256: str, layers: list[LayerSpectrum]) -> TrackPoint:
    """Network numbers of one checkpoint (its comparison with the first is added later)."""
    return TrackPoint(
        path=path,
        epoch=epoch,
        sha256=sha256,
        hfer=weighted_mean([(l.hfer, l.slices) for l in layers if l.hfer is not None]),
        paper_h=weighted_mean([(l.paper_h, l.slices) for l in layers if l.paper_h is not None]),
        paper_ssr=None,
        ssr=None,
        radial_profile=common_bins(layers),
        layer_hfer={l.name: l.hfer for l in layers},
    )


def compare_with_first(points: list[TrackPoint]) -> None:
    """Fill each point's SSR and paper-mode SSR against the first point, in place."""
    first = points[0]
    for point in points:
        if first.paper_h is not None and point.paper_h is not None:
            point.paper_ssr = finite_or_none(spectra.paper_suppression_ratio(first.paper_h, point.paper_h))
        if first.hfer is not None and point.hfer is not None:
            point.ssr = finite_or_none(spectra.suppression_ratio(first.hfer, point.hfer))
