"""Per-layer spectral profile of a model's convolution kernels.

Turns the :class:`~audit.model.ConvKernel` list from loading into one
:class:`LayerSpectrum` per layer, using the pure functions of :mod:`audit.spectra`.
Layers with the same kernel size are stacked and measured together: one pass over
their weights builds each layer's slice second-moment matrix, and one FFT per kernel
size turns those into pooled power spectra (see :func:`audit.spectra.power_from_gram`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import torch

from audit import spectra
from audit.model import ConvKernel


@dataclass(frozen=True)
class SpectralSettings:
    """How spectra are measured; a baseline must be measured the same way.

    cutoff: HFER cutoff radius in cycles/pixel.
    fft_size: None for the kernel's own grid, N for a zero-padded N x N grid.
    rings: with ``fft_size``, bin radii into rings of width 1/N instead of distinct values.
    """

    cutoff: float = spectra.HFER_CUTOFF
    fft_size: int | None = None
    rings: bool = False

    @property
    def binning(self) -> str:
        if self.fft_size is None:
            return "distinct radii (native grid)"
        return f"rings of width 1/{self.fft_size}" if self.rings else "distinct radii"


@dataclass
class LayerSpectrum:
    """Everything measured about one convolution layer, plus its baseline comparison.

    Spectral numbers are None for layers with no 2-D spectrum (1x1, 1-D, 3-D kernels)
    and for layers whose weights are all zero or non-finite (``note`` says which).
    radii are in cycles/pixel; radial_energy are energy fractions that sum to 1.
    paper_profile is the seed paper's ring-mean profile normalised to DC = 1 (None when
    DC is 0); paper_h its high-frequency fraction.
    The baseline_* fields, ssr and paper_ssr are filled in by :mod:`audit.comparison`.
    """

    name: str
    shape: list[int]
    kernel_size: list[int]
    kind: str
    groups: int | None
    stride: list[int] | None
    dilation: list[int] | None
    transposed: bool | None
    slices: int
    radii: list[float] | None = None
    radial_energy: list[float] | None = None
    hfer: float | None = None
    paper_radii: list[float] | None = None
    paper_profile: list[float] | None = None
    paper_h: float | None = None
    white_noise_hfer: float | None = None
    white_noise_paper_h: float | None = None
    finite: bool = True
    note: str | None = None
    baseline_hfer: float | None = None
    ssr: float | None = None
    baseline_paper_h: float | None = None
    paper_ssr: float | None = None

    @property
    def has_spectrum(self) -> bool:
        return self.hfer is not None


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


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

    for size, positions in by_size.items():
        _measure_same_size([kernels[p] for p in positions], [layers[p] for p in positions],
                           tuple(size), settings, device)
    return layers


def _measure_same_size(
    kernels: list[ConvKernel],
    layers: list[LayerSpectrum],
    size: tuple[int, int],
    settings: SpectralSettings,
    device: torch.device | str,
) -> None:
    counts = [k.num_slices for k in kernels]
    slices = torch.cat([k.weight.detach().reshape(-1, *size) for k in kernels]).to(device)
    gram = spectra.slice_gram(slices, counts)  # the one pass over all weights

    native_power = spectra.power_from_gram(gram, size)
    native_radii = spectra.frequency_radii(size, device)
    if settings.fft_size is None:
        grid, power, radii = size, native_power, native_radii
    else:
        grid = (settings.fft_size, settings.fft_size)
        power = spectra.power_from_gram(gram, size, grid)
        radii = spectra.frequency_radii(grid, device)

    bin_radii, energy = spectra.radial_energy(
        power, radii, rings=settings.fft_size if settings.rings else None
    )
    fractions = spectra.energy_fractions(energy).cpu()
    layer_hfer = spectra.hfer(power, radii, settings.cutoff).cpu()
    paper_radii, ring_means = spectra.paper_ring_means(native_power, native_radii)
    paper_h = spectra.paper_high_fraction(ring_means).cpu()
    paper_profile = spectra.normalise_to_dc(ring_means).cpu()
    finite = torch.stack([torch.isfinite(k.weight).all() for k in kernels]).cpu()

    reference_hfer = spectra.white_noise_hfer(grid, settings.cutoff)
    reference_paper_h = spectra.white_noise_paper_h(size)
    bin_radii_list = bin_radii.cpu().tolist()
    paper_radii_list = paper_radii.cpu().tolist()

    for i, layer in enumerate(layers):
        layer.white_noise_hfer = reference_hfer
        layer.white_noise_paper_h = reference_paper_h
        if not bool(finite[i]):
            layer.finite = False
            layer.note = "non-finite weights (NaN or Inf): no spectrum"
            continue
        if not math.isfinite(float(layer_hfer[i])):
            layer.note = "all weights are zero: no spectrum"
            continue
        layer.radii = bin_radii_list
        layer.radial_energy = fractions[i].tolist()
        layer.hfer = float(layer_hfer[i])
        layer.paper_radii = paper_radii_list
        profile = paper_profile[i]
        layer.paper_profile = profile.tolist() if bool(torch.isfinite(profile).all()) else None
        layer.paper_h = _finite_or_none(float(paper_h[i]))
