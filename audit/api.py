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
from dataclasses import dataclass
from pathlib import Path

import torch

from audit.errors import AuditError, printable
from audit.io import read_text, write_atomic
from audit.loading import LoadedModel, load_checkpoint
from audit.loading.runs import order_checkpoints
from audit.probes.stage import ProbeOptions, run_probes
from audit.rules.findings import evaluate_findings
from audit.rules.gates import check_gates
from audit.rules.policy import Policy
from audit.rules.verdict import verdict
from audit.schema import (
    AuditResult,
    Baseline,
    LayerSpectrum,
    ModelInfo,
    RunInfo,
    SpectralSection,
    SpectralSettings,
    TrackResult,
    result_from_json,
    to_json,
)
from audit.spectral import comparison, evolution
from audit.spectral.profile import measure_layers

WHITE_NOISE = "white-noise"
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


def load_result(path: str | os.PathLike) -> AuditResult:
    """A result written by :func:`save_result` (or ``--json``/``--out``)."""
    return result_from_json(read_text(path, "JSON result", MAX_RESULT_BYTES), str(path))


def save_result(result: AuditResult, path: str | os.PathLike) -> None:
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
    description: Baseline
    layers: list[LayerSpectrum] | None = None  # None: the white-noise reference
    loaded: LoadedModel | None = None  # a baseline checkpoint (can be run by the probes)
    saved: AuditResult | None = None  # a baseline JSON (may hold probe results)


def _resolve_baseline(
    spec: str | os.PathLike | None,
    settings: SpectralSettings,
    device: torch.device,
    allow_pickle: bool,
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
            saved=saved,
        )
    # The baseline checkpoint is a different file: the model's checkpoint key does not apply.
    loaded = load_checkpoint(path, allow_pickle=allow_pickle)
    return _ResolvedBaseline(
        Baseline(kind="checkpoint", source=printable(str(path)), sha256=loaded.sha256),
        measure_layers(loaded.kernels, settings, device),
        loaded=loaded,
    )


def _run_info(device: torch.device, command: list[str] | None, precision: str) -> RunInfo:
    import platform

    from audit import __version__

    try:
        import onnxruntime

        onnxruntime_version = onnxruntime.__version__
    except ImportError:
        onnxruntime_version = None
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
    model: str | os.PathLike,
    *,
    baseline: str | os.PathLike | None = None,
    settings: SpectralSettings = SpectralSettings(),
    device: str = "auto",
    allow_pickle: bool = False,
    checkpoint_key: str | None = None,
    probes: ProbeOptions | None = None,
    policy: Policy | None = None,
    command: list[str] | None = None,
) -> AuditResult:
    """Spectral audit of ``model`` against ``baseline`` (default: white-noise reference),
    plus the robustness probes when ``probes`` names a data set.

    baseline: None or "white-noise", a checkpoint path, or a JSON file written by
        ``spectral-audit profile`` or ``--json``.
    policy: thresholds to check (``result.gates``) and finding thresholds; None: no gates.
    """
    torch_device = resolve_device(device)
    loaded = load_checkpoint(model, allow_pickle=allow_pickle, checkpoint_key=checkpoint_key)
    layers = measure_layers(loaded.kernels, settings, torch_device)
    reference = _resolve_baseline(baseline, settings, torch_device, allow_pickle)
    unmatched = comparison.compare_layers(layers, reference.layers)
    if reference.layers is not None and not any(l.baseline_hfer is not None for l in layers):
        model_names = ", ".join(l.name for l in layers[:3])
        base_names = ", ".join(l.name for l in reference.layers[:3])
        raise AuditError(
            f"no layer of the model matches a layer of the baseline by name "
            f"(model: {model_names}...; baseline: {base_names}...)."
        )
    summary = comparison.summarise(layers)
    probe_section = None
    if probes is not None:
        probe_section = run_probes(loaded, reference.loaded, reference.saved, probes, torch_device)
    result = AuditResult(
        model=_model_info(loaded),
        spectral=SpectralSection(
            baseline=reference.description, settings=settings, layers=layers, summary=summary, unmatched=unmatched
        ),
        verdict=verdict(summary, reference.description, layers),
        run=_run_info(torch_device, command, probes.precision if probes else "fp32"),
        probes=probe_section,
    )
    result.findings = evaluate_findings(result, policy.findings if policy else Policy().findings)
    if policy is not None:
        result.gates = check_gates(result, policy)
    return result


def build_profile(
    model: str | os.PathLike,
    *,
    settings: SpectralSettings = SpectralSettings(),
    device: str = "auto",
    allow_pickle: bool = False,
    checkpoint_key: str | None = None,
    command: list[str] | None = None,
) -> AuditResult:
    """A model's spectral profile, to be saved and used later as ``baseline=``.

    It is an audit against the white-noise reference with ``kind="profile"``; any
    saved audit result works as a baseline the same way.
    """
    result = run_audit(
        model,
        settings=settings,
        device=device,
        allow_pickle=allow_pickle,
        checkpoint_key=checkpoint_key,
        command=command,
    )
    result.kind = "profile"
    return result


def run_track(
    checkpoints: list[str | os.PathLike],
    *,
    order: str = "epoch",
    settings: SpectralSettings = SpectralSettings(),
    device: str = "auto",
    allow_pickle: bool = False,
    command: list[str] | None = None,
) -> TrackResult:
    """Spectral profile of each checkpoint of a training run, in training order, each
    compared with the first."""
    torch_device = resolve_device(device)
    points, names = [], []
    for path, epoch in order_checkpoints([Path(p) for p in checkpoints], order):
        loaded = load_checkpoint(path, allow_pickle=allow_pickle)
        layers = measure_layers(loaded.kernels, settings, torch_device)
        names = names or [l.name for l in layers]
        points.append(evolution.track_point(printable(str(path)), epoch, loaded.sha256, layers))
    evolution.compare_with_first(points)
    return TrackResult(
        points=points,
        layers=names,
        bin_edges=evolution.BIN_EDGES,
        settings=settings,
        run=_run_info(torch_device, command, "fp32"),
    )
