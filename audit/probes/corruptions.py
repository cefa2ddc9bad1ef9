"""Image corruptions: pure, batched tensor functions with one call shape::

    corruption(images, parameter, generator) -> images

``images`` is a float (N, C, H, W) batch in [0, 1] (before normalisation) on any
device; ``generator`` is a ``torch.Generator`` on that device or an
:class:`~audit.probes.noise.ImageNoise` (noise fixed per image, which the probe suite
uses), read by random corruptions only. :mod:`audit.probes.registry` names them and gives their sweeps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from audit.probes.noise import standard_normal
from audit.probes.sweeps import blur_sigma

ProbeFunction = Callable[[torch.Tensor, float, "torch.Generator | None"], torch.Tensor]


# --- corruptions -------------------------------------------------------------------------


def gaussian_noise(images: torch.Tensor, sigma: float, generator: torch.Generator | None) -> torch.Tensor:
    """x + sigma * N(0, 1), clipped to [0, 1]. sigma 0 is the identity."""
    if sigma == 0:
        return images
    return (images + sigma * standard_normal(images, generator)).clamp_(0.0, 1.0)


def gaussian_kernel1d(
    kernel_size: int, sigma: float, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
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
    # Depthwise convolutions run several times faster on channels_last than on NCHW on
    # CPUs (measured 5-15x at 32 and 224 px), with bit-identical results.
    padded = F.pad(images, (half, half, half, half), mode=padding_mode).contiguous(memory_format=torch.channels_last)
    horizontal = taps.view(1, 1, 1, -1).expand(channels, 1, 1, kernel_size)
    vertical = taps.view(1, 1, -1, 1).expand(channels, 1, kernel_size, 1)
    return F.conv2d(F.conv2d(padded, horizontal, groups=channels), vertical, groups=channels)


def gaussian_blur(images: torch.Tensor, kernel_size: float, generator: Any = None) -> torch.Tensor:
    """Gaussian blur with an odd kernel size k and sigma = 0.15 k + 0.35 px (the sigma
    torchvision's ``gaussian_blur`` and OpenCV choose for a given k), reflect padding, at
    any image size (:mod:`audit.probes.sweeps` chooses k per size).
    (The seed paper's own sweep uses sigma = 0.3k + 0.8: :func:`paper_gaussian_blur`.)"""
    k = int(kernel_size)
    if k % 2 == 0 or k < 1:
        raise ValueError(f"gaussian_blur needs an odd kernel size, got {kernel_size}")
    return separable_gaussian(images, k, blur_sigma(k), "reflect")


def low_resolution(images: torch.Tensor, resolution: float, generator: Any = None) -> torch.Tensor:
    """Bilinear (antialiased) down-sampling to r x r, then bilinear back up to H x W."""
    height, width = images.shape[-2:]
    r = int(resolution)
    if r >= min(height, width):
        return images
    small = F.interpolate(images, size=(r, r), mode="bilinear", align_corners=False, antialias=True)
    return F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False).clamp_(0.0, 1.0)


def _frequency_disc(height: int, width: int, radius: float, device: torch.device) -> torch.Tensor:
    """Boolean (H, W) mask, in unshifted FFT order, of frequencies within ``radius``
    (in cycles per image, i.e. FFT index units) of DC."""
    fy = torch.fft.fftfreq(height, d=1.0 / height, device=device)
    fx = torch.fft.fftfreq(width, d=1.0 / width, device=device)
    return (fy[:, None] ** 2 + fx[None, :] ** 2) <= radius**2


def _keep_frequencies(images: torch.Tensor, radius: float, inside: bool) -> torch.Tensor:
    disc = _frequency_disc(images.shape[-2], images.shape[-1], radius, images.device)
    spectrum = torch.fft.fft2(images.float())
    return torch.fft.ifft2(spectrum * (disc if inside else ~disc)).real.to(images.dtype)


def low_pass(images: torch.Tensor, radius: float, generator: Any = None) -> torch.Tensor:
    """Keep only frequencies within ``radius`` cycles/image (a disc in the Fourier domain).
    A constant image is unchanged; a 1-pixel checkerboard is removed. Not clipped."""
    return _keep_frequencies(images, radius, inside=True)


def high_pass(images: torch.Tensor, radius: float, generator: Any = None) -> torch.Tensor:
    """Keep only frequencies beyond ``radius`` cycles/image: the complement of
    :func:`low_pass` (the two add up to the image). Not clipped: the mean is removed."""
    return _keep_frequencies(images, radius, inside=False)


# --- CIFAR-10-C (Hendrycks & Dietterich, ICLR 2019), as make_cifar_c.py makes it -----------
#
# The reference corrupts each image (a PIL image of uint8) and stores np.uint8(result * 255),
# which truncates: the corruptions that compute in floats come out up to one grey level
# darker. `as_stored_uint8` reproduces that; pixelate and JPEG are uint8 by construction.

CIFAR10C_PARAMETERS = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),  # noise sigma
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),  # blur sigma
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),  # resize factor
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),  # contrast factor
    "jpeg": (80, 65, 58, 50, 40),  # JPEG quality
}


IMAGENETC_PARAMETERS = {  # make_imagenet_c.py, for 224-px center crops
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),  # noise sigma
    "gaussian_blur": (1.0, 2.0, 3.0, 4.0, 6.0),  # blur sigma, px at 224
    "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),  # resize factor
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),  # contrast factor
    "jpeg": (25, 18, 15, 10, 7),  # JPEG quality
}


def _level(table: dict[str, Any], name: str, severity: float, benchmark: str) -> float:
    level = int(severity)
    if not 1 <= level <= 5 or level != severity:
        raise ValueError(f"{benchmark} severities are 1-5, got {severity}")
    return table[name][level - 1]


def _c10c(name: str, severity: float) -> float:
    return _level(CIFAR10C_PARAMETERS, name, severity, "CIFAR-10-C")


def _inc(name: str, severity: float) -> float:
    return _level(IMAGENETC_PARAMETERS, name, severity, "ImageNet-C")


def as_stored_uint8(images: torch.Tensor) -> torch.Tensor:
    """np.uint8(x * 255) / 255 for x in [0, 1]: truncation, as CIFAR-10-C stores its images."""
    return torch.floor(images * 255.0).div_(255.0)


def skimage_gaussian(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """skimage.filters.gaussian(sigma) as the -C benchmarks use it: radius round(4 sigma),
    edge mode 'nearest'."""
    radius = int(4.0 * sigma + 0.5)
    return separable_gaussian(images, 2 * radius + 1, sigma, "replicate")


def c10c_gaussian_noise(images: torch.Tensor, severity: float, generator: Any) -> torch.Tensor:
    """x + N(0, c), clipped (make_cifar_c.py's gaussian_noise)."""
    return gaussian_noise(images, _c10c("gaussian_noise", severity), generator)


def c10c_gaussian_blur(images: torch.Tensor, severity: float, generator: Any = None) -> torch.Tensor:
    """skimage's Gaussian blur as CIFAR-10-C applies it. Sigma is CIFAR-10-C's for 32-px
    images, scaled with the image size (unchanged at 32 px)."""
    return skimage_gaussian(images, _c10c("gaussian_blur", severity) * images.shape[-1] / 32)


_PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed-point coefficients for 8-bit images


def pillow_box_weights(in_size: int, out_size: int) -> torch.Tensor:
    """Pillow's BOX resampling as an (out_size, in_size) matrix of its fixed-point weights.

    Output pixel i covers the input interval centred on (i + 0.5) * in/out, of width
    max(in/out, 1); an input pixel counts, with weight 1 before normalising, when its
    centre falls in that interval (Pillow's ``box_filter``: -0.5 < x <= 0.5). Up-sampling
    with BOX therefore picks one pixel, floor((i + 0.5) * in/out): 'nearest-exact'.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    weights = torch.zeros(out_size, in_size, dtype=torch.int64)
    for out in range(out_size):
        centre = (out + 0.5) * scale
        first = max(int(centre - support + 0.5), 0)
        last = min(int(centre + support + 0.5), in_size)
        taps = [1.0 if -0.5 < (x - centre + 0.5) / filterscale <= 0.5 else 0.0 for x in range(first, last)]
        total = sum(taps)
        for offset, tap in enumerate(taps):
            weights[out, first + offset] = int(0.5 + tap / total * (1 << _PRECISION_BITS)) if total else 0
    return weights


def _pillow_pass(values: torch.Tensor, weights: torch.Tensor, dim: int) -> torch.Tensor:
    """One 8-bit resampling pass along ``dim`` (-1: width, -2: height), rounded as Pillow does."""
    moved = values.movedim(dim, -1)
    summed = moved @ weights.T + (1 << (_PRECISION_BITS - 1))
    return (summed >> _PRECISION_BITS).clamp_(0, 255).movedim(-1, dim)


def pillow_box_resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``PIL.Image.resize((width, height), BOX)`` of 8-bit images, exactly: the horizontal
    pass first, then the vertical one, each in Pillow's fixed-point arithmetic.
    images: values on the 1/255 grid in [0, 1]; returns the same."""
    values = torch.round(images * 255.0).to(torch.int64)
    in_height, in_width = values.shape[-2:]
    if width != in_width:
        values = _pillow_pass(values, pillow_box_weights(in_width, width).to(values.device), -1)
    if height != in_height:
        values = _pillow_pass(values, pillow_box_weights(in_height, height).to(values.device), -2)
    return values.to(images.dtype) / 255.0


def pixelate(images: torch.Tensor, factor: float) -> torch.Tensor:
    """The -C benchmarks' pixelate: PIL BOX down to int(size * c), then BOX back up (which
    is 'nearest-exact'), on 8-bit images, reproduced exactly."""
    height, width = images.shape[-2:]
    small = pillow_box_resize(images, int(height * factor), int(width * factor))
    return pillow_box_resize(small, height, width)


def contrast(images: torch.Tensor, factor: float) -> torch.Tensor:
    """(x - per-image channel mean) * c + mean, clipped."""
    means = images.mean(dim=(-2, -1), keepdim=True)
    return ((images - means) * factor + means).clamp_(0.0, 1.0)


def c10c_pixelate(images: torch.Tensor, severity: float, generator: Any = None) -> torch.Tensor:
    return pixelate(images, _c10c("pixelate", severity))


def c10c_contrast(images: torch.Tensor, severity: float, generator: Any = None) -> torch.Tensor:
    return contrast(images, _c10c("contrast", severity))


def c10c_jpeg(images: torch.Tensor, severity: float, generator: Any = None) -> torch.Tensor:
    return jpeg(images, int(_c10c("jpeg", severity)))


# --- ImageNet-C (Hendrycks & Dietterich), as make_imagenet_c.py makes it for 224-px crops ----
#
# The same formulas with ImageNet-C's constants. At other sizes the blur sigma scales with
# the image (224 px: the published sigma); pixelate's factor is relative already. Not
# reproduced: the published files are stored as JPEG quality 85 after each corruption.


def inc_gaussian_noise(images: torch.Tensor, severity: float, generator: Any) -> torch.Tensor:
    return gaussian_noise(images, _inc("gaussian_noise", severity), generator)


def inc_gaussian_blur(images: torch.Tensor, severity: float, generator: Any = None) -> torch.Tensor:
    return skimage_gaussian(images, _inc("gaussian_blur", severity) * images.shape[-1] / 224)


def inc_pixelate(images: torch.Tensor, severity: float, generator: Any = None) -> torch.Tensor:
    return pixelate(images, _inc("pixelate", severity))


def inc_contrast(images: torch.Tensor, severity: float, generator: Any = None) -> torch.Tensor:
    return contrast(images, _inc("contrast", severity))


def inc_jpeg(images: torch.Tensor, severity: float, generator: Any = None) -> torch.Tensor:
    return jpeg(images, int(_inc("jpeg", severity)))


def jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip at ``quality`` (libjpeg through torchvision.io, on the GPU when
    there; the references use Pillow's libjpeg, 4:2:0 chroma subsampling both)."""
    from torchvision.io import decode_jpeg, encode_jpeg

    as_bytes = (images * 255.0).round_().clamp_(0, 255).to(torch.uint8)
    if as_bytes.shape[1] not in (1, 3):
        raise ValueError("JPEG needs 1- or 3-channel images")
    device = as_bytes.device
    source = list(as_bytes) if device.type == "cuda" else list(as_bytes.cpu())
    encoded = encode_jpeg(source, quality=quality)
    decoded = decode_jpeg(encoded, device=device if device.type == "cuda" else "cpu")
    return torch.stack(list(decoded)).to(device=device, dtype=images.dtype) / 255.0


# --- the seed paper's own sweeps (its experiments/exp_c, exp_d scripts) ---------------------


def paper_gaussian_blur(images: torch.Tensor, kernel_size: float, generator: Any = None) -> torch.Tensor:
    """torchvision GaussianBlur(k, sigma=0.3k + 0.8), reflect padding, as the seed paper's
    blur experiment calls it (not torchvision's default sigma, 0.15k + 0.35)."""
    k = int(kernel_size)
    if k % 2 == 0 or k < 1:
        raise ValueError(f"blur needs an odd kernel size, got {kernel_size}")
    return separable_gaussian(images, k, 0.3 * k + 0.8 * images.shape[-1] / 32, "reflect")


def paper_low_resolution(images: torch.Tensor, resolution: float, generator: Any = None) -> torch.Tensor:
    """Bilinear down to r x r and back up, align_corners=False and *no* antialiasing, as the
    seed paper's resolution experiment does (identity at r >= the image size)."""
    height, width = images.shape[-2:]
    r = int(resolution)
    if r >= min(height, width):
        return images
    small = F.interpolate(images, size=(r, r), mode="bilinear", align_corners=False)
    return F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
