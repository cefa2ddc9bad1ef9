"""Image corruptions: pure, batched tensor functions with one call shape::

    corruption(images, parameter, generator) -> images

``images`` is a float (N, C, H, W) batch in [0, 1] (before normalisation) on any
device; ``generator`` is a ``torch.Generator`` on that device (used by random
corruptions only). :mod:`audit.probes.registry` names them and gives their sweeps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

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
        raise ValueError(f"gaussian_blur needs an odd kernel size, got {kernel_size}")
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


def _keep_frequencies(images: torch.Tensor, radius: float, inside: bool) -> torch.Tensor:
    disc = _frequency_disc(*images.shape[-2:], radius, images.device)
    spectrum = torch.fft.fft2(images.float())
    return torch.fft.ifft2(spectrum * (disc if inside else ~disc)).real.to(images.dtype)


def low_pass(images: torch.Tensor, radius: float, generator=None) -> torch.Tensor:
    """Keep only frequencies within ``radius`` cycles/image (a disc in the Fourier domain).
    A constant image is unchanged; a 1-pixel checkerboard is removed. Not clipped."""
    return _keep_frequencies(images, radius, inside=True)


def high_pass(images: torch.Tensor, radius: float, generator=None) -> torch.Tensor:
    """Keep only frequencies beyond ``radius`` cycles/image: the complement of
    :func:`low_pass` (the two add up to the image). Not clipped: the mean is removed."""
    return _keep_frequencies(images, radius, inside=False)


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
        raise ValueError(f"CIFAR-10-C severities are 1-5, got {severity}")
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
        raise ValueError("JPEG needs 1- or 3-channel images")
    device = as_bytes.device
    source = list(as_bytes) if device.type == "cuda" else list(as_bytes.cpu())
    encoded = encode_jpeg(source, quality=quality)
    decoded = decode_jpeg(encoded, device=device if device.type == "cuda" else "cpu")
    return torch.stack(list(decoded)).to(device=device, dtype=images.dtype) / 255.0
