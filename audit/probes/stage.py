"""The probe stage of an audit: data set + runners + probe suite -> ProbeSection.

Everything the user can choose about the probes is in :class:`ProbeOptions`; this
module resolves those choices (which images, which runners, which probes) and hands
them to the engines in :mod:`audit.probes.suite` and :mod:`audit.probes.heatmap`.
"""

from __future__ import annotations

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
    section = ProbeSection(
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
        clean_accuracy=None,
        baseline_clean_accuracy=None,
        results=[],
        probes=[p.summary() for p in probe_list],
        seconds=seconds,
        images_per_second=forward_images / seconds if seconds > 0 else 0.0,
        notes=notes,
        num_classes=source.num_classes,
        statistics=METHOD.format(resamples=RESAMPLES),
    )
    fill_results(section, outcome.tasks, per_runner["model"], per_runner.get("baseline"))
    if outcome.non_finite is not None:
        counts = dict(zip(outcome.runners, (int(n) for n in outcome.non_finite)))
        section.non_finite_logits = counts.get("model", 0)
        section.baseline_non_finite_logits = counts.get("baseline", 0)
    section.examples = example_strip(preview, probe_list, options.seed, options.stored_uint8)
    if heatmap:
        _, height, width = preview.shape
        samples_used = min(options.heatmap_samples, len(preview))
        plan = plan_heatmap(
            height,
            width,
            samples_used,
            len(runners),
            section.images_per_second or None,
            step=options.heatmap_step,
            budget=options.heatmap_budget,
        )
        described = plan.describe(samples_used, len(runners), options.heatmap_budget)
        section.notes.append(described)
        if show_progress:
            print(described + ".", file=sys.stderr, flush=True)  # before hours of work, not after
        section.heatmap = run_fourier_heatmap(
            runners,
            preview,
            norm=options.heatmap_norm if options.heatmap_norm is not None else default_norm(height, width),
            samples=options.heatmap_samples,
            seed=options.seed,
            batch_size=outcome.batch_size,
            show_progress=show_progress,
            step=plan.step,
        )
    if baseline is None and saved_baseline is not None:
        attach_saved_baseline(section, saved_baseline.probes, outcome.tasks, per_runner["model"])
    return section


def fill_results(section: ProbeSection, tasks: list[Any], model: Outcomes, baseline: Outcomes | None) -> None:
    """Results and clean numbers of ``section`` from per-image outcomes."""
    results, clean = summarise(tasks, model, baseline, section.image_shape[-1], section.seed)
    section.results = results
    section.clean_accuracy, section.clean_accuracy_ci = clean.accuracy, clean.accuracy_ci
    section.baseline_clean_accuracy = clean.baseline_accuracy
    section.baseline_clean_accuracy_ci = clean.baseline_accuracy_ci
    section.clean_difference, section.clean_difference_ci = clean.difference, clean.difference_ci
    section.clean_mcnemar_p = clean.mcnemar_p
    section.clean_correct = clean.correct_bits
    section.paired = baseline is not None and baseline.correct is not None and model.correct is not None
    if section.paired and baseline is not None:
        section.judged = judge_probes(tasks, model, baseline, section.num_classes, section.seed)


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


def attach_saved_baseline(section: ProbeSection, saved: ProbeSection | None, tasks: list[Any], model: Outcomes) -> None:
    """Compare with a saved result's probes, image by image, when they were measured on
    the same images (data set, samples, seed) and hold per-image outcomes; otherwise fill
    what can be filled and say why the comparison is not paired."""
    if saved is None:
        return
    same = (saved.dataset, saved.samples, saved.seed) == (section.dataset, section.samples, section.seed)
    if not same:
        section.notes.append(
            f"baseline result's probes ran on {saved.dataset} ({saved.samples} images, seed {saved.seed}); "
            "not comparable, left out"
        )
        return
    outcomes = _saved_outcomes(saved, tasks, section.samples)
    if outcomes is not None:
        fill_results(section, tasks, model, outcomes)
        for result in section.results:
            result.baseline_agreement = None  # the saved result does not keep its predictions
        section.notes.append("baseline: the saved result's per-image outcomes (same images, same noise)")
        return
    by_key = {(r.probe, float(r.severity)): r for r in saved.results}
    section.baseline_clean_accuracy = saved.clean_accuracy
    for result in section.results:
        match = by_key.get((result.probe, float(result.severity)))
        if match is not None:
            result.baseline_accuracy = match.accuracy
            result.baseline_agreement = match.agreement
            result.baseline_accuracy_drop = match.accuracy_drop
    section.notes.append(
        "baseline numbers from the saved result, which holds no per-image outcomes (written before 0.2): "
        "differences are not paired and have no intervals"
    )
