"""The gate policy: thresholds from a TOML file or ``[tool.spectral-audit]``.

A policy comes from a TOML file (keys at the top level) or from
``[tool.spectral-audit]`` in the nearest ``pyproject.toml``; the caller's own settings
(command-line flags) override it::

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

    [findings]                        # override finding thresholds (audit.rules.findings.Thresholds)
    layer_high_frequency_ratio = 1.5

The checks themselves are in :mod:`audit.rules.gates`.
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
from audit.rules.findings import Thresholds

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FAIL_ON = ("error", "warning", "never")


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
            getattr(self, name) in (None, {})
            for name in (
                "min_clean_accuracy",
                "max_hfer",
                "max_layer_hfer",
                "min_ssr",
                "max_accuracy_drop",
                "max_accuracy_drop_vs_baseline",
            )
        )


_NUMBER_KEYS = ("min_clean_accuracy", "max_hfer", "max_layer_hfer", "min_ssr")
_TABLE_KEYS = ("max_accuracy_drop", "max_accuracy_drop_vs_baseline")
KNOWN_KEYS = (*_NUMBER_KEYS, *_TABLE_KEYS, "fail_on", "findings")


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AuditError(f"policy key {where} must be a number, got {value!r}.")
    return float(value)


def _drop_table(table, key: str) -> dict[str, Any]:
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
            raise AuditError(
                f"{source}: policy key fail_on must be one of {', '.join(FAIL_ON)}, got {data['fail_on']!r}."
            )
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
