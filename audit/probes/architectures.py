"""Build a runnable nn.Module for a bare state_dict from an architecture name.

    torchvision:resnet18                 a torchvision model (weights=None; no download)
    timm:convnext_tiny                   a timm model (pretrained=False; timm is optional:
                                         pip install 'spectral-audit[timm]')
    my_pkg.models:Net                    a class importable from an installed package
    models/net.py:ResNet                 a class defined in a .py file of your own

Constructor arguments come as text ``width=64,num_classes=10`` (values are Python
literals; anything else is a string) and a class count.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch

from audit.errors import AuditError

FORMS = "torchvision:NAME, timm:NAME, package.module:Class or path/to/file.py:Class"


def parse_arch_args(text: str | None) -> dict[str, Any]:
    """'width=64,num_classes=10,name=wide' -> {'width': 64, 'num_classes': 10, 'name': 'wide'}."""
    arguments: dict[str, Any] = {}
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip().isidentifier():
            raise AuditError(f"architecture argument {part!r} is not NAME=VALUE.")
        try:
            arguments[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            arguments[key.strip()] = value.strip()
    return arguments


def _import_class(spec: str) -> Any:
    location, _, name = spec.rpartition(":")
    if location.endswith(".py"):
        path = Path(location)
        if not path.is_file():
            raise AuditError(f"architecture file {path} does not exist.")
        module_name = f"_spectral_audit_arch_{abs(hash(str(path.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise AuditError(f"architecture file {path} cannot be imported as a Python module.")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        sys.path.insert(0, str(path.resolve().parent))  # let the file import its neighbours
        try:
            module_spec.loader.exec_module(module)
        except Exception as error:
            raise AuditError(f"architecture file {path} failed to import: {type(error).__name__}: {error}.")
        finally:
            sys.path.remove(str(path.resolve().parent))
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as error:
            raise AuditError(f"architecture module {location!r} cannot be imported ({error}).")
    if not hasattr(module, name):
        raise AuditError(f"architecture {spec}: {location} has no attribute {name!r}.")
    return getattr(module, name)


def build_architecture(
    spec: str, arguments: dict[str, Any] | None = None, num_classes: int | None = None
) -> torch.nn.Module:
    """Instantiate the architecture ``spec`` with ``arguments`` (random weights)."""
    arguments = dict(arguments or {})
    if num_classes is not None:
        arguments.setdefault("num_classes", num_classes)
    if ":" not in spec:
        raise AuditError(f"architecture {spec!r} is not of the form {FORMS}.")
    if spec.startswith("torchvision:"):
        import torchvision

        name = spec.split(":", 1)[1]
        known = torchvision.models.list_models()
        if name not in known:
            raise AuditError(f"torchvision has no model {name!r}; known: {', '.join(sorted(known))}.")
        try:
            return torchvision.models.get_model(name, weights=None, **arguments)
        except TypeError as error:
            raise AuditError(f"torchvision:{name} does not accept {arguments}: {error}.")
    if spec.startswith("timm:"):
        return _timm_model(spec.split(":", 1)[1], arguments)
    factory = _import_class(spec)
    try:
        return factory(**arguments)
    except TypeError as error:
        raise AuditError(f"architecture {spec} could not be built with {arguments or 'no arguments'}: {error}.")


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], spec: str) -> torch.nn.Module:
    """Load ``state`` strictly; a mismatch names the first missing/unexpected keys."""
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # tensor shapes differ
        detail = " ".join(str(error).split())[:300]
        raise AuditError(f"the checkpoint does not fit the architecture {spec}: {detail}")
    problems = []
    if result.missing_keys:
        problems.append(f"missing {len(result.missing_keys)} (e.g. {', '.join(result.missing_keys[:3])})")
    if result.unexpected_keys:
        problems.append(f"unexpected {len(result.unexpected_keys)} (e.g. {', '.join(result.unexpected_keys[:3])})")
    if problems:
        raise AuditError(f"the checkpoint does not fit the architecture {spec}: {'; '.join(problems)} keys.")
    return model.eval()


def _timm_model(name: str, arguments: dict[str, Any]) -> torch.nn.Module:
    """timm.create_model(name, pretrained=False, **arguments): never a download. timm's
    checkpoints (state_dict / state_dict_ema, ``module.`` prefixes) load like any other."""
    try:
        import timm
    except ImportError:
        raise AuditError(
            f"timm:{name} needs timm, which is not installed: pip install 'spectral-audit[timm]' (or pip install timm)."
        )
    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('_')[0]}*")[:8]
        raise AuditError(f"timm has no model {name!r}" + (f"; similar: {', '.join(close)}." if close else "."))
    try:
        return timm.create_model(name, pretrained=False, **arguments)
    except TypeError as error:
        raise AuditError(f"timm:{name} does not accept {arguments}: {error}.")
