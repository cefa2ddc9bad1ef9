"""The library entry points the CLI calls: one function per verb.

    run_audit("model.pt")                          # against the white-noise reference
    run_audit("model.pt", baseline="ref.pt")       # against another checkpoint
    run_audit("model.pt", baseline="ref.json")     # against a saved profile or result
    run_track(["ep1.pt", "ep2.pt"])                # a training run, in epoch order

Each function runs the stages of the flow in order (load, spectra, probes, rules) and
returns a :mod:`audit.schema` result; nothing here prints or writes except
:func:`save_result`.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import torch

from audit.errors import AuditError, printable
from audit.io import read_text, write_atomic
from audit.loading import LoadedModel, load_checkpoint
from audit.loading.runs import TrainingOrder
from audit.probes.stage import ProbeOptions, run_probes
from audit.rules.forecasts import bundled_calibrations, load_calibration
from audit.rules.judgement import judged
from audit.rules.policy import Policy
from audit.schema import (
    AuditResult,
    Baseline,
    LayerSpectrum,
    ModelInfo,
    RunInfo,
    SpectralSection,
    SpectralSettings,
    TrackResult,
    Unmatched,
    ZooResult,
    result_from_json,
    to_json,
)
from audit.spectral import comparison, evolution
from audit.spectral.profile import measure_layers

WHITE_NOISE: Final = "white-noise"
MAX_RESULT_BYTES = 256 << 20  # a result JSON of a huge model is a few MB

__all__ = [
    "run_audit",
    "build_profile",
    "run_track",
    "resolve_device",
    "load_result",
    "save_result",
    "ProbeOptions",
    "WHITE_NOISE",
]


def load_result(path: str | os.PathLike[str]) -> AuditResult:
    """A result written by :func:`save_result` (or ``--json``/``--out``)."""
    return result_from_json(read_text(path, "JSON result", MAX_RESULT_BYTES), str(path))


def save_result(result: AuditResult, path: str | os.PathLike[str]) -> None:
    write_atomic(Path(path), to_json(result))


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AuditError(
            f"device {device!r} was asked for, but no CUDA GPU is available.", hint="Use {device} cpu or auto."
        )
    try:
        return torch.device(device)
    except RuntimeError:
        raise AuditError(f"unknown device {device!r}; expected auto, cpu, cuda or cuda:N.")


def _model_info(loaded: LoadedModel) -> ModelInfo:
    return ModelInfo(
        path=printable(str(loaded.path)),
        sha256=loaded.sha256,
        format=loaded.format,
        parameters=loaded.parameters,
        notes=list(loaded.notes),
        recorded=dict(loaded.facts),
    )


def _settings_mismatch(ours: SpectralSettings, theirs: SpectralSettings) -> str | None:
    if abs(ours.cutoff - theirs.cutoff) > 1e-12:
        return f"HFER cutoff {theirs.cutoff} vs {ours.cutoff}"
    if ours.fft_size != theirs.fft_size:
        return f"FFT grid {theirs.fft_size or 'native'} vs {ours.fft_size or 'native'}"
    if ours.rings != theirs.rings:
        return "radial binning differs"
    return None


@dataclass
class _ResolvedBaseline:
    """The baseline, resolved once: what it is, its layer spectra, and what the probes
    compare with (a checkpoint they run, or a saved result's per-image outcomes)."""

    description: Baseline
    layers: list[LayerSpectrum] | None = None  # None: the white-noise reference
    source: LoadedModel | AuditResult | None = None


def _resolve_baseline(
    spec: str | os.PathLike[str] | None,
    settings: SpectralSettings,
    device: torch.device,
    trust_code: bool,
) -> _ResolvedBaseline:
    if spec is None or str(spec) == WHITE_NOISE:
        return _ResolvedBaseline(Baseline(kind=WHITE_NOISE, source="expected spectrum of i.i.d. weights"))
    path = Path(spec)
    if path.suffix.lower() == ".json":
        saved = load_result(path)
        mismatch = _settings_mismatch(settings, saved.spectral.settings)
        if mismatch:
            raise AuditError(
                f"baseline {path} was measured with different settings ({mismatch}).",
                hint="Re-create it with the same {hfer_cutoff} / {fft_size} / {rings}.",
            )
        return _ResolvedBaseline(
            Baseline(kind="profile", source=printable(str(path)), sha256=saved.model.sha256),
            saved.spectral.layers,
            source=saved,
        )
    # The baseline checkpoint is a different file: the model's checkpoint key does not apply.
    loaded = load_checkpoint(path, trust_code=trust_code)
    return _ResolvedBaseline(
        Baseline(kind="checkpoint", source=printable(str(path)), sha256=loaded.sha256),
        measure_layers(loaded.kernels, settings, device),
        source=loaded,
    )


def _installed_version(*distributions: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for name in distributions:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return None


def _run_info(device: torch.device, command: list[str] | None, precision: str) -> RunInfo:
    import platform

    from audit import __version__

    onnxruntime_version = _installed_version("onnxruntime-gpu", "onnxruntime")  # without importing it
    name = str(device)
    if device.type == "cuda":
        name += f" ({torch.cuda.get_device_name(device)})"
    return RunInfo(
        tool_version=__version__,
        torch_version=torch.__version__,
        device=name,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        command=command,
        onnxruntime_version=onnxruntime_version,
        python_version=platform.python_version(),
        precision=precision,
    )


def run_audit(
    model: str | os.PathLike[str],
    *,
    baseline: str | os.PathLike[str] | None = None,
    settings: SpectralSettings = SpectralSettings(),
    device: str = "auto",
    trust_code: bool = False,
    checkpoint_key: str | None = None,
    probes: ProbeOptions | None = None,
    policy: Policy | None = None,
    command: list[str] | None = None,
    match_mode: str = "full",
    calibration_path: str | os.PathLike[str] | None = None,
    loaded: LoadedModel | None = None,
    options: Mapping[str, str] | None = None,
) -> AuditResult:
    """Spectral audit of ``model`` against ``baseline`` (default: white-noise reference),
    plus the robustness probes when ``probes`` names a data set.

    loaded: ``model`` already loaded (by ``load_checkpoint``), so that a caller measuring
        it in several ways reads the file once.
    baseline: None or "white-noise", a checkpoint path, or a JSON file written by
        ``spectral-audit profile`` or ``--json``.
    match_mode: "full" refuses a baseline of another architecture; "partial" compares the
        layers the two have in common (every number then says it is partial).
    policy: thresholds to check (``result.gates``) and finding thresholds; None: no gates.
    calibration_path: a ``spectral-audit zoo --json`` table (or calibration file) of your own
        models, used instead of the bundled zoo studies for data-free forecasts.
    options: how the findings and the verdict spell the options they mention (the command
        line passes its flags; by default they read as keyword arguments, ``data=…``).
    """
    from audit.io import raise_if_interrupted

    torch_device = resolve_device(device)
    raise_if_interrupted()  # a signal swallowed by an import (torch's) stops the run here, not at the end
    if loaded is None:
        loaded = load_checkpoint(model, trust_code=trust_code, checkpoint_key=checkpoint_key)
    raise_if_interrupted()
    if probes is not None and probes.arch and loaded.module is None:
        loaded = _layout_from_architecture(loaded, probes.arch, probes.arch_args, probes.num_classes)
    layers = measure_layers(loaded.kernels, settings, torch_device)
    reference = _resolve_baseline(baseline, settings, torch_device, trust_code)
    match = None
    if reference.layers is not None:
        match = comparison.match_layers(layers, reference.layers, allow_partial=match_mode == comparison.PARTIAL)
    rescaled = comparison.compare_layers(layers, match)
    summary = comparison.summarise(layers, match, rescaled, reference.layers)
    unmatched = match.unmatched if match is not None else Unmatched()
    probe_section = None
    if probes is not None:
        probe_section = run_probes(loaded, reference.source, probes, torch_device)
    measured = AuditResult(
        model=_model_info(loaded),
        spectral=SpectralSection(
            baseline=reference.description, settings=settings, layers=layers, summary=summary, unmatched=unmatched
        ),
        verdict="",  # judged() below writes it, with the findings and gates
        run=_run_info(torch_device, command, probes.precision if probes else "fp32"),
        probes=probe_section,
    )
    # A user's own zoo study describes their models; else the bundled studies, where a
    # forecast must replicate across all of them.
    calibration = load_calibration(calibration_path) if calibration_path is not None else bundled_calibrations()
    return judged(measured, policy, calibration, options)


def _layout_from_architecture(
    loaded: LoadedModel, arch: str, arch_args: dict[str, Any] | None, num_classes: int | None
) -> LoadedModel:
    """A weight-only checkpoint whose architecture the user named: each conv's groups,
    stride and dilation from the built architecture (a state_dict does not record them).
    If the architecture cannot be built here, the probes say why later; the layout stays
    unknown."""
    import dataclasses

    from audit.loading.kernels import with_known_layout
    from audit.loading.modules import kernels_from_module
    from audit.probes.architectures import build_architecture

    try:
        built = build_architecture(arch, arch_args, num_classes)
    except AuditError:
        return loaded
    kernels, filled = with_known_layout(loaded.kernels, kernels_from_module(built))
    if not filled:
        return loaded
    unknown = "state_dict only: groups/stride/dilation unknown"
    note = f"groups/stride/dilation of {filled} of {len(kernels)} conv layers from the architecture ({arch})"
    notes = [note if n == unknown else n for n in loaded.notes]
    return dataclasses.replace(loaded, kernels=kernels, notes=notes)


def build_profile(
    model: str | os.PathLike[str],
    *,
    settings: SpectralSettings = SpectralSettings(),
    device: str = "auto",
    trust_code: bool = False,
    checkpoint_key: str | None = None,
    command: list[str] | None = None,
    options: Mapping[str, str] | None = None,
) -> AuditResult:
    """A model's spectral profile, to be saved and used later as ``baseline=``.

    It is an audit against the white-noise reference with ``kind="profile"``; any
    saved audit result works as a baseline the same way.
    """
    result = run_audit(
        model,
        settings=settings,
        device=device,
        trust_code=trust_code,
        checkpoint_key=checkpoint_key,
        command=command,
        options=options,
    )
    return replace(result, kind="profile")


def run_track(
    checkpoints: Sequence[str | os.PathLike[str]],
    *,
    order: str = "auto",
    settings: SpectralSettings = SpectralSettings(),
    device: str = "auto",
    trust_code: bool = False,
    command: list[str] | None = None,
    match_mode: str = "full",
    paper: bool = False,
) -> TrackResult:
    """Spectral profile of each checkpoint of a training run, in training order, each
    compared with the first.

    order: "auto" (the checkpoints' epoch/step keys, else explicit epoch patterns in the
        names, else the file order) or "given" (the order of ``checkpoints``).
    match_mode: "full" refuses a run whose conv layers change between checkpoints;
        "partial" computes the network numbers over the layers they all have.
    paper: also the seed paper's own protocol (first conv layer against the epoch-1
        checkpoint, its binning and compute_ssr).
    """
    from audit.loading.runs import list_checkpoints, training_order
    from audit.spectral import paper as paper_protocol

    torch_device = resolve_device(device)
    files = list_checkpoints([Path(p) for p in checkpoints])
    measured = []
    for path in files:
        loaded = load_checkpoint(path, trust_code=trust_code)
        layers = measure_layers(loaded.kernels, settings, torch_device)
        first = paper_protocol.first_conv(loaded.kernels) if paper else None
        spectrum = (first[0], paper_protocol.weight_spectrum(first[1])) if first else None
        measured.append((path, loaded, layers, spectrum))
    placement = training_order(files, [m[1].facts for m in measured], order)
    ranked = sorted(zip(placement.positions, measured), key=lambda item: item[0])

    shapes = [{l.name: tuple(l.shape) for l in layers} for _, (_, _, layers, _) in ranked]
    common = set(shapes[0]).intersection(*shapes[1:])
    common = {name for name in common if all(s[name] == shapes[0][name] for s in shapes)}
    partial = any(set(s) != common for s in shapes)
    notes = []
    if partial:
        changed = next(i for i, s in enumerate(shapes) if set(s) != common)
        described = (
            f"the conv layers change between checkpoints ({len(shapes[0])} in the first, {len(shapes[changed])} in "
            f"{Path(ranked[changed][1][0]).name}, {len(common)} with the same name and shape in all)"
        )
        if match_mode != comparison.PARTIAL:
            raise AuditError(
                f"{described}: these are not checkpoints of one training run.",
                hint="Track only one run, or compare the common layers with {match} partial.",
                code="mismatch",
            )
        notes.append(f"partial: {described}; network numbers over the {len(common)} common layers")

    points = []
    for position, (path, loaded, layers, _) in ranked:
        kept = [l for l in layers if l.name in common] if partial else layers
        points.append(evolution.track_point(printable(str(path)), position, loaded.sha256, kept))
    evolution.compare_with_first(points)
    result = TrackResult(
        points=points,
        layers=[l.name for l in ranked[0][1][2] if not partial or l.name in common],
        bin_edges=evolution.pooled_radial_profile(ranked[0][1][2])[0],
        settings=settings,
        run=_run_info(torch_device, command, "fp32"),
        order=placement.source,
        x_label=placement.label,
        partial=partial,
        notes=notes,
    )
    if paper:
        _paper_protocol(result, ranked, placement)
    return result


def _paper_protocol(result: TrackResult, ranked: list[Any], placement: TrainingOrder) -> None:
    """The seed paper's SSR per checkpoint: first conv layer, against the epoch-1 one."""
    from audit.spectral import paper as paper_protocol

    spectra_by_point = [item[1][3] for item in ranked]
    if any(s is None for s in spectra_by_point):
        result.notes.append("paper protocol: a checkpoint has no 2-D conv layer; not computed")
        return
    positions = [position for position, _ in ranked]
    if placement.label == "epoch" and 1 in positions:
        reference = positions.index(1)
        result.paper_reference = f"epoch 1 ({Path(ranked[reference][1][0]).name})"
    else:
        reference = 0
        result.paper_reference = f"the first checkpoint ({Path(ranked[0][1][0]).name}): no epoch-1 checkpoint"
        result.notes.append("paper protocol: no checkpoint is epoch 1; the first one is the reference")
    result.paper_layer = spectra_by_point[0][0]
    before = spectra_by_point[reference][1]
    for point, (_, spectrum) in zip(result.points, spectra_by_point):
        point.paper_protocol_ssr = paper_protocol.compute_ssr(before, spectrum)


def _model_name(path: Path) -> str:
    """'runs/a/w8_wd0.ts.pt' -> 'w8_wd0': the file name without its checkpoint suffixes."""
    import re

    from audit.formats import CHECKPOINT_SUFFIXES

    suffixes = "|".join(sorted((re.escape(s[1:]) for s in CHECKPOINT_SUFFIXES), key=len, reverse=True))
    return re.sub(rf"(\.ts|\.jit|\.script)?\.({suffixes})$", "", path.name, flags=re.I)


def _ssr_against(
    layers: list[LayerSpectrum], init: Path, settings: SpectralSettings, device: str, trust_code: bool
) -> float | None:
    """Network SSR of already measured ``layers`` against the initial weights in ``init``."""
    import copy

    reference = _resolve_baseline(init, settings, resolve_device(device), trust_code)
    own = copy.deepcopy(layers)  # comparing fills each layer's baseline fields
    if reference.layers is None:
        return None  # a reference with no layers: nothing to compare with
    match = comparison.match_layers(own, reference.layers)
    return comparison.summarise(own, match, comparison.compare_layers(own, match), reference.layers).ssr


def _zoo_cache_key(path: Path, init: Path | None, probes: ProbeOptions, settings: SpectralSettings) -> str:
    """What a cached row depends on: the files' bytes, the options, the tool's version."""
    import hashlib
    import json

    from audit import __version__
    from audit.loading.sniff import sha256_of

    options = {k: v for k, v in vars(probes).items() if k != "show_progress"}
    text = json.dumps(
        [sha256_of(path), sha256_of(init) if init else None, options, vars(settings), __version__],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_zoo(
    checkpoints: Sequence[str | os.PathLike[str]],
    *,
    probes: ProbeOptions,
    init_dir: str | os.PathLike[str] | None = None,
    settings: SpectralSettings = SpectralSettings(),
    device: str = "auto",
    trust_code: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    recipes: dict[str, dict[str, Any]] | None = None,
    resamples: int | None = None,
    command: list[str] | None = None,
    on_model: Callable[[int, int, str, float | None], None] | None = None,
) -> ZooResult:
    """Audit every checkpoint of a zoo (against white noise, with the probes) and
    correlate each spectral statistic with each probe's drop across them.

    init_dir: a folder holding each model's initial weights under the same file name;
        adds the statistic "SSR vs initialisation".
    cache_dir: keep each model's row there, keyed by the files' bytes and the options, so
        that a rerun (after an interruption, or with more models) audits only what is new.
    recipes: model name -> how it was trained, copied into the table.
    on_model: called as on_model(index, total, name, seconds or None if cached) after each.
    Returns a :class:`audit.schema.ZooResult`.
    """
    import dataclasses
    import json
    import time

    from audit.io import raise_if_interrupted
    from audit.loading.runs import list_checkpoints
    from audit.schema import ZooModel, decode
    from audit.spectral.statistics import PADDED_FFT_SIZE
    from audit.zoo import table
    from audit.zoo.correlation import RESAMPLES

    skipped: list[str] = []
    files = list_checkpoints(
        [Path(p) for p in checkpoints],
        minimum=table.MIN_MODELS,
        too_few=f"zoo needs at least {table.MIN_MODELS} checkpoints to rank.",
        skipped=skipped,
    )
    names = [_model_name(f) for f in files]
    if len(set(names)) < len(names):
        names = [printable(str(f)) for f in files]
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    rows, conditions = [], {}
    for index, (path, name) in enumerate(zip(files, names), 1):
        raise_if_interrupted()
        init = Path(init_dir) / path.name if init_dir is not None else None
        if init is not None and not init.is_file():
            raise AuditError(f"{printable(str(init))}: no initial weights for {name} in the init folder.")
        cached = cache / f"{name}.{_zoo_cache_key(path, init, probes, settings)}.json" if cache else None
        if cached is not None and cached.is_file():
            saved = json.loads(cached.read_text())
            rows.append(decode(ZooModel, saved["row"], "zoo cache entry"))
            conditions.update(saved["conditions"])
            if on_model:
                on_model(index, len(files), name, None)
            continue
        started = time.perf_counter()
        # The file is read once: the audit, the zero-padded spectra and SSR against the
        # initial weights all come from this one load.
        loaded = load_checkpoint(path, trust_code=trust_code)
        audit = run_audit(path, settings=settings, device=device, trust_code=trust_code, probes=probes, loaded=loaded)
        padded_settings = SpectralSettings(cutoff=settings.cutoff, fft_size=PADDED_FFT_SIZE)
        padded_layers = measure_layers(loaded.kernels, padded_settings, resolve_device(device))
        ssr_init = _ssr_against(audit.spectral.layers, init, settings, device, trust_code) if init else None
        row = table.zoo_row(name, audit, padded_layers, ssr_init, (recipes or {}).get(name))
        rows.append(row)
        conditions.update(table.conditions_of(audit))
        if cached is not None:
            write_atomic(
                cached,
                json.dumps({"row": dataclasses.asdict(row), "conditions": table.conditions_of(audit)}) + "\n",
            )
        if on_model:
            on_model(index, len(files), name, time.perf_counter() - started)
    for row in rows:  # recipes may be given after a row was cached
        row.recipe = dict((recipes or {}).get(row.name, row.recipe))
    torch_device = resolve_device(device)
    return table.build_zoo(
        rows,
        conditions,
        dataset=probes.data,
        samples=rows[0].samples,
        probes=probes.probes,
        resamples=resamples or RESAMPLES,
        run=_run_info(torch_device, command, probes.precision),
        skipped=skipped,
    )
