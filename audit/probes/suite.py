"""The probe suite: every probe and severity over a data set, for a model and optionally
a baseline model on the same corrupted images.

Speed is the point here: the data set is moved to the device once as uint8, each batch
is converted to float once, corruptions run on the device in large batches, counts
stay on the device until the end (no per-batch host sync), and a CUDA out-of-memory
error halves the batch and carries on.
"""

from __future__ import annotations

import time

import torch

from audit.errors import AuditError
from audit.probes.datasets import ImageSet
from audit.probes.progress import progress
from audit.probes.registry import Probe
from audit.probes.runners import run_in_fixed_batches
from audit.schema import ProbeResult


def check_compatibility(runner, dataset: ImageSet, expected_shape=None) -> int:
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


def noise_generator(device: torch.device, seed: int, task: int, start: int) -> torch.Generator:
    # One stream per (probe severity, batch start): the same command gives the same noise,
    # and the model and the baseline see the same corrupted images.
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + task * 10_007 + start)


def run_probe_suite(
    runners: dict[str, object],
    dataset: ImageSet,
    probes: list[Probe],
    *,
    seed: int = 0,
    batch_size: int = 512,
    show_progress: bool = False,
) -> tuple[list[ProbeResult], dict[str, float | None], int, list[str]]:
    """Evaluate ``runners`` ({'model': r, 'baseline': r?}) under every probe and severity.

    Returns (results, clean accuracy per runner, final batch size, notes).
    """
    device = runners["model"].device
    images = dataset.images.to(device)  # decoded once, kept as uint8
    labels = dataset.labels.to(device) if dataset.labels is not None else None
    mean = torch.tensor(dataset.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(dataset.std, device=device).view(1, -1, 1, 1)
    tasks: list[tuple[Probe | None, float]] = [(None, 0.0)] + [(p, s) for p in probes for s in p.severities]
    names = list(runners)
    correct = torch.zeros(len(tasks), len(names), dtype=torch.long, device=device)
    agree = torch.zeros_like(correct)
    notes: list[str] = []
    total = len(images)

    with progress(total * len(tasks), show_progress, f"probes on {dataset.name}", unit="image evaluations") as advance:
        start = 0
        while start < total:
            end = min(start + batch_size, total)
            try:
                batch_correct, batch_agree = _evaluate_batch(
                    runners,
                    names,
                    tasks,
                    images[start:end],
                    None if labels is None else labels[start:end],
                    mean,
                    std,
                    seed,
                    start,
                    advance,
                )
            except torch.cuda.OutOfMemoryError:
                if batch_size == 1:
                    raise AuditError("CUDA ran out of memory even with a batch of one image.")
                batch_size //= 2
                torch.cuda.empty_cache()
                notes.append(f"CUDA out of memory: batch size halved to {batch_size}")
                continue
            correct += batch_correct
            agree += batch_agree
            start = end

    correct_host, agree_host = correct.cpu().tolist(), agree.cpu().tolist()  # the one sync
    clean = {name: (correct_host[0][i] / total if labels is not None else None) for i, name in enumerate(names)}
    results = []
    for index, (probe, severity) in enumerate(tasks[1:], start=1):
        accuracy = {
            name: (correct_host[index][i] / total if labels is not None else None) for i, name in enumerate(names)
        }
        agreement = {name: agree_host[index][i] / total for i, name in enumerate(names)}
        drop = {n: None if accuracy[n] is None else clean[n] - accuracy[n] for n in names}
        has_baseline = "baseline" in runners
        results.append(
            ProbeResult(
                probe=probe.name,
                severity=severity,
                value=float(probe.parameter_value(severity, dataset.shape[-1])),
                accuracy=accuracy["model"],
                agreement=agreement["model"],
                accuracy_drop=drop["model"],
                baseline_accuracy=accuracy["baseline"] if has_baseline else None,
                baseline_agreement=agreement["baseline"] if has_baseline else None,
                baseline_accuracy_drop=drop["baseline"] if has_baseline else None,
            )
        )
    return results, clean, batch_size, notes


def _evaluate_batch(runners, names, tasks, batch_images, batch_labels, mean, std, seed, start, advance):
    device = mean.device
    correct = torch.zeros(len(tasks), len(names), dtype=torch.long, device=device)
    agree = torch.zeros_like(correct)
    clean = batch_images.float().div_(255.0)
    clean_predictions: dict[str, torch.Tensor] = {}
    for index, (probe, severity) in enumerate(tasks):
        corrupted = (
            clean if probe is None else probe.apply(clean, severity, noise_generator(device, seed, index, start))
        )
        normalised = (corrupted - mean) / std
        for column, name in enumerate(names):
            prediction = run_in_fixed_batches(runners[name], normalised).argmax(dim=1)
            if probe is None:
                clean_predictions[name] = prediction
            if batch_labels is not None:
                correct[index, column] = (prediction == batch_labels).sum()
            agree[index, column] = (prediction == clean_predictions[name]).sum()
        advance(len(batch_images))
    return correct, agree


def timed(function, *args, **kwargs):
    """(result, seconds) with the device synchronised around the call."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    value = function(*args, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return value, time.perf_counter() - started
