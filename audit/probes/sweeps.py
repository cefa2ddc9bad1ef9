"""How a probe's severities become the parameters applied at each image size.

A probe names its severities once, for 32-px images (the keys of its results, its gates
and the zoo calibrations). What is applied on an image of another size follows one rule
per kind of parameter, chosen so that a severity costs a trained model about as much at
every size; the applied value is what the report shows on its axes.

- :class:`Fixed`: the severity itself at every size. Pixel-value parameters (a noise
  sigma, a JPEG quality, a contrast factor) do not depend on how many pixels there are.
  So do the high-pass radii, in cycles per image: a photograph downsampled to 32 px keeps
  exactly its content within 16 cycles/image, so a radius removes the same scene content
  at every size. Scaled with the image (28-112 at 224 px), every radius left an ImageNet
  model at 0-1% (issue 20): at 224 px only a few radii are meaningful at all.
- :class:`Proportional`: scaled with the image side, so the same *fraction* of the image
  (a resolution, a low-pass radius). The default low-resolution sweep ends at a quarter
  of the image, as ImageNet-C's harshest pixelate (0.25 at 224 px) does.
- :class:`AnchoredBlur`: a Gaussian blur's sigma, in pixels, from two published anchors:
  the sweep's own sigma at 32 px and ImageNet-C's at 224 px (1, 2, 3, 4, 6 px; CIFAR-10-C
  uses 0.4-1.0 px at 32). High-resolution photographs carry more fine detail than the
  same scene at 32 px, so a blur that scales with the image side (7x at 224 px) is far
  harsher there: the 32-px sweep scaled 7x made the mildest blur (sigma 5.6 px) cost an
  ImageNet model 69 points. Between the anchors sigma is interpolated geometrically in the
  image side (a power law through both); beyond 224 px it grows with the side, and below
  32 px the 32-px sweep is kept.

Pure functions of (severities, image size); no tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SMALL, LARGE = 32, 224  # the sizes of the two anchors: CIFAR (32 px) and ImageNet crops (224 px)


@dataclass(frozen=True)
class Fixed:
    """The severity itself at every image size."""

    def values(self, severities: tuple[float, ...], image_size: int) -> tuple[float, ...]:
        return tuple(severities)


@dataclass(frozen=True)
class Proportional:
    """Scaled with the image side from 32 px, rounded to an integer (an odd one if ``odd``)."""

    odd: bool = False

    def values(self, severities: tuple[float, ...], image_size: int) -> tuple[float, ...]:
        if image_size == SMALL:
            return tuple(severities)
        scaled = [s * image_size / SMALL for s in severities]
        if self.odd:
            return tuple(max(1, 2 * round((v - 1) / 2) + 1) for v in scaled)
        return tuple(max(1, round(v)) for v in scaled)


def blur_sigma(kernel_size: float) -> float:
    """torchvision's and OpenCV's sigma for an odd Gaussian kernel size k: 0.15 k + 0.35."""
    return 0.15 * kernel_size + 0.35


def kernel_for_sigma(sigma: float) -> int:
    """The odd kernel size whose :func:`blur_sigma` is nearest ``sigma`` (at least 3)."""
    k = (sigma - 0.35) / 0.15
    return max(3, 2 * round((k - 1) / 2) + 1)


def interpolated_sigma(at_small: float, at_large: float, image_size: int) -> float:
    """Sigma in pixels at ``image_size`` from its value at 32 px and at 224 px: the power
    law through both anchors between them, proportional to the side beyond 224 px, and
    the 32-px value below 32 px."""
    t = min(max(math.log(image_size / SMALL) / math.log(LARGE / SMALL), 0.0), 1.0)
    sigma = at_small ** (1 - t) * at_large**t
    return sigma * image_size / LARGE if image_size > LARGE else sigma


@dataclass(frozen=True)
class AnchoredBlur:
    """Kernel sizes k (sigma = 0.15 k + 0.35) whose sigma follows :func:`interpolated_sigma`
    from the 32-px severities' sigma to ``sigma_at_224`` (one per severity, mildest first)."""

    sigma_at_224: tuple[float, ...]

    def values(self, severities: tuple[float, ...], image_size: int) -> tuple[float, ...]:
        if image_size <= SMALL:
            return tuple(severities)
        if len(severities) != len(self.sigma_at_224):
            raise ValueError(
                f"the blur sweep's anchors hold {len(self.sigma_at_224)} severities, not {len(severities)}"
            )
        kernels: list[int] = []
        for k, large in zip(severities, self.sigma_at_224, strict=True):
            kernel = kernel_for_sigma(interpolated_sigma(blur_sigma(k), large, image_size))
            # Rounding to odd sizes may give two severities one kernel; keep them distinct.
            kernels.append(max(kernel, kernels[-1] + 2) if kernels else kernel)
        return tuple(float(k) for k in kernels)


Sweep = Fixed | Proportional | AnchoredBlur
