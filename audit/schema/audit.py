"""The result of an audit: the spectra against a baseline, the probes, the findings, the
gates and the verdict. Every stage of the flow fills in its part; nothing here computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audit.schema.common import (
    SCHEMA_VERSION,
    AuditKind,
    BaselineKind,
    GateMode,
    MatchedBy,
    ModelInfo,
    ProbeKind,
    RunInfo,
    Severity,
    SpectralSettings,
)


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

    kind: BaselineKind = "white-noise"
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
    matched_by: MatchedBy | None = None  # "name", "position" (renamed), "partial"; None: white noise
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
    kind: ProbeKind = "corruption"  # or "diagnostic" (Fourier filters)
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
    kind: ProbeKind
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
    probes: list[dict[str, Any]] = field(default_factory=list)  # name, parameter, description per probe
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
    examples: list[dict[str, Any]] = field(
        default_factory=list
    )  # probe, label, png (base64): one image under each probe
    non_finite_logits: int = 0  # clean images whose logits held NaN or Inf (counted as wrong)
    baseline_non_finite_logits: int = 0
    judged: list[ProbeVerdict] = field(default_factory=list)  # per probe, against a paired baseline


# --- judgments -----------------------------------------------------------------------------


@dataclass
class Finding:
    id: str
    severity: Severity
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
    mode: GateMode = "point"
    deciding: float | None = None  # the number compared with the threshold


@dataclass
class GateResult:
    passed: bool
    checks: list[GateCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. a limit finer than the sample resolves
    mode: GateMode = "significant"

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
    kind: AuditKind = "audit"  # "audit", or "profile" for `spectral-audit profile`
    schema_version: int = SCHEMA_VERSION
