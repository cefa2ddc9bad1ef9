"""What the bundled zoo study supports, and the forecasts the findings make from it.

The study (``benchmarks/zoo_study.py``) measured, across a zoo of trained models, how
each spectral statistic ranks each probe's accuracy drop. A data-free audit against a
baseline of the same architecture can then forecast: "first-layer HFER is higher than
the baseline's, and in the study a higher first-layer HFER went with a larger drop under
blur k=7 (rho 0.71 [0.45, 0.86] within architectures)". Only correlations whose
within-architecture 95% interval excludes zero support a forecast; the others make none.

The calibration file is the study's correlation table without the per-model rows
(``audit/data/zoo_calibration.json``, written by the study script).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from audit.errors import AuditError
from audit.probes.registry import PROBES
from audit.schema import SCHEMA_VERSION, AuditResult, Correlation, ZooResult, build
from audit.zoo.statistics import STATISTICS, spectral_statistics

BUNDLED = "zoo_calibration.json"
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

    def to_dict(self) -> dict:
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
    def from_dict(cls, data: dict) -> Calibration:
        if not isinstance(data, dict) or data.get("kind") != "zoo-calibration":
            raise AuditError("not a spectral-audit zoo calibration (its 'kind' is not 'zoo-calibration').")
        try:
            return cls(
                description=str(data["description"]),
                models=int(data["models"]),
                groups=int(data["groups"]),
                correlations=[build(Correlation, c) for c in data["correlations"]],
            )
        except (KeyError, TypeError, ValueError) as error:
            raise AuditError(f"malformed zoo calibration: missing or wrong field {error}.")


def calibration_from_zoo(zoo: ZooResult, description: str) -> Calibration:
    return Calibration(description, len(zoo.models), zoo.groups, list(zoo.correlations))


def load_calibration(path: str | Path) -> Calibration:
    try:
        return Calibration.from_dict(json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError) as error:
        raise AuditError(f"{path}: cannot read the zoo calibration ({error}).")


@functools.lru_cache(maxsize=1)
def bundled_calibration() -> Calibration | None:
    """The calibration shipped with the package, or None where it is missing."""
    resource = files("audit").joinpath("data", BUNDLED)
    if not resource.is_file():
        return None
    return Calibration.from_dict(json.loads(resource.read_text()))


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
    source: str  # the calibration's description
    models: int


def forecasts(result: AuditResult, calibration: Calibration | None, tolerance: float = 0.05) -> list[Forecast]:
    """Per forecast probe, the best-supported forecast against the audit's baseline: the
    comparable statistic whose correlation (with clean accuracy held fixed) is strongest.

    None where the baseline is white noise or another architecture (the study ranks
    models within an architecture), where no comparable statistic's correlation is
    supported, or where the model's and the baseline's values of every supported
    statistic differ by less than ``tolerance`` (relative)."""
    summary = result.spectral.summary
    if calibration is None or result.spectral.baseline.kind == "white-noise" or summary.partial:
        return []
    model = spectral_statistics(result.spectral.layers)
    baseline = spectral_statistics(result.spectral.layers, baseline=True)
    made = []
    for probe_name in FORECAST_PROBES:
        severity = PROBES[probe_name].middle_severity()
        candidates = []
        for name, statistic in STATISTICS.items():
            correlation = calibration.find(name, probe_name, severity)
            ours, theirs = model.get(name), baseline.get(name)
            if not statistic.comparable or correlation is None or not correlation.supported:
                continue
            if ours is None or not theirs or abs(ours / theirs - 1) < tolerance:
                continue
            # The strength beyond accuracy decides, where the study measured it.
            strength = correlation.partial if correlation.partial is not None else correlation.within
            candidates.append((abs(strength), name, correlation, ours, theirs))
        if not candidates:
            continue
        _, name, correlation, ours, theirs = max(candidates, key=lambda c: c[0])
        made.append(
            Forecast(
                statistic=name,
                probe=probe_name,
                severity=severity,
                condition=correlation.condition,
                model_value=ours,
                baseline_value=theirs,
                correlation=correlation,
                larger_drop=(ours > theirs) == (correlation.within > 0),
                source=calibration.description,
                models=calibration.models,
            )
        )
    return made
