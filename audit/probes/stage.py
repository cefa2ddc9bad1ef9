"""The probe stage of an audit: data set + runners + probe suite -> ProbeSection.

Everything the user can choose about the probes is in :class:`ProbeOptions`; this
module resolves those choices (which images, which runners, which probes) and hands
them to the engines in :mod:`audit.probes.suite` and :mod:`audit.probes.heatmap`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from audit.errors import AuditError
from audit.loading.kernels import LoadedModel
from audit.probes import datasets, distributed
from audit.probes import statistics as stats
from audit.probes.examples import example_strip
from audit.probes.folders import ImageFiles, inference_threads
from audit.probes.heatmap import default_norm, plan_heatmap, run_fourier_heatmap
from audit.probes.registry import resolve_probes
from audit.probes.runners import Runner, make_runner
from audit.probes.statistics import RESAMPLES
from audit.probes.suite import check_compatibility, run_probe_suite, run_probe_suite_parts, timed
from audit.probes.summary import METHOD, Outcomes, judge_probes, summarise
from audit.schema import AuditResult, ProbeSection

CPU_DEFAULT_SAMPLES = 1000  # a CPU-sized subset unless the user asks for another size


@dataclass
class ProbeOptions:
    """How to run the probes. ``samples=None``: the whole split on a GPU, a seeded subset
    of :data:`CPU_DEFAULT_SAMPLES` images on the CPU."""

    data: str
    data_root: str | None = None
    download: bool = True
    samples: int | None = None
    probes: str = "default"
    seed: int = 0
    batch_size: int | None = None  # None: chosen for the device and the image size
    precision: str = "fp32"
    logits: str | None = None  # which model output holds the logits, when several could
    arch: str | None = None
    arch_args: dict[str, Any] | None = None
    num_classes: int | None = None
    input_size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    heatmap_samples: int = 256
    heatmap_norm: float | None = None  # None: scaled with the image size (Yin et al.'s 4 at 32 px, 15.7 at 224)
    heatmap_step: int | None = None  # every N-th frequency per axis; None: the finest that fits the budget
    heatmap_budget: float = 600.0  # seconds the heat map may take, estimated from the suite's throughput
    show_progress: bool = False
    baseline_arch: str | None = None  # the baseline's own architecture, when it differs
    baseline_arch_args: dict[str, Any] | None = None
    stored_uint8: bool = True  # CIFAR-10-C probes store their images as uint8, as published
    resize: int | None = None  # image folders: shorter side, before the crop
    crop: int | None = None  # image folders: centre crop
    workers: int | None = None  # image folders: decoding processes (None: by size and cores)
    memory_budget: float | None = None  # GiB of decoded images kept resident; larger sets stream


STREAM_CHUNK = 2048  # images per streamed chunk (rounded to whole batches)


def stream_chunk(budget: int, bytes_per_image: int, batch_size: int) -> int:
    """Images per streamed chunk: whole batches (the resident run's batches, so the numbers
    are the same), as many as a quarter of the memory budget holds, since a chunk is held
    while the next is decoded and each probe makes a corrupted copy; at most STREAM_CHUNK,
    at least one batch."""
    fitting = budget // (4 * max(1, bytes_per_image))
    return batch_size * max(1, min(STREAM_CHUNK, fitting) // batch_size)


def default_batch_size(device: torch.device, height: int, width: int) -> int:
    """Images per batch: 256 up to 64x64 px on a CPU (512 was measured slower there), 512
    up to 112x112 on a GPU, and fewer for larger images (same pixels per batch), as a power
    of two: at least 8 up to 512x512 px, and down to 1 for huge images, so that a batch of
    20 photos of 36 MP is not decoded and run at once. Shown in the report's "How it was run"."""
    base, reference = (512, 112 * 112) if device.type == "cuda" else (256, 64 * 64)
    wanted = base * min(1.0, reference / max(1, height * width))
    floor = 8 if height * width <= 512 * 512 else 1
    return max(floor, 2 ** int(math.log2(max(1.0, wanted))))


def memory_budget(device: torch.device, gibibytes: float | None) -> int:
    """Bytes of decoded uint8 images that may stay resident: the user's figure, else a
    quarter of the device's memory (GPU) or of the machine's (CPU)."""
    if gibibytes is not None:
        return int(gibibytes * 2**30)
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory // 4
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def _sample_count(options: ProbeOptions, device: torch.device, available: int) -> tuple[int | None, str | None]:
    if options.samples is not None:
        return options.samples, None
    if device.type == "cuda" or available <= CPU_DEFAULT_SAMPLES:
        return None, None
    return CPU_DEFAULT_SAMPLES, (f"running on the CPU: a seeded subset of {CPU_DEFAULT_SAMPLES} of {available} images")


def _runner(
    loaded: LoadedModel,
    role: str,
    device: torch.device,
    options: ProbeOptions,
    arch: str | None,
    arch_args: dict[str, Any] | None,
) -> Runner:
    """A runner for the model or the baseline; an error says which of the two failed."""
    try:
        return make_runner(
            loaded,
            device,
            precision=options.precision,
            logits=options.logits,
            arch=arch,
            arch_args=arch_args,
            num_classes=options.num_classes,
        )
    except AuditError as error:
        if role == "model":
            raise
        raise AuditError(f"the baseline: {error.message}", hint=_baseline_hint(error.hint), code=error.code)


def _baseline_hint(hint: str | None) -> str | None:
    """The baseline has its own architecture options: point the hint at them."""
    if hint is None:
        return None
    return hint.replace("{arch}", "{baseline_arch}").replace("{arch_args}", "{baseline_arch_args}")


def run_probes(
    model: LoadedModel,
    reference: LoadedModel | AuditResult | None,
    options: ProbeOptions,
    device: torch.device,
) -> ProbeSection:
    """The probes on ``model``, and on the baseline: a checkpoint is run on the same images;
    a saved result lends its per-image outcomes; None (the white-noise reference) has none."""
    baseline = reference if isinstance(reference, LoadedModel) else None
    saved_baseline = reference if isinstance(reference, AuditResult) else None
    probe_list, heatmap = resolve_probes(options.probes)
    if options.batch_size is not None and options.batch_size < 1:
        raise AuditError("the batch size must be at least 1.")
    runners = {"model": _runner(model, "model", device, options, options.arch, options.arch_args)}
    if baseline is not None:
        arch = options.baseline_arch if options.baseline_arch is not None else options.arch
        arch_args = options.baseline_arch_args if options.baseline_arch_args is not None else options.arch_args
        runners["baseline"] = _runner(baseline, "baseline", device, options, arch, arch_args)

    source = datasets.load_dataset(
        options.data,
        options.data_root,
        download=options.download,
        input_size=options.input_size,
        resize=options.resize,
        crop=options.crop,
        workers=options.workers,
    )
    source = datasets.with_normalisation(source, options.mean, options.std)
    samples, subset_note = _sample_count(options, device, len(source))
    source = datasets.take_subset(source, samples, options.seed)
    _, height, width = source.shape
    batch_size = options.batch_size or default_batch_size(device, height, width)
    budget = memory_budget(device, options.memory_budget)
    streamed = isinstance(source, ImageFiles) and source.decoded_bytes() > budget
    if not streamed:
        dataset = source.decode() if isinstance(source, ImageFiles) else source
        preview = dataset
    else:
        assert isinstance(source, ImageFiles)  # only a folder is streamed
        dataset = None
        preview = source.decode(0, min(len(source), options.heatmap_samples if heatmap else 1))
    for name, runner in runners.items():
        loaded = model if name == "model" else baseline
        if runner.num_classes is None:
            runner.num_classes = source.num_classes  # disambiguates multi-output models
        try:
            shape = getattr(runner, "input_shape", None) or (loaded.input_shape if loaded is not None else None)
            check_compatibility(runner, preview, shape)
        except AuditError as error:
            if name == "model":
                raise
            raise AuditError(f"the baseline: {error.message}", hint=error.hint, code=error.code)

    rank, world_size = distributed.world()
    start, stop = distributed.shard(len(source), rank, world_size, align=batch_size)
    show_progress = options.show_progress and rank == 0
    common = {"seed": options.seed, "batch_size": batch_size, "stored_uint8": options.stored_uint8}
    if streamed:
        assert isinstance(source, ImageFiles)
        chunk = stream_chunk(budget, source.decoded_bytes() // max(1, len(source)), batch_size)
        parts = source.parts(start, stop, chunk)
        label = f"probes on {source.name} (streamed)"
        with inference_threads(source.workers):
            outcome, seconds = timed(
                run_probe_suite_parts,
                runners,
                parts,
                probe_list,
                total=stop - start,
                label=label,
                show_progress=show_progress,
                **common,
            )
    else:
        assert dataset is not None  # decoded whole when not streamed
        shard = dataset if world_size == 1 else datasets.images_between(dataset, start, stop)
        outcome, seconds = timed(
            run_probe_suite, runners, shard, probe_list, first_index=start, show_progress=show_progress, **common
        )
    outcome = distributed.gather_outcome(outcome)
    per_runner = {
        name: Outcomes(
            correct=outcome.correct[:, column] if outcome.correct is not None else None,
            agrees=outcome.agrees[:, column],
        )
        for column, name in enumerate(outcome.runners)
    }
    notes = list(getattr(source, "notes", ())) + list(outcome.notes)
    if subset_note:
        notes.insert(0, subset_note)
    if isinstance(source, ImageFiles):
        how = "streamed in chunks" if streamed else "decoded once, resident"
        notes.append(f"images {source.geometry.describe()}; {how} ({source.decoded_bytes() / 2**30:.2f} GiB decoded)")
    if options.batch_size is None:
        # {batch_size} names the option; rules.judgement spells it for the reader.
        notes.append(f"batch size {batch_size}, chosen for {device.type} and {height}x{width} images ({{batch_size}})")
    if world_size > 1:
        notes.append(f"{world_size} processes (torch.distributed), each on a contiguous shard of the images")
    forward_images = len(source) * len(outcome.tasks) * len(runners)
    images_per_second = forward_images / seconds if seconds > 0 else 0.0
    tasks, model_outcomes = outcome.tasks, per_runner["model"]
    baseline_outcomes = per_runner.get("baseline")
    compared_with_saved: ProbeSection | None = None
    saved_notes: list[str] = []
    if baseline is None and saved_baseline is not None and saved_baseline.probes is not None:
        baseline_outcomes, compared_with_saved, saved_notes = _saved_baseline(
            saved_baseline.probes, tasks, (source.name, len(source), options.seed)
        )
    numbers = measured_numbers(
        tasks, model_outcomes, baseline_outcomes, source.shape[-1], options.seed, source.num_classes
    )
    if compared_with_saved is not None:
        numbers = _with_saved_numbers(numbers, compared_with_saved, paired=baseline_outcomes is not None)
    counts = dict(zip(outcome.runners, (int(n) for n in outcome.non_finite))) if outcome.non_finite is not None else {}
    heatmap_map = None
    if heatmap:
        _, height, width = preview.shape
        samples_used = min(options.heatmap_samples, len(preview))
        plan = plan_heatmap(
            height,
            width,
            samples_used,
            len(runners),
            images_per_second or None,
            step=options.heatmap_step,
            budget=options.heatmap_budget,
        )
        described = plan.describe(samples_used, len(runners), options.heatmap_budget)
        notes.append(described)
        if show_progress:
            print(described + ".", file=sys.stderr, flush=True)  # before hours of work, not after
        heatmap_map = run_fourier_heatmap(
            runners,
            preview,
            norm=options.heatmap_norm if options.heatmap_norm is not None else default_norm(height, width),
            samples=options.heatmap_samples,
            seed=options.seed,
            batch_size=outcome.batch_size,
            show_progress=show_progress,
            step=plan.step,
        )
    return ProbeSection(
        dataset=source.name,
        source=source.source,
        samples=len(source),
        full_split=source.subset_of,
        image_shape=list(source.shape),
        mean=list(source.mean),
        std=list(source.std),
        seed=options.seed,
        batch_size=outcome.batch_size,
        runner=runners["model"].description,
        output_used=runners["model"].output_used,
        probes=[p.summary() for p in probe_list],
        heatmap=heatmap_map,
        seconds=seconds,
        images_per_second=images_per_second,
        notes=notes + saved_notes,
        num_classes=source.num_classes,
        statistics=METHOD.format(resamples=RESAMPLES),
        examples=example_strip(preview, probe_list, options.seed, options.stored_uint8),
        non_finite_logits=counts.get("model", 0),
        baseline_non_finite_logits=counts.get("baseline", 0),
        **numbers,
    )


def measured_numbers(
    tasks: list[Any], model: Outcomes, baseline: Outcomes | None, image_size: int, seed: int, num_classes: int | None
) -> dict[str, Any]:
    """A probe section's numbers from per-image outcomes: the results per condition, the
    clean numbers, and the per-probe judgement when the two are paired (ProbeSection fields)."""
    results, clean = summarise(tasks, model, baseline, image_size, seed)
    paired = baseline is not None and baseline.correct is not None and model.correct is not None
    return {
        "results": results,
        "clean_accuracy": clean.accuracy,
        "clean_accuracy_ci": clean.accuracy_ci,
        "baseline_clean_accuracy": clean.baseline_accuracy,
        "baseline_clean_accuracy_ci": clean.baseline_accuracy_ci,
        "clean_difference": clean.difference,
        "clean_difference_ci": clean.difference_ci,
        "clean_mcnemar_p": clean.mcnemar_p,
        "clean_correct": clean.correct_bits,
        "paired": paired,
        "judged": judge_probes(tasks, model, baseline, num_classes, seed) if paired and baseline is not None else [],
    }


def with_numbers(section: ProbeSection, tasks: list[Any], model: Outcomes, baseline: Outcomes | None) -> ProbeSection:
    """``section`` with the numbers of these outcomes (a new section)."""
    numbers = measured_numbers(tasks, model, baseline, section.image_shape[-1], section.seed, section.num_classes)
    return dataclasses.replace(section, **numbers)


def _saved_outcomes(saved: ProbeSection, tasks: list[Any], count: int) -> Outcomes | None:
    """A saved result's per-image outcomes for ``tasks``, None if it does not hold them all."""
    by_key = {(r.probe, float(r.severity)): r for r in saved.results}
    if saved.clean_correct is None:
        return None
    rows = [stats.unpack_bits(saved.clean_correct, count)]
    for probe, severity in tasks[1:]:
        match = by_key.get((probe.name, float(severity)))
        if match is None or match.correct is None:
            return None
        rows.append(stats.unpack_bits(match.correct, count))
    correct = np.stack(rows)
    return Outcomes(correct=correct, agrees=np.ones_like(correct))


def _saved_baseline(
    saved: ProbeSection, tasks: list[Any], measured_on: tuple[str, int, int]
) -> tuple[Outcomes | None, ProbeSection | None, list[str]]:
    """What a saved result's probes lend the comparison: its per-image outcomes when they
    were measured on the same images (data set, samples, seed) and hold them; else its
    numbers alone (not paired); or nothing. Returns (outcomes, the section whose numbers are
    used, notes saying which)."""
    if (saved.dataset, saved.samples, saved.seed) != measured_on:
        note = (
            f"baseline result's probes ran on {saved.dataset} ({saved.samples} images, seed {saved.seed}); "
            "not comparable, left out"
        )
        return None, None, [note]
    outcomes = _saved_outcomes(saved, tasks, saved.samples)
    if outcomes is not None:
        return outcomes, saved, ["baseline: the saved result's per-image outcomes (same images, same noise)"]
    note = (
        "baseline numbers from the saved result, which holds no per-image outcomes (written before 0.2): "
        "differences are not paired and have no intervals"
    )
    return None, saved, [note]


def _with_saved_numbers(numbers: dict[str, Any], saved: ProbeSection, paired: bool) -> dict[str, Any]:
    """The numbers against a saved result: paired, without its agreement (it does not keep
    its predictions); or, from a result without per-image outcomes, its accuracies beside
    the model's."""
    if paired:
        results = [dataclasses.replace(r, baseline_agreement=None) for r in numbers["results"]]
        return {**numbers, "results": results}
    by_key = {(r.probe, float(r.severity)): r for r in saved.results}
    results = []
    for result in numbers["results"]:
        match = by_key.get((result.probe, float(result.severity)))
        if match is not None:
            result = dataclasses.replace(
                result,
                baseline_accuracy=match.accuracy,
                baseline_agreement=match.agreement,
                baseline_accuracy_drop=match.accuracy_drop,
            )
        results.append(result)
    return {**numbers, "results": results, "baseline_clean_accuracy": saved.clean_accuracy}
