"""Per-layer spectral profile of a model's convolution kernels.

Turns the :class:`~audit.loading.kernels.ConvKernel` list from loading into one
:class:`~audit.schema.LayerSpectrum` per layer, using the pure functions of
:mod:`audit.spectral.spectra`.
Layers with the same kernel size are stacked and measured together: one pass over
their weights builds each layer's slice second-moment matrix, and one FFT per kernel
size turns those into pooled power spectra (see :func:`audit.spectral.spectra.power_from_gram`).
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch

from audit.loading.kernels import ConvKernel
from audit.schema import LayerSpectrum, SpectralSettings, finite_or_none
from audit.spectral import spectra


def _describe(kernel: ConvKernel) -> LayerSpectrum:
    return LayerSpectrum(
        name=kernel.name,
        shape=list(kernel.shape),
        kernel_size=list(kernel.kernel_size),
        kind=kernel.kind,
        groups=kernel.groups,
        stride=list(kernel.stride) if kernel.stride is not None else None,
        dilation=list(kernel.dilation) if kernel.dilation is not None else None,
        transposed=kernel.transposed,
        slices=kernel.num_slices,
    )


def _mean_square(kernel: ConvKernel) -> float:
    return float(kernel.weight.detach().double().pow(2).mean()) if kernel.weight.numel() else math.nan


def _no_spectrum_note(kernel: ConvKernel) -> str:
    size = kernel.kernel_size
    if len(size) == 2:
        return "1x1 kernel: no spatial frequencies"
    return f"{len(size)}-D kernel ({'x'.join(map(str, size))}): no 2-D spectrum"


def measure_layers(
    kernels: list[ConvKernel],
    settings: SpectralSettings = SpectralSettings(),
    device: torch.device | str = "cpu",
) -> list[LayerSpectrum]:
    """Spectral profile of every layer, in the order of ``kernels``."""
    layers = [_describe(k) for k in kernels]
    by_size: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for position, kernel in enumerate(kernels):
        if kernel.has_2d_spectrum:
            by_size[kernel.kernel_size].append(position)
        else:
            layers[position].note = _no_spectrum_note(kernel)
            layers[position].mean_square = finite_or_none(_mean_square(kernel))
            layers[position].finite = bool(torch.isfinite(kernel.weight).all())

    for size, positions in by_size.items():
        _measure_same_size(
            [kernels[p] for p in positions], [layers[p] for p in positions], (size[0], size[1]), settings, device
        )
    return layers


CHUNK_VALUES = 1 << 20  # weights converted to float64 per pass: 8 MB, whatever the layer's size


def layer_moments(weight: torch.Tensor, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """One pass over a layer's weights, a chunk of output channels at a time:

    - G = sum_s vec(w_s) vec(w_s)^T over all slices (everything spectral about the
      layer's pooled power follows from it, see :func:`spectra.power_from_gram`);
    - G_c, the same with each output channel's slices scaled to unit total energy, so
      that a per-channel rescaling of the kernels (BatchNorm folded into them) leaves it
      unchanged;
    - whether every weight is finite.

    The weight is read in place (it may be memory-mapped from the checkpoint) and only
    a chunk is converted to float64 at a time, so peak memory stays near the layer itself.
    One batched product gives each output channel's own second-moment matrix; G and G_c
    are its sum and its energy-weighted sum, and a NaN or Inf weight shows on G's
    diagonal (a sum of squares), so no other pass over the weights is needed (4-5x
    faster than two products and a finiteness scan).
    """
    channels = weight.shape[0]
    taps = weight.shape[-1] * weight.shape[-2]
    per_channel = weight.reshape(channels, -1, taps)
    step = max(1, CHUNK_VALUES // max(1, per_channel.shape[1] * taps))
    gram = torch.zeros(taps, taps, dtype=torch.float64, device=device)
    channel_gram = torch.zeros_like(gram)
    for start in range(0, channels, step):
        chunk = per_channel[start : start + step].to(device=device, dtype=torch.float64)
        per = chunk.transpose(1, 2) @ chunk  # (channels in chunk, taps, taps)
        gram += per.sum(0)
        energy = per.diagonal(dim1=1, dim2=2).sum(-1)
        scale = torch.where(energy > 0, 1 / energy, torch.zeros_like(energy))
        channel_gram += (per * scale[:, None, None]).sum(0)
    return gram, channel_gram, bool(torch.isfinite(gram.diagonal()).all())


def _measure_same_size(
    kernels: list[ConvKernel],
    layers: list[LayerSpectrum],
    size: tuple[int, int],
    settings: SpectralSettings,
    device: torch.device | str,
) -> None:
    counts = [k.num_slices for k in kernels]
    moments = [layer_moments(k.weight.detach(), device) for k in kernels]
    gram = torch.stack([g for g, _, _ in moments])
    channel_gram = torch.stack([c for _, c, _ in moments])
    finite = [f for _, _, f in moments]

    native_power = spectra.power_from_gram(gram, size)
    native_radii = spectra.frequency_radii(size, device)
    if settings.fft_size is None:
        grid, power, radii = size, native_power, native_radii
        channel_power = spectra.power_from_gram(channel_gram, size)
    else:
        grid = (settings.fft_size, settings.fft_size)
        power = spectra.power_from_gram(gram, size, grid)
        radii = spectra.frequency_radii(grid, device)
        channel_power = spectra.power_from_gram(channel_gram, size, grid)

    bin_radii, energy = spectra.radial_energy(power, radii, rings=settings.fft_size if settings.rings else None)
    fractions = spectra.energy_fractions(energy).cpu()
    layer_hfer = spectra.hfer(power, radii, settings.cutoff).cpu()
    channel_hfer = spectra.hfer(channel_power, radii, settings.cutoff).cpu()
    paper_radii, ring_means = spectra.paper_ring_means(native_power, native_radii)
    paper_h = spectra.paper_high_fraction(ring_means).cpu()
    paper_profile = spectra.normalise_to_dc(ring_means).cpu()
    taps = size[0] * size[1]
    mean_square = (gram.diagonal(dim1=-2, dim2=-1).sum(-1).cpu() / (torch.tensor(counts) * taps)).tolist()

    reference_hfer = spectra.white_noise_hfer(grid, settings.cutoff)
    reference_paper_h = spectra.white_noise_paper_h(size)
    bin_radii_list = bin_radii.cpu().tolist()
    paper_radii_list = paper_radii.cpu().tolist()

    for i, layer in enumerate(layers):
        layer.white_noise_hfer = reference_hfer
        layer.white_noise_paper_h = reference_paper_h
        layer.mean_square = finite_or_none(mean_square[i])
        if not finite[i]:
            layer.finite = False
            layer.mean_square = None
            layer.note = "non-finite weights (NaN or Inf): no spectrum"
            continue
        if not math.isfinite(float(layer_hfer[i])):
            layer.note = "all weights are zero: no spectrum"
            continue
        layer.radii = bin_radii_list
        layer.radial_energy = fractions[i].tolist()
        layer.hfer = float(layer_hfer[i])
        layer.channel_hfer = finite_or_none(float(channel_hfer[i]))
        layer.paper_radii = paper_radii_list
        profile = paper_profile[i]
        layer.paper_profile = profile.tolist() if bool(torch.isfinite(profile).all()) else None
        layer.paper_h = finite_or_none(float(paper_h[i]))
