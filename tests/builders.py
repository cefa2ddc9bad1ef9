"""Hand-built audit results for the rules, the report and the terminal: no model, no data set,
just the numbers a test wants (coverage.py's and captum's habit of known inputs)."""

from __future__ import annotations

import copy

import numpy as np
import torch

from audit.loading.kernels import ConvKernel
from audit.probes.datasets import ImageSet
from audit.probes.examples import example_strip
from audit.probes.registry import PRESETS, PROBES
from audit.probes.stage import with_numbers
from audit.probes.summary import Outcomes
from audit.rules.judgement import judged
from audit.rules.policy import Policy
from audit.schema import (
    AuditResult,
    Baseline,
    FourierHeatmap,
    ModelInfo,
    ProbeSection,
    RunInfo,
    SpectralSection,
    SpectralSettings,
    Unmatched,
)
from audit.spectral.comparison import compare_layers, match_layers, summarise
from audit.spectral.profile import measure_layers

LAYER_NAMES = ("conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1", "layer2.0.shortcut.0", "layer3.0.conv2")


def kernels(seed: int, smooth: float) -> list[ConvKernel]:
    """A ResNet-like stack; ``smooth`` in [0, 1) moves energy towards DC (lower HFER)."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(16, 3, 3, 3), (16, 16, 3, 3), (16, 16, 3, 3), (32, 16, 3, 3), (32, 16, 1, 1), (64, 64, 3, 3)]
    found = []
    for name, shape in zip(LAYER_NAMES, shapes):
        weight = torch.randn(*shape, generator=generator)
        weight = (1 - smooth) * weight + smooth * weight.mean(dim=(-2, -1), keepdim=True)
        found.append(ConvKernel(name, weight, groups=1, stride=(1, 1), dilation=(1, 1), transposed=False))
    return found


def outcomes(accuracies: list[float], count: int, seed: int, agree: float = 0.9) -> Outcomes:
    """Per-image outcomes with the given accuracy per task (clean first), drawn with a seed."""
    generator = np.random.default_rng(seed)
    correct = np.stack([generator.random(count) < a for a in accuracies])
    agrees = np.stack([generator.random(count) < agree for _ in accuracies])
    agrees[0] = True
    return Outcomes(correct=correct, agrees=agrees)


def probe_section(
    clean: float, baseline_clean: float | None, loss: float, baseline_loss: float, count: int = 846
) -> ProbeSection:
    """Default probes whose accuracy falls by ``loss`` per step of severity (harshest last),
    measured per image; the baseline, when there is one, falls by ``baseline_loss``."""
    probes = [PROBES[name] for name in PRESETS["default"]]
    tasks = [(None, 0.0)] + [(p, s) for p in probes for s in p.severities]

    def accuracies(start: float, step: float) -> list[float]:
        values = [start]
        for probe in probes:
            order = probe.by_harshness()
            values += [max(0.02, start - step * (order.index(s) + 1)) for s in probe.severities]
        return values

    model = outcomes(accuracies(clean, loss), count, seed=1)
    baseline = outcomes(accuracies(baseline_clean, baseline_loss), count, seed=2) if baseline_clean else None
    section = ProbeSection(
        dataset="cifar10-sample",
        source="bundled",
        samples=count,
        full_split=None,
        image_shape=[3, 32, 32],
        mean=[0.4914, 0.4822, 0.4465],
        std=[0.247, 0.2435, 0.2616],
        seed=0,
        batch_size=256,
        runner="torch on cpu (fp32)",
        output_used="output",
        clean_accuracy=None,
        baseline_clean_accuracy=None,
        results=[],
        probes=[p.summary() for p in probes],
        heatmap=FourierHeatmap(norm=4.0, samples=8, errors=[[0.1 * ((i + j) % 5) for j in range(8)] for i in range(8)]),
        seconds=12.5,
        images_per_second=3400.0,
        num_classes=10,
        statistics="test statistics",
    )
    section = with_numbers(section, tasks, model, baseline)
    picture = torch.arange(3 * 32 * 32, dtype=torch.float32).reshape(1, 3, 32, 32) % 256
    images = ImageSet("one", picture.to(torch.uint8), None, (0.5,) * 3, (0.5,) * 3, None, "test")
    section.examples = example_strip(images, probes, seed=0)
    return section


def audit_result(
    *, baseline: bool = True, probes: bool = True, policy: Policy | None = None, calibration=None
) -> AuditResult:
    """A ResNet-like model against a rougher baseline (or the white-noise reference),
    with the default probes measured on both, findings and gates evaluated (forecasts
    from ``calibration``, a zoo study's table, where given)."""
    settings = SpectralSettings()
    layers = measure_layers(kernels(0, smooth=0.5), settings)
    reference = measure_layers(kernels(1, smooth=0.2), settings) if baseline else None
    match = match_layers(layers, reference) if reference is not None else None
    summary = summarise(layers, match, compare_layers(layers, match))
    unmatched = match.unmatched if match is not None else Unmatched()
    description = (
        Baseline("checkpoint", "baseline.ts.pt", "b" * 64)
        if baseline
        else Baseline("white-noise", "expected spectrum of i.i.d. weights")
    )
    result = AuditResult(
        model=ModelInfo(
            path="models/candidate.ts.pt",
            sha256="a" * 64,
            format="torchscript",
            parameters=78042,
            notes=["hand-built for the tests"],
        ),
        spectral=SpectralSection(description, settings, layers, summary, unmatched),
        verdict="",
        run=RunInfo(
            tool_version="0.0.0",
            torch_version="2.x",
            device="cpu",
            created="2026-01-01T00:00:00+00:00",
            command=["spectral-audit", "models/candidate.ts.pt"],
            python_version="3.11",
        ),
        probes=probe_section(0.66, 0.64 if baseline else None, 0.04, 0.08) if probes else None,
    )
    return judged(result, policy or Policy(), calibration)


def copy_of(result: AuditResult) -> AuditResult:
    return copy.deepcopy(result)
