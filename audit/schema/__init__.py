"""The results (audit, track, zoo): plain dataclasses and their schema-versioned JSON form.

- :mod:`~audit.schema.common`: the model, the run, spectral settings, the value names;
- :mod:`~audit.schema.audit`, :mod:`~audit.schema.track`, :mod:`~audit.schema.zoo`: one
  module per kind of result; every stage of the flow fills in its part, nothing computes;
- :mod:`~audit.schema.codec`: one codec for all three, strict JSON out, checked JSON in.

 The JSON is the interface CI users script against; these key names
are stable::

    {"schema_version": 1,
     "model": {"path", "sha256", "format", "parameters"},
     "spectral": {"baseline": {"kind", "source"},
                  "layers": [{"name", "shape", "kernel_size", "groups", "radii",
                              "radial_energy", "hfer", "baseline_hfer", "ssr", ...}],
                  "summary": {"hfer", "baseline_hfer", "ssr", ...}},
     "probes": {"dataset", "samples", "clean_accuracy",
                "results": [{"probe", "severity", "accuracy", "agreement",
                             "baseline_accuracy", ...}]}}   (null without probes)

Non-finite numbers (an SSR of a layer with no high-frequency energy) are written as
null, so the file is strict JSON that any parser reads. Readers ignore keys they do
not know, so adding a key is not a new schema version.
"""

from audit.schema.audit import (
    AuditResult,
    Baseline,
    Finding,
    FourierHeatmap,
    GateCheck,
    GateResult,
    LayerSpectrum,
    ProbeResult,
    ProbeSection,
    ProbeVerdict,
    SpectralSection,
    SpectralSummary,
    Unmatched,
)
from audit.schema.codec import (
    check_fields,
    decode,
    decode_result,
    encode,
    finite_only,
    finite_or_none,
    result_from_json,
    to_json,
)
from audit.schema.common import (
    HFER_CUTOFF,
    MIN_MODELS_PER_GROUP,
    SCHEMA_VERSION,
    SEVERITIES,
    AuditKind,
    BaselineKind,
    GateMode,
    MatchedBy,
    ModelInfo,
    ProbeKind,
    RunInfo,
    Severity,
    SpectralSettings,
    measured,
)
from audit.schema.track import TrackPoint, TrackResult
from audit.schema.zoo import Correlation, ZooModel, ZooResult

__all__ = [
    "HFER_CUTOFF", "MIN_MODELS_PER_GROUP", "SCHEMA_VERSION", "SEVERITIES", "AuditKind", "AuditResult", "Baseline",
    "BaselineKind", "Correlation", "Finding", "FourierHeatmap", "GateCheck", "GateMode", "GateResult",
    "LayerSpectrum", "MatchedBy", "ModelInfo", "ProbeKind", "ProbeResult", "ProbeSection", "ProbeVerdict", "RunInfo",
    "Severity", "SpectralSection", "SpectralSettings", "SpectralSummary", "TrackPoint", "TrackResult", "Unmatched",
    "ZooModel", "ZooResult", "check_fields", "decode", "decode_result", "encode", "finite_only", "finite_or_none",
    "measured", "result_from_json", "to_json",
]  # fmt: skip
