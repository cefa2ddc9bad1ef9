"""CI gates: a policy of thresholds checked against an audit result.

A policy comes from a TOML file (``--policy FILE``, keys at the top level) or from
``[tool.spectral-audit]`` in the nearest ``pyproject.toml``, and flags override it::

    min_clean_accuracy = 0.60         # fraction
    max_hfer = 0.70                   # network HFER
    max_layer_hfer = 0.90             # every layer
    min_ssr = 1.10                    # network SSR against the baseline
    fail_on = "error"                 # finding severities that fail: error | warning | never

    [max_accuracy_drop]               # drop from clean accuracy, fraction
    gaussian_blur = 0.30              # every severity
    low_resolution = { "16" = 0.25 }  # one severity

    [max_accuracy_drop_vs_baseline]   # points lost against the baseline model
    gaussian_blur = { "5" = 0.02 }    # "blur k=5 may not lose more than 2 points"

    [findings]                        # override finding thresholds (audit.findings.Thresholds)
    layer_high_frequency_ratio = 1.5

Exit codes: 0 every gate passed, 1 a gate failed, 2 bad input or usage.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.errors import AuditError
from audit.findings import SEVERITIES, Thresholds

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXIT_PASSED, EXIT_GATE_FAILED = 0, 1
FAIL_ON = ("error", "warning", "never")


@dataclass
class GateCheck:
    name: str
    value: float | None
    threshold: float
    passed: bool
    detail: str = ""


@dataclass
class GateResult:
    passed: bool
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def failed(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]


@dataclass
class Policy:
    min_clean_accuracy: float | None = None
    max_hfer: float | None = None
    max_layer_hfer: float | None = None
    min_ssr: float | None = None
    max_accuracy_drop: dict[str, Any] = field(default_factory=dict)
    max_accuracy_drop_vs_baseline: dict[str, Any] = field(default_factory=dict)
    fail_on: str = "error"
    findings: Thresholds = field(default_factory=Thresholds)
    source: str | None = None

    @property
    def empty(self) -> bool:
        return all(
            getattr(self, name) in (None, {}) for name in
            ("min_clean_accuracy", "max_hfer", "max_layer_hfer", "min_ssr", "max_accuracy_drop", "max_accuracy_drop_vs_baseline")
        )


_NUMBER_KEYS = ("min_clean_accuracy", "max_hfer", "max_layer_hfer", "min_ssr")
_TABLE_KEYS = ("max_accuracy_drop", "max_accuracy_drop_vs_baseline")
KNOWN_KEYS = (*_NUMBER_KEYS, *_TABLE_KEYS, "fail_on", "findings")


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AuditError(f"policy key {where} must be a number, got {value!r}.")
    return float(value)


def _drop_table(table, key: str) -> dict[str, Any]:
    from audit.probes import PROBES

    if not isinstance(table, dict):
        raise AuditError(f"policy key {key} must be a table keyed by probe (e.g. gaussian_blur = 0.10).")
    parsed: dict[str, Any] = {}
    for probe, limit in table.items():
        if probe not in PROBES:
            raise AuditError(f"policy key {key}.{probe}: unknown probe; known: {', '.join(PROBES)}.")
        if isinstance(limit, dict):
            per_severity = {}
            for severity, value in limit.items():
                try:
                    level = float(severity)
                except ValueError:
                    raise AuditError(f"policy key {key}.{probe}.{severity}: a severity must be a number.")
                per_severity[level] = _number(value, f"{key}.{probe}.{severity}")
            parsed[probe] = per_severity
        else:
            parsed[probe] = _number(limit, f"{key}.{probe}")
    return parsed


def policy_from_mapping(data: dict[str, Any], source: str) -> Policy:
    """Validate a parsed policy table: unknown keys and wrong types name the key."""
    unknown = [k for k in data if k not in KNOWN_KEYS]
    if unknown:
        raise AuditError(f"{source}: unknown policy key {unknown[0]!r}; known keys: {', '.join(KNOWN_KEYS)}.")
    policy = Policy(source=source)
    for key in _NUMBER_KEYS:
        if key in data:
            setattr(policy, key, _number(data[key], key))
    for key in _TABLE_KEYS:
        if key in data:
            setattr(policy, key, _drop_table(data[key], key))
    if "fail_on" in data:
        if data["fail_on"] not in FAIL_ON:
            raise AuditError(f"{source}: policy key fail_on must be one of {', '.join(FAIL_ON)}, got {data['fail_on']!r}.")
        policy.fail_on = data["fail_on"]
    if "findings" in data:
        table = data["findings"]
        names = {f.name for f in dataclasses.fields(Thresholds)}
        if not isinstance(table, dict) or any(k not in names for k in table):
            bad = next((k for k in table if k not in names), "findings") if isinstance(table, dict) else "findings"
            raise AuditError(f"{source}: unknown policy key findings.{bad}; known: {', '.join(sorted(names))}.")
        policy.findings = Thresholds(**{k: _number(v, f"findings.{k}") for k, v in table.items()})
    return policy


def load_policy(path: str | os.PathLike | None = None, search_from: Path | None = None) -> Policy:
    """The policy in ``path``, else ``[tool.spectral-audit]`` of the nearest pyproject.toml
    (from ``search_from``, default the working directory, upwards), else an empty policy."""
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AuditError(f"policy file {path}: no such file.")
        except (OSError, UnicodeDecodeError) as error:
            raise AuditError(f"policy file {path}: cannot read it ({error}).")
        except tomllib.TOMLDecodeError as error:
            raise AuditError(f"policy file {path} is not valid TOML: {error}.")
        table = data.get("tool", {}).get("spectral-audit", data) if path.name == "pyproject.toml" else data
        return policy_from_mapping(table, str(path))
    folder = (search_from or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
                raise AuditError(f"{pyproject} is not valid TOML: {error}.")
            table = data.get("tool", {}).get("spectral-audit")
            if table is not None:
                return policy_from_mapping(table, f"{pyproject} [tool.spectral-audit]")
            return Policy()
    return Policy()


def _limit_for(table_value, severity: float) -> float | None:
    if isinstance(table_value, dict):
        return table_value.get(float(severity))
    return table_value


def check_gates(result, policy: Policy) -> GateResult:
    """Every threshold of ``policy`` that applies to ``result``, as pass/fail checks."""
    checks: list[GateCheck] = []
    summary = result.spectral.summary
    probes = result.probes

    def need_probes(key: str):
        if probes is None:
            raise AuditError(f"the policy sets {key}, which needs the probes: add --data (e.g. --data cifar10).")

    if policy.min_clean_accuracy is not None:
        need_probes("min_clean_accuracy")
        value = probes.clean_accuracy
        checks.append(GateCheck("min_clean_accuracy", value, policy.min_clean_accuracy,
                                value is not None and value >= policy.min_clean_accuracy))
    if policy.max_hfer is not None:
        checks.append(GateCheck("max_hfer", summary.hfer, policy.max_hfer,
                                summary.hfer is not None and summary.hfer <= policy.max_hfer))
    if policy.max_layer_hfer is not None:
        measured = [l for l in result.spectral.layers if l.hfer is not None]
        worst = max(measured, key=lambda l: l.hfer, default=None)
        value = worst.hfer if worst else None
        checks.append(GateCheck("max_layer_hfer", value, policy.max_layer_hfer,
                                value is not None and value <= policy.max_layer_hfer,
                                f"worst layer {worst.name}" if worst else ""))
    if policy.min_ssr is not None:
        checks.append(GateCheck("min_ssr", summary.ssr, policy.min_ssr,
                                summary.ssr is not None and summary.ssr >= policy.min_ssr))
    for key, relative in (("max_accuracy_drop", False), ("max_accuracy_drop_vs_baseline", True)):
        table = getattr(policy, key)
        if not table:
            continue
        need_probes(key)
        for probe, limits in table.items():
            rows = [r for r in probes.results if r.probe == probe]
            if not rows:
                raise AuditError(f"the policy sets {key}.{probe}, but that probe was not run; add it to --probes.")
            for row in rows:
                limit = _limit_for(limits, row.severity)
                if limit is None:
                    continue
                if relative:
                    if row.baseline_accuracy is None:
                        raise AuditError(f"the policy sets {key}, which needs a baseline model or a baseline result with probes (--baseline).")
                    value = row.baseline_accuracy - row.accuracy  # points lost against the baseline
                else:
                    value = row.accuracy_drop
                checks.append(GateCheck(f"{key}[{probe}@{row.severity:g}]", value, limit,
                                        value is not None and value <= limit + 1e-12))
            if isinstance(limits, dict):
                missing = [s for s in limits if s not in {float(r.severity) for r in rows}]
                if missing:
                    raise AuditError(f"the policy sets {key}.{probe} for severity {missing[0]:g}, which was not run.")
    if policy.fail_on != "never":
        failing = SEVERITIES[SEVERITIES.index(policy.fail_on):]
        count = sum(1 for f in result.findings if f.severity in failing)
        checks.append(GateCheck(f"fail_on_{policy.fail_on}", float(count), 0.0, count == 0,
                                f"{count} finding(s) at severity {' or '.join(failing)}"))
    return GateResult(passed=all(c.passed for c in checks), checks=checks)


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
    return f"Gates: FAILED {len(failed)} of {len(gates.checks)}: " + "; ".join(describe_failure(c) for c in failed) + "."


def junit_xml(gates: GateResult, name: str = "spectral-audit") -> str:
    """JUnit XML with one test case per gate, for CI systems that display it."""
    from xml.etree import ElementTree as ET

    suite = ET.Element("testsuite", name=name, tests=str(len(gates.checks)), failures=str(len(gates.failed)), errors="0")
    for check in gates.checks:
        case = ET.SubElement(suite, "testcase", classname="spectral-audit.gates", name=check.name)
        if not check.passed:
            failure = ET.SubElement(case, "failure", message=describe_failure(check))
            failure.text = check.detail or describe_failure(check)
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def markdown_summary(result, gates: GateResult) -> str:
    """A GitHub step summary: verdict, then one table row per gate."""
    status = "passed" if gates.passed else "**failed**"
    lines = [f"### spectral-audit: {Path(result.model.path).name} — gates {status}", "", result.verdict, "",
             "| gate | value | threshold | result |", "|---|---:|---:|---|"]
    for check in gates.checks:
        value = "—" if check.value is None else f"{check.value:.4g}"
        lines.append(f"| `{check.name}` | {value} | {check.threshold:.4g} | {'pass' if check.passed else '**FAIL**'} |")
    return "\n".join(lines) + "\n"
