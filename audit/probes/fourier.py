"""The Fourier heat map's perturbations (Yin et al. 2019): pure tensor functions."""

from __future__ import annotations

import math

import torch


def fourier_basis(height: int, width: int, u: int, v: int, device=None) -> torch.Tensor:
    """Real Fourier basis image of frequency (u, v) cycles/image with unit L2 norm (H, W)."""
    y = torch.arange(height, device=device, dtype=torch.float32)[:, None]
    x = torch.arange(width, device=device, dtype=torch.float32)[None, :]
    phase = 2 * math.pi * (u * y / height + v * x / width)
    basis = torch.cos(phase) + torch.sin(phase)  # never identically 0, unlike cos or sin alone
    return basis / basis.norm()


def fourier_perturbation(images: torch.Tensor, basis: torch.Tensor, norm: float, generator) -> torch.Tensor:
    """x + r * norm * basis per image and channel, r = +-1 at random, clipped (Yin et al. 2019)."""
    signs = torch.randint(0, 2, (images.shape[0], images.shape[1], 1, 1), generator=generator, device=images.device)
    return (images + (2 * signs - 1).to(images.dtype) * norm * basis).clamp_(0.0, 1.0)


def heatmap_frequencies(height: int, width: int) -> list[tuple[int, int]]:
    """One frequency per +-pair: u in [-H/2, H/2), v in [0, W/2] (the rest are mirror images)."""
    return [(u, v) for u in range(-(height // 2), (height + 1) // 2) for v in range(0, width // 2 + 1)]
