"""The probes by name: each corruption with its parameter, sweep and description.

Adding a probe is one function in :mod:`audit.probes.corruptions`, one :data:`PROBES`
entry here and one test. Presets name groups of probes; aliases are short names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from audit.errors import AuditError
from audit.probes.corruptions import (
    IMAGENETC_PARAMETERS,
    ProbeFunction,
    as_stored_uint8,
    c10c_contrast,
    c10c_gaussian_blur,
    c10c_gaussian_noise,
    c10c_jpeg,
    c10c_pixelate,
    gaussian_blur,
    gaussian_noise,
    high_pass,
    inc_contrast,
    inc_gaussian_blur,
    inc_gaussian_noise,
    inc_jpeg,
    inc_pixelate,
    low_pass,
    low_resolution,
    paper_gaussian_blur,
    paper_low_resolution,
)
from audit.probes.sweeps import AnchoredBlur, Fixed, Proportional, Sweep
from audit.schema import ProbeKind, ProbeResult, ProbeVerdict


@dataclass(frozen=True)
class Probe:
    """A named corruption with its default severity sweep.

    parameter: what the severity number means, with units, for the report.
    kind: "corruption" (what deployed images suffer: noise, blur, low resolution,
        compression) or "diagnostic" (Fourier filters that locate where the model's
        information is; they are not expected of real images and never headline a report).
    harsher: "higher" when a larger severity is harsher, "lower" when a smaller one is
        (a lower resolution).
    sweep: how the severities (given for 32-px images) become the parameters applied on
        other sizes (:mod:`audit.probes.sweeps`). At 32 px every parameter is the severity.
    stored_uint8: the reference stores its corrupted images as uint8 by truncation
        (CIFAR-10-C); ``apply`` does the same unless asked for floats.
    """

    name: str
    function: ProbeFunction
    severities: tuple[float, ...]
    parameter: str
    description: str
    random: bool = False
    sweep: Sweep = Fixed()
    kind: ProbeKind = "corruption"
    harsher: str = "higher"
    stored_uint8: bool = False
    label: str = "{value:g}"  # how a reviewer names one condition: "blur k={value:g}"

    def parameter_value(self, severity: float, image_size: int) -> float:
        """The parameter actually applied for ``severity`` on ``image_size``-px images."""
        if severity in self.severities:
            return self.parameter_values(image_size)[self.severities.index(severity)]
        return self.sweep.values((severity,), image_size)[0]  # a severity of one's own

    def parameter_values(self, image_size: int) -> tuple[float, ...]:
        """The parameters applied on ``image_size``-px images, one per severity."""
        return self.sweep.values(self.severities, image_size)

    def apply(self, images: torch.Tensor, severity: float, generator: Any, as_uint8: bool = True) -> torch.Tensor:
        out = self.function(images, self.parameter_value(severity, images.shape[-1]), generator)
        return as_stored_uint8(out) if self.stored_uint8 and as_uint8 else out

    def by_harshness(self) -> tuple[float, ...]:
        """The severities from the mildest to the harshest."""
        return tuple(sorted(self.severities, reverse=self.harsher == "lower"))

    def describe(self, value: float) -> str:
        """One condition in words, from the parameter actually applied: 'blur k=5'."""
        return self.label.format(value=value)

    def describe_range(self, values: list[float]) -> str:
        """Several conditions of this probe in words: 'blur k=3-7', 'noise σ=0.04-0.20'."""
        if len(values) == 1:
            return self.describe(values[0])
        prefix, _, rest = self.label.partition("{")
        suffix = rest.partition("}")[2]
        first, last = (self.describe(v).removeprefix(prefix).removesuffix(suffix) for v in (values[0], values[-1]))
        return f"{prefix}{first}–{last}{suffix}"

    def summary(self) -> dict[str, Any]:
        """What a result records about the probe (its JSON ``probes`` entry)."""
        return {
            "name": self.name,
            "parameter": self.parameter,
            "description": self.description,
            "kind": self.kind,
            "harsher": self.harsher,
        }

    def middle_severity(self) -> float:
        ordered = self.by_harshness()
        return ordered[len(ordered) // 2]


def _benchmark_probe(
    name: str, function: ProbeFunction, parameter: str, description: str, random: bool = False
) -> Probe:
    """A -C benchmark corruption (CIFAR-10-C, ImageNet-C): severities 1-5, stored as uint8."""
    label = f"{description} severity {{value:g}}"
    return Probe(name, function, (1, 2, 3, 4, 5), parameter, description, random=random, stored_uint8=True, label=label)


INC_BLUR_SIGMAS = IMAGENETC_PARAMETERS["gaussian_blur"]  # the default blur's anchor at 224 px

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
            label="noise σ={value:.2f}",
        ),
        Probe(
            "gaussian_blur",
            gaussian_blur,
            (3, 5, 7, 9, 11),
            "kernel size k as applied, sigma = 0.15k + 0.35 px (k chosen per image size: sigma from the "
            "32-px sweep to ImageNet-C's 1-6 px at 224 px)",
            "Gaussian blur",
            sweep=AnchoredBlur(INC_BLUR_SIGMAS),
            label="blur k={value:g}",
        ),
        Probe(
            "low_resolution",
            low_resolution,
            (28, 24, 20, 16, 12, 8),
            "resolution r px (as applied: the 32-px sweep scaled with the image)",
            "bilinear (antialiased) down to r x r and back up",
            sweep=Proportional(),
            harsher="lower",
            label="low resolution {value:g} px",
        ),
        Probe(
            "low_pass",
            low_pass,
            (16, 12, 8, 4),
            "disc radius r (cycles/image, as applied: the 32-px sweep scaled with the image)",
            "only frequencies within r of DC kept",
            kind="diagnostic",
            sweep=Proportional(),
            harsher="lower",
            label="low-pass r={value:g}",
        ),
        Probe(
            "high_pass",
            high_pass,
            (4, 8, 12, 16),
            "disc radius r (cycles/image, the same at every image size: the same scene content removed)",
            "only frequencies beyond r kept",
            kind="diagnostic",
            label="high-pass r={value:g}",
        ),
        _benchmark_probe(
            "c10c_gaussian_noise",
            c10c_gaussian_noise,
            "CIFAR-10-C severity (sigma .04-.10)",
            "CIFAR-10-C Gaussian noise",
            random=True,
        ),
        _benchmark_probe(
            "c10c_gaussian_blur",
            c10c_gaussian_blur,
            "CIFAR-10-C severity (sigma .4-1 at 32 px, scaled with the image size)",
            "CIFAR-10-C Gaussian blur",
        ),
        _benchmark_probe("c10c_pixelate", c10c_pixelate, "CIFAR-10-C severity (factor .95-.65)", "CIFAR-10-C pixelate"),
        _benchmark_probe("c10c_contrast", c10c_contrast, "CIFAR-10-C severity (factor .75-.15)", "CIFAR-10-C contrast"),
        _benchmark_probe("c10c_jpeg", c10c_jpeg, "CIFAR-10-C severity (quality 80-40)", "CIFAR-10-C JPEG"),
        _benchmark_probe(
            "inc_gaussian_noise",
            inc_gaussian_noise,
            "ImageNet-C severity (sigma .08-.38)",
            "ImageNet-C Gaussian noise",
            random=True,
        ),
        _benchmark_probe(
            "inc_gaussian_blur",
            inc_gaussian_blur,
            "ImageNet-C severity (sigma 1-6 px at 224 px, scaled with the image size)",
            "ImageNet-C Gaussian blur",
        ),
        _benchmark_probe("inc_pixelate", inc_pixelate, "ImageNet-C severity (factor .6-.25)", "ImageNet-C pixelate"),
        _benchmark_probe("inc_contrast", inc_contrast, "ImageNet-C severity (factor .4-.05)", "ImageNet-C contrast"),
        _benchmark_probe("inc_jpeg", inc_jpeg, "ImageNet-C severity (quality 25-7)", "ImageNet-C JPEG"),
        Probe(
            "paper_gaussian_noise",
            gaussian_noise,
            (0.05, 0.10, 0.15, 0.20, 0.25, 0.30),
            "noise sigma (image in [0,1])",
            "the seed paper's noise sweep, clipped",
            random=True,
            label="noise σ={value:.2f} (paper sweep)",
        ),
        Probe(
            "paper_gaussian_blur",
            paper_gaussian_blur,
            (3, 5, 7, 9, 11),
            "kernel size k (sigma = 0.3k + 0.8 at 32 px; both scale with the image)",
            "the seed paper's blur sweep (torchvision GaussianBlur)",
            sweep=Proportional(odd=True),
            label="blur k={value:g} (paper sweep)",
        ),
        Probe(
            "paper_low_resolution",
            paper_low_resolution,
            (28, 24, 20, 16, 12, 10, 8),
            "resolution r px (as applied: the 32-px sweep scaled with the image)",
            "the seed paper's bilinear down/up sweep, no antialiasing",
            sweep=Proportional(),
            harsher="lower",
            label="low resolution {value:g} px (paper sweep)",
        ),
    )
}

PRESETS: dict[str, tuple[str, ...]] = {
    "default": ("gaussian_noise", "gaussian_blur", "low_resolution", "low_pass", "high_pass"),
    "cifar10-c": ("c10c_gaussian_noise", "c10c_gaussian_blur", "c10c_pixelate", "c10c_contrast", "c10c_jpeg"),
    "imagenet-c": ("inc_gaussian_noise", "inc_gaussian_blur", "inc_pixelate", "inc_contrast", "inc_jpeg"),
    "paper": ("paper_gaussian_noise", "paper_gaussian_blur", "paper_low_resolution"),
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
    the Fourier heat map was asked for; ``none`` is a clean-only run. Unknown names list
    the known ones, and a spec that names nothing is refused rather than run as nothing."""
    if spec.strip().lower() == "none":
        return [], False
    if not any(part.strip() for part in spec.split(",")):
        raise AuditError(
            f"the probe list {spec!r} names no probe.",
            hint="Name probes or presets with {probes}, or none for clean accuracy only.",
        )
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
            known = ", ".join([*PRESETS, *PROBES, *ALIASES, FOURIER_HEATMAP, "none"])
            raise AuditError(f"unknown probe {raw!r}; known probes and presets: {known}.")
    unique = list({p.name: p for p in chosen}.values())
    return unique, heatmap


def judged_conditions(verdict: ProbeVerdict, results: list[ProbeResult]) -> str:
    """The conditions a probe verdict judged, in words, from the parameters applied."""
    values = [r.value for r in results if r.probe == verdict.probe and float(r.severity) in set(verdict.judged)]
    probe = PROBES.get(verdict.probe)
    return probe.describe_range(values) if probe and values else verdict.probe


def condition(result: ProbeResult) -> str:
    """A probe result's condition in words: 'blur k=5', 'noise σ=0.10'."""
    probe = PROBES.get(result.probe)
    return probe.describe(result.value) if probe else f"{result.probe} {result.severity:g}"
