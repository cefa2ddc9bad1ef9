"""Per-layer profiles from kernels: batching by kernel size, notes, non-finite weights."""

from __future__ import annotations

import math

import pytest
import torch

from audit.loading.kernels import ConvKernel
from audit.schema import SpectralSettings
from audit.spectral import spectra
from audit.spectral.profile import measure_layers


def kernel(name: str, *shape: int, seed: int = 0, **kwargs) -> ConvKernel:
    generator = torch.Generator().manual_seed(seed)
    return ConvKernel(name=name, weight=torch.randn(*shape, generator=generator), **kwargs)


def single_layer_hfer(weight: torch.Tensor, grid=None) -> float:
    power = spectra.pooled_power_spectrum(weight.reshape(-1, *weight.shape[-2:]), grid)
    return float(spectra.hfer(power, spectra.frequency_radii(tuple(power.shape))))


def test_layers_sharing_one_fft_get_their_own_numbers():
    kernels = [kernel("a", 4, 3, 3, 3, seed=1), kernel("b", 8, 4, 5, 5, seed=2), kernel("c", 2, 8, 3, 3, seed=3)]
    kernels[2] = ConvKernel("c", kernels[2].weight * torch.tensor([1.0, 0.1, 0.01])[None, None, None])  # not white
    layers = measure_layers(kernels)
    assert [l.name for l in layers] == ["a", "b", "c"]
    for layer, k in zip(layers, kernels):
        assert layer.hfer == pytest.approx(single_layer_hfer(k.weight), rel=1e-9)
        assert sum(layer.radial_energy) == pytest.approx(1.0)
        assert layer.slices == k.weight.shape[0] * k.weight.shape[1]
    assert layers[0].radii == pytest.approx([0, 1 / 3, math.sqrt(2) / 3])
    assert layers[0].white_noise_hfer == pytest.approx(8 / 9)


def test_padded_grid_with_rings():
    k = kernel("a", 4, 4, 3, 3)
    (layer,) = measure_layers([k], SpectralSettings(fft_size=16, rings=True))
    assert layer.radii == pytest.approx([i / 16 for i in range(len(layer.radii))])
    assert layer.hfer == pytest.approx(single_layer_hfer(k.weight, (16, 16)), rel=1e-9)
    assert layer.white_noise_hfer == pytest.approx(spectra.white_noise_hfer((16, 16)))
    # Paper mode always uses the native grid.
    assert len(layer.paper_radii) == 3


def test_constant_kernel_layer():
    (layer,) = measure_layers([ConvKernel("flat", torch.ones(2, 2, 3, 3))])
    assert layer.hfer == 0.0
    assert layer.radial_energy == pytest.approx([1.0, 0.0, 0.0])
    assert layer.paper_h == 0.0
    assert layer.paper_profile == pytest.approx([1.0, 0.0, 0.0])


def test_non_finite_and_zero_layers_have_no_spectrum_but_do_not_spoil_others():
    bad = torch.randn(2, 2, 3, 3)
    bad[0, 0, 1, 1] = float("nan")
    layers = measure_layers(
        [ConvKernel("nan", bad), ConvKernel("zero", torch.zeros(2, 2, 3, 3)), kernel("ok", 2, 2, 3, 3)]
    )
    assert layers[0].hfer is None and not layers[0].finite and "non-finite" in layers[0].note
    assert layers[1].hfer is None and layers[1].finite and "zero" in layers[1].note
    assert layers[2].hfer is not None and math.isfinite(layers[2].hfer)


def test_checkerboard_layer_has_no_dc_normalised_profile():
    board = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).expand(1, 1, 2, 2)
    (layer,) = measure_layers([ConvKernel("board", board.clone())])
    assert layer.hfer == 1.0
    assert layer.paper_profile is None  # DC is 0: nothing to normalise by
    assert layer.paper_h == 1.0
