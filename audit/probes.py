"""Robustness probes: pure, batched image corruptions, registered by name.

Every probe has the same call shape::

    probe(images, severity, generator) -> images

``images`` is a float (N, C, H, W) batch in [0, 1] (before normalisation) on any
device; ``generator`` is a ``torch.Generator`` on that device (used by random probes
only). Adding a probe is one function, one :data:`PROBES` entry and one test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from audit.errors import AuditError

ProbeFunction = Callable[[torch.Tensor, float, "torch.Generator | None"], torch.Tensor]


# --- corruptions -------------------------------------------------------------------------


def gaussian_noise(images: torch.Tensor, sigma: float, generator: torch.Generator | None) -> torch.Tensor:
    """x + sigma * N(0, 1), clipped to [0, 1]. sigma 0 is the identity."""
    if sigma == 0:
        return images
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return (images + sigma * noise).clamp_(0.0, 1.0)


def gaussian_kernel1d(kernel_size: int, sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian taps at integer offsets -(k-1)/2 ... (k-1)/2."""
    half = (kernel_size - 1) / 2
    offsets = torch.linspace(-half, half, kernel_size, device=device, dtype=dtype)
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return taps / taps.sum()


def separable_gaussian(images: torch.Tensor, kernel_size: int, sigma: float, padding_mode: str) -> torch.Tensor:
    """Blur each channel with a k x k Gaussian as two 1-D passes (depthwise convolutions)."""
    if kernel_size <= 1:
        return images
    channels = images.shape[1]
    taps = gaussian_kernel1d(kernel_size, sigma, images.device, images.dtype)
    half = kernel_size // 2
    padded = F.pad(images, (half, half, half, half), mode=padding_mode)
    horizontal = taps.view(1, 1, 1, -1).expand(channels, 1, 1, kernel_size)
    vertical = taps.view(1, 1, -1, 1).expand(channels, 1, kernel_size, 1)
    return F.conv2d(F.conv2d(padded, horizontal, groups=channels), vertical, groups=channels)


def gaussian_blur(images: torch.Tensor, kernel_size: float, generator=None) -> torch.Tensor:
    """Gaussian blur with an odd kernel size k and sigma = 0.15 k + 0.35 (torchvision's and
    OpenCV's default for a given k), reflect padding: the seed paper's blur sweep."""
    k = int(kernel_size)
    if k % 2 == 0 or k < 1:
        raise AuditError(f"gaussian_blur needs an odd kernel size, got {kernel_size}.")
    return separable_gaussian(images, k, 0.15 * k + 0.35, "reflect")


def low_resolution(images: torch.Tensor, resolution: float, generator=None) -> torch.Tensor:
    """Bilinear (antialiased) down-sampling to r x r, then bilinear back up to H x W."""
    height, width = images.shape[-2:]
    r = int(resolution)
    if r >= min(height, width):
        return images
    small = F.interpolate(images, size=(r, r), mode="bilinear", align_corners=False, antialias=True)
    return F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False).clamp_(0.0, 1.0)


def _frequency_disc(height: int, width: int, radius: float, device) -> torch.Tensor:
    """Boolean (H, W) mask, in unshifted FFT order, of frequencies within ``radius``
    (in cycles per image, i.e. FFT index units) of DC."""
    fy = torch.fft.fftfreq(height, d=1.0 / height, device=device)
    fx = torch.fft.fftfreq(width, d=1.0 / width, device=device)
    return (fy[:, None] ** 2 + fx[None, :] ** 2) <= radius**2


def low_pass(images: torch.Tensor, radius: float, generator=None) -> torch.Tensor:
    """Keep only frequencies within ``radius`` cycles/image (a disc in the Fourier domain).
    A constant image is unchanged; a 1-pixel checkerboard is removed. Not clipped."""
    mask = _frequency_disc(*images.shape[-2:], radius, images.device)
    spectrum = torch.fft.fft2(images.float())
    return torch.fft.ifft2(spectrum * mask).real.to(images.dtype)


def high_pass(images: torch.Tensor, radius: float, generator=None) -> torch.Tensor:
    """Keep only frequencies beyond ``radius`` cycles/image: the complement of
    :func:`low_pass` (the two add up to the image). Not clipped: the mean is removed."""
    mask = ~_frequency_disc(*images.shape[-2:], radius, images.device)
    spectrum = torch.fft.fft2(images.float())
    return torch.fft.ifft2(spectrum * mask).real.to(images.dtype)


# CIFAR-10-C (Hendrycks & Dietterich, ICLR 2019; make_cifar_c.py), severities 1-5.
CIFAR10C_PARAMETERS = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),  # noise sigma
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),  # blur sigma
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),  # resize factor
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),  # contrast factor
    "jpeg": (80, 65, 58, 50, 40),  # JPEG quality
}


def _c10c(name: str, severity: float) -> float:
    level = int(severity)
    if not 1 <= level <= 5:
        raise AuditError(f"CIFAR-10-C severities are 1-5, got {severity}.")
    return CIFAR10C_PARAMETERS[name][level - 1]


def c10c_gaussian_noise(images, severity, generator):
    return gaussian_noise(images, _c10c("gaussian_noise", severity), generator)


def c10c_gaussian_blur(images, severity, generator=None):
    """skimage.filters.gaussian(sigma) as CIFAR-10-C uses it: radius round(4 sigma), edge mode 'nearest'."""
    sigma = _c10c("gaussian_blur", severity)
    radius = int(4.0 * sigma + 0.5)
    return separable_gaussian(images, 2 * radius + 1, sigma, "replicate")


def c10c_pixelate(images, severity, generator=None):
    """Box down-sampling to factor c of the size, then nearest-neighbour back (PIL BOX both ways)."""
    factor = _c10c("pixelate", severity)
    height, width = images.shape[-2:]
    small = F.interpolate(images, size=(int(height * factor), int(width * factor)), mode="area")
    return F.interpolate(small, size=(height, width), mode="nearest")


def c10c_contrast(images, severity, generator=None):
    """(x - per-image channel mean) * c + mean, clipped."""
    factor = _c10c("contrast", severity)
    means = images.mean(dim=(-2, -1), keepdim=True)
    return ((images - means) * factor + means).clamp_(0.0, 1.0)


def c10c_jpeg(images, severity, generator=None):
    """JPEG round trip at the CIFAR-10-C quality (torchvision.io, on the GPU when there)."""
    from torchvision.io import decode_jpeg, encode_jpeg

    quality = int(_c10c("jpeg", severity))
    as_bytes = (images * 255.0).round_().clamp_(0, 255).to(torch.uint8)
    if as_bytes.shape[1] not in (1, 3):
        raise AuditError("the jpeg probe needs 1- or 3-channel images.")
    device = as_bytes.device
    source = list(as_bytes) if device.type == "cuda" else list(as_bytes.cpu())
    encoded = encode_jpeg(source, quality=quality)
    decoded = decode_jpeg(encoded, device=device if device.type == "cuda" else "cpu")
    return torch.stack(list(decoded)).to(device=device, dtype=images.dtype) / 255.0


# --- registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """A named corruption with its default severity sweep.

    parameter: what the severity number means, with units, for the report.
    scale_with_size: severities are given for 32-px inputs and scaled to the image size.
    """

    name: str
    function: ProbeFunction
    severities: tuple[float, ...]
    parameter: str
    description: str
    random: bool = False
    scale_with_size: bool = False

    def parameter_value(self, severity: float, image_size: int) -> float:
        """The parameter actually applied for ``severity`` on ``image_size``-px images."""
        if self.scale_with_size:
            return max(1, round(severity * image_size / 32))
        return severity

    def apply(self, images: torch.Tensor, severity: float, generator: torch.Generator | None) -> torch.Tensor:
        return self.function(images, self.parameter_value(severity, images.shape[-1]), generator)


PROBES: dict[str, Probe] = {
    p.name: p
    for p in (
        Probe("gaussian_noise", gaussian_noise, (0.02, 0.05, 0.10, 0.15, 0.20), "noise sigma (image in [0,1])",
              "additive Gaussian noise, clipped", random=True),
        Probe("gaussian_blur", gaussian_blur, (3, 5, 7, 9, 11), "kernel size k (sigma = 0.15k + 0.35)",
              "Gaussian blur"),
        Probe("low_resolution", low_resolution, (28, 24, 20, 16, 12, 8), "resolution r px (for 32-px inputs)",
              "bilinear down to r x r and back up", scale_with_size=True),
        Probe("low_pass", low_pass, (4, 8, 12, 16), "disc radius r (cycles/image)",
              "only frequencies within r of DC kept"),
        Probe("high_pass", high_pass, (4, 8, 12, 16), "disc radius r (cycles/image)",
              "only frequencies beyond r kept"),
        Probe("c10c_gaussian_noise", c10c_gaussian_noise, (1, 2, 3, 4, 5), "CIFAR-10-C severity (sigma .04-.10)",
              "CIFAR-10-C Gaussian noise", random=True),
        Probe("c10c_gaussian_blur", c10c_gaussian_blur, (1, 2, 3, 4, 5), "CIFAR-10-C severity (sigma .4-1)",
              "CIFAR-10-C Gaussian blur"),
        Probe("c10c_pixelate", c10c_pixelate, (1, 2, 3, 4, 5), "CIFAR-10-C severity (factor .95-.65)",
              "CIFAR-10-C pixelate"),
        Probe("c10c_contrast", c10c_contrast, (1, 2, 3, 4, 5), "CIFAR-10-C severity (factor .75-.15)",
              "CIFAR-10-C contrast"),
        Probe("c10c_jpeg", c10c_jpeg, (1, 2, 3, 4, 5), "CIFAR-10-C severity (quality 80-40)",
              "CIFAR-10-C JPEG compression"),
    )
}

PRESETS: dict[str, tuple[str, ...]] = {
    "default": ("gaussian_noise", "gaussian_blur", "low_resolution", "low_pass", "high_pass"),
    "cifar10-c": ("c10c_gaussian_noise", "c10c_gaussian_blur", "c10c_pixelate", "c10c_contrast", "c10c_jpeg"),
}
ALIASES = {"noise": "gaussian_noise", "blur": "gaussian_blur", "lowres": "low_resolution", "low-resolution": "low_resolution"}
FOURIER_HEATMAP = "fourier_heatmap"


def resolve_probes(spec: str) -> tuple[list[Probe], bool]:
    """Probes named in ``spec`` (comma-separated names, aliases or presets) and whether
    the Fourier heat map was asked for. Unknown names list the known ones."""
    chosen: list[Probe] = []
    heatmap = False
    for raw in (part.strip() for part in spec.split(",")):
        if not raw:
            continue
        name = ALIASES.get(raw, raw)
        if name == FOURIER_HEATMAP:
            heatmap = True
        elif name in PRESETS:
            chosen.extend(PROBES[n] for n in PRESETS[name])
        elif name in PROBES:
            chosen.append(PROBES[name])
        else:
            known = ", ".join([*PRESETS, *PROBES, *ALIASES, FOURIER_HEATMAP])
            raise AuditError(f"unknown probe {raw!r}; known probes and presets: {known}.")
    unique = list({p.name: p for p in chosen}.values())
    return unique, heatmap


# --- Fourier heat map ----------------------------------------------------------------------


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
