"""The spectral statistics a forecast could be made from, per model.

Each is one number per model, computed from an audit's layer spectra (no data):

    network_hfer      HFER of the whole network: slice-weighted mean over every layer
                      with a 2-D spectrum (the audit's network HFER)
    first_layer_hfer  HFER of the first such layer (the one that sees pixels)
    early_hfer        HFER of the first third of those layers, in network order
    middle_hfer       ... of the middle third
    late_hfer         ... of the last third
    paper_h           the seed paper's high-frequency share h, network-wide
    ssr_white         SSR against the white-noise reference
    ssr_init          SSR against the model's own initial weights (when they are given)
    padded_hfer       network HFER of the kernels' zero-padded 32x32 frequency response
    clean_accuracy    not spectral: the yardstick a statistic should beat, since a drop in
                      points is bounded by the clean accuracy

The first six can also be computed for a baseline from an audit against it (each layer
carries its baseline's HFER and h), which is what a forecast compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.schema import AuditResult, LayerSpectrum
from audit.spectral.comparison import weighted_mean

PADDED_FFT_SIZE = 32


@dataclass(frozen=True)
class Statistic:
    name: str
    label: str  # short, for tables and sentences: "first-layer HFER"
    description: str
    comparable: bool  # computable for a baseline from an audit against it


STATISTICS: dict[str, Statistic] = {
    s.name: s
    for s in (
        Statistic("network_hfer", "network HFER", "HFER of all layers (slice-weighted)", True),
        Statistic("first_layer_hfer", "first-layer HFER", "HFER of the first layer with a 2-D spectrum", True),
        Statistic("early_hfer", "early-stage HFER", "HFER of the first third of the layers", True),
        Statistic("middle_hfer", "middle-stage HFER", "HFER of the middle third of the layers", True),
        Statistic("late_hfer", "late-stage HFER", "HFER of the last third of the layers", True),
        Statistic("paper_h", "paper-mode h", "the seed paper's high-frequency share, all layers", True),
        Statistic("ssr_white", "SSR vs white noise", "SSR against the white-noise reference", False),
        Statistic("ssr_init", "SSR vs initialisation", "SSR against the model's own initial weights", False),
        Statistic(
            "padded_hfer",
            "zero-padded HFER",
            f"HFER of the {PADDED_FFT_SIZE}x{PADDED_FFT_SIZE} zero-padded response",
            False,
        ),
        # Not spectral: a yardstick. A drop in points is bounded by the clean accuracy, so a
        # statistic that tracks accuracy ranks drops too; this row shows how far that goes.
        Statistic("clean_accuracy", "clean accuracy (reference)", "the model's clean accuracy (not spectral)", False),
    )
}
REFERENCE = "clean_accuracy"


def _mean(layers: list[LayerSpectrum], field: str) -> float | None:
    return weighted_mean([(getattr(l, field), l.slices) for l in layers if getattr(l, field) is not None])


def spectral_statistics(layers: list[LayerSpectrum], baseline: bool = False) -> dict[str, float | None]:
    """network / first-layer / per-stage HFER and paper-mode h of ``layers``; with
    ``baseline``, the same statistics of the baseline each layer was compared with."""
    hfer_field, h_field = ("baseline_hfer", "baseline_paper_h") if baseline else ("hfer", "paper_h")
    spectral = [l for l in layers if l.hfer is not None and getattr(l, hfer_field) is not None]
    thirds: list[Any] = np.array_split(np.arange(len(spectral)), 3) if len(spectral) >= 3 else [[], [], []]
    early, middle, late = ([spectral[i] for i in part] for part in thirds)
    return {
        "network_hfer": _mean(spectral, hfer_field),
        "first_layer_hfer": getattr(spectral[0], hfer_field) if spectral else None,
        "early_hfer": _mean(early, hfer_field),
        "middle_hfer": _mean(middle, hfer_field),
        "late_hfer": _mean(late, hfer_field),
        "paper_h": _mean(spectral, h_field),
    }


def model_statistics(
    audit: AuditResult, padded_layers: list[LayerSpectrum] | None = None, ssr_init: float | None = None
) -> dict[str, float | None]:
    """Every statistic of one model, from its audit against the white-noise reference."""
    if audit.spectral.baseline.kind != "white-noise":
        raise ValueError("zoo statistics are computed from an audit against the white-noise reference")
    values = spectral_statistics(audit.spectral.layers)
    values["ssr_white"] = audit.spectral.summary.ssr
    values["ssr_init"] = ssr_init
    values["padded_hfer"] = _mean([l for l in padded_layers or [] if l.hfer is not None], "hfer")
    return values
