"""The zoo study: which spectral statistic predicts which robustness, measured.

    python benchmarks/zoo_study.py --train ../shared/data/cifar10/cifar10_train_4660.npz

Trains a zoo of small CIFAR-10 ResNet-8 models on the real training images, then audits
every model with the installed tool (``spectral-audit zoo``: spectral statistics, the
default probes and the CIFAR-10-C preset on the bundled 846 test images) and writes

    benchmarks/zoo_study.json       per model: recipe, accuracy, statistics, per-probe drops
                                    with 95% intervals; per (statistic, probe, severity): the
                                    Spearman correlation across models and within architectures
    benchmarks/zoo_study.md         the summary the README quotes
    audit/data/zoo_calibration.json the correlations the findings cite (shipped in the package)

The grid: widths 8 and 16 x weight decay 0 / 1e-4 / 5e-4 / 5e-3 x augmentation (none,
flip+crop, flip+crop+Gaussian noise) x dropout 0 / 0.5 = 48 models per seed. On two CPU
cores it takes about an hour (``--epochs 12``); trained models stay in ``--work`` (not
committed), and a rerun skips every model already trained with the same recipe and every
audit already done, so an interrupted study resumes where it stopped.

It is a small-image, small-model study: 32x32 inputs, ResNet-8, 4,660 training images.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sample_models"))
from cifar_resnet import CifarResNet  # noqa: E402

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
TEST = ROOT / "audit" / "data" / "cifar10_test_846.npz"
TOOL = [sys.executable, "-m", "audit"]  # the installed spectral-audit, in this interpreter's environment

WIDTHS = (8, 16)
WEIGHT_DECAYS = (0.0, 1e-4, 5e-4, 5e-3)
AUGMENTATIONS = ("none", "flip-crop", "flip-crop-noise")
DROPOUTS = (0.0, 0.5)
NOISE_AUGMENT_MAX = 0.1  # per-image Gaussian noise sigma ~ U(0, 0.1) on [0, 1] pixels


@dataclass(frozen=True)
class Recipe:
    width: int
    weight_decay: float
    augmentation: str
    dropout: float
    seed: int
    epochs: int
    batch_size: int = 128
    lr: float | None = None  # None: the optimiser's usual rate (LEARNING_RATES)
    max_steps: int | None = None  # tests: stop after this many optimiser steps
    # The factors real training differs in (the real zoo's recipes, and issue 19's list):
    optimiser: str = "sgd"  # sgd (momentum 0.9) | adam | signsgd (sign of the momentum: signum)
    schedule: str = "cosine"  # cosine | multistep (x0.1 at 50% and 75%) | constant
    label_smoothing: float = 0.0
    pgd_steps: int = 0  # adversarial training: this many PGD steps (eps 2/255, L-inf) per batch
    prune: float = 0.0  # magnitude-prune this share of conv weights after training, then fine-tune
    finetune_epochs: int = 0  # after pruning, with the pruned weights held at zero

    @property
    def name(self) -> str:
        base = f"w{self.width}_wd{self.weight_decay:g}_{self.augmentation}_do{self.dropout:g}"
        extra = [
            self.optimiser if self.optimiser != "sgd" else "",
            self.schedule if self.schedule != "cosine" else "",
            f"ls{self.label_smoothing:g}" if self.label_smoothing else "",
            f"pgd{self.pgd_steps}" if self.pgd_steps else "",
            f"prune{self.prune:g}" if self.prune else "",
        ]
        return "_".join([base, *[e for e in extra if e], f"s{self.seed}"])

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else LEARNING_RATES[self.optimiser]


LEARNING_RATES = {"sgd": 0.05, "adam": 1e-3, "signsgd": 1e-3}
PGD_EPSILON, PGD_STEP = 2 / 255, 0.5 / 255


def grid(seeds: int, epochs: int, widths: tuple[int, ...] = WIDTHS) -> list[Recipe]:
    """The first study's grid: width x weight decay x augmentation x dropout (48 per seed)."""
    return [
        Recipe(width, wd, aug, dropout, seed, epochs)
        for seed, width, wd, aug, dropout in itertools.product(
            range(seeds), widths, WEIGHT_DECAYS, AUGMENTATIONS, DROPOUTS
        )
    ]


def recipe_grid(seeds: int, epochs: int, widths: tuple[int, ...] = WIDTHS) -> list[Recipe]:
    """Recipes as real training varies them: a base recipe (SGD, cosine, weight decay 5e-4,
    flip+crop) and one factor changed at a time (optimiser, schedule, weight decay, label
    smoothing, adversarial training, pruning with fine-tuning, augmentation, dropout), for
    both widths and every seed: 13 recipes x 2 widths x ``seeds`` models. Two seeds or more
    measure the seed-to-seed spread a statistic must exceed."""
    base = {"weight_decay": 5e-4, "augmentation": "flip-crop", "dropout": 0.0, "epochs": epochs}
    variants = [
        {},
        {"optimiser": "adam"},
        {"optimiser": "signsgd"},
        {"schedule": "multistep"},
        {"schedule": "constant"},
        {"weight_decay": 0.0},
        {"weight_decay": 5e-3},
        {"label_smoothing": 0.1},
        {"pgd_steps": 3},
        {"prune": 0.5, "finetune_epochs": max(1, epochs // 5)},
        {"prune": 0.8, "finetune_epochs": max(1, epochs // 5)},
        {"augmentation": "none"},
        {"dropout": 0.5},
    ]
    return [
        Recipe(width=width, seed=seed, **{**base, **variant})
        for seed, width, variant in itertools.product(range(seeds), widths, variants)
    ]


GRIDS = {"factors": recipe_grid, "regularisers": grid}


def load_npz(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    data = np.load(path)
    return torch.from_numpy(data["images"]).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(data["labels"]).long()


def augment(images: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """uint8 NCHW -> float in [0, 1]: random crop (pad 4) + flip, then optional noise."""
    if kind == "none":
        return images.float() / 255
    n, _, height, width = images.shape
    padded = F.pad(images, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=generator)
    dx = torch.randint(0, 9, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(height))[:, None, :, None].expand(n, 3, height, width + 8)
    cols = (dx[:, None] + torch.arange(width))[:, None, None, :].expand(n, 3, height, width)
    cropped = padded.gather(2, rows).gather(3, cols)
    flip = torch.rand(n, generator=generator) < 0.5
    cropped[flip] = cropped[flip].flip(-1)
    out = cropped.float() / 255
    if kind == "flip-crop-noise":
        sigma = torch.rand(n, 1, 1, 1, generator=generator) * NOISE_AUGMENT_MAX
        out = (out + sigma * torch.randn(out.shape, generator=generator)).clamp(0, 1)
    return out


@torch.inference_mode()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), 512):
        logits = model((images[start : start + 512].float() / 255 - MEAN) / STD)
        correct += int((logits.argmax(1) == labels[start : start + 512]).sum())
    return correct / len(images)


def _save_traced(model: torch.nn.Module, path: Path) -> None:
    """TorchScript, written atomically: a model file exists only when it is complete."""
    model.eval()
    partial = path.with_name(path.name + ".partial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(model, torch.zeros(1, 3, 32, 32), check_trace=False), partial)
    os.replace(partial, path)


def train_one(recipe: Recipe, train, test, work: Path, progress=None) -> dict:
    """Train one model; write models/NAME.ts.pt, init/NAME.ts.pt and models/NAME.json."""
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    model = CifarResNet(width=recipe.width, dropout=recipe.dropout)
    (work / "init").mkdir(parents=True, exist_ok=True)
    (work / "models").mkdir(parents=True, exist_ok=True)
    _save_traced(model, work / "init" / f"{recipe.name}.ts.pt")
    model.train()
    steps_per_epoch = -(-len(train[0]) // recipe.batch_size)
    total = recipe.epochs * steps_per_epoch if recipe.max_steps is None else recipe.max_steps
    start = time.time()
    task = progress.add_task(recipe.name, total=total) if progress is not None else None
    curve: list[float] = []  # test accuracy after each epoch: shows whether training reached a plateau
    steps = _train_steps(
        model, recipe, train, generator, total, progress, task, on_epoch=lambda: curve.append(accuracy(model, *test))
    )
    if recipe.prune:
        masks = magnitude_prune(model, recipe.prune)
        finetune = recipe.finetune_epochs * steps_per_epoch if recipe.max_steps is None else recipe.max_steps
        steps += _train_steps(model, recipe, train, generator, finetune, progress, task, masks=masks, lr_scale=0.1)
    if progress is not None:
        progress.remove_task(task)
    record = {
        "recipe": asdict(recipe),
        "test_accuracy": round(accuracy(model, *test), 4),
        "train_accuracy": round(accuracy(model, *train), 4),
        "train_seconds": round(time.time() - start, 1),
        "steps": steps,
        "epoch_test_accuracy": [round(a, 4) for a in curve],
    }
    _save_traced(model, work / "models" / f"{recipe.name}.ts.pt")
    (work / "models" / f"{recipe.name}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


class SignSGD(torch.optim.Optimizer):
    """Signum: a step of -lr * sign(momentum of the gradient), decoupled weight decay."""

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                buffer = self.state[p].setdefault("momentum", torch.zeros_like(p))
                buffer.mul_(group["momentum"]).add_(p.grad, alpha=1 - group["momentum"])
                p.mul_(1 - group["lr"] * group["weight_decay"]).add_(buffer.sign(), alpha=-group["lr"])


def make_optimiser(model: torch.nn.Module, recipe: Recipe, lr_scale: float = 1.0) -> torch.optim.Optimizer:
    lr, wd = recipe.learning_rate * lr_scale, recipe.weight_decay
    if recipe.optimiser == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
    if recipe.optimiser == "adam":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    if recipe.optimiser == "signsgd":
        return SignSGD(model.parameters(), lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimiser {recipe.optimiser!r}")


def make_schedule(optimiser: torch.optim.Optimizer, recipe: Recipe, total: int):
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(total, 1))
    if recipe.schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimiser, [total // 2, (3 * total) // 4], 0.1)
    if recipe.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimiser, lambda _: 1.0)
    raise ValueError(f"unknown schedule {recipe.schedule!r}")


def pgd_images(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, steps: int, generator
) -> torch.Tensor:
    """L-inf PGD (Madry et al.) on [0, 1] pixels, eps 2/255, random start: the adversarial
    examples an adversarially trained model learns from."""
    delta = (torch.rand(images.shape, generator=generator) * 2 - 1) * PGD_EPSILON
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(((images + delta).clamp(0, 1) - MEAN) / STD), labels)
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + PGD_STEP * grad.sign()).clamp(-PGD_EPSILON, PGD_EPSILON)
    return (images + delta).clamp(0, 1).detach()


def magnitude_prune(model: torch.nn.Module, share: float) -> dict[torch.nn.Parameter, torch.Tensor]:
    """Zero the smallest ``share`` of all conv weights by magnitude (global, one shot), as
    the real zoo's pruned ResNet-56s were; returns the masks that keep them at zero."""
    weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    magnitudes = torch.cat([w.detach().abs().flatten() for w in weights])
    threshold = magnitudes.kthvalue(max(1, int(share * magnitudes.numel()))).values
    masks = {}
    with torch.no_grad():
        for weight in weights:
            masks[weight] = (weight.abs() > threshold).to(weight.dtype)
            weight.mul_(masks[weight])
    return masks


def _train_steps(
    model, recipe: Recipe, train, generator, total: int, progress, task, masks=None, lr_scale=1.0, on_epoch=None
):
    optimiser = make_optimiser(model, recipe, lr_scale)
    schedule = make_schedule(optimiser, recipe, total)
    step = 0
    while step < total:
        model.train()
        for batch in torch.randperm(len(train[0]), generator=generator).split(recipe.batch_size):
            pixels = augment(train[0][batch], recipe.augmentation, generator)
            if recipe.pgd_steps:
                pixels = pgd_images(model, pixels, train[1][batch], recipe.pgd_steps, generator)
            loss = F.cross_entropy(
                model((pixels - MEAN) / STD), train[1][batch], label_smoothing=recipe.label_smoothing
            )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            if masks:
                with torch.no_grad():
                    for weight, mask in masks.items():
                        weight.mul_(mask)
            step += 1
            if progress is not None:
                progress.update(task, advance=1, description=f"{recipe.name} loss {loss.item():.2f}")
            if step >= total:
                break
        if on_epoch is not None:
            on_epoch()
    return step


def trained_already(recipe: Recipe, work: Path) -> dict | None:
    """The record of a model trained earlier with exactly this recipe, else None."""
    record_path = work / "models" / f"{recipe.name}.json"
    if not record_path.is_file() or not (work / "models" / f"{recipe.name}.ts.pt").is_file():
        return None
    record = json.loads(record_path.read_text())
    return record if record.get("recipe") == asdict(recipe) else None


def train_zoo(recipes: list[Recipe], train_path: Path, work: Path, test_path: Path = TEST) -> list[dict]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    train, test = load_npz(train_path), load_npz(test_path)
    records = []
    interactive = sys.stderr.isatty()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not interactive) as progress:
        overall = progress.add_task("zoo", total=len(recipes))
        for index, recipe in enumerate(recipes, 1):
            record = trained_already(recipe, work)
            if record is None:
                record = train_one(recipe, train, test, work, progress)
                state = f"trained in {record['train_seconds']:.0f} s"
            else:
                state = "already trained"
            records.append(record)
            progress.advance(overall)
            if not interactive:
                print(
                    f"[{index}/{len(recipes)}] {recipe.name}: test accuracy {record['test_accuracy']:.3f} ({state})",
                    file=sys.stderr,
                    flush=True,
                )
    return records


def audit_zoo(
    recipes: list[Recipe], work: Path, probes: str, samples: int | None, resamples: int, report: bool = True
) -> Path:
    """Audit every trained model with the installed tool; returns the zoo table's path."""
    records = {r.name: json.loads((work / "models" / f"{r.name}.json").read_text()) for r in recipes}
    (work / "recipes.json").write_text(
        json.dumps({name: {**rec["recipe"], "test_accuracy": rec["test_accuracy"]} for name, rec in records.items()})
    )
    listed = work / "zoo"  # exactly this grid's models, linked: the models folder may hold others
    listed.mkdir(parents=True, exist_ok=True)
    for old in listed.iterdir():
        old.unlink()
    for recipe in recipes:
        (listed / f"{recipe.name}.ts.pt").symlink_to((work / "models" / f"{recipe.name}.ts.pt").resolve())
    table = work / "zoo.json"
    command = [
        *TOOL,
        "zoo",
        str(listed),
        "--trust-code",  # models this script traced itself
        "--init-dir",
        str(work / "init"),
        "--data",
        "cifar10-sample",
        "--probes",
        probes,
        "--cache",
        str(work / "cache"),
        "--recipes",
        str(work / "recipes.json"),
        "--resamples",
        str(resamples),
        "--json",
        str(table),
        "--device",
        "auto",
    ]
    if samples is not None:
        command += ["--samples", str(samples)]
    if report:
        command += ["--out", str(work / "report")]
    subprocess.run(command, check=True)
    return table


def publish(
    table: Path,
    json_out: Path,
    markdown_out: Path,
    calibration_out: Path,
    train_seconds: float,
    audit_seconds: float,
    grid: str = "regularisers",
    records: list[dict] | None = None,
    command: str = "python benchmarks/zoo_study.py --train ../shared/data/cifar10/cifar10_train_4660.npz",
) -> None:
    """The committed results: the table (numbers rounded to 4 places), its Markdown
    summary and the calibration the findings cite. The factors grid adds the seed spread
    against the recipe spread, and how close training came to its plateau."""
    if grid == "factors":
        return _publish_factors(
            table, json_out, markdown_out, calibration_out, train_seconds, audit_seconds, records or [], command
        )
    from audit.report.zoo import zoo_markdown
    from audit.rules.forecasts import calibration_from_zoo
    from audit.schema import ZooResult, decode_result

    data = json.loads(table.read_text())
    zoo = decode_result(ZooResult, data)
    json_out.write_text(json.dumps(_rounded(data), separators=(",", ":")) + "\n")
    description = (
        f"the bundled zoo study ({len(zoo.models)} ResNet-8 models on CIFAR-10, {zoo.groups} widths, "
        f"{zoo.samples} test images)"
    )
    calibration = calibration_from_zoo(zoo, description)
    calibration_out.write_text(json.dumps(_rounded(calibration.to_dict()), indent=1) + "\n")
    markdown = zoo_markdown(zoo, title="Zoo study: what the spectrum predicts")
    accuracies = [m.clean_accuracy for m in zoo.models if m.clean_accuracy is not None]
    markdown += (
        "\n## How it was made\n\n"
        f"`python benchmarks/zoo_study.py --train ../shared/data/cifar10/cifar10_train_4660.npz` on "
        f"{zoo.run.device if zoo.run else '?'}: training {train_seconds / 60:.0f} min (sum over the models), audits "
        f"{audit_seconds / 60:.0f} min. Models: ResNet-8 of widths {', '.join(map(str, WIDTHS))}, weight decay "
        f"{' / '.join(f'{w:g}' for w in WEIGHT_DECAYS)}, augmentation {' / '.join(AUGMENTATIONS)}, dropout "
        f"{' / '.join(f'{d:g}' for d in DROPOUTS)}, one seed, trained on the 4,660 real CIFAR-10 training images "
        f"in `../shared/data`; clean accuracy on the 846 bundled test images "
        f"{100 * min(accuracies):.1f}-{100 * max(accuracies):.1f}%. Each model was audited against the white-noise "
        "reference with the default probes and the CIFAR-10-C preset.\n\n"
        "## How to read it\n\n"
        "- A drop is in points of accuracy, so it is bounded by the clean accuracy: compare each statistic's row "
        "with the *clean accuracy (reference)* row, which is not spectral. A statistic that only tracks accuracy "
        "ranks drops as well as accuracy does and no better.\n"
        "- All models of one width start from the same initial weights (seed 0), so within an architecture SSR "
        "against initialisation ranks models exactly as SSR against white noise does.\n"
        "- Many pairs are tested; a single interval excluding zero among hundreds is weak evidence on its own. "
        "The findings use only the pairs at each default probe's middle severity.\n"
        "- Caveat: a small-image, small-model study (32x32 inputs, ResNet-8, a few thousand training images, "
        "clean accuracies of 35-60%); whether the same statistics rank ImageNet-scale models the same way is not "
        "measured here. Calibrate on your own models with `spectral-audit zoo`.\n"
    )
    markdown_out.write_text(markdown)


def _publish_factors(table, json_out, markdown_out, calibration_out, train_seconds, audit_seconds, records, command):
    from audit.report.zoo import zoo_markdown
    from audit.rules.forecasts import calibration_from_zoo
    from audit.schema import ZooResult, decode_result

    data = json.loads(table.read_text())
    zoo = decode_result(ZooResult, data)
    spread = seed_spread(zoo)
    facts = plateau(records)
    data["seed_spread"], data["plateau"] = spread, facts
    json_out.write_text(json.dumps(_rounded(data), separators=(",", ":")) + "\n")
    widths = sorted({m.recipe.get("width") for m in zoo.models if m.recipe.get("width")})
    description = (
        f"the recipe-factor zoo study ({len(zoo.models)} ResNet-8 models on CIFAR-10, one factor of real training "
        f"changed at a time, 2 seeds each, {zoo.samples} test images)"
    )
    calibration_out.write_text(json.dumps(_rounded(calibration_from_zoo(zoo, description).to_dict()), indent=1) + "\n")
    accuracies = [m.clean_accuracy for m in zoo.models if m.clean_accuracy is not None]
    epochs = sorted({m.recipe.get("epochs") for m in zoo.models if m.recipe.get("epochs")})
    markdown = zoo_markdown(zoo, title="Zoo study, recipe factors: what the spectrum predicts")
    markdown += spread_markdown(spread, facts)
    markdown += models_markdown(zoo, records)
    markdown += (
        "\n## How it was made\n\n"
        f"`{command}` on {zoo.run.device if zoo.run else '?'}: training {train_seconds / 60:.0f} min (sum over the "
        f"models), audits {audit_seconds / 60:.0f} min. Models: ResNet-8 of width {', '.join(map(str, widths))}, "
        f"{', '.join(map(str, epochs))} epochs, trained on the 4,660 real CIFAR-10 training images "
        "in `../shared/data`. "
        "Base recipe: SGD with momentum 0.9, cosine schedule, weight decay 5e-4, flip+crop augmentation. Each other "
        "recipe changes one factor: Adam(W), SignSGD (signum), multistep or constant schedule, weight decay 0 or "
        "5e-3, label smoothing 0.1, adversarial training (3 PGD steps, eps 2/255), magnitude pruning of 50% or 80% "
        "of conv weights with fine-tuning, no augmentation, dropout 0.5; two seeds per recipe. Clean accuracy on the "
        f"846 bundled test images {100 * min(accuracies):.1f}-{100 * max(accuracies):.1f}%. Each model was audited "
        "against the white-noise reference with the default probes and the CIFAR-10-C preset.\n"
    )
    markdown_out.write_text(markdown)


def models_markdown(zoo, records: list[dict]) -> str:
    """One row per model: its clean accuracy on the 846 test images and what it still
    gained over its last quarter of epochs."""
    curves = {Recipe(**r["recipe"]).name: r.get("epoch_test_accuracy") or [] for r in records}
    lines = ["\n## Models\n", "| model | clean accuracy | gained over the last quarter of epochs |", "|---|---|---|"]
    for model in sorted(zoo.models, key=lambda m: m.name):
        curve = curves.get(model.name, [])
        quarter = max(1, len(curve) // 4)
        gain = f"{100 * (curve[-1] - curve[-1 - quarter]):+.1f} points" if len(curve) >= 4 else "n/a"
        accuracy = "n/a" if model.clean_accuracy is None else f"{100 * model.clean_accuracy:.1f}%"
        lines.append(f"| {model.name} | {accuracy} | {gain} |")
    return "\n".join(lines) + "\n"


def seed_spread(zoo) -> list[dict]:
    """Per statistic: how far it moves between recipes against how far it moves between
    seeds of one recipe (one-way ANOVA over the recipes, seeds as replicates). A statistic
    that moves less between recipes than between seeds (F <= 1) predicts nothing about a
    recipe; a p-value says whether the recipes differ at all."""
    from scipy.stats import f_oneway

    from audit.spectral.statistics import STATISTICS
    from audit.zoo.table import statistic_value

    by_recipe: dict[str, list] = {}
    for model in zoo.models:
        recipe = {k: v for k, v in model.recipe.items() if k not in ("seed", "test_accuracy")}
        by_recipe.setdefault(json.dumps(recipe, sort_keys=True), []).append(model)
    replicated = [group for group in by_recipe.values() if len(group) >= 2]
    rows = []
    names = list(STATISTICS)  # clean accuracy among them, as the yardstick
    for name in names:

        def value(model, name=name):
            return statistic_value(model, name)

        groups = [[value(m) for m in group] for group in replicated]
        if len(groups) < 2 or any(v is None for g in groups for v in g):
            continue
        means = [float(np.mean(g)) for g in groups]
        within = float(np.sqrt(np.mean([np.var(g, ddof=1) for g in groups])))
        test = f_oneway(*groups)
        rows.append(
            {
                "statistic": name,
                "label": STATISTICS[name].label,
                "between_recipes_sd": float(np.std(means, ddof=1)),
                "between_seeds_sd": within,
                "f": float(test.statistic),
                "p": float(test.pvalue),
                "recipes": len(groups),
            }
        )
    return rows


def plateau(records: list[dict]) -> dict:
    """How much test accuracy each model still gained over its last quarter of epochs
    (points): near zero means training had reached its plateau."""
    gains = []
    for record in records:
        curve = record.get("epoch_test_accuracy") or []
        if len(curve) >= 4:
            quarter = max(1, len(curve) // 4)
            gains.append(100 * (curve[-1] - curve[-1 - quarter]))
    if not gains:
        return {}
    return {"median": float(np.median(gains)), "max": float(np.max(gains)), "models": len(gains)}


def spread_markdown(rows: list[dict], plateau_facts: dict) -> str:
    lines = [
        "\n## Seed spread against recipe spread\n",
        "Each recipe was trained with two seeds. A statistic that moves less between recipes than between seeds "
        "of one recipe (F ≤ 1) cannot tell recipes apart, so it predicts nothing about them.\n",
        "| statistic | SD between recipe means | SD between seeds | F | p | tells recipes apart |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        apart = "yes" if row["f"] > 1 and row["p"] < 0.05 else "no"
        lines.append(
            f"| {row['label']} | {row['between_recipes_sd']:.4f} | {row['between_seeds_sd']:.4f} | {row['f']:.2f} | "
            f"{row['p']:.3g} | {apart} |"
        )
    if plateau_facts:
        lines.append(
            f"\nPlateau: over the last quarter of its epochs a model gained a median of {plateau_facts['median']:+.1f} "
            f"points of test accuracy (largest {plateau_facts['max']:+.1f}; {plateau_facts['models']} models)."
        )
    return "\n".join(lines) + "\n"


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="cifar10_train_4660.npz from ../shared/data/cifar10")
    parser.add_argument(
        "--work", type=Path, default=ROOT / "zoo_work", help="trained models and audits (not committed)"
    )
    parser.add_argument(
        "--grid",
        choices=sorted(GRIDS),
        default="regularisers",
        help="regularisers: width x weight decay x augmentation x dropout (the committed study, 48 per seed); "
        "factors: a base recipe and one real-training factor changed at a time (26 per seed)",
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds per recipe (2 or more measure the seed spread)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument(
        "--widths", default=",".join(map(str, WIDTHS)), help="ResNet-8 widths, comma-separated (default: 8,16)"
    )
    parser.add_argument("--probes", default="default,cifar10-c")
    parser.add_argument("--samples", type=int, default=None, help="test images per audit (default: all 846)")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML/PDF report in WORK/report")
    parser.add_argument("--limit", type=int, default=None, help="only this many recipes, spread over the grid")
    parser.add_argument("--max-steps", type=int, default=None, help="stop each model after this many steps (tests)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks", help="where zoo_study.json and .md go")
    parser.add_argument(
        "--stem", default="zoo_study", help="the committed files' name: STEM.json and STEM.md (zoo_factors_study)"
    )
    parser.add_argument(
        "--calibration", type=Path, default=ROOT / "audit" / "data" / "zoo_calibration.json", help="the findings' copy"
    )
    args = parser.parse_args(argv)
    started = time.time()
    widths = tuple(int(w) for w in args.widths.split(","))
    recipes = GRIDS[args.grid](args.seeds, args.epochs, widths)
    if args.limit:
        recipes = recipes[:: max(1, len(recipes) // args.limit)][: args.limit]
    if args.max_steps:
        recipes = [dataclasses.replace(r, max_steps=args.max_steps) for r in recipes]
    records = train_zoo(recipes, args.train, args.work)
    print(f"trained {len(recipes)} models in {time.time() - started:.0f} s", file=sys.stderr)
    if args.train_only:
        return 0
    audit_started = time.time()
    table = audit_zoo(recipes, args.work, args.probes, args.samples, args.resamples, report=not args.no_report)
    audit_seconds = _audit_seconds(args.work, time.time() - audit_started)
    train_seconds = sum(r["train_seconds"] for r in records)
    publish(
        table,
        args.out / f"{args.stem}.json",
        args.out / f"{args.stem}.md",
        args.calibration,
        train_seconds,
        audit_seconds,
        grid=args.grid,
        records=records,
        command="python benchmarks/zoo_study.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    )
    print(f"zoo study: {len(recipes)} models; wrote {args.out}/{args.stem}.*", file=sys.stderr)
    return 0


def _audit_seconds(work: Path, this_run: float) -> float:
    """The audits' time over every run (a resumed study audits only what was left): the
    longest this run, else the one recorded earlier."""
    record = work / "audit_seconds.json"
    earlier = json.loads(record.read_text())["seconds"] if record.is_file() else 0.0
    seconds = max(this_run, earlier)
    record.write_text(json.dumps({"seconds": seconds}))
    return seconds


if __name__ == "__main__":
    sys.exit(main())
