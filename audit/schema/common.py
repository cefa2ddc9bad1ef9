"""What every result records (the model, how it was run, how spectra were measured), the
schema version, and the names of the values a field may take.

Plain dataclasses, no computation; :mod:`audit.schema.codec` writes and reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 1
MIN_MODELS_PER_GROUP = 10  # fewer models of one architecture describe, but support no forecast
HFER_CUTOFF = 0.25  # cycles/pixel: half the Nyquist frequency

# The values a field may take; a saved result with any other is refused when read.
Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")
ProbeKind = Literal["corruption", "diagnostic"]
GateMode = Literal["point", "significant", "non-inferiority"]
BaselineKind = Literal["white-noise", "checkpoint", "profile"]
MatchedBy = Literal["name", "position", "partial"]
AuditKind = Literal["audit", "profile"]


# --- model and run -------------------------------------------------------------------------


@dataclass
class ModelInfo:
    path: str
    sha256: str
    format: str
    parameters: int
    notes: list[str] = field(default_factory=list)
    recorded: dict[str, Any] = field(default_factory=dict)  # what the checkpoint says of itself


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


def measured(value: float | None) -> float:
    """An optional number the caller has already selected as set (an accuracy where there
    are labels, an interval's bound where it was computed): the type checker's narrowing
    for values picked out of lists."""
    assert value is not None
    return value


# --- how spectra are measured ---------------------------------------------------------------


@dataclass(frozen=True)
class SpectralSettings:
    """How spectra are measured; a baseline must be measured the same way.

    cutoff: HFER cutoff radius in cycles/pixel.
    fft_size: None for the kernel's own grid, N for a zero-padded N x N grid.
    rings: with ``fft_size``, bin radii into rings of width 1/N instead of distinct values.
    """

    cutoff: float = HFER_CUTOFF
    fft_size: int | None = None
    rings: bool = False
