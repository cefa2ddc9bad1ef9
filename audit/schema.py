"""The result of an audit: plain dataclasses and their schema-versioned JSON form.

Every stage of the flow fills in its part of an :class:`AuditResult`; nothing here
computes anything. The JSON is the interface CI users script against; these key names
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

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from audit.errors import AuditError

SCHEMA_VERSION = 1
MIN_MODELS_PER_GROUP = 10  # fewer models of one architecture describe, but support no forecast
HFER_CUTOFF = 0.25  # cycles/pixel: half the Nyquist frequency


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


# --- spectra -------------------------------------------------------------------------------


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


@dataclass
class LayerSpectrum:
    """Everything measured about one convolution layer, plus its baseline comparison.

    Spectral numbers are None for layers with no 2-D spectrum (1x1, 1-D, 3-D kernels)
    and for layers whose weights are all zero or non-finite (``note`` says which).
    radii are in cycles/pixel; radial_energy are energy fractions that sum to 1.
    paper_profile is the seed paper's ring-mean profile normalised to DC = 1 (None when
    DC is 0); paper_h its high-frequency fraction.
    The baseline_* fields, ssr and paper_ssr are filled in by the comparison.
    """

    name: str
    shape: list[int]
    kernel_size: list[int]
    kind: str
    groups: int | None
    stride: list[int] | None
    dilation: list[int] | None
    transposed: bool | None
    slices: int
    radii: list[float] | None = None
    radial_energy: list[float] | None = None
    hfer: float | None = None
    channel_hfer: float | None = None  # HFER with every output channel scaled to equal energy
    paper_radii: list[float] | None = None
    paper_profile: list[float] | None = None
    paper_h: float | None = None
    white_noise_hfer: float | None = None
    white_noise_paper_h: float | None = None
    finite: bool = True
    mean_square: float | None = None  # mean squared weight: near 0, the layer passes no signal
    note: str | None = None
    baseline_hfer: float | None = None
    ssr: float | None = None
    baseline_paper_h: float | None = None
    paper_ssr: float | None = None


@dataclass
class Baseline:
    """What the model is compared with. kind: 'white-noise', 'checkpoint' or 'profile'."""

    kind: str = "white-noise"
    source: str | None = None
    sha256: str | None = None


@dataclass
class SpectralSummary:
    """Network-wide numbers: means over compared layers weighted by their slice counts."""

    hfer: float | None
    baseline_hfer: float | None
    ssr: float | None
    paper_h: float | None
    baseline_paper_h: float | None
    paper_ssr: float | None
    layers: int
    layers_compared: int
    layers_without_spectrum: int
    slices: int
    matched_by: str | None = None  # "name", "position" (renamed), "partial"; None: white noise
    rescaled_layers: list[str] = field(default_factory=list)  # the baseline's kernels rescaled per channel
    match_note: str | None = None

    @property
    def partial(self) -> bool:
        return self.matched_by == "partial"


@dataclass
class Unmatched:
    """Layer names present on one side only (only for a model baseline)."""

    model_only: list[str] = field(default_factory=list)
    baseline_only: list[str] = field(default_factory=list)


@dataclass
class SpectralSection:
    baseline: Baseline
    settings: SpectralSettings
    layers: list[LayerSpectrum]
    summary: SpectralSummary
    unmatched: Unmatched = field(default_factory=Unmatched)


# --- probes --------------------------------------------------------------------------------


@dataclass
class ProbeResult:
    """One probe at one severity. Accuracies are fractions in [0, 1] (None without labels);
    agreement is the fraction of predictions equal to the clean prediction (label-free).

    Every ``*_ci`` is a 95% interval [lower, upper]: Wilson for an accuracy, a seeded
    paired bootstrap for a drop (clean vs corrupted, per image) and for a comparison
    with the baseline (the same images under the same noise). difference = model
    accuracy - baseline accuracy; drop_difference = model drop - baseline drop (> 0: the
    model loses more); mcnemar_p: exact McNemar test of the accuracy difference.
    correct: the model's per-image outcomes (base64 bits), so that this result can serve
    as a paired baseline later.
    """

    probe: str
    severity: float
    value: float  # the parameter actually applied (scaled to the image size where needed)
    accuracy: float | None
    agreement: float
    accuracy_drop: float | None = None
    baseline_accuracy: float | None = None
    baseline_agreement: float | None = None
    baseline_accuracy_drop: float | None = None
    accuracy_ci: list[float] | None = None
    accuracy_drop_ci: list[float] | None = None
    baseline_accuracy_ci: list[float] | None = None
    baseline_accuracy_drop_ci: list[float] | None = None
    difference: float | None = None
    difference_ci: list[float] | None = None
    drop_difference: float | None = None
    drop_difference_ci: list[float] | None = None
    mcnemar_p: float | None = None
    kind: str = "corruption"  # or "diagnostic" (Fourier filters)
    correct: str | None = None


@dataclass
class ProbeVerdict:
    """One probe judged against the baseline across its severities: what findings and the
    verdict quote, instead of the probe's most extreme row.

    Only severities where the baseline is well above chance (``judged``; at least twice
    chance) are judged: where both models are near chance a difference says nothing.
    drop_difference is the mean over those severities of (model drop - baseline drop),
    accuracy_difference the mean of (model accuracy - baseline accuracy), each with a
    95% paired bootstrap interval over images; p_value is a paired t-test of the per-image
    mean drop difference, and adjusted_p its Holm adjustment over the ``comparisons``
    corruption probes judged in the same audit (so that 5-8 probes x 3-10 severities do
    not make a regression by chance). significant: adjusted_p below 0.05.
    """

    probe: str
    kind: str
    judged: list[float]  # the severities judged
    left_out: list[float]  # the severities where the baseline is not above twice chance
    drop_difference: float | None = None
    drop_difference_ci: list[float] | None = None
    accuracy_difference: float | None = None
    accuracy_difference_ci: list[float] | None = None
    p_value: float | None = None
    adjusted_p: float | None = None
    comparisons: int = 0
    significant: bool = False


@dataclass
class FourierHeatmap:
    """Error rate under a single Fourier-basis perturbation per frequency (Yin et al. 2019).
    errors[i][j] is for frequency (u, v) = (i - H//2, j - W//2) cycles/image (DC centred)."""

    norm: float
    samples: int
    errors: list[list[float]]
    baseline_errors: list[list[float]] | None = None
    basis: str = "cos + sin"
    frequencies: int | None = None  # evaluated; the others are mirror images
    step: int = 1  # every step-th frequency per axis was evaluated; the grid holds those only


@dataclass
class ProbeSection:
    dataset: str
    source: str
    samples: int
    full_split: int | None
    image_shape: list[int]
    mean: list[float]
    std: list[float]
    seed: int
    batch_size: int
    runner: str
    output_used: str | None
    clean_accuracy: float | None
    baseline_clean_accuracy: float | None
    results: list[ProbeResult]
    probes: list[dict] = field(default_factory=list)  # name, parameter, description per probe
    heatmap: FourierHeatmap | None = None
    seconds: float = 0.0
    images_per_second: float = 0.0
    notes: list[str] = field(default_factory=list)
    num_classes: int | None = None
    clean_accuracy_ci: list[float] | None = None
    baseline_clean_accuracy_ci: list[float] | None = None
    clean_difference: float | None = None  # model - baseline, paired
    clean_difference_ci: list[float] | None = None
    clean_mcnemar_p: float | None = None
    clean_correct: str | None = None  # per-image outcomes (base64 bits)
    paired: bool = False  # model and baseline compared image by image
    statistics: str | None = None  # how the intervals were computed
    examples: list[dict] = field(default_factory=list)  # probe, label, png (base64): one image under each probe
    non_finite_logits: int = 0  # clean images whose logits held NaN or Inf (counted as wrong)
    baseline_non_finite_logits: int = 0
    judged: list[ProbeVerdict] = field(default_factory=list)  # per probe, against a paired baseline


# --- judgments -----------------------------------------------------------------------------

SEVERITIES = ("info", "warning", "error")


@dataclass
class Finding:
    id: str
    severity: str  # one of SEVERITIES
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class GateCheck:
    """One threshold. ``interval`` is the value's 95% interval where it is measured on a
    sample; ``mode`` says what was compared with the threshold (``deciding``): "point" the
    value, "significant" the interval's near bound (fails only when the data show the
    limit is crossed), "non-inferiority" its far bound (passes only when the data show
    the limit is kept)."""

    name: str
    value: float | None
    threshold: float
    passed: bool
    detail: str = ""
    interval: list[float] | None = None
    mode: str = "point"
    deciding: float | None = None  # the number compared with the threshold


@dataclass
class GateResult:
    passed: bool
    checks: list[GateCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. a limit finer than the sample resolves
    mode: str = "significant"

    @property
    def failed(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]


# --- the whole result ----------------------------------------------------------------------


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
        return versioned_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditResult:
        version = data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):
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
                model=build(ModelInfo, data["model"]),
                spectral=SpectralSection(
                    baseline=build(Baseline, spectral["baseline"]),
                    settings=build(SpectralSettings, spectral.get("settings", {})),
                    layers=[build(LayerSpectrum, layer) for layer in spectral["layers"]],
                    summary=build(SpectralSummary, spectral["summary"]),
                    unmatched=build(Unmatched, spectral.get("unmatched", {})),
                ),
                verdict=data.get("verdict", ""),
                run=build(RunInfo, data["run"]),
                probes=_probes_from_dict(data.get("probes")),
                findings=[build(Finding, item) for item in data.get("findings", [])],
                gates=_gates_from_dict(data.get("gates")),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise AuditError(f"malformed spectral-audit result: missing or wrong field {error}.")


# --- training runs (the track verb) --------------------------------------------------------


@dataclass
class TrackPoint:
    """One checkpoint of a training run. ``epoch`` is its position on the x axis (an
    epoch, a step, or its place in the file order: TrackResult.order says which)."""

    path: str
    epoch: int | None
    sha256: str
    hfer: float | None  # network HFER (slice-weighted)
    paper_h: float | None  # network paper-mode h (slice-weighted)
    paper_ssr: float | None  # network (h_first - h) / h_first: 0 for the first checkpoint
    ssr: float | None  # HFER(first) / HFER
    radial_profile: list[float]  # energy fractions per radius, all layers pooled by slice count
    layer_hfer: dict[str, float | None] = field(default_factory=dict)
    paper_protocol_ssr: float | None = None  # the seed paper's compute_ssr, first conv vs epoch 1


@dataclass
class TrackResult:
    points: list[TrackPoint]
    layers: list[str]
    bin_edges: list[float]  # the radii of radial_profile, cycles/pixel
    settings: SpectralSettings
    run: RunInfo | None = None
    kind: str = "track"
    schema_version: int = SCHEMA_VERSION
    order: str = "epoch key"  # where the x positions come from (see audit.loading.runs)
    x_label: str = "epoch"
    partial: bool = False  # layers differ between checkpoints: numbers over the common ones
    notes: list[str] = field(default_factory=list)
    paper_layer: str | None = None  # the paper protocol's layer and reference, when asked for
    paper_reference: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return finite_only(dataclasses.asdict(self))


# --- model zoos (the zoo verb and study) ---------------------------------------------------


@dataclass
class ZooModel:
    """One audited model of a zoo: what a correlation is computed from.

    drops: "probe@severity" -> [accuracy drop, 95% low, 95% high] (fractions).
    architecture: the group the model belongs to (same conv layer names and shapes).
    """

    name: str
    path: str
    sha256: str
    architecture: str
    parameters: int
    clean_accuracy: float | None
    clean_accuracy_ci: list[float] | None
    statistics: dict[str, float | None]
    drops: dict[str, list[float | None]]
    samples: int = 0  # images the accuracies were measured on
    recipe: dict[str, Any] = field(default_factory=dict)  # how it was trained, where known
    at_chance: bool = False  # its clean accuracy is not above twice chance: left out of the correlations


@dataclass
class Correlation:
    """Spearman correlation of one statistic with one probe's drop, across the zoo's
    models (``rho``) and within groups of equal architecture (``within``)."""

    statistic: str
    probe: str
    severity: float
    condition: str  # "blur k=5"
    rho: float | None
    low: float | None
    high: float | None
    within: float | None
    within_low: float | None
    within_high: float | None
    partial: float | None = None  # within architectures, clean accuracy held fixed
    partial_low: float | None = None
    partial_high: float | None = None
    # Out of sample: the share of folds (each source, recipe or model left out in turn) whose
    # within-architecture rho, computed without that fold, has the sign of ``within``.
    held_out_agreement: float | None = None
    held_out: str | None = None  # what a fold is: "source", "recipe" or "model"
    smallest_group: int | None = None  # models in the smallest architecture group correlated

    @property
    def supported(self) -> bool:
        """Every architecture group holds at least MIN_MODELS_PER_GROUP models (a bootstrap
        interval over fewer is not to be trusted: 3 models give rho -1.00 [-1.00, -1.00]);
        within architectures the 95% interval excludes zero, and so does the interval with
        clean accuracy held fixed (same sign), where it was computed: the statistic ranks
        the drop beyond what accuracy alone explains."""
        if self.smallest_group is not None and self.smallest_group < MIN_MODELS_PER_GROUP:
            return False
        if not _excludes_zero(self.within_low, self.within_high):
            return False
        if self.partial is None:
            return True
        return _excludes_zero(self.partial_low, self.partial_high) and (self.partial > 0) == (measured(self.within) > 0)


def _excludes_zero(low: float | None, high: float | None) -> bool:
    return low is not None and high is not None and (low > 0 or high < 0)


@dataclass
class ZooResult:
    models: list[ZooModel]
    correlations: list[Correlation]
    statistics: dict[str, str]  # name -> what it measures
    dataset: str
    samples: int
    probes: str
    resamples: int
    groups: int
    run: RunInfo | None = None
    notes: list[str] = field(default_factory=list)
    kind: str = "zoo"
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return versioned_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ZooResult:
        if not isinstance(data, dict) or data.get("kind") != "zoo":
            raise AuditError("not a spectral-audit zoo table (its 'kind' is not 'zoo').")
        check_fields(cls, data, "")
        try:
            return cls(
                **{
                    **{k: v for k, v in data.items() if k in {f.name for f in dataclasses.fields(cls)}},
                    "models": [build(ZooModel, m) for m in data["models"]],
                    "correlations": [build(Correlation, c) for c in data["correlations"]],
                    "run": build(RunInfo, data["run"]) if data.get("run") else None,
                }
            )
        except (KeyError, TypeError) as error:
            raise AuditError(f"malformed zoo table: missing or wrong field {error}.")


# --- JSON ----------------------------------------------------------------------------------


def _gates_from_dict(data: dict[str, Any] | None) -> GateResult | None:
    if data is None:
        return None
    return GateResult(
        passed=data["passed"],
        checks=[build(GateCheck, c) for c in data.get("checks", [])],
        notes=list(data.get("notes", [])),
        mode=data.get("mode", "significant"),
    )


def _probes_from_dict(data: dict[str, Any] | None) -> ProbeSection | None:
    if data is None:
        return None
    section = build(ProbeSection, data)
    section.results = [build(ProbeResult, item) for item in data.get("results", [])]
    section.judged = [build(ProbeVerdict, item) for item in data.get("judged", [])]
    if data.get("heatmap") is not None:
        section.heatmap = build(FourierHeatmap, data["heatmap"])
    return section


def build(cls, data: dict[str, Any]):
    """Dataclass from a dict, ignoring keys a newer minor version may have added."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} expects an object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in data.items() if key in names})


def versioned_dict(result) -> dict[str, Any]:
    """A result as a strict-JSON-ready dict, its version and kind first (for people
    reading the file)."""
    data = dataclasses.asdict(result)
    ordered = {"schema_version": data.pop("schema_version"), "kind": data.pop("kind")}
    ordered.update(data)
    return finite_only(ordered)


def finite_or_none(value: float | None) -> float | None:
    """A float, or None where it is missing, NaN or infinite."""
    return value if value is not None and math.isfinite(value) else None


def finite_only(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_only(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_only(item) for item in value]
    return value


def to_json(result: AuditResult | TrackResult | ZooResult) -> str:
    """Strict JSON text of a result, with a final newline."""
    return json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"


# --- checking a saved result before it is used --------------------------------------------------
#
# A saved result is an input like any other (a --baseline from a pull request, a report to
# re-render): every field is checked against its declared type, numbers are finite and in
# their range, strings have sane lengths and per-image outcomes are base64, so a forged file
# gets one line naming the field instead of a NaN verdict or a report that never finishes.

_FRACTIONS = {
    "hfer", "channel_hfer", "paper_h", "white_noise_hfer", "white_noise_paper_h", "baseline_hfer",
    "baseline_paper_h", "accuracy", "agreement", "baseline_accuracy", "baseline_agreement", "clean_accuracy",
    "baseline_clean_accuracy", "radial_energy", "accuracy_ci", "baseline_accuracy_ci", "clean_accuracy_ci",
    "baseline_clean_accuracy_ci", "mcnemar_p", "clean_mcnemar_p",
}  # fmt: skip
_NON_NEGATIVE = {"ssr", "radii", "paper_radii", "mean_square", "seconds", "images_per_second", "samples"}
_BASE64 = {"correct", "clean_correct"}
_NAME_LENGTH = 4096  # a layer or file name; real ones are a few hundred characters
_TEXT_LENGTH = 1 << 16
_BASE64_LENGTH = 64 << 20
_LIST_LENGTH = 1 << 22


def _field_error(where: str, message: str) -> AuditError:
    return AuditError(f"field {where} {message}.")


def _check_number(value: Any, where: str, name: str, integer: bool) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _field_error(where, f"must be {'an integer' if integer else 'a number'}, got {str(value)[:40]!r}")
    if not integer and not math.isfinite(value):
        raise _field_error(where, f"must be finite, got {value!r}")
    if integer and abs(value) > 1 << 62:
        raise _field_error(where, "is out of range")
    if name in _FRACTIONS and not -1e-9 <= value <= 1 + 1e-9:
        raise _field_error(where, f"must be a fraction in [0, 1], got {value!r}")
    if name in _NON_NEGATIVE and value < 0:
        raise _field_error(where, f"must not be negative, got {value!r}")


def _check_value(hint: Any, value: Any, where: str, name: str) -> None:
    import base64
    import binascii
    import types
    import typing

    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return
        options = [a for a in arguments if a is not type(None)]
        hint, origin, arguments = options[0], typing.get_origin(options[0]), typing.get_args(options[0])
    if hint is Any:
        if isinstance(value, str) and len(value) > _BASE64_LENGTH:
            raise _field_error(where, f"is {len(value):,} characters long")
        return
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        check_fields(hint, value, where)
    elif hint is float or hint is int:
        _check_number(value, where, name, hint is int)
    elif hint is bool:
        if not isinstance(value, bool):
            raise _field_error(where, f"must be true or false, got {str(value)[:40]!r}")
    elif hint is str:
        if not isinstance(value, str):
            raise _field_error(where, f"must be text, got {type(value).__name__}")
        limit = (
            _BASE64_LENGTH if name in _BASE64 else _NAME_LENGTH if name in ("name", "path", "probe") else _TEXT_LENGTH
        )
        if len(value) > limit:
            raise _field_error(where, f"is {len(value):,} characters long, more than {limit:,}")
        if name in _BASE64:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise _field_error(where, "is not base64 (per-image outcomes)")
    elif origin is list:
        if not isinstance(value, list):
            raise _field_error(where, f"must be a list, got {type(value).__name__}")
        if len(value) > _LIST_LENGTH:
            raise _field_error(where, f"holds {len(value):,} items")
        for index, item in enumerate(value):
            _check_value(arguments[0] if arguments else Any, item, f"{where}[{index}]", name)
    elif origin is dict:
        if not isinstance(value, dict):
            raise _field_error(where, f"must be an object, got {type(value).__name__}")
        for key, item in value.items():
            _check_value(arguments[1] if len(arguments) == 2 else Any, item, f"{where}.{str(key)[:40]}", "")


_HINTS: dict[type, dict[str, Any]] = {}


def check_fields(cls: type, data: Any, where: str) -> None:
    """Check the dict ``data`` against the dataclass ``cls``'s declared field types (and
    the ranges above); raises AuditError naming the first bad field (``where`` its path)."""
    import typing

    if not isinstance(data, dict):
        raise _field_error(where, f"must be an object, got {type(data).__name__}")
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    for key, hint in _HINTS[cls].items():
        if key in data:
            _check_value(hint, data[key], f"{where}.{key}" if where else key, key)


def result_from_json(text: str, where: str) -> AuditResult:
    """Parse a result written by :func:`to_json`; ``where`` names the source in errors."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise AuditError(f"{where}: not valid JSON ({error.msg} at line {error.lineno}).")
    except RecursionError:
        raise AuditError(f"{where}: JSON nested too deeply to be a spectral-audit result.")
    if not isinstance(data, dict):
        raise AuditError(f"{where}: expected a JSON object from spectral-audit, found {type(data).__name__}.")
    try:
        check_fields(AuditResult, data, "")
        return AuditResult.from_dict(data)
    except AuditError as error:
        raise AuditError(f"{where}: {error.message}", hint=error.hint, code=error.code)
