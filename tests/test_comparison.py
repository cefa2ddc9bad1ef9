"""SSR against the white-noise reference and against another model: which layers are
compared (same architecture, renamed, partial or refused) and BatchNorm folding."""

from __future__ import annotations

import pytest
import torch

from audit.errors import AuditError
from audit.loading.kernels import ConvKernel
from audit.spectral.comparison import compare_layers, match_layers, summarise
from audit.spectral.profile import measure_layers


def layers_of(seed: int, scale_high: float = 1.0, names=("a", "b"), widths=None):
    generator = torch.Generator().manual_seed(seed)
    kernels = []
    for i, name in enumerate(names):
        channels = (widths or [8 * (j + 1) for j in range(len(names))])[i]
        weight = torch.randn(channels, 4, 3, 3, generator=generator)
        # Blend with a constant kernel to move energy to DC (lower HFER) when scale_high < 1.
        weight = scale_high * weight + (1 - scale_high) * weight.mean(dim=(-2, -1), keepdim=True)
        kernels.append(ConvKernel(name, weight))
    return measure_layers(kernels)


def compared(model, baseline, allow_partial=False):
    match = match_layers(model, baseline, allow_partial)
    rescaled = compare_layers(model, match)
    return match, summarise(model, match, rescaled, baseline)


def test_model_against_itself_has_ssr_one_and_paper_ssr_zero():
    layers, same = layers_of(0), layers_of(0)
    match, summary = compared(layers, same)
    assert match.by == "name" and not match.unmatched.model_only
    assert all(l.ssr == pytest.approx(1.0) for l in layers)
    assert all(l.paper_ssr == pytest.approx(0.0) for l in layers)
    assert summary.ssr == pytest.approx(1.0) and summary.paper_ssr == pytest.approx(0.0)
    assert summary.rescaled_layers == []


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


def test_low_pass_model_has_ssr_above_one():
    smooth, rough = layers_of(3, scale_high=0.3), layers_of(4)
    _, summary = compared(smooth, rough)
    assert summary.ssr > 1.5 and summary.paper_ssr > 0


def test_renamed_layers_with_the_same_shapes_are_matched_by_position():
    model, baseline = layers_of(5, names=("conv1", "conv2")), layers_of(6, names=("onnx::Conv_1", "onnx::Conv_7"))
    match, summary = compared(model, baseline)
    assert match.by == "position" and "matched by position" in match.note
    assert summary.layers_compared == 2 and summary.matched_by == "position"


def test_a_different_architecture_is_refused_naming_what_differs():
    """A ResNet-20 against a ResNet-56: the shared names are a coincidence, not a match."""
    model = layers_of(7, names=("conv1", "layer1.0.conv1", "layer1.1.conv1", "layer2.0.conv1"), widths=[16] * 4)
    baseline = layers_of(8, names=("conv1", "layer1.0.conv1"), widths=[16, 16])
    with pytest.raises(AuditError, match="different architectures") as error:
        match_layers(model, baseline)
    assert error.value.code == "mismatch" and "4 conv layers and the baseline 2" in error.value.message
    assert "--match partial" in error.value.render({"match": "--match"})


def test_a_partial_comparison_says_so():
    model = layers_of(9, names=("conv1", "extra", "fc_conv"), widths=[8, 8, 8])
    baseline = layers_of(10, names=("conv1", "fc_conv"), widths=[8, 8])
    match, summary = compared(model, baseline, allow_partial=True)
    assert match.by == "partial" and summary.partial
    assert match.unmatched.model_only == ["extra"]
    # Whole networks, each over all of its own layers; no layer against a namesake.
    assert summary.layers_compared == 3 and all(layer.ssr is None for layer in model)
    mean = lambda layers: sum(l.hfer * l.slices for l in layers) / sum(l.slices for l in layers)  # noqa: E731
    assert summary.hfer == pytest.approx(mean(model)) and summary.baseline_hfer == pytest.approx(mean(baseline))


def test_batchnorm_folding_is_recognised_as_a_per_channel_rescaling():
    generator = torch.Generator().manual_seed(11)
    weight = torch.randn(16, 8, 3, 3, generator=generator)
    scale = torch.rand(16, generator=generator) * 3 + 0.2  # gamma / sqrt(var + eps), per output channel
    unfolded = measure_layers([ConvKernel("conv", weight)])
    folded = measure_layers([ConvKernel("conv", weight * scale[:, None, None, None])])
    _, summary = compared(folded, unfolded)
    assert folded[0].hfer != pytest.approx(unfolded[0].hfer, abs=1e-6)  # the plain spectra differ...
    assert folded[0].channel_hfer == pytest.approx(unfolded[0].channel_hfer, rel=1e-9)  # ...the filters do not
    assert summary.rescaled_layers == ["conv"]
    other = measure_layers([ConvKernel("conv", torch.randn(16, 8, 3, 3, generator=generator))])
    _, summary = compared(other, unfolded)
    assert summary.rescaled_layers == []
