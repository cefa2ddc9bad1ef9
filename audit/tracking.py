"""Weight-frequency evolution over training: the spectral profile of each checkpoint of
a run, in training order, with the seed paper's SSR against the first one.

    spectral-audit track runs/exp1/            # every checkpoint in the folder
    spectral-audit track ep1.pt ep5.pt ep9.pt  # these files
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from audit import spectra
from audit.errors import AuditError
from audit.loading import load_checkpoint
from audit.loading.sniff import EXPECTED
from audit.profile import SpectralSettings, measure_layers

CHECKPOINT_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".pt2", ".safetensors", ".onnx"}
RADIAL_BINS = 8  # common radius bins (0 to sqrt(2)/2 cycles/pixel) for the epoch heat map
_EPOCH = re.compile(r"(?:epoch|ep|step|iter|e)[_\-=]?(\d+)", re.IGNORECASE)
_NUMBER = re.compile(r"(\d+)")


def epoch_of(path: Path) -> int | None:
    """The epoch number in a file name: after 'epoch'/'ep'/'step'..., else its last number."""
    stem = path.name.split(".")[0]
    match = _EPOCH.findall(stem) or _NUMBER.findall(stem)
    return int(match[-1]) if match else None


def order_checkpoints(paths: list[Path], order: str = "epoch") -> list[tuple[Path, int | None]]:
    """Expand folders, then sort by the epoch number in the name ('epoch') or keep the
    order given ('given')."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES)
            if not found:
                raise AuditError(f"{path} holds no checkpoint files ({', '.join(sorted(CHECKPOINT_SUFFIXES))}).")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise AuditError(f"{path}: no such file; {EXPECTED}.")
    if len(files) < 2:
        raise AuditError("track needs at least two checkpoints of one training run.")
    numbered = [(f, epoch_of(f)) for f in files]
    if order == "given":
        return numbered
    missing = [f.name for f, epoch in numbered if epoch is None]
    if missing:
        raise AuditError(f"no epoch number in {missing[0]}; name files like model_epoch_07.pt or use --order given.")
    epochs = [epoch for _, epoch in numbered]
    if len(set(epochs)) != len(epochs):
        raise AuditError("two checkpoints have the same epoch number; use --order given to keep your order.")
    return sorted(numbered, key=lambda item: item[1])


@dataclass
class TrackPoint:
    path: str
    epoch: int | None
    sha256: str
    hfer: float | None  # network HFER (slice-weighted)
    paper_h: float | None  # network paper-mode h (slice-weighted)
    paper_ssr: float | None  # (h_first - h) / h_first: 0 for the first checkpoint
    ssr: float | None  # HFER(first) / HFER
    radial_profile: list[float]  # energy fractions in RADIAL_BINS common bins, slice-weighted
    layer_hfer: dict[str, float | None] = field(default_factory=dict)


@dataclass
class TrackResult:
    points: list[TrackPoint]
    layers: list[str]
    bin_edges: list[float]
    settings: SpectralSettings
    run: object = None
    kind: str = "track"
    schema_version: int = 1


def track_json(result: TrackResult) -> str:
    """Strict JSON (non-finite numbers as null) of a track result."""
    import dataclasses
    import json

    from audit.result import _finite_only

    return json.dumps(_finite_only(dataclasses.asdict(result)), indent=2, allow_nan=False) + "\n"


def _network(layers, attribute: str) -> float | None:
    pairs = [(getattr(l, attribute), l.slices) for l in layers if getattr(l, attribute) is not None]
    total = sum(weight for _, weight in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def _common_bins(layers, edges: list[float]) -> list[float]:
    profile = [0.0] * RADIAL_BINS
    total = 0
    for layer in layers:
        if layer.radial_energy is None:
            continue
        for radius, fraction in zip(layer.radii, layer.radial_energy):
            index = min(RADIAL_BINS - 1, int(radius / edges[-1] * RADIAL_BINS))
            profile[index] += fraction * layer.slices
        total += layer.slices
    return [v / total for v in profile] if total else profile


def track(
    paths: list[Path],
    *,
    order: str = "epoch",
    settings: SpectralSettings = SpectralSettings(),
    device: torch.device | str = "cpu",
    allow_pickle: bool = False,
) -> TrackResult:
    ordered = order_checkpoints([Path(p) for p in paths], order)
    edges = [i * (math.sqrt(0.5) + 1e-9) / RADIAL_BINS for i in range(RADIAL_BINS + 1)]
    points: list[TrackPoint] = []
    names: list[str] = []
    for path, epoch in ordered:
        loaded = load_checkpoint(path, allow_pickle=allow_pickle)
        layers = measure_layers(loaded.kernels, settings, device)
        if not names:
            names = [l.name for l in layers]
        points.append(TrackPoint(
            path=str(path), epoch=epoch, sha256=loaded.sha256,
            hfer=_network(layers, "hfer"), paper_h=_network(layers, "paper_h"),
            paper_ssr=None, ssr=None, radial_profile=_common_bins(layers, edges),
            layer_hfer={l.name: l.hfer for l in layers},
        ))
    first = points[0]
    for point in points:
        if first.paper_h is not None and point.paper_h is not None:
            value = spectra.paper_suppression_ratio(first.paper_h, point.paper_h)
            point.paper_ssr = value if math.isfinite(value) else None
        if first.hfer is not None and point.hfer is not None:
            value = spectra.suppression_ratio(first.hfer, point.hfer)
            point.ssr = value if math.isfinite(value) else None
    return TrackResult(points=points, layers=names, bin_edges=edges, settings=settings)
