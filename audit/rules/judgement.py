"""Judging a measured result: its findings, then its gates, then the verdict that reads
both, returned as a new, complete result (the measured one is left as it was)."""

from __future__ import annotations

import dataclasses

from audit.rules.findings import evaluate_findings
from audit.rules.forecasts import Calibrations
from audit.rules.gates import check_gates
from audit.rules.policy import Policy
from audit.rules.verdict import audit_verdict
from audit.schema import AuditResult


def judged(measured: AuditResult, policy: Policy | None, calibration: Calibrations) -> AuditResult:
    """``measured`` with its findings, gates (None without a policy) and verdict.

    calibration: the zoo studies whose replicated correlations make data-free forecasts
    (:func:`audit.rules.forecasts.bundled_calibrations`, or a user's own study)."""
    thresholds = policy.findings if policy is not None else Policy().findings
    with_findings = dataclasses.replace(measured, findings=evaluate_findings(measured, thresholds, calibration))
    with_gates = dataclasses.replace(
        with_findings, gates=check_gates(with_findings, policy) if policy is not None else None
    )
    return dataclasses.replace(with_gates, verdict=audit_verdict(with_gates, thresholds, calibration))
