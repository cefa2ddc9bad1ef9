"""The probe suite: every probe and severity over a data set, for a model and optionally
a baseline model on the same corrupted images.

Speed is the point here: the data set is moved to the device once as uint8, each batch
is converted to float once, corruptions run on the device in large batches, counts
stay on the device until the end (no per-batch host sync), and a CUDA out-of-memory
error halves the batch and carries on. Noise belongs to images, not batches
(:mod:`audit.probes.noise`), so neither the batch size nor a halving changes a number.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from audit.errors import AuditError
from audit.io import raise_if_interrupted
from audit.probes.images import ImageSet
from audit.probes.noise import ImageNoise
from audit.probes.progress import progress
from audit.probes.registry import Probe
from audit.probes.runners import Runner, run_in_fixed_batches

T = TypeVar("T")


def check_compatibility(runner: Runner, dataset: ImageSet, expected_shape: Sequence[int | None] | None = None) -> int:
    """Fail before any work if the model cannot take this data set; returns its class count."""
    channels, height, width = dataset.shape
    if expected_shape:
        wanted = tuple(expected_shape[1:])
        if len(wanted) == 3 and any(w is not None and w != g for w, g in zip(wanted, dataset.shape)):
            raise AuditError(
                f"the model expects inputs of shape {tuple('N' if w is None else w for w in wanted)} (C, H, W) but "
                f"{dataset.name} gives ({channels}, {height}, {width}).",
                hint="Use a matching data set, or resize the images with {input_size}.",
            )
    device = runner.device
    probe = dataset.images[:2].to(device).float() / 255
    mean = torch.tensor(dataset.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(dataset.std, device=device).view(1, -1, 1, 1)
    try:
        logits = run_in_fixed_batches(runner, (probe - mean) / std)
    except AuditError:
        raise
    except Exception as error:
        # TorchScript errors carry a serialized-code traceback; the cause is the last line.
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        message = (lines[-1] if lines else type(error).__name__)[:240]
        raise AuditError(
            f"the model fails on a ({channels}, {height}, {width}) batch from {dataset.name}: {message}.",
            hint="Check the data set's channels and size ({input_size}) against what the model expects.",
        )
    classes = int(logits.shape[1])
    if dataset.num_classes is not None and dataset.labels is not None and classes != dataset.num_classes:
        raise AuditError(
            f"the model predicts {classes} classes but {dataset.name} has {dataset.num_classes}; "
            "audit it on the data set it was trained for."
        )
    return classes


@dataclass
class SuiteOutcome:
    """Per-image outcomes of a probe suite, on the host.

    tasks: (probe, severity) pairs; the first is (None, 0): the clean images.
    correct: bool (tasks, runners, images), None without labels.
    agrees: bool (tasks, runners, images): the prediction equals the clean one.
    """

    runners: list[str]
    tasks: list[tuple[Probe | None, float]]
    correct: np.ndarray | None
    agrees: np.ndarray
    batch_size: int
    notes: list[str] = field(default_factory=list)
    non_finite: np.ndarray | None = None  # per runner: clean images whose logits hold NaN or Inf


def task_stream(probe: Probe, severity: float) -> str:
    """The name of a task's noise stream: the same for a probe and severity in every run."""
    return f"{probe.name}@{severity:g}"


def run_probe_suite(
    runners: dict[str, Runner],
    dataset: ImageSet,
    probes: list[Probe],
    *,
    seed: int = 0,
    batch_size: int = 512,
    show_progress: bool = False,
    first_index: int = 0,
    stored_uint8: bool = True,
) -> SuiteOutcome:
    """Evaluate ``runners`` ({'model': r, 'baseline': r?}) under every probe and severity,
    keeping every image's outcome so that model and baseline can be compared per image.

    first_index: the data-set index of ``dataset``'s first image (a shard's offset), which
        fixes its noise. stored_uint8: store CIFAR-10-C probes' images as uint8, as the
        reference does.
    """
    device = runners["model"].device
    images = dataset.images.to(device)  # decoded once, kept as uint8
    labels = dataset.labels.to(device) if dataset.labels is not None else None
    mean = torch.tensor(dataset.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(dataset.std, device=device).view(1, -1, 1, 1)
    tasks: list[tuple[Probe | None, float]] = [(None, 0.0)] + [(p, s) for p in probes for s in p.severities]
    names = list(runners)
    total = len(images)
    correct = torch.zeros(len(tasks), len(names), total, dtype=torch.bool, device=device)
    agrees = torch.zeros_like(correct)
    clean_predictions = torch.zeros(len(names), total, dtype=torch.long, device=device)
    non_finite = torch.zeros(len(names), dtype=torch.long, device=device)
    notes: list[str] = []
    last_of_probe = {
        index
        for index, (probe, _) in enumerate(tasks)
        if probe is not None and (index + 1 == len(tasks) or tasks[index + 1][0] is not probe)
    }

    # One task (the clean images, then each probe at each severity) at a time over all
    # images, so that progress can be reported per probe; the clean predictions are kept
    # for the agreement of every later task.
    with progress(
        total * len(tasks), show_progress, f"probes on {dataset.name}", "image evaluations", parts=len(probes)
    ) as shown:
        for index, (probe, severity) in enumerate(tasks):
            start = 0
            while start < total:
                raise_if_interrupted()  # a signal whose exception a library swallowed still stops the run
                end = min(start + batch_size, total)
                try:
                    batch = images[start:end].float().div_(255.0)
                    if probe is not None:
                        noise = ImageNoise(seed, task_stream(probe, severity), first_index + start, device)
                        batch = probe.apply(batch, severity, noise, as_uint8=stored_uint8)
                    normalised = (batch - mean) / std
                    for column, name in enumerate(names):
                        logits = run_in_fixed_batches(runners[name], normalised)
                        # A NaN or Inf logit is no prediction: wrong, and agreeing with nothing
                        # (an all-NaN model would otherwise "agree" 100% and drop 0 points).
                        finite = torch.isfinite(logits).all(dim=1)
                        prediction = torch.where(finite, logits.argmax(dim=1), -1)
                        if probe is None:
                            clean_predictions[column, start:end] = prediction
                            non_finite[column] += (~finite).sum()
                        if labels is not None:
                            correct[index, column, start:end] = (prediction == labels[start:end]) & finite
                        agrees[index, column, start:end] = (prediction == clean_predictions[column, start:end]) & finite
                except torch.cuda.OutOfMemoryError:
                    if batch_size == 1:
                        raise AuditError("CUDA ran out of memory even with a batch of one image.")
                    batch_size //= 2
                    torch.cuda.empty_cache()
                    notes.append(f"CUDA out of memory: batch size halved to {batch_size} (the numbers do not change)")
                    continue
                shown.advance(end - start)
                start = end
            if index in last_of_probe and probe is not None:
                shown.finished(probe.name)
    return SuiteOutcome(
        runners=names,
        tasks=tasks,
        correct=correct.cpu().numpy() if labels is not None else None,  # the one sync
        agrees=agrees.cpu().numpy(),
        batch_size=batch_size,
        notes=notes,
        non_finite=non_finite.cpu().numpy(),
    )


def run_probe_suite_parts(
    runners: dict[str, Runner],
    parts: Iterable[tuple[int, ImageSet]],
    probes: list[Probe],
    *,
    total: int,
    label: str,
    seed: int = 0,
    batch_size: int = 512,
    show_progress: bool = False,
    stored_uint8: bool = True,
) -> SuiteOutcome:
    """The suite over consecutive parts of a data set, ``parts`` yielding (index of the
    part's first image, ImageSet): a stream of decoded chunks. The outcomes are joined
    in image order; as noise belongs to image indices, they equal one pass over all."""
    pieces: list[SuiteOutcome] = []
    with progress(total, show_progress, label, "images") as shown:
        for first_index, part in parts:
            piece = run_probe_suite(
                runners,
                part,
                probes,
                seed=seed,
                batch_size=batch_size,
                first_index=first_index,
                stored_uint8=stored_uint8,
            )
            batch_size = piece.batch_size  # an out-of-memory halving holds for the next parts
            pieces.append(piece)
            shown.advance(len(part))
    return join_outcomes(pieces)


def join_outcomes(pieces: list[SuiteOutcome]) -> SuiteOutcome:
    """Outcomes of consecutive image ranges as one (images are the last axis)."""
    first = pieces[0]
    notes: list[str] = []
    for piece in pieces:
        notes += [n for n in piece.notes if n not in notes]
    return SuiteOutcome(
        runners=first.runners,
        tasks=first.tasks,
        correct=None if first.correct is None else np.concatenate([p.correct for p in pieces], axis=-1),
        agrees=np.concatenate([p.agrees for p in pieces], axis=-1),
        batch_size=min(p.batch_size for p in pieces),
        notes=notes,
        non_finite=None
        if first.non_finite is None
        else np.sum([p.non_finite for p in pieces if p.non_finite is not None], axis=0),
    )


def timed(function: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float]:
    """(result, seconds) with the device synchronised around the call."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    value = function(*args, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return value, time.perf_counter() - started
