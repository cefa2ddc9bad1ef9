"""One codec for every result (audit, track, zoo): strict JSON out, checked JSON in.

Out: a dataclass as a dict, schema version and kind first, every non-finite number as
null (JSON has no NaN). In: a saved result is an input like any other (a ``--baseline``
from a pull request, a report to re-render, a zoo study): its version and kind are
checked, every field against its declared type (``Literal`` values included), ranges
and lengths, and only then is it built, nested dataclasses from their fields' type hints.
Keys a newer minor version added are ignored, so adding a key is not a new version.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, Literal

from audit.errors import AuditError
from audit.schema.audit import AuditResult
from audit.schema.common import SCHEMA_VERSION

# --- out -------------------------------------------------------------------------------------


def encode(result: Any) -> dict[str, Any]:
    """A result as a strict-JSON-ready dict, its version and kind first (for people reading
    the file)."""
    data = dataclasses.asdict(result)
    ordered = {"schema_version": data.pop("schema_version"), "kind": data.pop("kind")}
    ordered.update(data)
    return finite_only(ordered)


def to_json(result: Any) -> str:
    """Strict JSON text of a result, with a final newline."""
    return json.dumps(encode(result), indent=2, allow_nan=False) + "\n"


def finite_or_none(value: float | None) -> float | None:
    """A float, or None where it is missing, NaN or infinite."""
    return value if value is not None and math.isfinite(value) else None


def finite_only(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_only(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_only(item) for item in value]
    return value


# --- in --------------------------------------------------------------------------------------

_NOUNS = {"audit": "result", "profile": "result", "track": "track table", "zoo": "zoo table"}


def decode_result(cls: type, data: Any) -> Any:
    """A result of class ``cls`` (AuditResult, TrackResult, ZooResult) from parsed JSON:
    version and kind checked, then every field, then built."""
    kinds = typing.get_args(_hints(cls)["kind"])
    noun = _NOUNS[kinds[0]]
    if not isinstance(data, dict):
        raise AuditError(f"expected a JSON object from spectral-audit, found {type(data).__name__}.")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise AuditError(f"not a spectral-audit {noun}: it has no integer 'schema_version'.")
    if version > SCHEMA_VERSION:
        raise AuditError(
            f"{noun} has schema_version {version}; this spectral-audit reads up to {SCHEMA_VERSION}. "
            "Upgrade spectral-audit."
        )
    kind = data.get("kind", kinds[0])
    if kind not in kinds:
        raise AuditError(f"not a spectral-audit {noun} (its 'kind' is {str(kind)[:40]!r}, not {' or '.join(kinds)}).")
    check_fields(cls, data, "")
    return _decode(cls, data, "", noun)


def decode(cls: type, data: Any, what: str = "result") -> Any:
    """One dataclass (a zoo row, a calibration's correlation) from parsed JSON, checked."""
    check_fields(cls, data, "")
    return _decode(cls, data, "", what)


def _decode(hint: Any, value: Any, where: str, noun: str) -> Any:
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in arguments if a is not type(None)]
        return _decode(options[0], value, where, noun) if len(options) == 1 else value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, value, where, noun)
    if origin is list and arguments:
        return [_decode(arguments[0], item, f"{where}[{i}]", noun) for i, item in enumerate(value)]
    if origin is dict and len(arguments) == 2:
        return {key: _decode(arguments[1], item, f"{where}.{key}", noun) for key, item in value.items()}
    return value


def _decode_dataclass(cls: type, data: Any, where: str, noun: str) -> Any:
    if not isinstance(data, dict):
        raise AuditError(f"malformed spectral-audit {noun}: {where or 'it'} must be an object.")
    hints = _hints(cls)
    values = {}
    for item in dataclasses.fields(cls):
        path = f"{where}.{item.name}" if where else item.name
        if item.name in data:
            values[item.name] = _decode(hints[item.name], data[item.name], path, noun)
        elif item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            if not _all_defaults(hints[item.name]):
                raise AuditError(f"malformed spectral-audit {noun}: missing field {path}.")
            values[item.name] = hints[item.name]()  # a section every field of which has a default
    return cls(**values)


def _all_defaults(hint: Any) -> bool:
    return (
        isinstance(hint, type)
        and dataclasses.is_dataclass(hint)
        and all(
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            for f in dataclasses.fields(hint)
        )
    )


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


# --- checking a saved result before it is used --------------------------------------------------
#
# A saved result is an input like any other (a --baseline from a pull request, a report to
# re-render): every field is checked against its declared type, numbers are finite and in
# their range, strings have sane lengths and per-image outcomes are base64, so a forged file
# gets one line naming the field instead of a NaN verdict or a report that never finishes.

_FRACTIONS = {
    "hfer", "channel_hfer", "paper_h", "white_noise_hfer", "white_noise_paper_h", "baseline_hfer",
    "baseline_paper_h", "accuracy", "agreement", "baseline_accuracy", "baseline_agreement", "clean_accuracy",
    "baseline_clean_accuracy", "radial_energy", "accuracy_ci", "baseline_accuracy_ci", "clean_accuracy_ci",
    "baseline_clean_accuracy_ci", "mcnemar_p", "clean_mcnemar_p",
}  # fmt: skip
_NON_NEGATIVE = {"ssr", "radii", "paper_radii", "mean_square", "seconds", "images_per_second", "samples"}
_BASE64 = {"correct", "clean_correct"}
_NAME_LENGTH = 4096  # a layer or file name; real ones are a few hundred characters
_TEXT_LENGTH = 1 << 16
_BASE64_LENGTH = 64 << 20
_LIST_LENGTH = 1 << 22


def _field_error(where: str, message: str) -> AuditError:
    return AuditError(f"field {where} {message}.")


def _check_number(value: Any, where: str, name: str, integer: bool) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _field_error(where, f"must be {'an integer' if integer else 'a number'}, got {str(value)[:40]!r}")
    if not integer and not math.isfinite(value):
        raise _field_error(where, f"must be finite, got {value!r}")
    if integer and abs(value) > 1 << 62:
        raise _field_error(where, "is out of range")
    if name in _FRACTIONS and not -1e-9 <= value <= 1 + 1e-9:
        raise _field_error(where, f"must be a fraction in [0, 1], got {value!r}")
    if name in _NON_NEGATIVE and value < 0:
        raise _field_error(where, f"must not be negative, got {value!r}")


def _check_value(hint: Any, value: Any, where: str, name: str) -> None:
    import base64
    import binascii

    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return
        options = [a for a in arguments if a is not type(None)]
        hint, origin, arguments = options[0], typing.get_origin(options[0]), typing.get_args(options[0])
    if origin is Literal:
        if value not in arguments:
            raise _field_error(where, f"must be one of {', '.join(map(repr, arguments))}, got {str(value)[:40]!r}")
        return
    if hint is Any:
        if isinstance(value, str) and len(value) > _BASE64_LENGTH:
            raise _field_error(where, f"is {len(value):,} characters long")
        return
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        check_fields(hint, value, where)
    elif hint is float or hint is int:
        _check_number(value, where, name, hint is int)
    elif hint is bool:
        if not isinstance(value, bool):
            raise _field_error(where, f"must be true or false, got {str(value)[:40]!r}")
    elif hint is str:
        if not isinstance(value, str):
            raise _field_error(where, f"must be text, got {type(value).__name__}")
        limit = (
            _BASE64_LENGTH if name in _BASE64 else _NAME_LENGTH if name in ("name", "path", "probe") else _TEXT_LENGTH
        )
        if len(value) > limit:
            raise _field_error(where, f"is {len(value):,} characters long, more than {limit:,}")
        if name in _BASE64:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise _field_error(where, "is not base64 (per-image outcomes)")
    elif origin is list:
        if not isinstance(value, list):
            raise _field_error(where, f"must be a list, got {type(value).__name__}")
        if len(value) > _LIST_LENGTH:
            raise _field_error(where, f"holds {len(value):,} items")
        for index, item in enumerate(value):
            _check_value(arguments[0] if arguments else Any, item, f"{where}[{index}]", name)
    elif origin is dict:
        if not isinstance(value, dict):
            raise _field_error(where, f"must be an object, got {type(value).__name__}")
        for key, item in value.items():
            _check_value(arguments[1] if len(arguments) == 2 else Any, item, f"{where}.{str(key)[:40]}", "")


def check_fields(cls: type, data: Any, where: str) -> None:
    """Check the dict ``data`` against the dataclass ``cls``'s declared field types (and
    the ranges above); raises AuditError naming the first bad field (``where`` its path)."""
    if not isinstance(data, dict):
        raise _field_error(where, f"must be an object, got {type(data).__name__}")
    for key, hint in _hints(cls).items():
        if key in data:
            _check_value(hint, data[key], f"{where}.{key}" if where else key, key)


def read_json(text: str, where: str) -> Any:
    """Parsed JSON text of a saved result; ``where`` names the source in errors."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise AuditError(f"{where}: not valid JSON ({error.msg} at line {error.lineno}).")
    except RecursionError:
        raise AuditError(f"{where}: JSON nested too deeply to be a spectral-audit result.")


def result_from_json(text: str, where: str) -> Any:
    """An audit result written by :func:`to_json`; ``where`` names the source in errors."""
    data = read_json(text, where)
    if not isinstance(data, dict):
        raise AuditError(f"{where}: expected a JSON object from spectral-audit, found {type(data).__name__}.")
    try:
        return decode_result(AuditResult, data)
    except AuditError as error:
        raise AuditError(f"{where}: {error.message}", hint=error.hint, code=error.code)
