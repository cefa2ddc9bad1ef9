"""Each corruption against an independent computation; the registry and its errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

from audit.errors import AuditError
from audit.probes import corruptions as probes
from audit.probes import fourier, registry


def images(n=4, c=3, size=32, seed=0) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed))


def test_noise_at_sigma_zero_is_the_identity():
    x = images()
    assert torch.equal(probes.gaussian_noise(x, 0.0, torch.Generator().manual_seed(0)), x)


def test_noise_has_the_asked_sigma_and_is_clipped():
    x = torch.full((8, 3, 64, 64), 0.5)
    noisy = probes.gaussian_noise(x, 0.05, torch.Generator().manual_seed(0))
    assert (noisy - x).std().item() == pytest.approx(0.05, rel=0.02)
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert probes.gaussian_noise(x, 5.0, torch.Generator().manual_seed(0)).min() == 0.0


def test_noise_is_deterministic_under_a_seed():
    x = images()
    a = probes.gaussian_noise(x, 0.1, torch.Generator().manual_seed(3))
    b = probes.gaussian_noise(x, 0.1, torch.Generator().manual_seed(3))
    c = probes.gaussian_noise(x, 0.1, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("k", [3, 5, 7, 9, 11])
def test_blur_matches_torchvision(k):
    x = images()
    expected = TF.gaussian_blur(x, kernel_size=[k, k])  # sigma = 0.15k + 0.35, reflect padding
    assert torch.allclose(probes.gaussian_blur(x, k), expected, atol=1e-5)


def test_blur_keeps_a_constant_image():
    x = torch.full((2, 3, 32, 32), 0.3)
    assert torch.allclose(probes.gaussian_blur(x, 11), x, atol=1e-6)


@pytest.mark.parametrize("r", [28, 16, 8])
def test_low_resolution_matches_interpolate(r):
    x = images()
    down = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False, antialias=True)
    expected = F.interpolate(down, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 1)
    assert torch.allclose(probes.low_resolution(x, r), expected)


def test_low_resolution_scales_with_image_size():
    probe = registry.PROBES["low_resolution"]
    assert probe.parameter_value(16, 32) == 16
    assert probe.parameter_value(16, 64) == 32
    assert probe.parameter_value(8, 28) == 7


def test_low_pass_keeps_a_constant_image_and_removes_a_checkerboard():
    constant = torch.full((1, 3, 32, 32), 0.7)
    assert torch.allclose(probes.low_pass(constant, 4), constant, atol=1e-6)
    index = torch.arange(32)
    board = ((index[:, None] + index[None, :]) % 2).float().expand(1, 3, 32, 32)
    filtered = probes.low_pass(board, 8)
    assert torch.allclose(filtered, torch.full_like(board, 0.5), atol=1e-6)  # only the mean (DC) survives


def test_low_and_high_pass_add_up_to_the_image():
    x = images()
    assert torch.allclose(probes.low_pass(x, 8) + probes.high_pass(x, 8), x, atol=1e-5)
    assert probes.high_pass(x, 8).mean().abs() < 1e-6  # DC removed


def test_low_pass_against_numpy_reference():
    import numpy as np

    x = images(n=1, c=1)
    spectrum = np.fft.fft2(x[0, 0].numpy())
    fy = np.fft.fftfreq(32) * 32
    mask = (fy[:, None] ** 2 + fy[None, :] ** 2) <= 6**2
    expected = np.fft.ifft2(spectrum * mask).real
    assert np.allclose(probes.low_pass(x, 6)[0, 0].numpy(), expected, atol=1e-5)


def test_cifar10c_contrast_and_pixelate():
    x = images()
    means = x.mean(dim=(-2, -1), keepdim=True)
    assert torch.allclose(probes.c10c_contrast(x, 2), ((x - means) * 0.5 + means).clamp(0, 1))
    pixelated = probes.c10c_pixelate(x, 5)  # factor 0.65 -> 20 px blocks
    assert pixelated.shape == x.shape
    assert torch.unique(pixelated[0, 0]).numel() <= 20 * 20


def test_cifar10c_blur_sigma_one_matches_a_direct_gaussian():
    x = images()
    taps = torch.exp(-0.5 * torch.arange(-4, 5.0) ** 2)
    taps = taps / taps.sum()
    padded = F.pad(x, (4, 4, 4, 4), mode="replicate")
    kernel = (taps[:, None] * taps[None, :]).expand(3, 1, 9, 9)
    expected = F.conv2d(padded, kernel, groups=3)
    assert torch.allclose(probes.c10c_gaussian_blur(x, 5), expected, atol=1e-5)


def test_cifar10c_jpeg_changes_the_image_a_little():
    x = probes.gaussian_blur(images(), 11)  # smooth, like a photo (noise would not compress)
    out = probes.c10c_jpeg(x, 5)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert 0 < (out - x).abs().mean() < 0.05


def test_cifar10c_severity_out_of_range():
    with pytest.raises(ValueError, match="1-5"):
        probes.c10c_contrast(images(), 6)


def test_resolve_probes_presets_aliases_and_errors():
    chosen, heatmap = registry.resolve_probes("default")
    assert [p.name for p in chosen] == list(registry.PRESETS["default"]) and not heatmap
    chosen, heatmap = registry.resolve_probes("blur,noise,fourier_heatmap,blur")
    assert [p.name for p in chosen] == ["gaussian_blur", "gaussian_noise"] and heatmap
    with pytest.raises(AuditError, match="known probes and presets: default"):
        registry.resolve_probes("nope")


@pytest.mark.parametrize("name", sorted(registry.PROBES))
def test_every_registered_probe_changes_the_image_reproducibly(name):
    probe = registry.PROBES[name]
    x = images(n=2)
    for severity in probe.severities:
        out = probe.apply(x, severity, torch.Generator().manual_seed(0))
        again = probe.apply(x, severity, torch.Generator().manual_seed(0))
        assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
        assert torch.equal(out, again), "the same seed must give the same images"
        assert not torch.allclose(out, x, atol=1e-3), f"{name} {severity} left the images unchanged"
        if name not in ("low_pass", "high_pass"):  # Fourier filters are not clipped, by design
            assert 0 <= out.min() and out.max() <= 1


def test_fourier_basis_has_unit_norm_and_its_frequency():
    basis = fourier.fourier_basis(32, 32, 3, 5)
    assert basis.norm().item() == pytest.approx(1.0, abs=1e-5)
    power = torch.fft.fft2(basis).abs() ** 2
    peaks = set(map(tuple, (power > power.max() * 0.5).nonzero().tolist()))
    assert peaks == {(3, 5), (32 - 3, 32 - 5)}


def test_fourier_perturbation_has_the_asked_norm_before_clipping():
    x = torch.full((2, 3, 32, 32), 0.5)
    basis = fourier.fourier_basis(32, 32, 1, 2)
    out = fourier.fourier_perturbation(x, basis, 1.0, torch.Generator().manual_seed(0))
    assert ((out - x)[0, 0].norm()).item() == pytest.approx(1.0, abs=1e-4)
