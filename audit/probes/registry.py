"""The probes by name: each corruption with its parameter, sweep and description.

Adding a probe is one function in :mod:`audit.probes.corruptions`, one :data:`PROBES`
entry here and one test. Presets name groups of probes; aliases are short names.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from audit.errors import AuditError
from audit.probes.corruptions import (
    ProbeFunction,
    c10c_contrast,
    c10c_gaussian_blur,
    c10c_gaussian_noise,
    c10c_jpeg,
    c10c_pixelate,
    gaussian_blur,
    gaussian_noise,
    high_pass,
    low_pass,
    low_resolution,
)


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
        Probe(
            "gaussian_noise",
            gaussian_noise,
            (0.02, 0.05, 0.10, 0.15, 0.20),
            "noise sigma (image in [0,1])",
            "additive Gaussian noise, clipped",
            random=True,
        ),
        Probe(
            "gaussian_blur", gaussian_blur, (3, 5, 7, 9, 11), "kernel size k (sigma = 0.15k + 0.35)", "Gaussian blur"
        ),
        Probe(
            "low_resolution",
            low_resolution,
            (28, 24, 20, 16, 12, 8),
            "resolution r px (for 32-px inputs)",
            "bilinear down to r x r and back up",
            scale_with_size=True,
        ),
        Probe(
            "low_pass", low_pass, (4, 8, 12, 16), "disc radius r (cycles/image)", "only frequencies within r of DC kept"
        ),
        Probe("high_pass", high_pass, (4, 8, 12, 16), "disc radius r (cycles/image)", "only frequencies beyond r kept"),
        Probe(
            "c10c_gaussian_noise",
            c10c_gaussian_noise,
            (1, 2, 3, 4, 5),
            "CIFAR-10-C severity (sigma .04-.10)",
            "CIFAR-10-C Gaussian noise",
            random=True,
        ),
        Probe(
            "c10c_gaussian_blur",
            c10c_gaussian_blur,
            (1, 2, 3, 4, 5),
            "CIFAR-10-C severity (sigma .4-1)",
            "CIFAR-10-C Gaussian blur",
        ),
        Probe(
            "c10c_pixelate",
            c10c_pixelate,
            (1, 2, 3, 4, 5),
            "CIFAR-10-C severity (factor .95-.65)",
            "CIFAR-10-C pixelate",
        ),
        Probe(
            "c10c_contrast",
            c10c_contrast,
            (1, 2, 3, 4, 5),
            "CIFAR-10-C severity (factor .75-.15)",
            "CIFAR-10-C contrast",
        ),
        Probe(
            "c10c_jpeg",
            c10c_jpeg,
            (1, 2, 3, 4, 5),
            "CIFAR-10-C severity (quality 80-40)",
            "CIFAR-10-C JPEG compression",
        ),
    )
}

PRESETS: dict[str, tuple[str, ...]] = {
    "default": ("gaussian_noise", "gaussian_blur", "low_resolution", "low_pass", "high_pass"),
    "cifar10-c": ("c10c_gaussian_noise", "c10c_gaussian_blur", "c10c_pixelate", "c10c_contrast", "c10c_jpeg"),
}
ALIASES = {
    "noise": "gaussian_noise",
    "blur": "gaussian_blur",
    "lowres": "low_resolution",
    "low-resolution": "low_resolution",
}
FOURIER_HEATMAP = "fourier_heatmap"  # not a sweep: run by audit.probes.heatmap


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
