"""What the bundled zoo studies support, and the forecasts the findings make from them.

Two studies measured how each spectral statistic ranks each probe's accuracy drop across
models of one architecture: a zoo trained here (``benchmarks/zoo_study.py``, ResNet-8s
on 4,660 images) and a zoo of real ResNet-20/56s that other people trained and published
(``benchmarks/real_zoo_study.py``). A data-free audit against a baseline of the same
architecture forecasts a probe only from a statistic whose association **replicates**:
supported (within-architecture interval excluding zero, and the interval with clean
accuracy held fixed too where measured) in *every* study, with the same sign. A
correlation found in one zoo alone is a description, never a forecast: the first-layer
HFER's strong association in the trained zoo has the opposite sign on real models.

A user's own ``spectral-audit zoo`` table (``calibration=``) replaces the bundled studies:
it describes the user's models, which the bundled zoos do not.

Each calibration file is a study's correlation table without the per-model rows
(``audit/data/zoo_calibration.json`` and ``zoo_calibration_real.json``).
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from audit.errors import AuditError
from audit.probes.registry import PROBES
from audit.schema import (
    MIN_MODELS_PER_GROUP,
    SCHEMA_VERSION,
    AuditResult,
    Correlation,
    ZooResult,
    decode,
    decode_result,
    measured,
)
from audit.spectral.statistics import STATISTICS, spectral_statistics

# The trained zoo (regularisers), the real zoo (models trained by others), the trained zoo
# of recipe factors (optimisers, schedules, PGD, pruning...; 2 seeds each). A forecast
# needs the same sign, supported, in every one of them.
BUNDLED = ("zoo_calibration.json", "zoo_calibration_real.json", "zoo_calibration_factors.json")
# The probes of the default preset a forecast is made for, at their middle severity;
# the Fourier filters are diagnostics, not corruptions a deployment meets.
FORECAST_PROBES = ("gaussian_noise", "gaussian_blur", "low_resolution")


@dataclass
class Calibration:
    description: str  # "the bundled zoo study (48 ResNet-8 models on CIFAR-10)"
    models: int
    groups: int
    correlations: list[Correlation]

    def find(self, statistic: str, probe: str, severity: float) -> Correlation | None:
        return next(
            (
                c
                for c in self.correlations
                if c.statistic == statistic and c.probe == probe and math.isclose(c.severity, severity)
            ),
            None,
        )

    def to_dict(self) -> dict[str, Any]:
        import dataclasses

        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "zoo-calibration",
            "description": self.description,
            "models": self.models,
            "groups": self.groups,
            "correlations": [dataclasses.asdict(c) for c in self.correlations],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        if not isinstance(data, dict) or data.get("kind") != "zoo-calibration":
            raise AuditError("not a spectral-audit zoo calibration (its 'kind' is not 'zoo-calibration').")
        try:
            return cls(
                description=str(data["description"]),
                models=int(data["models"]),
                groups=int(data["groups"]),
                correlations=[decode(Correlation, c, "zoo calibration") for c in data["correlations"]],
            )
        except (KeyError, TypeError, ValueError) as error:
            raise AuditError(f"malformed zoo calibration: missing or wrong field {error}.")


def calibration_from_zoo(zoo: ZooResult, description: str) -> Calibration:
    return Calibration(description, len(zoo.models), zoo.groups, list(zoo.correlations))


def load_calibration(path: str | os.PathLike[str]) -> Calibration:
    """A calibration file, or a ``spectral-audit zoo --json`` table (a user's own study)."""
    from audit.io import read_text

    try:
        data = json.loads(read_text(path, "zoo calibration", 256 << 20))
    except json.JSONDecodeError as error:
        raise AuditError(f"{path}: cannot read the zoo calibration ({error}).")
    if isinstance(data, dict) and data.get("kind") == "zoo":
        zoo = decode_result(ZooResult, data)
        return calibration_from_zoo(zoo, f"your zoo study ({len(zoo.models)} models, {Path(path).name})")
    return Calibration.from_dict(data)


@functools.lru_cache(maxsize=1)
def bundled_calibrations() -> tuple[Calibration, ...]:
    """The studies shipped with the package (those present), trained zoo first."""
    found = []
    for name in BUNDLED:
        resource = files("audit").joinpath("data").joinpath(name)  # one part per call on Python 3.10
        if resource.is_file():
            found.append(Calibration.from_dict(json.loads(resource.read_text())))
    return tuple(found)


def bundled_calibration() -> Calibration | None:
    """The trained zoo's calibration alone (the real zoo's is ``bundled_calibrations()[1]``)."""
    studies = bundled_calibrations()
    return studies[0] if studies else None


Calibrations = Calibration | Sequence[Calibration] | None


def as_studies(calibration: Calibrations) -> tuple[Calibration, ...]:
    if calibration is None:
        return ()
    return (calibration,) if isinstance(calibration, Calibration) else tuple(calibration)


def supported(correlation: Correlation) -> bool:
    """Every architecture group holds at least MIN_MODELS_PER_GROUP models (a bootstrap
    interval over fewer is not to be trusted: 3 models give rho -1.00 [-1.00, -1.00]);
    within architectures the 95% interval excludes zero, and so does the interval with
    clean accuracy held fixed (same sign), where it was computed: the statistic ranks
    the drop beyond what accuracy alone explains."""
    if correlation.smallest_group is not None and correlation.smallest_group < MIN_MODELS_PER_GROUP:
        return False
    if not _excludes_zero(correlation.within_low, correlation.within_high):
        return False
    if correlation.partial is None:
        return True
    same_sign = (correlation.partial > 0) == (measured(correlation.within) > 0)
    return _excludes_zero(correlation.partial_low, correlation.partial_high) and same_sign


def _excludes_zero(low: float | None, high: float | None) -> bool:
    return low is not None and high is not None and (low > 0 or high < 0)


def replicated(studies: Sequence[Calibration], statistic: str, probe: str, severity: float) -> list[Correlation] | None:
    """The correlation of ``statistic`` with ``probe``'s drop in each study, when every
    study supports it with the same sign; None otherwise (a description, not a forecast)."""
    found = [c for study in studies if (c := study.find(statistic, probe, severity)) is not None and supported(c)]
    if not found or len(found) != len(studies):
        return None
    if len({measured(c.within) > 0 for c in found}) != 1:
        return None
    return found


@dataclass
class Forecast:
    statistic: str
    probe: str
    severity: float
    condition: str
    model_value: float
    baseline_value: float
    correlation: Correlation
    larger_drop: bool  # the forecast: the model drops more than the baseline
    source: str  # the first study's description
    models: int
    support: list[tuple[str, int, Correlation]] = field(default_factory=list)  # every study: description, n, rho


def forecasts(result: AuditResult, calibration: Calibrations, tolerance: float = 0.05) -> list[Forecast]:
    """Per forecast probe, the best-replicated forecast against the audit's baseline: the
    comparable statistic supported with the same sign in every study whose weakest
    correlation (with clean accuracy held fixed, where measured) is strongest.

    None where the baseline is white noise or another architecture (the studies rank
    models within an architecture), where no comparable statistic's correlation
    replicates, or where the model's and the baseline's values of every such statistic
    differ by less than ``tolerance`` (relative)."""
    summary = result.spectral.summary
    studies = as_studies(calibration)
    if not studies or result.spectral.baseline.kind == "white-noise" or summary.partial:
        return []
    model = spectral_statistics(result.spectral.layers)
    baseline = spectral_statistics(result.spectral.layers, baseline=True)
    made = []
    for probe_name in FORECAST_PROBES:
        severity = PROBES[probe_name].middle_severity()
        candidates = []
        for name, statistic in STATISTICS.items():
            found = replicated(studies, name, probe_name, severity)
            ours, theirs = model.get(name), baseline.get(name)
            if not statistic.comparable or found is None:
                continue
            if ours is None or not theirs or abs(ours / theirs - 1) < tolerance:
                continue
            # The strength beyond accuracy decides, where a study measured it; the weakest study counts.
            strength = min(abs(c.partial if c.partial is not None else measured(c.within)) for c in found)
            candidates.append((strength, name, found, ours, theirs))
        if not candidates:
            continue
        _, name, found, ours, theirs = max(candidates, key=lambda c: c[0])
        correlation = found[0]
        made.append(
            Forecast(
                statistic=name,
                probe=probe_name,
                severity=severity,
                condition=correlation.condition,
                model_value=ours,
                baseline_value=theirs,
                correlation=correlation,
                larger_drop=(ours > theirs) == (measured(correlation.within) > 0),
                source=studies[0].description,
                models=studies[0].models,
                support=[(s.description, s.models, c) for s, c in zip(studies, found)],
            )
        )
    return made
