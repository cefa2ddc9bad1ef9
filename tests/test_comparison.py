"""SSR against the white-noise reference and against another model."""

from __future__ import annotations

import pytest
import torch

from audit.loading.kernels import ConvKernel
from audit.rules.verdict import verdict
from audit.schema import Baseline
from audit.spectral.comparison import compare_layers, summarise
from audit.spectral.profile import measure_layers


def layers_of(seed: int, scale_high: float = 1.0, names=("a", "b")):
    generator = torch.Generator().manual_seed(seed)
    kernels = []
    for i, name in enumerate(names):
        weight = torch.randn(8 * (i + 1), 4, 3, 3, generator=generator)
        # Blend with a constant kernel to move energy to DC (lower HFER) when scale_high < 1.
        weight = scale_high * weight + (1 - scale_high) * weight.mean(dim=(-2, -1), keepdim=True)
        kernels.append(ConvKernel(name, weight))
    return measure_layers(kernels)


def test_model_against_itself_has_ssr_one_and_paper_ssr_zero():
    layers, same = layers_of(0), layers_of(0)
    unmatched = compare_layers(layers, same)
    assert not unmatched.model_only and not unmatched.baseline_only
    assert all(l.ssr == pytest.approx(1.0) for l in layers)
    assert all(l.paper_ssr == pytest.approx(0.0) for l in layers)
    summary = summarise(layers)
    assert summary.ssr == pytest.approx(1.0) and summary.paper_ssr == pytest.approx(0.0)


def test_white_noise_reference():
    layers = layers_of(1)
    compare_layers(layers, None)
    for layer in layers:
        assert layer.baseline_hfer == pytest.approx(8 / 9)
        assert layer.ssr == pytest.approx(8 / 9 / layer.hfer)
        assert layer.baseline_paper_h == pytest.approx(2 / 3)


def test_network_numbers_are_slice_weighted():
    layers = layers_of(2)
    compare_layers(layers, None)
    summary = summarise(layers)
    a, b = layers
    expected = (a.hfer * a.slices + b.hfer * b.slices) / (a.slices + b.slices)
    assert summary.hfer == pytest.approx(expected)
    assert summary.ssr == pytest.approx(summary.baseline_hfer / expected)
    assert summary.slices == a.slices + b.slices


def test_low_pass_model_has_ssr_above_one_against_a_white_baseline():
    smooth, rough = layers_of(3, scale_high=0.3), layers_of(4)
    compare_layers(smooth, rough)
    summary = summarise(smooth)
    assert summary.ssr > 1.5 and summary.paper_ssr > 0
    assert "suppress high frequencies" in verdict(summary, Baseline(kind="checkpoint", source="x"))


def test_layers_only_on_one_side_are_listed():
    model, baseline = layers_of(5, names=("a", "b")), layers_of(6, names=("b", "c"))
    unmatched = compare_layers(model, baseline)
    assert unmatched.model_only == ["a"] and unmatched.baseline_only == ["c"]
    assert model[0].ssr is None and model[1].ssr is not None
    assert summarise(model).layers_compared == 1
