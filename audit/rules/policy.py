"""The gate policy: thresholds from a TOML file or ``[tool.spectral-audit]``.

A policy comes from a TOML file (keys at the top level) or from
``[tool.spectral-audit]`` in the nearest ``pyproject.toml``; the caller's own settings
(command-line flags) override it::

    min_clean_accuracy = 0.60         # fraction
    max_hfer = 0.70                   # network HFER
    max_layer_hfer = 0.90             # every layer
    min_ssr = 1.10                    # network SSR against the baseline
    fail_on = "error"                 # finding severities that fail: error | warning | never
    gate_mode = "significant"         # accuracy gates: fail only when the whole 95% interval
                                      # is past the limit; "non-inferiority": pass only when the
                                      # whole interval is within it; "point" compares the estimates

    [max_accuracy_drop]               # drop from clean accuracy, fraction
    gaussian_blur = 0.30              # every severity
    low_resolution = { "16" = 0.25 }  # one severity

    [max_accuracy_drop_vs_baseline]   # points lost against the baseline model
    gaussian_blur = { "5" = 0.02 }    # "blur k=5 may not lose more than 2 points"

    [findings]                        # override finding thresholds (audit.rules.findings.Thresholds)
    layer_high_frequency_ratio = 1.5

Every value is checked against its range, so a percentage written where a fraction is
meant (``min_clean_accuracy = 60``) is refused, naming the key. The checks themselves
are in :mod:`audit.rules.gates`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.errors import AuditError
from audit.io import check_input_file, read_text
from audit.rules.findings import THRESHOLD_RANGES, Thresholds
from audit.schema import GateMode

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FAIL_ON = ("error", "warning", "never")
GATE_MODES = ("significant", "non-inferiority", "point")
MAX_POLICY_BYTES = 1 << 20  # a policy is a few lines; a megabyte is not a policy

# (low, high) inclusive ranges of each number, and what the number is, for messages.
_FRACTION = (0.0, 1.0, "a fraction in [0, 1]")
_DIFFERENCE = (-1.0, 1.0, "a difference of fractions in [-1, 1]")
NUMBER_RANGES = {
    "min_clean_accuracy": _FRACTION,
    "max_hfer": _FRACTION,
    "max_layer_hfer": _FRACTION,
    "min_ssr": (0.0, math.inf, "a positive ratio"),
}


@dataclass
class Policy:
    min_clean_accuracy: float | None = None
    max_hfer: float | None = None
    max_layer_hfer: float | None = None
    min_ssr: float | None = None
    max_accuracy_drop: dict[str, Any] = field(default_factory=dict)
    max_accuracy_drop_vs_baseline: dict[str, Any] = field(default_factory=dict)
    fail_on: str = "error"
    gate_mode: GateMode = "significant"
    findings: Thresholds = field(default_factory=Thresholds)
    source: str | None = None

    @property
    def empty(self) -> bool:
        """No threshold set (fail_on alone does not count)."""
        return all(getattr(self, name) in (None, {}) for name in (*NUMBER_RANGES, *_TABLE_KEYS))


_TABLE_KEYS = ("max_accuracy_drop", "max_accuracy_drop_vs_baseline")
_CHOICES: dict[str, tuple[str, ...]] = {"fail_on": FAIL_ON, "gate_mode": GATE_MODES}
KNOWN_KEYS = (*NUMBER_RANGES, *_TABLE_KEYS, "fail_on", "gate_mode", "findings")


def _in_range(
    value: Any, where: str, limits: tuple[float, float, str], what: str = "policy key", hint: str | None = None
) -> float:
    low, high, meaning = limits
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1 << 64:
        raise AuditError(
            f"{what} {where} = {str(value)[:12]}... ({len(str(value))} digits) is out of range: expected {meaning}.",
            hint=hint,
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AuditError(f"{what} {where} must be a number ({meaning}, finite), got {value!r}.", hint=hint)
    if not low <= value <= high or (meaning == "a positive ratio" and value <= 0):
        percentage = (
            " (it looks like a percentage: write fractions, 0.6 for 60%)" if 1 < value <= 100 and high == 1 else ""
        )
        raise AuditError(f"{what} {where} = {value!r} is out of range: expected {meaning}{percentage}.", hint=hint)
    return float(value)


def overridden(policy: Policy, settings: Mapping[str, Any]) -> Policy:
    """``policy`` with the caller's own settings on top (command-line flags; None: not
    set), each checked exactly as the same key in a policy file is: one place for the
    ranges and the choices. Returns a new policy."""
    changes: dict[str, Any] = {}
    for key, value in settings.items():
        if value is None:
            continue
        if key in NUMBER_RANGES:
            changes[key] = _in_range(value, key, NUMBER_RANGES[key], what="threshold", hint=f"(set by {{{key}}})")
        elif key in _CHOICES:
            changes[key] = _choice(key, value, None)
        else:
            raise AuditError(f"{key} is not a policy setting; known: {', '.join([*NUMBER_RANGES, *_CHOICES])}.")
    return dataclasses.replace(policy, **changes)


def _choice(key: str, value: Any, source: str | None) -> Any:
    """``value`` if it is one of ``key``'s choices; ``source``: the policy file, None for a
    caller's own setting (whose option the hint names)."""
    if value not in _CHOICES[key]:
        message = f"policy key {key} must be one of {', '.join(_CHOICES[key])}, got {value!r}."
        if source is not None:
            raise AuditError(f"{source}: {message}")
        raise AuditError(message, hint=f"(set by {{{key}}})")
    return value


def _drop_table(table: Any, key: str) -> dict[str, Any]:
    limits = _DIFFERENCE if key == "max_accuracy_drop_vs_baseline" else _FRACTION
    from audit.probes.registry import PROBES

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
                per_severity[level] = _in_range(value, f"{key}.{probe}.{severity}", limits)
            parsed[probe] = per_severity
        else:
            parsed[probe] = _in_range(limit, f"{key}.{probe}", limits)
    return parsed


def policy_from_mapping(data: Any, source: str) -> Policy:
    """Validate a parsed policy table: unknown keys, wrong types and values out of range
    name the key."""
    if not isinstance(data, dict):
        raise AuditError(f"{source}: the policy must be a table of keys, found {type(data).__name__}.")
    unknown = [k for k in data if k not in KNOWN_KEYS]
    if unknown:
        raise AuditError(f"{source}: unknown policy key {unknown[0]!r}; known keys: {', '.join(KNOWN_KEYS)}.")
    policy = Policy(source=source)
    for key, limits in NUMBER_RANGES.items():
        if key in data:
            setattr(policy, key, _in_range(data[key], key, limits))
    for key in _TABLE_KEYS:
        if key in data:
            setattr(policy, key, _drop_table(data[key], key))
    for key in _CHOICES:
        if key in data:
            setattr(policy, key, _choice(key, data[key], source))
    if "findings" in data:
        table = data["findings"]
        names = {f.name for f in dataclasses.fields(Thresholds)}
        if not isinstance(table, dict) or any(k not in names for k in table):
            bad = next((k for k in table if k not in names), "findings") if isinstance(table, dict) else "findings"
            raise AuditError(f"{source}: unknown policy key findings.{bad}; known: {', '.join(sorted(names))}.")
        policy.findings = Thresholds(
            **{k: _in_range(v, f"findings.{k}", THRESHOLD_RANGES[k]) for k, v in table.items()}
        )
    return policy


def _parse_toml(path: Path, what: str) -> dict[str, Any]:
    text = read_text(path, what, MAX_POLICY_BYTES)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise AuditError(f"{what} {path} is not valid TOML: {error}.")
    except RecursionError:
        raise AuditError(f"{what} {path} nests tables or arrays too deeply to be a policy.")


def _tool_table(data: dict[str, Any], path: Path) -> Any:
    """``[tool.spectral-audit]`` of a parsed pyproject.toml, None if absent."""
    tool = data.get("tool")
    if tool is None:
        return None
    if not isinstance(tool, dict):
        raise AuditError(
            f"{path}: 'tool' is a {type(tool).__name__}, not a table; "
            "pyproject.toml puts tools' settings in [tool.NAME]."
        )
    table = tool.get("spectral-audit")
    if table is not None and not isinstance(table, dict):
        raise AuditError(f"{path}: 'tool.spectral-audit' is a {type(table).__name__}, not a table of policy keys.")
    return table


def load_policy(path: str | os.PathLike[str] | None = None, search_from: Path | None = None) -> Policy:
    """The policy in ``path``, else ``[tool.spectral-audit]`` of the nearest pyproject.toml
    (from ``search_from``, default the working directory, upwards), else an empty policy."""
    if path is not None:
        path = Path(path)
        data = _parse_toml(path, "policy file")
        if path.name == "pyproject.toml":
            table = _tool_table(data, path)
            return policy_from_mapping(table if table is not None else {}, f"{path} [tool.spectral-audit]")
        return policy_from_mapping(data, str(path))
    folder = (search_from or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.exists():
            check_input_file(pyproject, "pyproject.toml", MAX_POLICY_BYTES)
            table = _tool_table(_parse_toml(pyproject, "pyproject.toml"), pyproject)
            if table is not None:
                return policy_from_mapping(table, f"{pyproject} [tool.spectral-audit]")
            return Policy()
    return Policy()
