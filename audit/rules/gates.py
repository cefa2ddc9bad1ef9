"""CI gates: every threshold of a policy that applies to a result, as pass/fail checks.

Spectral numbers (HFER, SSR) are exact functions of the weights and are compared as
they are. Accuracies are measured on a sample of images, so what is compared with the
threshold depends on the mode (each check records it as ``deciding``):

- ``significant`` (default): the interval's near bound. A gate fails only when the data
  show the limit is crossed (a 0.02 limit on a loss measured as 0.025 ± 0.018 passes).
- ``non-inferiority``: the interval's far bound. A gate passes only when the data show
  the limit is kept, as a release gate that must prove the model is no worse needs.
- ``point``: the estimates, as before 0.2.

A limit finer than the sample can resolve (the interval's half-width larger than the
limit) is named in the result's notes: such a gate cannot fail in ``significant`` mode
for a model at the limit, nor pass in ``non-inferiority`` mode for a perfect one.
"""

from __future__ import annotations

from typing import Any

from audit.errors import AuditError
from audit.rules.policy import Policy
from audit.schema import SEVERITIES, AuditResult, GateCheck, GateMode, GateResult, ProbeSection, measured


def _limit_for(table_value: Any, severity: float) -> float | None:
    if isinstance(table_value, dict):
        return table_value.get(float(severity))
    return table_value


def _deciding(value: float, interval: list[float] | None, mode: GateMode, at_most: bool) -> float:
    """The number a gate compares with its threshold in ``mode``."""
    if not interval or mode == "point":
        return value
    near, far = (interval[0], interval[1]) if at_most else (interval[1], interval[0])
    return near if mode == "significant" else far


def _gate(
    name: str,
    value: float | None,
    interval: list[float] | None,
    limit: float,
    mode: GateMode,
    at_most: bool,
    detail: str = "",
) -> GateCheck:
    """Passes unless the deciding number is past ``limit`` (above it for a maximum, below
    it for a minimum)."""
    if value is None:
        return GateCheck(name, None, limit, False, detail or "not measured", interval, mode)
    mode = mode if interval else "point"
    deciding = _deciding(value, interval, mode, at_most)
    passed = deciding <= limit + 1e-12 if at_most else deciding >= limit - 1e-12
    return GateCheck(name, value, limit, passed, detail, interval, mode, deciding)


def _at_most(
    name: str, value: float | None, interval: list[float] | None, limit: float, mode: GateMode, detail: str = ""
) -> GateCheck:
    return _gate(name, value, interval, limit, mode, True, detail)


def _at_least(
    name: str, value: float | None, interval: list[float] | None, limit: float, mode: GateMode, detail: str = ""
) -> GateCheck:
    return _gate(name, value, interval, limit, mode, False, detail)


def resolution_notes(checks: list[GateCheck]) -> list[str]:
    """Drop limits finer than the sample resolves: the 95% interval's half-width is
    larger than the limit, so the sample cannot tell a model at the limit from one that
    loses nothing."""
    notes = []
    for check in checks:
        if not check.name.startswith("max_accuracy_drop") or not check.interval or check.value is None:
            continue
        half = (check.interval[1] - check.interval[0]) / 2
        if half > abs(check.threshold):
            notes.append(
                f"{check.name}: the limit ({100 * check.threshold:.1f} points) is finer than the sample resolves "
                f"(± {100 * half:.1f} points at 95%); evaluate on more images or set a wider limit"
            )
    return notes


def check_gates(result: AuditResult, policy: Policy) -> GateResult:
    """Every threshold of ``policy`` that applies to ``result``, as pass/fail checks."""
    checks: list[GateCheck] = []
    summary = result.spectral.summary
    probes = result.probes
    mode = policy.gate_mode

    def need_probes(key: str) -> ProbeSection:
        if probes is None:
            raise AuditError(
                f"the policy sets {key}, which needs the probes.",
                hint="Add {data} (e.g. {data} cifar10).",
                code="usage",
            )
        return probes

    if policy.min_clean_accuracy is not None:
        section = need_probes("min_clean_accuracy")
        checks.append(
            _at_least(
                "min_clean_accuracy", section.clean_accuracy, section.clean_accuracy_ci, policy.min_clean_accuracy, mode
            )
        )
    if policy.max_hfer is not None:
        checks.append(_at_most("max_hfer", summary.hfer, None, policy.max_hfer, "point"))
    if policy.max_layer_hfer is not None:
        spectral = [l for l in result.spectral.layers if l.hfer is not None]
        worst = max(spectral, key=lambda l: measured(l.hfer), default=None)
        checks.append(
            _at_most(
                "max_layer_hfer",
                worst.hfer if worst else None,
                None,
                policy.max_layer_hfer,
                "point",
                f"worst layer {worst.name}" if worst else "",
            )
        )
    if policy.min_ssr is not None:
        checks.append(
            _at_least(
                "min_ssr", summary.ssr, None, policy.min_ssr, "point", "partial comparison" if summary.partial else ""
            )
        )
    for key, relative in (("max_accuracy_drop", False), ("max_accuracy_drop_vs_baseline", True)):
        table = getattr(policy, key)
        if not table:
            continue
        section = need_probes(key)
        for probe, limits in table.items():
            rows = [r for r in section.results if r.probe == probe]
            if not rows:
                raise AuditError(
                    f"the policy sets {key}.{probe}, but that probe was not run.",
                    hint="Add it to {probes}.",
                    code="usage",
                )
            for row in rows:
                limit = _limit_for(limits, row.severity)
                if limit is None:
                    continue
                name = f"{key}[{probe}@{row.severity:g}]"
                if relative:
                    if row.baseline_accuracy is None:
                        raise AuditError(
                            f"the policy sets {key}, which needs a baseline model or a baseline result with probes.",
                            hint="Name one with {baseline}.",
                            code="usage",
                        )
                    # Points lost against the baseline at this condition: -(model - baseline).
                    lost = row.baseline_accuracy - measured(row.accuracy)
                    interval = [-row.difference_ci[1], -row.difference_ci[0]] if row.difference_ci else None
                    # The gate is on accuracy at this condition (baseline - model), not on the
                    # drop difference the findings judge; the check says so.
                    detail = "accuracy lost against the baseline at this condition (not the drop difference)"
                    checks.append(_at_most(name, lost, interval, limit, mode, detail))
                else:
                    checks.append(_at_most(name, row.accuracy_drop, row.accuracy_drop_ci, limit, mode))
            if isinstance(limits, dict):
                missing = [s for s in limits if s not in {float(r.severity) for r in rows}]
                if missing:
                    raise AuditError(f"the policy sets {key}.{probe} for severity {missing[0]:g}, which was not run.")
    if policy.fail_on != "never":
        failing = SEVERITIES[SEVERITIES.index(policy.fail_on) :]
        count = sum(1 for f in result.findings if f.severity in failing)
        checks.append(
            GateCheck(
                f"fail_on_{policy.fail_on}",
                float(count),
                0.0,
                count == 0,
                f"{count} finding(s) at severity {' or '.join(failing)}",
            )
        )
    return GateResult(passed=all(c.passed for c in checks), checks=checks, notes=resolution_notes(checks), mode=mode)
