"""The probe stage of an audit: data set + runners + probe suite -> ProbeSection.

Everything the user can choose about the probes is in :class:`ProbeOptions`; this
module resolves those choices (which images, which runners, which probes) and hands
them to the engines in :mod:`audit.probes.suite` and :mod:`audit.probes.heatmap`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from audit.errors import AuditError
from audit.loading.kernels import LoadedModel
from audit.probes import datasets
from audit.probes import statistics as stats
from audit.probes.examples import example_strip
from audit.probes.heatmap import run_fourier_heatmap
from audit.probes.registry import resolve_probes
from audit.probes.runners import make_runner
from audit.probes.statistics import RESAMPLES
from audit.probes.suite import check_compatibility, run_probe_suite, timed
from audit.probes.summary import METHOD, Outcomes, summarise
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
    batch_size: int = 512
    precision: str = "fp32"
    logits: str | None = None  # which model output holds the logits, when several could
    arch: str | None = None
    arch_args: dict | None = None
    num_classes: int | None = None
    input_size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    heatmap_samples: int = 256
    heatmap_norm: float = 4.0
    show_progress: bool = False
    baseline_arch: str | None = None  # the baseline's own architecture, when it differs
    baseline_arch_args: dict | None = None
    stored_uint8: bool = True  # CIFAR-10-C probes store their images as uint8, as published


def _sample_count(options: ProbeOptions, device: torch.device, available: int) -> tuple[int | None, str | None]:
    if options.samples is not None:
        return options.samples, None
    if device.type == "cuda" or available <= CPU_DEFAULT_SAMPLES:
        return None, None
    return CPU_DEFAULT_SAMPLES, (f"running on the CPU: a seeded subset of {CPU_DEFAULT_SAMPLES} of {available} images")


def _runner(loaded: LoadedModel, role: str, device: torch.device, options: ProbeOptions, arch, arch_args):
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
    baseline: LoadedModel | None,
    saved_baseline: AuditResult | None,
    options: ProbeOptions,
    device: torch.device,
) -> ProbeSection:
    probe_list, heatmap = resolve_probes(options.probes)
    if options.batch_size < 1:
        raise AuditError("the batch size must be at least 1.")
    runners = {"model": _runner(model, "model", device, options, options.arch, options.arch_args)}
    if baseline is not None:
        arch = options.baseline_arch if options.baseline_arch is not None else options.arch
        arch_args = options.baseline_arch_args if options.baseline_arch_args is not None else options.arch_args
        runners["baseline"] = _runner(baseline, "baseline", device, options, arch, arch_args)

    dataset = datasets.load_dataset(
        options.data, options.data_root, download=options.download, input_size=options.input_size
    )
    dataset = datasets.with_normalisation(dataset, options.mean, options.std)
    samples, subset_note = _sample_count(options, device, len(dataset))
    dataset = datasets.take_subset(dataset, samples, options.seed)
    for name, runner in runners.items():
        loaded = model if name == "model" else baseline
        if runner.num_classes is None:
            runner.num_classes = dataset.num_classes  # disambiguates multi-output models
        try:
            check_compatibility(runner, dataset, getattr(runner, "input_shape", None) or loaded.input_shape)
        except AuditError as error:
            if name == "model":
                raise
            raise AuditError(f"the baseline: {error.message}", hint=error.hint, code=error.code)

    outcome, seconds = timed(
        run_probe_suite,
        runners,
        dataset,
        probe_list,
        seed=options.seed,
        batch_size=options.batch_size,
        show_progress=options.show_progress,
        stored_uint8=options.stored_uint8,
    )
    per_runner = {
        name: Outcomes(
            correct=outcome.correct[:, column] if outcome.correct is not None else None,
            agrees=outcome.agrees[:, column],
        )
        for column, name in enumerate(outcome.runners)
    }
    notes = list(outcome.notes)
    if subset_note:
        notes.insert(0, subset_note)
    forward_images = len(dataset) * len(outcome.tasks) * len(runners)
    section = ProbeSection(
        dataset=dataset.name,
        source=dataset.source,
        samples=len(dataset),
        full_split=dataset.subset_of,
        image_shape=list(dataset.shape),
        mean=list(dataset.mean),
        std=list(dataset.std),
        seed=options.seed,
        batch_size=outcome.batch_size,
        runner=runners["model"].description,
        output_used=runners["model"].output_used,
        clean_accuracy=None,
        baseline_clean_accuracy=None,
        results=[],
        probes=[
            {
                "name": p.name,
                "parameter": p.parameter,
                "description": p.description,
                "kind": p.kind,
                "harsher": p.harsher,
            }
            for p in probe_list
        ],
        seconds=seconds,
        images_per_second=forward_images / seconds if seconds > 0 else 0.0,
        notes=notes,
        num_classes=dataset.num_classes,
        statistics=METHOD.format(resamples=RESAMPLES),
    )
    fill_results(section, outcome.tasks, per_runner["model"], per_runner.get("baseline"))
    section.examples = example_strip(dataset, probe_list, options.seed, options.stored_uint8)
    if heatmap:
        section.heatmap = run_fourier_heatmap(
            runners,
            dataset,
            norm=options.heatmap_norm,
            samples=options.heatmap_samples,
            seed=options.seed,
            batch_size=outcome.batch_size,
            show_progress=options.show_progress,
        )
    if baseline is None and saved_baseline is not None:
        attach_saved_baseline(section, saved_baseline.probes, outcome.tasks, per_runner["model"])
    return section


def fill_results(section: ProbeSection, tasks: list, model: Outcomes, baseline: Outcomes | None) -> None:
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


def _saved_outcomes(saved: ProbeSection, tasks: list, count: int) -> Outcomes | None:
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


def attach_saved_baseline(section: ProbeSection, saved: ProbeSection | None, tasks: list, model: Outcomes) -> None:
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
