"""The Fourier heat map's perturbations (Yin et al. 2019): pure tensor functions."""

from __future__ import annotations

import math
from typing import Any

import torch

from audit.probes.noise import random_signs


def fourier_basis(height: int, width: int, u: int, v: int, device: torch.device | None = None) -> torch.Tensor:
    """Real Fourier basis image of frequency (u, v) cycles/image with unit L2 norm (H, W):
    cos(theta) + sin(theta) = sqrt(2) cos(theta - pi/4), theta = 2 pi (u y / H + v x / W).

    The basis of Yin et al.'s heat map is a single Fourier coefficient; gatheluck's public
    implementation builds it as irfft of a one-hot spectrum, which is cos(theta). Ours is
    the same frequency shifted by pi/4 in phase; the perturbation has the same norm and
    random sign, so the maps agree up to that phase.
    """
    y = torch.arange(height, device=device, dtype=torch.float32)[:, None]
    x = torch.arange(width, device=device, dtype=torch.float32)[None, :]
    phase = 2 * math.pi * (u * y / height + v * x / width)
    basis = torch.cos(phase) + torch.sin(phase)
    return basis / basis.norm()


def fourier_perturbation(images: torch.Tensor, basis: torch.Tensor, norm: float, generator: Any) -> torch.Tensor:
    """x + r * norm * basis per image and channel, r = +-1 at random, clipped (Yin et al. 2019)."""
    signs = random_signs((images.shape[0], images.shape[1], 1, 1), generator, images.device, images.dtype)
    return (images + signs * norm * basis).clamp_(0.0, 1.0)


def heatmap_frequencies(height: int, width: int) -> list[tuple[int, int]]:
    """One frequency of each +- pair ((u, v) and (-u, -v) give the same basis image):
    u in [-H/2, H/2), v in [0, W/2], and on the columns v = 0 and v = W/2 (which are their
    own mirror) only u >= 0 and u = -H/2. For 32 x 32: 514 frequencies, not 544."""
    self_mirrored_columns = {0} | ({width // 2} if width % 2 == 0 else set())
    lowest = -(height // 2)
    return [
        (u, v)
        for u in range(lowest, (height + 1) // 2)
        for v in range(0, width // 2 + 1)
        if v not in self_mirrored_columns or u >= 0 or (u == lowest and height % 2 == 0)
    ]
