"""What CI systems read: the last terminal line, JUnit XML and a GitHub step summary."""

from __future__ import annotations

from pathlib import Path

from audit.report.format import short
from audit.schema import AuditResult, GateCheck, GateResult


def in_points(check: GateCheck) -> bool:
    """Accuracy gates are shown in points, like every accuracy in the report; spectral
    gates (HFER, SSR) as the ratios they are."""
    return check.name.startswith(("min_clean_accuracy", "max_accuracy_drop"))


def _number(check: GateCheck, value: float, digits: int = 4) -> str:
    return f"{100 * value:.1f}" if in_points(check) else f"{value:.{digits}g}"


def describe_check(check: GateCheck) -> str:
    """'max_accuracy_drop[gaussian_noise@0.2] 39.2 [36.0, 42.5] points, limit 35.0
    (significant mode: the interval's lower bound 36.0 is past it by 1.0)': the value, its
    interval, the mode and the number that decided, in points for accuracies."""
    if check.value is None:
        return f"{check.name}: not measured"
    if check.name.startswith("fail_on_"):
        return f"{check.name}: {check.detail}"
    deciding = check.value if check.deciding is None else check.deciding
    unit = " points" if in_points(check) else ""
    interval = f" [{_number(check, check.interval[0])}, {_number(check, check.interval[1])}]" if check.interval else ""
    text = f"{check.name} {_number(check, check.value)}{interval}{unit}, limit {_number(check, check.threshold)}"
    where = "within" if check.passed else "past"
    margin = _number(check, abs(deciding - check.threshold), 3)
    if check.mode == "point" or not check.interval or check.deciding is None:
        return text + f" (point value {where} it by {margin})"
    bound = "lower" if deciding == check.interval[0] else "upper"
    return (
        text
        + f" ({check.mode} mode: the interval's {bound} bound {_number(check, deciding)} is {where} it by {margin})"
    )


def check_cells(check: GateCheck) -> dict[str, str]:
    """One gate's numbers as table cells (value with unit, interval, what decided,
    threshold), for the step summary and the report."""
    if check.value is None or check.name.startswith("fail_on_"):
        return {
            "value": check.detail or "not measured",
            "interval": "",
            "deciding": "",
            "threshold": short(check.threshold),
        }
    unit = " points" if in_points(check) else ""
    interval = f"[{_number(check, check.interval[0])}, {_number(check, check.interval[1])}]" if check.interval else ""
    return {
        "value": f"{_number(check, check.value)}{unit}",
        "interval": interval,
        "deciding": _number(check, check.value if check.deciding is None else check.deciding),
        "threshold": _number(check, check.threshold),
    }


def summary_line(gates: GateResult) -> str:
    """The last line of terminal output: which gates failed and by how much."""
    if gates.passed:
        return f"Gates: all {len(gates.checks)} passed."
    failed = gates.failed
    return f"Gates: FAILED {len(failed)} of {len(gates.checks)}: " + "; ".join(describe_check(c) for c in failed) + "."


def junit_xml(gates: GateResult, name: str = "spectral-audit") -> str:
    """JUnit XML with one test case per gate, for CI systems that display it."""
    from xml.etree import ElementTree as ET

    suite = ET.Element(
        "testsuite", name=name, tests=str(len(gates.checks)), failures=str(len(gates.failed)), errors="0"
    )
    for check in gates.checks:
        case = ET.SubElement(suite, "testcase", classname="spectral-audit.gates", name=check.name)
        if not check.passed:
            failure = ET.SubElement(case, "failure", message=describe_check(check))
            failure.text = "\n".join(filter(None, [describe_check(check), check.detail]))
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
        "| gate | value [95% interval] | mode | decided by | threshold | result |",
        "|---|---:|---|---:|---:|---|",
    ]
    for check in gates.checks:
        cells = check_cells(check)
        lines.append(
            f"| `{check.name}` | {cells['value']} {cells['interval']} | {check.mode} | {cells['deciding']} | "
            f"{cells['threshold']} | {'pass' if check.passed else '**FAIL**'} |"
        )
    lines += [f"\n> {note}" for note in gates.notes]
    return "\n".join(lines) + "\n"
