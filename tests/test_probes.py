"""Each corruption against an independent computation; the registry and its errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from conftest import SAMPLES, invoke

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


def uint8_images(n=3, size=32, seed=0) -> tuple[np.ndarray, torch.Tensor]:
    """The same images as uint8 HWC arrays (what the references take) and as our tensors."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    return pixels, torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255


def as_reference(tensor: torch.Tensor) -> np.ndarray:
    return (tensor.permute(0, 2, 3, 1).numpy() * 255).round().astype(int)


def test_cifar10c_contrast():
    x = images()
    means = x.mean(dim=(-2, -1), keepdim=True)
    assert torch.allclose(probes.c10c_contrast(x, 2), ((x - means) * 0.5 + means).clamp(0, 1))


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_cifar10c_pixelate_equals_pillow(severity):
    """make_cifar_c.py: x.resize((int(32c),)*2, BOX).resize((32, 32), BOX), on PIL images."""
    from PIL import Image

    factor = probes.CIFAR10C_PARAMETERS["pixelate"][severity - 1]
    pixels, x = uint8_images(seed=severity)
    ours = as_reference(probes.c10c_pixelate(x, severity))
    for index, image in enumerate(pixels):
        small = Image.fromarray(image).resize((int(32 * factor), int(32 * factor)), Image.BOX)
        reference = np.asarray(small.resize((32, 32), Image.BOX)).astype(int)
        assert np.abs(ours[index] - reference).max() <= 1  # within 1/255 (here: exactly equal)
        assert np.array_equal(ours[index], reference)


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_cifar10c_blur_equals_scikit_image_as_stored(severity):
    """make_cifar_c.py: np.uint8(np.clip(gaussian(x / 255, sigma=c, multichannel), 0, 1) * 255)."""
    from skimage.filters import gaussian

    sigma = probes.CIFAR10C_PARAMETERS["gaussian_blur"][severity - 1]
    pixels, x = uint8_images(seed=10 + severity)
    probe = registry.PROBES["c10c_gaussian_blur"]
    ours = (probe.apply(x, severity, None).permute(0, 2, 3, 1).numpy() * 255).round().astype(int)
    for index, image in enumerate(pixels):
        reference = gaussian(image / 255.0, sigma=sigma, channel_axis=-1)
        stored = np.uint8(np.clip(reference, 0, 1) * 255).astype(int)
        # float32 here, float64 there: a value on a grey-level boundary may truncate one level apart
        assert np.abs(ours[index] - stored).max() <= 1
        assert (ours[index] == stored).mean() > 0.99


def test_cifar10c_images_are_stored_as_truncated_uint8_unless_asked_for_floats():
    x = images()
    probe = registry.PROBES["c10c_contrast"]
    stored, floats = probe.apply(x, 3, None), probe.apply(x, 3, None, as_uint8=False)
    assert torch.equal(stored, torch.floor(floats * 255) / 255)
    assert 0 < (floats - stored).mean() * 255 < 1  # about half a grey level darker, as published


def test_paper_blur_equals_torchvision_gaussian_blur_with_its_sigma():
    """The seed paper's exp_d_blur_robustness: GaussianBlur(kernel_size=k, sigma=k * 0.3 + 0.8)."""
    from torchvision.transforms import GaussianBlur

    x = images()
    for k in (3, 5, 7, 9, 11):
        expected = GaussianBlur(kernel_size=k, sigma=k * 0.3 + 0.8)(x)
        assert torch.allclose(probes.paper_gaussian_blur(x, k), expected, atol=1e-5), k


def test_paper_low_resolution_equals_plain_bilinear_without_antialiasing():
    """The seed paper's exp_d_resolution_robustness: interpolate down and up, bilinear, align_corners=False."""
    x = images()
    probe = registry.PROBES["paper_low_resolution"]
    assert probe.severities == (28, 24, 20, 16, 12, 10, 8)
    for r in probe.severities:
        down = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False)
        expected = F.interpolate(down, size=(32, 32), mode="bilinear", align_corners=False)
        assert torch.allclose(probe.apply(x, r, None), expected, atol=1e-6)
    assert torch.equal(probes.paper_low_resolution(x, 32), x)


def test_paper_preset_is_the_papers_sweeps():
    chosen, _ = registry.resolve_probes("paper")
    assert [p.name for p in chosen] == ["paper_gaussian_noise", "paper_gaussian_blur", "paper_low_resolution"]
    assert chosen[0].severities == (0.05, 0.10, 0.15, 0.20, 0.25, 0.30)
    assert chosen[1].severities == (3, 5, 7, 9, 11)


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


def test_heat_map_frequencies_skip_the_mirror_images():
    frequencies = fourier.heatmap_frequencies(32, 32)
    assert len(frequencies) == 32 * 17 - 30
    cells = {(u % 32, v % 32) for u, v in frequencies} | {(-u % 32, -v % 32) for u, v in frequencies}
    assert len(cells) == 32 * 32  # every frequency is reached, through itself or its mirror


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


def test_the_heat_map_plan_fits_its_budget_and_scales_its_norm():
    from audit.probes.heatmap import default_norm, frequency_count, plan_heatmap

    assert default_norm(32, 32) == pytest.approx(4.0) and default_norm(224, 224) == pytest.approx(15.7)
    assert default_norm(128, 128) == pytest.approx(4.0 + 96 * 11.7 / 192)
    assert frequency_count(32, 32, 1) == 514
    # 224 px at 14 images/s (ResNet-50 on 2 cores), 256 images, model and baseline: 10 minutes.
    plan = plan_heatmap(224, 224, 256, 2, 14.0, budget=600)
    assert plan.chosen and plan.seconds <= 600 and plan.evaluations == plan.frequencies * 256 * 2
    finer = plan_heatmap(224, 224, 256, 2, 14.0, step=plan.step - 1)
    assert finer.seconds > 600 and not finer.chosen  # the chosen step is the finest that fits
    assert plan_heatmap(32, 32, 256, 1, 1e9).step == 1  # a fast model at 32 px: every frequency
    assert "forward passes" in plan.describe(256, 2, 600) and "--heatmap-budget 600 s" in plan.describe(256, 2, 600)


def test_a_heat_map_run_says_its_cost_first_and_sums_itself_up(tmp_path):
    run = invoke(
        SAMPLES / "cifar_resnet8_l2.onnx", "--data", "cifar10-sample", "--samples", "32", "--probes",
        "blur,fourier_heatmap", "--heatmap-samples", "16", "--heatmap-budget", "2", "--heatmap-norm", "3",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "forward passes" in run.stderr.split("Fourier heat map: started")[0]  # the plan before the work
    assert re.search(
        r"Fourier heat map \(norm 3\.0, 16 images, \d+ frequencies, every \d+ per axis\): mean error", run.stdout
    )


# --- ImageNet-C (make_imagenet_c.py's constants and formulas, at 224 px) --------------------


def test_the_imagenet_c_preset_holds_the_published_constants():
    chosen, _ = registry.resolve_probes("imagenet-c")
    assert [p.name for p in chosen] == [
        "inc_gaussian_noise",
        "inc_gaussian_blur",
        "inc_pixelate",
        "inc_contrast",
        "inc_jpeg",
    ]
    assert probes.IMAGENETC_PARAMETERS["gaussian_noise"] == (0.08, 0.12, 0.18, 0.26, 0.38)
    assert probes.IMAGENETC_PARAMETERS["gaussian_blur"] == (1.0, 2.0, 3.0, 4.0, 6.0)
    assert probes.IMAGENETC_PARAMETERS["pixelate"] == (0.6, 0.5, 0.4, 0.3, 0.25)
    assert probes.IMAGENETC_PARAMETERS["contrast"] == (0.4, 0.3, 0.2, 0.1, 0.05)
    assert probes.IMAGENETC_PARAMETERS["jpeg"] == (25, 18, 15, 10, 7)
    with pytest.raises(ValueError, match="ImageNet-C severities are 1-5"):
        probes.inc_contrast(images(), 2.5)


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_imagenet_c_blur_equals_scikit_image_at_224_px(severity):
    """make_imagenet_c.py: np.uint8(np.clip(gaussian(x / 255, sigma=c, multichannel), 0, 1) * 255)."""
    from skimage.filters import gaussian

    sigma = probes.IMAGENETC_PARAMETERS["gaussian_blur"][severity - 1]
    pixels, x = uint8_images(n=1, size=224, seed=20 + severity)
    ours = registry.PROBES["inc_gaussian_blur"].apply(x, severity, None).permute(0, 2, 3, 1).numpy() * 255
    ours = ours.round().astype(int)[0]
    stored = np.uint8(np.clip(gaussian(pixels[0] / 255.0, sigma=sigma, channel_axis=-1), 0, 1) * 255).astype(int)
    assert np.abs(ours - stored).max() <= 1 and (ours == stored).mean() > 0.99


@pytest.mark.parametrize("severity", [1, 5])
def test_imagenet_c_pixelate_equals_pillow_at_224_px(severity):
    """make_imagenet_c.py: x.resize((int(224c),)*2, BOX).resize((224, 224), BOX)."""
    from PIL import Image

    factor = probes.IMAGENETC_PARAMETERS["pixelate"][severity - 1]
    pixels, x = uint8_images(n=1, size=224, seed=30 + severity)
    ours = as_reference(probes.inc_pixelate(x, severity))[0]
    small = Image.fromarray(pixels[0]).resize((int(224 * factor),) * 2, Image.BOX)
    assert np.array_equal(ours, np.asarray(small.resize((224, 224), Image.BOX)).astype(int))


def test_imagenet_c_contrast_and_jpeg_against_their_references():
    import io

    from PIL import Image

    pixels, x = uint8_images(n=1, size=224, seed=40)
    means = x.mean(dim=(-2, -1), keepdim=True)
    assert torch.allclose(probes.inc_contrast(x, 4), ((x - means) * 0.1 + means).clamp(0, 1))
    smooth = probes.gaussian_blur(x, 11)  # photo-like, so that JPEG keeps it close
    as_pil = Image.fromarray(as_reference(smooth)[0].astype(np.uint8))
    buffer = io.BytesIO()
    as_pil.save(buffer, "JPEG", quality=7)  # severity 5, Pillow's libjpeg as the reference saves it
    reference = np.asarray(Image.open(buffer)).astype(int)
    ours = as_reference(probes.inc_jpeg(smooth, 5))[0]
    assert np.abs(ours - reference).mean() < 1.0  # the same codec and quality; decoders may round apart


def test_imagenet_c_noise_has_the_published_sigma():
    x = torch.full((2, 3, 224, 224), 0.5)
    noisy = probes.inc_gaussian_noise(x, 3, torch.Generator().manual_seed(0))
    assert float((noisy - x).std()) == pytest.approx(0.18, rel=0.02)
