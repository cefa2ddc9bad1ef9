"""From the audits of a zoo's models to its correlation table.

One :class:`~audit.schema.ZooModel` row per audit (statistics, clean accuracy, the drop
under every probe with its interval), then one :class:`~audit.schema.Correlation` per
(statistic, probe, severity) over the rows. Pure: the audits are made elsewhere
(:func:`audit.api.run_zoo`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from audit.errors import AuditError
from audit.probes.registry import condition
from audit.schema import MIN_MODELS_PER_GROUP, AuditResult, Correlation, LayerSpectrum, RunInfo, ZooModel, ZooResult
from audit.spectral.statistics import REFERENCE, STATISTICS, model_statistics
from audit.zoo.correlation import RESAMPLES, correlate, held_out_within

MIN_MODELS = 3  # fewer cannot be ranked meaningfully


def drop_key(probe: str, severity: float) -> str:
    return f"{probe}@{severity:g}"


def architecture_of(audit: AuditResult) -> str:
    """A short name for the architecture: its conv layers' count and a digest of their
    names and shapes (models with the same one are compared within a group)."""
    layout = [(l.name, l.shape) for l in audit.spectral.layers]
    digest = hashlib.sha256(json.dumps(layout).encode()).hexdigest()[:8]
    return f"{len(layout)} conv layers, {audit.model.parameters:,} parameters ({digest})"


def zoo_row(
    name: str,
    audit: AuditResult,
    padded_layers: list[LayerSpectrum] | None = None,
    ssr_init: float | None = None,
    recipe: dict[str, Any] | None = None,
) -> ZooModel:
    """One model's row: its statistics and, per probe and severity, its drop."""
    if audit.probes is None:
        raise AuditError(f"{name}: a zoo row needs the probes' drops; the audit ran none.")
    drops = {
        drop_key(r.probe, r.severity): [r.accuracy_drop, *(r.accuracy_drop_ci or (None, None))]
        for r in audit.probes.results
    }
    return ZooModel(
        name=name,
        path=audit.model.path,
        sha256=audit.model.sha256,
        architecture=architecture_of(audit),
        parameters=audit.model.parameters,
        clean_accuracy=audit.probes.clean_accuracy,
        clean_accuracy_ci=audit.probes.clean_accuracy_ci,
        statistics=model_statistics(audit, padded_layers, ssr_init),
        drops=drops,
        samples=audit.probes.samples,
        recipe=dict(recipe or {}),
        at_chance=any(f.id == "chance-level-accuracy" for f in audit.findings),
    )


def conditions_of(audit: AuditResult) -> dict[str, str]:
    """ "probe@severity" -> the condition in words ("blur k=5"), from one audit."""
    return {drop_key(r.probe, r.severity): condition(r) for r in audit.probes.results} if audit.probes else {}


def statistic_value(model: ZooModel, statistic: str) -> float | None:
    """A model's value of a statistic (the clean-accuracy yardstick included)."""
    return model.clean_accuracy if statistic == REFERENCE else model.statistics.get(statistic)


def folds_of(models: list[ZooModel]) -> tuple[str | None, list[str]]:
    """What to leave out in turn for the out-of-sample check: each source (where models
    record two or more), else each recipe (the recipe without its seed, where models share
    recipes), else each model; (None, []) with fewer than four models."""
    if len(models) < MIN_MODELS + 1:
        return None, []
    sources = [str(m.recipe.get("source")) for m in models if m.recipe.get("source") is not None]
    if len(sources) == len(models) and len(set(sources)) >= 2:
        return "source", sources
    recipes = [json.dumps({k: v for k, v in m.recipe.items() if k != "seed"}, sort_keys=True) for m in models]
    if all(m.recipe for m in models) and len(set(recipes)) < len(models):
        return "recipe", recipes
    return "model", [m.name for m in models]


def correlation_table(
    models: list[ZooModel], conditions: dict[str, str], resamples: int = RESAMPLES, seed: int = 0
) -> tuple[list[Correlation], list[str]]:
    """Every (statistic, probe, severity) correlation, and notes on what was left out."""
    if len(models) < MIN_MODELS:
        raise AuditError(f"a zoo needs at least {MIN_MODELS} models to rank; got {len(models)}.")
    notes = []
    statistics = []
    for name in STATISTICS:
        missing = [m.name for m in models if statistic_value(m, name) is None]
        if missing:
            if name != "ssr_init" or len(missing) < len(models):
                notes.append(f"{STATISTICS[name].label}: not available for {len(missing)} model(s); left out")
            continue
        statistics.append(name)
    keys = [k for k in models[0].drops if all(m.drops.get(k, [None])[0] is not None for m in models)]
    left_out = set().union(*(m.drops for m in models)) - set(keys)
    if left_out:
        notes.append(f"{len(left_out)} probe condition(s) not measured on every model; left out")
    if not statistics or not keys:
        raise AuditError("the zoo's models share no statistic and probe condition to correlate.")
    x = np.array([[statistic_value(m, s) for s in statistics] for m in models], dtype=float)
    y = np.array([[m.drops[k][0] for k in keys] for m in models], dtype=float)
    groups = [m.architecture for m in models]
    small = [g for g in set(groups) if groups.count(g) < MIN_MODELS]
    if small:
        notes.append(f"{len(small)} architecture(s) with fewer than {MIN_MODELS} models add nothing within groups")
    smallest = min(groups.count(g) for g in set(groups) if g not in small) if len(small) < len(set(groups)) else 0
    if smallest < MIN_MODELS_PER_GROUP:
        notes.append(
            f"the smallest architecture group holds {smallest} models, fewer than {MIN_MODELS_PER_GROUP}: the "
            "correlations describe these models, and none is called supported"
        )
    accuracy = [m.clean_accuracy for m in models]
    control = np.array(accuracy, dtype=float) if all(a is not None for a in accuracy) else None
    table = correlate(x, y, groups, resamples=resamples, seed=seed, control=control)
    fold_kind, folds = folds_of(models)
    agreement = held_out_within(x, y, groups, folds, control)[0] if fold_kind else None

    def value(array: np.ndarray | None, i: int, j: int) -> float | None:
        if array is None:
            return None
        number = float(array[i, j])
        return None if np.isnan(number) else number

    rows = []
    for i, statistic in enumerate(statistics):
        for j, key in enumerate(keys):
            probe, _, severity = key.rpartition("@")
            rows.append(
                Correlation(
                    statistic=statistic,
                    probe=probe,
                    severity=float(severity),
                    condition=conditions.get(key, key),
                    rho=value(table.rho, i, j),
                    low=value(table.low, i, j),
                    high=value(table.high, i, j),
                    within=value(table.within, i, j),
                    within_low=value(table.within_low, i, j),
                    within_high=value(table.within_high, i, j),
                    partial=value(table.partial, i, j),
                    partial_low=value(table.partial_low, i, j),
                    partial_high=value(table.partial_high, i, j),
                    held_out_agreement=value(agreement, i, j),
                    held_out=fold_kind,
                    smallest_group=smallest,
                )
            )
    return rows, notes


def build_zoo(
    models: list[ZooModel],
    conditions: dict[str, str],
    *,
    dataset: str,
    samples: int,
    probes: str,
    resamples: int = RESAMPLES,
    seed: int = 0,
    run: RunInfo | None = None,
    skipped: list[str] | None = None,
) -> ZooResult:
    """The zoo's table over its models; models at chance level are left out (a drop from
    chance says nothing) and named in the notes, as are the files ``skipped`` while listing."""
    at_chance = [m for m in models if m.at_chance]
    models = [m for m in models if not m.at_chance]
    if len(models) < MIN_MODELS:
        raise AuditError(
            f"a zoo needs at least {MIN_MODELS} models above chance to rank; got {len(models)}"
            + (f" ({len(at_chance)} more at chance level left out)" if at_chance else "")
            + "."
        )
    correlations, notes = correlation_table(models, conditions, resamples, seed)
    notes = [
        *(f"skipped {line}" for line in skipped or []),
        *(
            f"{m.name}: clean accuracy {100 * (m.clean_accuracy or 0):.1f}% is not above twice chance; left out"
            for m in at_chance
        ),
        *notes,
    ]
    return ZooResult(
        models=models,
        correlations=correlations,
        statistics={name: s.description for name, s in STATISTICS.items()},
        dataset=dataset,
        samples=samples,
        probes=probes,
        resamples=resamples,
        groups=len({m.architecture for m in models}),
        run=run,
        notes=notes,
    )
