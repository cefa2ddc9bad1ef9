"""How a training run's spectra evolve: one point per checkpoint, compared with the first.

Pure functions over measured layers; loading the checkpoints and ordering them is the
caller's (:mod:`audit.loading.runs`).
"""

from __future__ import annotations

from audit.schema import LayerSpectrum, TrackPoint, finite_or_none
from audit.spectral import spectra
from audit.spectral.comparison import weighted_mean


def pooled_radial_profile(layers: list[LayerSpectrum]) -> tuple[list[float], list[float]]:
    """(radii, energy fractions) of all layers pooled by slice count, each layer on its
    own true radii: the radii are the union of the layers' distinct radii (three for a
    network of 3x3 kernels: 0, 1/3, sqrt(2)/3), never common bins a kernel cannot have."""
    energy: dict[float, float] = {}
    total = 0
    for layer in layers:
        if layer.radial_energy is None or layer.radii is None:
            continue
        for radius, fraction in zip(layer.radii, layer.radial_energy):
            key = round(radius, 9)
            energy[key] = energy.get(key, 0.0) + fraction * layer.slices
        total += layer.slices
    radii = sorted(energy)
    return radii, [energy[r] / total for r in radii] if total else []


def track_point(path: str, position: int | None, sha256: str, layers: list[LayerSpectrum]) -> TrackPoint:
    """Network numbers of one checkpoint (its comparison with the first is added later)."""
    _, profile = pooled_radial_profile(layers)
    return TrackPoint(
        path=path,
        epoch=position,
        sha256=sha256,
        hfer=weighted_mean([(l.hfer, l.slices) for l in layers if l.hfer is not None]),
        paper_h=weighted_mean([(l.paper_h, l.slices) for l in layers if l.paper_h is not None]),
        paper_ssr=None,
        ssr=None,
        radial_profile=profile,
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
