"""The audit result: plain dataclasses with a schema-versioned JSON round trip.

The JSON is the interface CI users script against; these key names are stable::

    {"schema_version": 1,
     "model": {"path", "sha256", "format", "parameters"},
     "spectral": {"baseline": {"kind", "source"},
                  "layers": [{"name", "shape", "kernel_size", "groups", "radii",
                              "radial_energy", "hfer", "baseline_hfer", "ssr", ...}],
                  "summary": {"hfer", "baseline_hfer", "ssr", ...}},
     "probes": {"dataset", "samples", "clean_accuracy",
                "results": [{"probe", "severity", "accuracy", "agreement",
                             "baseline_accuracy", ...}]}}   (null without --data)

Non-finite numbers (an SSR of a layer with no high-frequency energy) are written as
null, so the file is strict JSON that any parser reads.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.comparison import Baseline, SpectralSummary, Unmatched
from audit.errors import AuditError
from audit.evaluation import FourierHeatmap, ProbeResult, ProbeSection
from audit.findings import Finding
from audit.gates import GateCheck, GateResult
from audit.profile import LayerSpectrum, SpectralSettings

SCHEMA_VERSION = 1


@dataclass
class ModelInfo:
    path: str
    sha256: str
    format: str
    parameters: int
    notes: list[str] = field(default_factory=list)


@dataclass
class SpectralSection:
    baseline: Baseline
    settings: SpectralSettings
    layers: list[LayerSpectrum]
    summary: SpectralSummary
    unmatched: Unmatched = field(default_factory=Unmatched)


@dataclass
class RunInfo:
    """How the audit was run, for reproducibility."""

    tool_version: str
    torch_version: str
    device: str
    created: str
    command: list[str] | None = None
    onnxruntime_version: str | None = None
    python_version: str | None = None
    precision: str = "fp32"


@dataclass
class AuditResult:
    model: ModelInfo
    spectral: SpectralSection
    verdict: str
    run: RunInfo
    probes: ProbeSection | None = None
    findings: list[Finding] = field(default_factory=list)
    gates: GateResult | None = None
    kind: str = "audit"  # "audit", or "profile" for `spectral-audit profile`
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        # Key order for people reading the file: version first.
        ordered = {"schema_version": data.pop("schema_version"), "kind": data.pop("kind")}
        ordered.update(data)
        return _finite_only(ordered)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AuditResult":
        version = data.get("schema_version")
        if not isinstance(version, int):
            raise AuditError("not a spectral-audit result: it has no integer 'schema_version'.")
        if version > SCHEMA_VERSION:
            raise AuditError(
                f"result has schema_version {version}; this spectral-audit reads up to "
                f"{SCHEMA_VERSION}. Upgrade spectral-audit."
            )
        try:
            spectral = data["spectral"]
            return cls(
                schema_version=version,
                kind=data.get("kind", "audit"),
                model=_build(ModelInfo, data["model"]),
                spectral=SpectralSection(
                    baseline=_build(Baseline, spectral["baseline"]),
                    settings=_build(SpectralSettings, spectral.get("settings", {})),
                    layers=[_build(LayerSpectrum, layer) for layer in spectral["layers"]],
                    summary=_build(SpectralSummary, spectral["summary"]),
                    unmatched=_build(Unmatched, spectral.get("unmatched", {})),
                ),
                verdict=data.get("verdict", ""),
                run=_build(RunInfo, data["run"]),
                probes=_probes_from_dict(data.get("probes")),
                findings=[_build(Finding, item) for item in data.get("findings", [])],
                gates=_gates_from_dict(data.get("gates")),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise AuditError(f"malformed spectral-audit result: missing or wrong field {error}.")


def _gates_from_dict(data: dict[str, Any] | None) -> GateResult | None:
    if data is None:
        return None
    return GateResult(passed=data["passed"], checks=[_build(GateCheck, c) for c in data.get("checks", [])])


def _probes_from_dict(data: dict[str, Any] | None) -> ProbeSection | None:
    if data is None:
        return None
    section = _build(ProbeSection, data)
    section.results = [_build(ProbeResult, item) for item in data.get("results", [])]
    if data.get("heatmap") is not None:
        section.heatmap = _build(FourierHeatmap, data["heatmap"])
    return section


def _build(cls, data: dict[str, Any]):
    """Dataclass from a dict, ignoring keys a newer minor version may have added."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in data.items() if key in names})


def _finite_only(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_only(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_only(item) for item in value]
    return value


def to_json(result: AuditResult) -> str:
    return json.dumps(result.to_dict(), indent=2, allow_nan=False)


def _stage(path: Path, content: str | bytes) -> Path:
    """Write ``content`` to a temporary file beside ``path``; the caller renames it."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise AuditError(f"cannot write {path}: {error.strerror or error}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content.encode("utf-8") if isinstance(content, str) else content)
        # mkstemp makes the file private (0600); give it the permissions of a normal file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def write_all_atomic(files: list[tuple[Path, str | bytes]]) -> None:
    """Write several files so that either all of them are replaced or none is.

    Each is first written to a temporary file beside it; only then are they renamed
    into place, with Ctrl-C held back for the few microseconds the renames take, so an
    interrupted run leaves the previous set intact.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, content in files:
            staged.append((Path(path), _stage(path, content)))
        with _interrupts_deferred():
            for path, temporary in staged:
                os.replace(temporary, path)
    finally:
        for _, temporary in staged:
            temporary.unlink(missing_ok=True)


class _interrupts_deferred:
    """Block SIGINT in this thread (where the platform allows) until the block ends."""

    def __enter__(self):
        import signal

        self._blocked = hasattr(signal, "pthread_sigmask")
        if self._blocked:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def __exit__(self, *exc):
        import signal

        if self._blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        return False


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write via a temporary file in the same folder, then rename: never half a file."""
    write_all_atomic([(Path(path), content)])


def save_result(result: AuditResult, path: str | os.PathLike) -> None:
    write_atomic(Path(path), to_json(result) + "\n")


def load_result(path: str | os.PathLike) -> AuditResult:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuditError(f"{path}: no such file.")
    except (OSError, UnicodeDecodeError) as error:
        raise AuditError(f"{path}: cannot read it as a JSON result ({error}).")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise AuditError(f"{path}: not valid JSON ({error.msg} at line {error.lineno}).")
    if not isinstance(data, dict):
        raise AuditError(f"{path}: expected a JSON object from spectral-audit, found {type(data).__name__}.")
    return AuditResult.from_dict(data)
