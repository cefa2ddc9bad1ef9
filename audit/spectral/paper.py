"""The seed paper's own SSR protocol, reproduced exactly (``track --paper``).

*Frequency Regularization* (its public code, ``utils/frequency.py`` and
``experiments/exp_b_spectrum_evolution.py``) measures the **first conv layer** only:

- ``analyze_weight_spectrum(weight, normalize=True)``: for kernels of at most 7 x 7, per
  slice the fftshifted |DFT|^2, averaged over the points at each distinct distance from
  the centre pixel (in pixels, not cycles/pixel), averaged over slices, divided by the DC
  value (or by its maximum when DC is ~0); for larger kernels, the mean kernel over all
  channels, its fftshifted |DFT|^2 averaged over integer-distance rings 0 .. min(H, W)//2
  - 1, divided by its sum;
- ``compute_ssr(before, after, 0.5)``: h = sum of bins from max(1, int(0.5 n)) (or the last
  bin when that is past the end) over the sum of all bins, 0 when the total is < 1e-12;
  SSR = (h_before - h_after) / h_before, 0 when h_before < 1e-12;
- ``before`` is the spectrum after the first epoch (epoch 1), ``after`` a later one.

This differs from spectral-audit's network numbers (all layers, energy not ring means,
the white-noise or epoch-0 reference), so both are reported, each under its own name.
"""

from __future__ import annotations

import torch

from audit.loading.kernels import ConvKernel

_SMALL_KERNEL = 7  # the paper's branch point between its two spectrum functions


def _pixel_distance_bins(height: int, width: int) -> tuple[torch.Tensor, int]:
    """Bin index of each point of an fftshifted grid by its distance in pixels from the
    centre (height//2, width//2), distinct distances sorted; and the number of bins."""
    y = torch.arange(height, dtype=torch.float64)[:, None] - height // 2
    x = torch.arange(width, dtype=torch.float64)[None, :] - width // 2
    distance = torch.sqrt(y**2 + x**2)
    _, inverse = torch.unique(torch.round(distance * 1e9), sorted=True, return_inverse=True)
    return inverse, int(inverse.max()) + 1


def weight_spectrum(weight: torch.Tensor) -> torch.Tensor:
    """The paper's ``analyze_weight_spectrum(weight, normalize=True)`` of a 4-D conv
    weight (C_out, C_in, kh, kw), float64."""
    weight = weight.detach().to(torch.float64)
    height, width = weight.shape[-2:]
    if min(height, width) <= _SMALL_KERNEL:
        slices = weight.reshape(-1, height, width)
        power = torch.fft.fftshift(torch.fft.fft2(slices).abs() ** 2, dim=(-2, -1)).sum(dim=0) / slices.shape[0]
        inverse, count = _pixel_distance_bins(height, width)
        sums = torch.zeros(count, dtype=torch.float64).index_add_(0, inverse.reshape(-1), power.reshape(-1))
        means = sums / torch.bincount(inverse.reshape(-1), minlength=count).to(torch.float64)
        if means[0] > 1e-8:
            return means / means[0]
        return means / (means.max() + 1e-8) if means.max() > 1e-8 else means
    mean_kernel = weight.mean(dim=(0, 1))
    power = torch.fft.fftshift(torch.fft.fft2(mean_kernel).abs() ** 2)
    y = torch.arange(height, dtype=torch.float64)[:, None] - height // 2
    x = torch.arange(width, dtype=torch.float64)[None, :] - width // 2
    radius = torch.sqrt(y**2 + x**2).to(torch.int64)  # truncation, as numpy's astype(int)
    rings = min(height, width) // 2
    profile = torch.zeros(rings, dtype=torch.float64)
    for r in range(rings):
        inside = radius == r
        if inside.any():
            profile[r] = power[inside].mean()
    return profile / profile.sum() if profile.sum() > 0 else profile


def high_fraction(spectrum: torch.Tensor, threshold: float = 0.5) -> float:
    """The paper's high-frequency share of a spectrum (part of ``compute_ssr``)."""
    count = spectrum.numel()
    start = max(1, int(count * threshold))
    if start >= count:
        start = max(1, count - 1)
    total = float(spectrum.sum())
    return 0.0 if total < 1e-12 else float(spectrum[start:].sum()) / total


def compute_ssr(before: torch.Tensor, after: torch.Tensor, threshold: float = 0.5) -> float:
    """The paper's ``compute_ssr(before, after, threshold)[0]``: spectra cut to the shorter."""
    length = min(before.numel(), after.numel())
    h_before = high_fraction(before.reshape(-1)[:length], threshold)
    h_after = high_fraction(after.reshape(-1)[:length], threshold)
    return 0.0 if h_before < 1e-12 else (h_before - h_after) / h_before


def first_conv(kernels: list[ConvKernel]) -> tuple[str, torch.Tensor] | None:
    """The paper's layer: the first 4-D conv weight (``model.conv1`` in its ResNet)."""
    for kernel in kernels:
        if kernel.weight.dim() == 4 and kernel.weight.shape[-1] * kernel.weight.shape[-2] > 1:
            return kernel.name, kernel.weight
    return None
