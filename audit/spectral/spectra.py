"""Radial spectra of convolution kernels: pure tensor functions, no I/O.

Conventions (see DESIGN.md, "Spectra of kernels"):

- A *slice* is one 2-D filter w of shape (kh, kw); a layer has C_out * C_in/groups of them.
- Power spectrum P(f) = |DFT2(w)(f)|^2, centred (fftshift), on the kernel's own kh x kw
  grid or on a zero-padded N x N grid.
- Frequencies are in cycles/pixel: per axis those of ``fftfreq(n)``, e.g. {-1/3, 0, 1/3}
  for n = 3; the radius of a grid point is sqrt(fy^2 + fx^2).
- Parseval on the native grid: sum_f P(f) = kh * kw * sum w^2 (N^2 * sum w^2 on N x N).
- HFER = sum of P over radius > cutoff / sum of P (cutoff 0.25 = half the Nyquist
  frequency). It is a ratio, so a layer's overall scale does not matter.

Everything here takes and returns tensors; a layer is reduced to its *pooled* power
grid (the sum of P over its slices) from which every per-layer number follows.
"""

from __future__ import annotations

import math

import torch

from audit.schema import HFER_CUTOFF  # 0.25 cycles/pixel, half the Nyquist frequency

_RADIUS_DECIMALS = 9  # distinct radii are compared after rounding to this many decimals


def frequency_radii(grid: tuple[int, int], device: torch.device | str | None = None) -> torch.Tensor:
    """Radius in cycles/pixel of every point of a centred (fftshifted) grid, float64 (H, W)."""
    height, width = grid
    fy = torch.fft.fftshift(torch.fft.fftfreq(height, dtype=torch.float64, device=device))
    fx = torch.fft.fftshift(torch.fft.fftfreq(width, dtype=torch.float64, device=device))
    return torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)


def slice_gram(slices: torch.Tensor, counts: list[int] | None = None) -> torch.Tensor:
    """Second-moment matrix G = sum_s vec(w_s) vec(w_s)^T of each group of slices.

    slices: (S, kh, kw); counts: sizes of consecutive groups (default: one group).
    Returns float64 (groups, kh*kw, kh*kw). Everything spectral about a layer's pooled
    power follows from G, and computing it is one matmul over the slices.
    """
    flat = slices.reshape(slices.shape[0], -1).to(torch.float64)
    parts = torch.split(flat, counts) if counts is not None else (flat,)
    return torch.stack([part.T @ part for part in parts])


def _lag_positions(kernel: tuple[int, int], grid: tuple[int, int], device: torch.device | str) -> torch.Tensor:
    """Flat index on the H x W grid of the lag (q - p) mod grid, for every tap pair (p, q)."""
    kh, kw = kernel
    height, width = grid
    py, px = torch.meshgrid(torch.arange(kh, device=device), torch.arange(kw, device=device), indexing="ij")
    py, px = py.reshape(-1), px.reshape(-1)
    lag_y = (py[None, :] - py[:, None]) % height
    lag_x = (px[None, :] - px[:, None]) % width
    return (lag_y * width + lag_x).reshape(-1)


def power_from_gram(gram: torch.Tensor, kernel: tuple[int, int], grid: tuple[int, int] | None = None) -> torch.Tensor:
    """Pooled centred power spectrum on an H x W grid from slice second moments.

    Wiener-Khinchin: sum_s |DFT_N(w_s)|^2 is the DFT of the pooled autocorrelation
    R[d] = sum_s sum_p w_s[p] w_s[p + d], wrapped modulo the grid (the wrap is what
    zero-padding to N, or sampling on the native grid, does to the lags). R is read off
    G, so the cost does not grow with the number of slices or the grid size.
    gram: (..., kh*kw, kh*kw) -> float64 (..., H, W), centred (fftshift).
    """
    height, width = grid or kernel
    lead = gram.shape[:-2]
    flat = gram.reshape(-1, gram.shape[-1] * gram.shape[-1])
    autocorrelation = torch.zeros(flat.shape[0], height * width, dtype=torch.float64, device=gram.device)
    autocorrelation.index_add_(1, _lag_positions(kernel, (height, width), gram.device), flat)
    power = torch.fft.fft2(autocorrelation.reshape(-1, height, width)).real
    # R is symmetric, so its DFT is real and >= 0; clamp the rounding noise below 0.
    power = torch.fft.fftshift(power.clamp_min(0.0), dim=(-2, -1))
    return power.reshape(*lead, height, width)


def pooled_power_spectrum(
    slices: torch.Tensor,
    grid: tuple[int, int] | None = None,
    counts: list[int] | None = None,
) -> torch.Tensor:
    """Sum over slices of the centred power spectra |DFT2(w)|^2, float64.

    slices: (S, kh, kw) real filters. grid: (H, W) to zero-pad to, default (kh, kw).
    counts: sizes of consecutive groups of slices (one per layer), so the layers that
    share a kernel size share one call; returns (groups, H, W) then, else (H, W).
    """
    if slices.dim() != 3:
        raise ValueError(f"expected (S, kh, kw) slices, got shape {tuple(slices.shape)}")
    kernel = (int(slices.shape[-2]), int(slices.shape[-1]))
    power = power_from_gram(slice_gram(slices, counts), kernel, grid)
    return power if counts is not None else power[0]


def distinct_radius_bins(radii: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Group grid points by exact radius: (sorted distinct radii, bin index per point).

    This is the "discrete radial profiling" of the seed paper: a 3x3 grid has exactly
    three radii, 0, 1/3 and sqrt(2)/3, and no interpolation invents others.
    """
    scale = 10.0**_RADIUS_DECIMALS
    rounded = torch.round(radii * scale)
    keys, inverse = torch.unique(rounded, sorted=True, return_inverse=True)
    return keys / scale, inverse


def ring_bins(radii: torch.Tensor, fft_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rings of width 1/N centred on k/N cycles/pixel: (ring radii, ring index per point)."""
    index = torch.round(radii * fft_size).long()
    used, inverse = torch.unique(index, sorted=True, return_inverse=True)
    return used.to(torch.float64) / fft_size, inverse


def _bin_reduce(power: torch.Tensor, inverse: torch.Tensor, num_bins: int) -> torch.Tensor:
    """Sum of ``power`` (..., H, W) over the points of each bin: (..., num_bins)."""
    flat = power.reshape(*power.shape[:-2], -1)
    out = torch.zeros(*flat.shape[:-1], num_bins, dtype=flat.dtype, device=flat.device)
    return out.index_add_(-1, inverse.reshape(-1), flat)


def radial_energy(
    power: torch.Tensor, radii: torch.Tensor, rings: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Energy per radius: (radii of the bins, summed power in each bin).

    power: (..., H, W) pooled power grid; radii: (H, W) from :func:`frequency_radii`.
    ``rings=N`` bins into rings of width 1/N instead of distinct radii.
    """
    values, inverse = ring_bins(radii, rings) if rings else distinct_radius_bins(radii)
    return values, _bin_reduce(power, inverse, values.numel())


def energy_fractions(energy: torch.Tensor) -> torch.Tensor:
    """Energy per bin over total energy (sums to 1; NaN where the total is 0)."""
    total = energy.sum(dim=-1, keepdim=True)
    return energy / total


def hfer(power: torch.Tensor, radii: torch.Tensor, cutoff: float = HFER_CUTOFF) -> torch.Tensor:
    """High-frequency energy ratio: power at radius > cutoff over total power.

    power (..., H, W) -> (...). NaN where the total power is 0 (an all-zero kernel).
    A point exactly at the cutoff counts as low frequency.
    """
    high = radii > cutoff + 10.0**-_RADIUS_DECIMALS
    total = power.sum(dim=(-2, -1))
    return (power * high).sum(dim=(-2, -1)) / total


def white_noise_hfer(grid: tuple[int, int], cutoff: float = HFER_CUTOFF) -> float:
    """Expected HFER of i.i.d. weights: the fraction of grid points above the cutoff.

    For i.i.d. zero-mean weights E|DFT(w)(f)|^2 = kh*kw*sigma^2 at every f (flat power),
    on the native grid and on any zero-padded one, so the expected energy fraction above
    the cutoff is the fraction of grid points there (8/9 for 3x3 at 0.25).
    """
    radii = frequency_radii(grid)
    return float((radii > cutoff + 10.0**-_RADIUS_DECIMALS).double().mean())


def paper_ring_means(power: torch.Tensor, radii: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The seed paper's radial profile: mean power over the points of each distinct radius.

    power (..., H, W) -> (radii (B,), ring means (..., B)). Averaging per slice and then
    over slices equals averaging the pooled power, because both are linear; callers
    normalise by DC (bin 0) for display with :func:`normalise_to_dc`.
    """
    values, inverse = distinct_radius_bins(radii)
    sums = _bin_reduce(power, inverse, values.numel())
    counts = torch.bincount(inverse.reshape(-1), minlength=values.numel()).to(sums.dtype)
    return values, sums / counts


def normalise_to_dc(profile: torch.Tensor) -> torch.Tensor:
    """Divide a radial profile by its DC bin (NaN where DC is 0)."""
    return profile / profile[..., :1]


def paper_high_start(num_bins: int) -> int:
    """First bin the paper counts as high frequency: max(1, floor(0.5 * n_bins))."""
    return max(1, math.floor(0.5 * num_bins))


def paper_high_fraction(ring_means: torch.Tensor) -> torch.Tensor:
    """Paper-mode h = sum of bins from :func:`paper_high_start` / sum of all bins.

    Scale-free, so normalising the profile to DC first does not change it.
    ring_means (..., B) -> (...). NaN where all bins are 0.
    """
    start = paper_high_start(ring_means.shape[-1])
    return ring_means[..., start:].sum(dim=-1) / ring_means.sum(dim=-1)


def white_noise_paper_h(grid: tuple[int, int]) -> float:
    """Paper-mode h of i.i.d. weights: flat ring means, so (B - start) / B (2/3 for 3x3)."""
    num_bins = distinct_radius_bins(frequency_radii(grid))[0].numel()
    return (num_bins - paper_high_start(num_bins)) / num_bins


def suppression_ratio(baseline_hfer: float, model_hfer: float) -> float:
    """SSR = HFER(baseline) / HFER(model); > 1 means the model is more low-pass.

    Returns inf when the model has no high-frequency energy and the baseline does,
    NaN when either is undefined or both are 0.
    """
    if not (math.isfinite(baseline_hfer) and math.isfinite(model_hfer)):
        return math.nan
    if model_hfer == 0:
        return math.inf if baseline_hfer > 0 else math.nan
    return baseline_hfer / model_hfer


def paper_suppression_ratio(reference_h: float, model_h: float) -> float:
    """The seed paper's SSR = (h_ref - h) / h_ref: 0 for the reference itself."""
    if not (math.isfinite(reference_h) and math.isfinite(model_h)) or reference_h == 0:
        return math.nan
    return (reference_h - model_h) / reference_h
