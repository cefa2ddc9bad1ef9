"""What each probe does to an image: one example image under every probe at its middle
severity, as small PNGs the report shows in a strip (pictures, not a paragraph)."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import torch

from audit.probes.images import ImageSet
from audit.probes.noise import ImageNoise
from audit.probes.registry import Probe

SHOWN_SIZE = 96  # px: small images are enlarged (nearest neighbour) to stay legible in print


def _png(image: torch.Tensor) -> str:
    """A (C, H, W) image in [0, 1] as a base64 PNG, enlarged by whole pixels."""
    from PIL import Image

    if image.min() < 0:  # a high-pass image has its mean removed: show it around mid-grey
        image = image + 0.5
    pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    if pixels.shape[0] == 1:
        pixels = pixels.expand(3, -1, -1)
    array = pixels[:3].permute(1, 2, 0).cpu().numpy()
    picture = Image.fromarray(array)
    scale = max(1, math.ceil(SHOWN_SIZE / max(array.shape[:2])))
    if scale > 1:
        picture = picture.resize((array.shape[1] * scale, array.shape[0] * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def example_strip(dataset: ImageSet, probes: list[Probe], seed: int, stored_uint8: bool = True) -> list[dict[str, Any]]:
    """[{'probe', 'label', 'png'}]: the data set's first image, clean and under each probe
    at its middle severity (with the noise that image gets in the audit)."""
    from audit.probes.suite import task_stream

    image = dataset.images[:1].float() / 255.0
    strip = [{"probe": "clean", "label": "clean", "png": _png(image[0])}]
    for probe in probes:
        severity = probe.middle_severity()
        noise = ImageNoise(seed, task_stream(probe, severity), 0, image.device)
        corrupted = probe.apply(image.clone(), severity, noise, as_uint8=stored_uint8)
        value = probe.parameter_value(severity, image.shape[-1])
        strip.append({"probe": probe.name, "label": probe.describe(value), "png": _png(corrupted[0])})
    return strip
