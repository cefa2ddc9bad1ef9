"""Judging a measured result: its findings, then its gates, then the verdict that reads
both, returned as a new, complete result (the measured one is left as it was).

The rules name options by the library's names in braces ("run the probes ({data})");
here they are spelled for whoever reads the result: the command line's flags, or the
keyword arguments of a library call."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from audit.errors import spell
from audit.rules.findings import evaluate_findings
from audit.rules.forecasts import Calibrations
from audit.rules.gates import check_gates
from audit.rules.policy import Policy
from audit.rules.verdict import audit_verdict
from audit.schema import AuditResult

# The options the rules' texts name, in braces.
OPTIONS_NAMED = frozenset({"data", "mean", "std", "logits", "precision", "checkpoint_key", "batch_size"})


def judged(
    measured: AuditResult,
    policy: Policy | None,
    calibration: Calibrations,
    options: Mapping[str, str] | None = None,
) -> AuditResult:
    """``measured`` with its findings, gates (None without a policy) and verdict.

    calibration: the zoo studies whose replicated correlations make data-free forecasts
    (:func:`audit.rules.forecasts.bundled_calibrations`, or a user's own study).
    options: how to spell the option names the texts mention (the CLI passes its flags)."""
    thresholds = policy.findings if policy is not None else Policy().findings
    if measured.probes is not None:  # the probe stage's notes name options too
        notes = [spell(note, options, OPTIONS_NAMED) for note in measured.probes.notes]
        measured = dataclasses.replace(measured, probes=dataclasses.replace(measured.probes, notes=notes))
    findings = [
        dataclasses.replace(f, message=spell(f.message, options, OPTIONS_NAMED))
        for f in evaluate_findings(measured, thresholds, calibration)
    ]
    with_findings = dataclasses.replace(measured, findings=findings)
    with_gates = dataclasses.replace(
        with_findings, gates=check_gates(with_findings, policy) if policy is not None else None
    )
    verdict = audit_verdict(with_gates, thresholds, calibration)
    return dataclasses.replace(with_gates, verdict=spell(verdict, options, OPTIONS_NAMED))
