"""The Fourier heat map (Yin et al. 2019): error rate under one Fourier-basis
perturbation per frequency, for the model and the baseline on the same images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from audit.probes.fourier import fourier_basis, fourier_perturbation, heatmap_frequencies
from audit.probes.images import ImageSet
from audit.probes.noise import ImageNoise
from audit.probes.progress import progress
from audit.probes.runners import Runner, run_in_fixed_batches
from audit.schema import FourierHeatmap

BASIS = "cos + sin (gatheluck's implementation: cos), unit L2 norm, random sign per image and channel"


def _signs(seed: int, u: int, v: int, start: int, device: torch.device) -> ImageNoise:
    # Per (frequency, image): the grouping of frequencies or images never changes a number.
    return ImageNoise(seed, f"fourier@{u},{v}", start, device)


AXIS_POINTS = 32  # frequencies per axis evaluated by default on large images
BUDGET_SECONDS = 600.0  # the heat map's default time budget: a step is chosen to fit it

# Yin et al. (2019) perturb with norm 4 on CIFAR-10 (32 px) and 15.7 on ImageNet (224 px).
NORM_REFERENCES = ((32, 4.0), (224, 15.7))


def default_step(height: int, width: int) -> int:
    """Every frequency up to 64 px; beyond, every k-th, about 32 per axis (a 224-px
    image: every 7th, 32 x 17 frequencies instead of 224 x 113)."""
    side = max(height, width)
    return 1 if side <= 64 else -(-side // AXIS_POINTS)


def default_norm(height: int, width: int) -> float:
    """The perturbation's L2 norm for an image size: Yin et al.'s constants at 32 and 224
    px, linear in the image side between them and beyond (never below 1)."""
    (low_side, low_norm), (high_side, high_norm) = NORM_REFERENCES
    side = max(height, width)
    return max(1.0, low_norm + (side - low_side) * (high_norm - low_norm) / (high_side - low_side))


def frequency_count(height: int, width: int, step: int) -> int:
    return len(heatmap_frequencies(-(-height // step), -(-width // step)))


@dataclass(frozen=True)
class HeatmapPlan:
    """What the heat map will evaluate and about how long it takes, said before it starts."""

    step: int
    frequencies: int
    evaluations: int  # forward passes of one image: frequencies x images x models
    seconds: float | None  # estimated from the probe suite's measured throughput
    chosen: bool  # the step was chosen to fit the budget (not given)

    def describe(self, samples: int, models: int, budget: float) -> str:
        when = ""
        if self.seconds is not None:
            when = f", about {self.seconds:.0f} s" if self.seconds < 120 else f", about {self.seconds / 60:.0f} min"
        how = f"chosen to fit --heatmap-budget {budget:g} s" if self.chosen else "as asked with --heatmap-step"
        return (
            f"Fourier heat map: {self.frequencies} frequencies (every {self.step} per axis, {how}) x {samples} "
            f"images x {models} model(s) = {self.evaluations:,} forward passes{when}"
        )


def plan_heatmap(
    height: int,
    width: int,
    samples: int,
    models: int,
    images_per_second: float | None,
    *,
    step: int | None = None,
    budget: float = BUDGET_SECONDS,
) -> HeatmapPlan:
    """The step to use: the one asked for, else the finest (from :func:`default_step`
    upward) whose estimated time fits ``budget`` at the measured ``images_per_second``."""

    def plan(k: int, chosen: bool) -> HeatmapPlan:
        count = frequency_count(height, width, k)
        evaluations = count * samples * models
        seconds = evaluations / images_per_second if images_per_second else None
        return HeatmapPlan(k, count, evaluations, seconds, chosen)

    if step is not None:
        return plan(step, False)
    k = default_step(height, width)
    candidate = plan(k, True)
    while candidate.seconds is not None and candidate.seconds > budget and k < max(height, width):
        k += 1
        candidate = plan(k, True)
    return candidate


def run_fourier_heatmap(
    runners: dict[str, Runner],
    dataset: ImageSet,
    *,
    norm: float = 4.0,
    samples: int = 256,
    seed: int = 0,
    batch_size: int = 512,
    show_progress: bool = False,
    step: int | None = None,
) -> FourierHeatmap:
    """Error rate (1 - accuracy; disagreement with the clean prediction without labels)
    under x + r * norm * U(u, v) for every frequency (every ``step``-th on each axis; by
    default :func:`default_step`), on the first ``samples`` images. The grid holds the
    evaluated frequencies only: cell (i, j) is frequency (step * (i - rows // 2), ...)."""
    device = runners["model"].device
    images = dataset.images[:samples].to(device).float() / 255.0
    labels = dataset.labels[:samples].to(device) if dataset.labels is not None else None
    mean = torch.tensor(dataset.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(dataset.std, device=device).view(1, -1, 1, 1)
    _, height, width = dataset.shape
    count = len(images)
    references = {}
    for name, runner in runners.items():
        references[name] = (
            labels
            if labels is not None
            else torch.cat(
                [
                    run_in_fixed_batches(runner, (images[s : s + batch_size] - mean) / std).argmax(1)
                    for s in range(0, count, batch_size)
                ]
            )
        )
    step = step or default_step(height, width)
    rows, columns = -(-height // step), -(-width // step)
    grids = {name: torch.zeros(rows, columns, device=device) for name in runners}
    frequencies = [(step * u, step * v) for u, v in heatmap_frequencies(rows, columns)]
    # Few images per frequency would leave a GPU idle: when all of them fit in a batch,
    # several frequencies share one forward pass. Signs are per (frequency, image)
    # either way, so the numbers do not depend on the grouping.
    per_forward = max(1, batch_size // count) if count <= batch_size else 1
    with progress(len(frequencies), show_progress, "Fourier heat map", unit="frequencies") as advance:
        for first in range(0, len(frequencies), per_forward):
            group = list(enumerate(frequencies))[first : first + per_forward]
            rates: dict[str, list[Any]] = {name: [] for name in runners}
            if count <= batch_size:
                perturbed = torch.cat(
                    [
                        fourier_perturbation(
                            images, fourier_basis(height, width, u, v, device), norm, _signs(seed, u, v, 0, device)
                        )
                        for _, (u, v) in group
                    ]
                )
                for name, runner in runners.items():
                    predictions = (
                        run_in_fixed_batches(runner, (perturbed - mean) / std).argmax(1).view(len(group), count)
                    )
                    rates[name] = list((predictions != references[name][None]).float().mean(dim=1))
            else:
                ((_, (u, v)),) = group
                basis = fourier_basis(height, width, u, v, device)
                wrong = {name: torch.zeros((), device=device) for name in runners}
                for s in range(0, count, batch_size):
                    perturbed = fourier_perturbation(
                        images[s : s + batch_size], basis, norm, _signs(seed, u, v, s, device)
                    )
                    for name, runner in runners.items():
                        prediction = run_in_fixed_batches(runner, (perturbed - mean) / std).argmax(1)
                        wrong[name] += (prediction != references[name][s : s + batch_size]).sum()
                rates = {name: [wrong[name] / count] for name in runners}
            for position, (_, (u, v)) in enumerate(group):
                i, j = u // step, v // step
                for name in runners:
                    # (u, v) and (-u, -v) give the same basis: fill both cells, DC centred.
                    grids[name][(i + rows // 2) % rows, (j + columns // 2) % columns] = rates[name][position]
                    grids[name][(-i + rows // 2) % rows, (-j + columns // 2) % columns] = rates[name][position]
            advance.advance(len(group))
    return FourierHeatmap(
        norm=norm,
        samples=count,
        basis=BASIS,
        frequencies=len(frequencies),
        step=step,
        errors=grids["model"].cpu().tolist(),
        baseline_errors=grids["baseline"].cpu().tolist() if "baseline" in grids else None,
    )
