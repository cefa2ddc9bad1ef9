"""The probe stage of an audit: data set + runners + probe suite -> ProbeSection.

Everything the user can choose about the probes is in :class:`ProbeOptions`; this
module resolves those choices (which images, which runners, which probes) and hands
them to the engines in :mod:`audit.probes.suite` and :mod:`audit.probes.heatmap`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from audit.errors import AuditError
from audit.loading.kernels import LoadedModel
from audit.probes import datasets
from audit.probes.heatmap import run_fourier_heatmap
from audit.probes.registry import resolve_probes
from audit.probes.runners import make_runner
from audit.probes.suite import check_compatibility, run_probe_suite, timed
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


def _sample_count(options: ProbeOptions, device: torch.device, available: int) -> tuple[int | None, str | None]:
    if options.samples is not None:
        return options.samples, None
    if device.type == "cuda" or available <= CPU_DEFAULT_SAMPLES:
        return None, None
    return CPU_DEFAULT_SAMPLES, (f"running on the CPU: a seeded subset of {CPU_DEFAULT_SAMPLES} of {available} images")


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
    runners = {
        "model": make_runner(
            model,
            device,
            precision=options.precision,
            logits=options.logits,
            arch=options.arch,
            arch_args=options.arch_args,
            num_classes=options.num_classes,
        )
    }
    if baseline is not None:
        runners["baseline"] = make_runner(
            baseline,
            device,
            precision=options.precision,
            logits=options.logits,
            arch=options.arch,
            arch_args=options.arch_args,
            num_classes=options.num_classes,
        )

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
        check_compatibility(runner, dataset, getattr(runner, "input_shape", None) or loaded.input_shape)

    (results, clean, batch_size, notes), seconds = timed(
        run_probe_suite,
        runners,
        dataset,
        probe_list,
        seed=options.seed,
        batch_size=options.batch_size,
        show_progress=options.show_progress,
    )
    if subset_note:
        notes.insert(0, subset_note)
    forward_images = len(dataset) * (1 + sum(len(p.severities) for p in probe_list)) * len(runners)
    section = ProbeSection(
        dataset=dataset.name,
        source=dataset.source,
        samples=len(dataset),
        full_split=dataset.subset_of,
        image_shape=list(dataset.shape),
        mean=list(dataset.mean),
        std=list(dataset.std),
        seed=options.seed,
        batch_size=batch_size,
        runner=runners["model"].description,
        output_used=runners["model"].output_used,
        clean_accuracy=clean["model"],
        baseline_clean_accuracy=clean.get("baseline"),
        results=results,
        probes=[{"name": p.name, "parameter": p.parameter, "description": p.description} for p in probe_list],
        seconds=seconds,
        images_per_second=forward_images / seconds if seconds > 0 else 0.0,
        notes=notes,
    )
    if heatmap:
        section.heatmap = run_fourier_heatmap(
            runners,
            dataset,
            norm=options.heatmap_norm,
            samples=options.heatmap_samples,
            seed=options.seed,
            batch_size=batch_size,
            show_progress=options.show_progress,
        )
    if baseline is None and saved_baseline is not None:
        attach_saved_baseline(section, saved_baseline.probes)
    return section


def attach_saved_baseline(section: ProbeSection, saved: ProbeSection | None) -> None:
    """Fill baseline accuracies from a saved result's probes, when they were measured on
    the same images (data set, samples, seed); otherwise leave them empty and say why."""
    if saved is None:
        return
    same = (saved.dataset, saved.samples, saved.seed) == (section.dataset, section.samples, section.seed)
    if not same:
        section.notes.append(
            f"baseline result's probes ran on {saved.dataset} ({saved.samples} images, seed {saved.seed}); "
            "not comparable, left out"
        )
        return
    by_key = {(r.probe, float(r.severity)): r for r in saved.results}
    section.baseline_clean_accuracy = saved.clean_accuracy
    for result in section.results:
        match = by_key.get((result.probe, float(result.severity)))
        if match is not None:
            result.baseline_accuracy = match.accuracy
            result.baseline_agreement = match.agreement
            result.baseline_accuracy_drop = match.accuracy_drop
    section.notes.append("baseline probe numbers taken from the saved baseline result")
