"""The verdict: a few sentences a reviewer reads first."""

from __future__ import annotations

import math

from audit.schema import Baseline, LayerSpectrum, SpectralSummary, TrackResult


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


def track_verdict(track: TrackResult) -> str:
    """One sentence about how the network HFER moved over a training run."""
    first, last = track.points[0], track.points[-1]
    if first.hfer is None or last.hfer is None:
        return "No layer with a 2-D spectrum: nothing to track."
    direction = "fell" if last.hfer < first.hfer else "rose"
    ssr = "n/a" if last.ssr is None else f"{last.ssr:.2f}"
    paper = "n/a" if last.paper_ssr is None else f"{last.paper_ssr:.3f}"
    return (
        f"Network HFER {direction} from {first.hfer:.3f} to {last.hfer:.3f} over {len(track.points)} checkpoints "
        f"(SSR of the last against the first {ssr}, paper-mode SSR {paper})."
    )
