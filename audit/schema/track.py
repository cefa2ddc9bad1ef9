"""The result of ``spectral-audit track``: a training run's checkpoints in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from audit.schema.common import SCHEMA_VERSION, RunInfo, SpectralSettings

# --- training runs (the track verb) --------------------------------------------------------


@dataclass
class TrackPoint:
    """One checkpoint of a training run. ``epoch`` is its position on the x axis (an
    epoch, a step, or its place in the file order: TrackResult.order says which)."""

    path: str
    epoch: int | None
    sha256: str
    hfer: float | None  # network HFER (slice-weighted)
    paper_h: float | None  # network paper-mode h (slice-weighted)
    paper_ssr: float | None  # network (h_first - h) / h_first: 0 for the first checkpoint
    ssr: float | None  # HFER(first) / HFER
    radial_profile: list[float]  # energy fractions per radius, all layers pooled by slice count
    layer_hfer: dict[str, float | None] = field(default_factory=dict)
    paper_protocol_ssr: float | None = None  # the seed paper's compute_ssr, first conv vs epoch 1


@dataclass
class TrackResult:
    points: list[TrackPoint]
    layers: list[str]
    bin_edges: list[float]  # the radii of radial_profile, cycles/pixel
    settings: SpectralSettings
    run: RunInfo | None = None
    kind: Literal["track"] = "track"
    schema_version: int = SCHEMA_VERSION
    order: str = "epoch key"  # where the x positions come from (see audit.loading.runs)
    x_label: str = "epoch"
    partial: bool = False  # layers differ between checkpoints: numbers over the common ones
    notes: list[str] = field(default_factory=list)
    paper_layer: str | None = None  # the paper protocol's layer and reference, when asked for
    paper_reference: str | None = None
