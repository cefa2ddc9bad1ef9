"""Conv kernels of a TorchScript archive, read by parsing: nothing of the file runs.

A TorchScript archive is a program (``torch.jit.load`` builds objects of the file's
classes and runs their ``__setstate__``; ``forward`` is code). Spectra need only the
weights, so they are read here from the parts that are data:

- ``data.pkl`` through :mod:`audit.loading.tensor_pickle`: the module tree, each module a
  recorded :class:`~audit.loading.tensor_pickle.ScriptObject` whose state holds its
  attributes, and tensors made from the ``data/`` members;
- each class's source (``code/__torch__/....py``) is *parsed* with :mod:`ast`, never
  executed: it lists the class's parameters and buffers (``__parameters__``,
  ``__buffers__``), its constants (``groups : Final[int] = 1``) and the ATen calls of its
  methods, which say which parameter a convolution uses as its weight and with which
  stride, dilation and groups (a traced module records them as literals).

A module is a convolution when its class is one of torch's conv classes, when it holds the
conv hyper-parameters (a scripted subclass), or when one of its methods calls a
convolution with one of its own parameters as the weight (a traced subclass such as timm's
``Conv2dSame``), exactly as :func:`audit.loading.modules.kernels_from_module` decides for
a loaded module, so both give the same layers.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

import torch

from audit.errors import AuditError
from audit.loading.kernels import ConvKernel, int_tuple
from audit.loading.modules import CONV_CLASS_NAMES, conv_call_arguments
from audit.loading.state_dict import strip_wrapper_prefixes
from audit.loading.tensor_pickle import ScriptObject, UnsafePickle, read_pickle
from audit.loading.zip_archive import ApprovedZip

_MAX_DEPTH = 200  # module nesting; deeper is a malformed (or hostile) file


@dataclass
class ClassSource:
    """What a TorchScript class's source says, read without running it."""

    parameters: list[str] = field(default_factory=list)
    buffers: list[str] = field(default_factory=list)
    constants: dict[str, Any] = field(default_factory=dict)
    conv_weights: dict[str, dict[str, Any]] = field(default_factory=dict)  # attribute -> literal conv arguments


@dataclass
class TorchScriptContents:
    kernels: list[ConvKernel]
    tensors: dict[str, torch.Tensor]  # parameters and buffers by dotted name (state_dict())
    custom_classes: list[str]  # classes of recorded objects that are not modules
    unrecognised: list[str] = field(default_factory=list)  # 3-D to 5-D parameters not used as a conv weight
    transformed: list[str] = field(default_factory=list)  # convs whose weight is computed from the parameter


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, RecursionError):
        return None


def _string_list(node: ast.AST) -> list[str]:
    value = _literal(node)
    return [v for v in value if isinstance(v, str)] if isinstance(value, (list, tuple)) else []


def _self_attribute(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``self.weight`` -> 'weight'; a local assigned from it in the same method too."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    return None


def parse_class(source: str, class_name: str) -> ClassSource | None:
    """The class ``class_name`` of a TorchScript code file, or None if it is not there."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return _read_class(node)
    return None


def _read_class(node: ast.ClassDef) -> ClassSource:
    found = ClassSource()
    for statement in node.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name) and target.id == "__parameters__":
                found.parameters = _string_list(statement.value)
            elif isinstance(target, ast.Name) and target.id == "__buffers__":
                found.buffers = _string_list(statement.value)
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            if statement.value is not None:
                found.constants[statement.target.id] = _literal(statement.value)
        elif isinstance(statement, ast.FunctionDef):
            aliases: dict[str, str] = {}
            assignments: list[tuple[str, ast.AST]] = []
            for inner in ast.walk(statement):
                if isinstance(inner, ast.Assign) and len(inner.targets) == 1 and isinstance(inner.targets[0], ast.Name):
                    assignments.append((inner.targets[0].id, inner.value))
                    attribute = _self_attribute(inner.value, {})
                    if attribute is not None:
                        aliases[inner.targets[0].id] = attribute
            derived = _derived_from(assignments, aliases)
            for inner in ast.walk(statement):
                arguments = conv_call_arguments(inner)
                if arguments is None or not isinstance(inner, ast.Call) or len(inner.args) < 2:
                    continue
                attribute = _self_attribute(inner.args[1], aliases)
                if attribute is None and isinstance(inner.args[1], ast.Name):
                    # A weight computed from one parameter before the call (weight
                    # standardisation, a scale): that parameter is the conv's weight.
                    sources = derived.get(inner.args[1].id, set()) & set(found.parameters)
                    if len(sources) == 1:
                        attribute = sources.pop()
                        arguments = {**arguments, "transformed": True}
                if attribute is not None and attribute not in found.conv_weights:
                    found.conv_weights[attribute] = arguments
    return found


def _derived_from(assignments: list[tuple[str, ast.AST]], aliases: dict[str, str]) -> dict[str, set[str]]:
    """Local name -> the ``self`` attributes its value is computed from, through any chain
    of assignments in one method (read, never evaluated)."""
    derived: dict[str, set[str]] = {}
    for _ in range(len(assignments) + 1):  # a fixed point: each round follows one more link
        changed = False
        for name, value in assignments:
            sources = set(derived.get(name, set()))
            for node in ast.walk(value):
                attribute = _self_attribute(node, aliases)
                if attribute is not None:
                    sources.add(attribute)
                elif isinstance(node, ast.Name) and node.id in derived:
                    sources |= derived[node.id]
            if sources != derived.get(name, set()):
                derived[name], changed = sources, True
        if not changed:
            break
    return derived


class _Archive:
    def __init__(self, archive: ApprovedZip) -> None:
        self.archive = archive
        self.prefix = archive.prefix
        self._classes: dict[str, ClassSource | None] = {}

    def class_source(self, qualified_name: str) -> ClassSource | None:
        if qualified_name not in self._classes:
            qualifier, _, class_name = qualified_name.rpartition(".")
            member = self.prefix + "code/" + qualifier.replace(".", "/") + ".py"
            parsed = None
            if self.archive.has(member):
                source = self.archive.read(member).decode("utf-8", "replace")
                parsed = parse_class(source, class_name)
            self._classes[qualified_name] = parsed
        return self._classes[qualified_name]


def _class_name(obj: ScriptObject) -> str:
    return obj.qualified_name.rsplit(".", 1)[-1]


def _conv_kernel(name: str, obj: ScriptObject, attributes: dict[str, Any], source: ClassSource) -> ConvKernel | None:
    weight = attributes.get("weight")
    hyper = set(source.constants) | set(attributes)
    by_class = _class_name(obj) in CONV_CLASS_NAMES or {"groups", "stride", "dilation"} <= hyper
    by_call = "weight" in source.conv_weights
    if not (by_class or by_call) or not isinstance(weight, torch.Tensor) or weight.dim() < 3:
        return None
    call = source.conv_weights.get("weight", {})

    def known(key: str) -> Any:
        for place in (source.constants, attributes):
            if key in place and place[key] is not None:
                return place[key]
        return call.get(key)

    groups = known("groups")
    transposed = known("transposed")
    if not isinstance(transposed, bool):
        transposed = "Transpose" in _class_name(obj)
    return ConvKernel(
        name=name,
        weight=weight.detach(),
        groups=int(groups) if isinstance(groups, int) and not isinstance(groups, bool) else None,
        stride=int_tuple(known("stride")),
        dilation=int_tuple(known("dilation")),
        transposed=transposed,
    )


def _walk(reader: _Archive, root: ScriptObject) -> TorchScriptContents:
    found: list[ConvKernel] = []
    transformed: set[str] = set()
    tensors: dict[str, torch.Tensor] = {}
    custom: list[str] = []
    stack: list[tuple[str, ScriptObject, int]] = [("", root, 0)]
    seen: set[int] = set()
    while stack:
        path, obj, depth = stack.pop()
        if id(obj) in seen or depth > _MAX_DEPTH:
            continue
        seen.add(id(obj))
        attributes = obj.state if isinstance(obj.state, dict) else {}
        source = reader.class_source(obj.qualified_name) or ClassSource()
        if not isinstance(obj.state, dict):
            custom.append(obj.qualified_name)
            continue
        for key in source.parameters + source.buffers:
            value = attributes.get(key)
            if isinstance(value, torch.Tensor):
                tensors[f"{path}.{key}" if path else key] = value
        kernel = _conv_kernel(path, obj, attributes, source)
        if kernel is not None:
            found.append(kernel)
            if source.conv_weights.get("weight", {}).get("transformed"):
                transformed.add(path)
        children = [
            (f"{path}.{key}" if path else str(key), value, depth + 1)
            for key, value in attributes.items()
            if isinstance(value, ScriptObject)
        ]
        stack.extend(reversed(children))  # depth first, in attribute order: named_modules()'s order
    renamed, _ = strip_wrapper_prefixes([k.name for k in found])
    kernels = [
        ConvKernel(renamed[k.name] or "(root)", k.weight, k.groups, k.stride, k.dilation, k.transposed) for k in found
    ]
    used = {f"{k.name}.weight" if k.name else "weight" for k in found}
    unrecognised = [name for name, t in tensors.items() if 3 <= t.dim() <= 5 and name not in used]
    changed = [renamed[k.name] or "(root)" for k in found if k.name in transformed]
    return TorchScriptContents(kernels, tensors, custom, unrecognised, changed)


def read_torchscript_archive(archive: ApprovedZip) -> TorchScriptContents:
    """Kernels and tensors of an approved TorchScript archive, by parsing alone."""
    prefix = archive.prefix
    if archive.has(prefix + "byteorder") and archive.read(prefix + "byteorder").strip() not in (b"little", b""):
        raise AuditError(f"{archive.path} was saved on a big-endian machine; its tensors cannot be read here.")
    try:
        root = read_pickle(archive, prefix + "data.pkl", prefix + "data/")
    except UnsafePickle as error:
        raise AuditError(
            f"{archive.path} is a TorchScript archive whose data.pkl names {error.name}, which is not part of "
            "a TorchScript module's data; it is not read.",
            code="unsafe-file",
        )
    if not isinstance(root, ScriptObject):
        raise AuditError(f"{archive.path}: data.pkl does not hold a TorchScript module.")
    return _walk(_Archive(archive), root)
