"""CI gates: every threshold of a policy that applies to a result, as pass/fail checks."""

from __future__ import annotations

from audit.errors import AuditError
from audit.rules.policy import Policy
from audit.schema import SEVERITIES, AuditResult, GateCheck, GateResult


def _limit_for(table_value, severity: float) -> float | None:
    if isinstance(table_value, dict):
        return table_value.get(float(severity))
    return table_value


def check_gates(result: AuditResult, policy: Policy) -> GateResult:
    """Every threshold of ``policy`` that applies to ``result``, as pass/fail checks."""
    checks: list[GateCheck] = []
    summary = result.spectral.summary
    probes = result.probes

    def need_probes(key: str):
        if probes is None:
            raise AuditError(
                f"the policy sets {key}, which needs the probes.",
                hint="Add {data} (e.g. {data} cifar10).",
                code="usage",
            )

    if policy.min_clean_accuracy is not None:
        need_probes("min_clean_accuracy")
        value = probes.clean_accuracy
        checks.append(
            GateCheck(
                "min_clean_accuracy",
                value,
                policy.min_clean_accuracy,
                value is not None and value >= policy.min_clean_accuracy,
            )
        )
    if policy.max_hfer is not None:
        checks.append(
            GateCheck(
                "max_hfer", summary.hfer, policy.max_hfer, summary.hfer is not None and summary.hfer <= policy.max_hfer
            )
        )
    if policy.max_layer_hfer is not None:
        measured = [l for l in result.spectral.layers if l.hfer is not None]
        worst = max(measured, key=lambda l: l.hfer, default=None)
        value = worst.hfer if worst else None
        checks.append(
            GateCheck(
                "max_layer_hfer",
                value,
                policy.max_layer_hfer,
                value is not None and value <= policy.max_layer_hfer,
                f"worst layer {worst.name}" if worst else "",
            )
        )
    if policy.min_ssr is not None:
        checks.append(
            GateCheck("min_ssr", summary.ssr, policy.min_ssr, summary.ssr is not None and summary.ssr >= policy.min_ssr)
        )
    for key, relative in (("max_accuracy_drop", False), ("max_accuracy_drop_vs_baseline", True)):
        table = getattr(policy, key)
        if not table:
            continue
        need_probes(key)
        for probe, limits in table.items():
            rows = [r for r in probes.results if r.probe == probe]
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
                if relative:
                    if row.baseline_accuracy is None:
                        raise AuditError(
                            f"the policy sets {key}, which needs a baseline model or a baseline result with probes.",
                            hint="Name one with {baseline}.",
                            code="usage",
                        )
                    value = row.baseline_accuracy - row.accuracy  # points lost against the baseline
                else:
                    value = row.accuracy_drop
                checks.append(
                    GateCheck(
                        f"{key}[{probe}@{row.severity:g}]", value, limit, value is not None and value <= limit + 1e-12
                    )
                )
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
    return GateResult(passed=all(c.passed for c in checks), checks=checks)
