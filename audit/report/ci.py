"""What CI systems read: the last terminal line, JUnit XML and a GitHub step summary."""

from __future__ import annotations

from pathlib import Path

from audit.report.format import short
from audit.schema import AuditResult, GateCheck, GateResult


def describe_failure(check: GateCheck) -> str:
    if check.value is None:
        return f"{check.name}: not measured"
    if check.name.startswith("fail_on_"):
        return f"{check.name}: {check.detail}"
    minimum = check.name.startswith("min_")
    margin = check.threshold - check.value if minimum else check.value - check.threshold
    relation = "<" if minimum else ">"
    return f"{check.name} {check.value:.4g} {relation} {check.threshold:.4g} (by {margin:.3g})"


def summary_line(gates: GateResult) -> str:
    """The last line of terminal output: which gates failed and by how much."""
    if gates.passed:
        return f"Gates: all {len(gates.checks)} passed."
    failed = gates.failed
    return (
        f"Gates: FAILED {len(failed)} of {len(gates.checks)}: " + "; ".join(describe_failure(c) for c in failed) + "."
    )


def junit_xml(gates: GateResult, name: str = "spectral-audit") -> str:
    """JUnit XML with one test case per gate, for CI systems that display it."""
    from xml.etree import ElementTree as ET

    suite = ET.Element(
        "testsuite", name=name, tests=str(len(gates.checks)), failures=str(len(gates.failed)), errors="0"
    )
    for check in gates.checks:
        case = ET.SubElement(suite, "testcase", classname="spectral-audit.gates", name=check.name)
        if not check.passed:
            failure = ET.SubElement(case, "failure", message=describe_failure(check))
            failure.text = check.detail or describe_failure(check)
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def markdown_summary(result: AuditResult, gates: GateResult) -> str:
    """A GitHub step summary: verdict, then one table row per gate."""
    status = "passed" if gates.passed else "**failed**"
    lines = [
        f"### spectral-audit: {Path(result.model.path).name} — gates {status}",
        "",
        result.verdict,
        "",
        "| gate | value | threshold | result |",
        "|---|---:|---:|---|",
    ]
    for check in gates.checks:
        lines.append(
            f"| `{check.name}` | {short(check.value)} | {short(check.threshold)} | "
            f"{'pass' if check.passed else '**FAIL**'} |"
        )
    return "\n".join(lines) + "\n"
