"""The result of ``spectral-audit zoo``: many models' statistics and drops, and their rank
correlations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from audit.schema.common import SCHEMA_VERSION, RunInfo

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
    kind: Literal["zoo"] = "zoo"
    schema_version: int = SCHEMA_VERSION
