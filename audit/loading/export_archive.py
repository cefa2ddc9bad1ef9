"""Conv kernels of a torch.export archive (.pt2), read by parsing: nothing of the file runs.

``torch.export.load`` is a program loader: it unpickles members with ``weights_only=False``,
passes SymInt expressions of ``models/model.json`` through ``sympy.sympify`` (an eval) and
``module()`` executes the archive's ``guards_code``. None of that is needed for spectra:

- ``models/model.json`` is read as JSON only: the graph's ATen convolution calls say which
  input is each kernel, the signature maps that input to a parameter name; expressions are
  never evaluated (a symbolic size is just "unknown");
- ``data/weights/model_weights_config.json`` gives each parameter's member, dtype, sizes,
  strides and offset: raw members become tensors from their bytes, pickled ones (torch.save
  archives) go through the same non-executing reader as TorchScript
  (:mod:`audit.loading.tensor_pickle`). Older archives keep all weights in one torch.save
  member, ``data/weights/model.pt``, read the same way.

Only the members this reader names are ever read; whatever else the archive holds (sample
inputs, compiled code, other configs) is never opened.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import torch

from audit.errors import AuditError
from audit.loading.kernels import ConvKernel, int_tuple
from audit.loading.state_dict import strip_wrapper_prefixes
from audit.loading.tensor_pickle import UnsafePickle, read_torch_save_bytes
from audit.loading.zip_archive import ApprovedZip

MODEL = "model"
_DTYPES = {
    1: torch.uint8,
    2: torch.int8,
    3: torch.int16,
    4: torch.int32,
    5: torch.int64,
    6: torch.float16,
    7: torch.float32,
    8: torch.float64,
    9: torch.complex32,
    10: torch.complex64,
    11: torch.complex128,
    12: torch.bool,
    13: torch.bfloat16,
}  # torch._export.serde.schema.ScalarType
_CONV_OPS = {
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "convolution",
    "_convolution",
}
_TARGET = re.compile(r"torch\.ops\.aten\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)")
_MAX_JSON = 256 << 20


@dataclass
class ExportContents:
    kernels: list[ConvKernel]
    tensors: dict[str, torch.Tensor]  # parameters and buffers by name (the program's state_dict)
    input_shape: tuple[int | None, ...] | None
    transformed: list[str] = field(default_factory=list)  # convs whose weight is computed from a parameter
    unrecognised: list[str] = field(default_factory=list)  # 3-D to 5-D weights no conv uses


def _json(archive: ApprovedZip, member: str) -> Any:
    if archive.size_of(member) > _MAX_JSON:
        raise AuditError(f"{archive.path}: {member} declares {archive.size_of(member) >> 20} MiB of JSON.")
    try:
        return json.loads(archive.read(member))
    except (ValueError, RecursionError) as error:
        raise AuditError(f"{archive.path}: {member} is not valid JSON ({type(error).__name__}).")


def _int(value: Any) -> int | None:
    """A serialised SymInt: its value when it is a plain int; None for an expression."""
    if isinstance(value, dict) and isinstance(value.get("as_int"), int):
        return value["as_int"]
    return None


def _raw_tensor(archive: ApprovedZip, member: str, meta: dict[str, Any]) -> torch.Tensor:
    dtype = _DTYPES.get(meta["dtype"]) if isinstance(meta.get("dtype"), int) else None
    if dtype is None:
        raise AuditError(f"{archive.path}: {member} has a dtype this reader does not know ({meta.get('dtype')!r}).")
    found_sizes = [_int(s) for s in meta.get("sizes", [])]
    found_strides = [_int(s) for s in meta.get("strides", [])]
    sizes = [s for s in found_sizes if s is not None]
    strides = [s for s in found_strides if s is not None]
    offset = _int(meta.get("storage_offset", {"as_int": 0}))
    if (
        len(sizes) != len(found_sizes)
        or len(strides) != len(found_strides)
        or offset is None
        or len(sizes) != len(strides)
    ):
        raise AuditError(f"{archive.path}: {member} has symbolic or malformed sizes; a stored weight has fixed ones.")
    raw = bytearray(archive.read(member))
    itemsize = torch.empty((), dtype=dtype).element_size()
    flat = (
        torch.frombuffer(raw, dtype=dtype, count=len(raw) // itemsize)
        if len(raw) >= itemsize
        else torch.empty(0, dtype=dtype)
    )
    try:
        return flat.as_strided(sizes, strides, offset)
    except RuntimeError:
        raise AuditError(f"{archive.path}: {member} holds {len(raw)} bytes, fewer than its sizes need.")


def _payload_tensors(archive: ApprovedZip, folder: str, config_member: str) -> dict[str, torch.Tensor]:
    config = _json(archive, config_member).get("config", {})
    if not isinstance(config, dict):
        raise AuditError(f"{archive.path}: {config_member} has no config table.")
    tensors: dict[str, torch.Tensor] = {}
    for name, entry in config.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("path_name"), str):
            raise AuditError(f"{archive.path}: {config_member} entry {str(name)[:80]!r} is malformed.")
        member = folder + entry["path_name"]
        if not archive.has(member):
            raise AuditError(f"{archive.path}: {config_member} names {entry['path_name'][:80]!r}, which is not there.")
        if entry.get("use_pickle") is False:
            tensors[name] = _raw_tensor(archive, member, entry.get("tensor_meta") or {})
        else:
            value = read_torch_save_bytes(archive.read(member), f"{archive.path}:{member}")
            if isinstance(value, torch.Tensor):
                tensors[name] = value
    return tensors


def _stored_tensors(archive: ApprovedZip, prefix: str, kind: str) -> dict[str, torch.Tensor]:
    """The archive's stored ``kind`` ("weights": parameters and buffers, or "constants")."""
    tensors: dict[str, torch.Tensor] = {}
    folder = f"{prefix}data/{kind}/"
    config = f"{folder}{MODEL}_{kind}_config.json"
    legacy = f"{folder}{MODEL}.pt"
    if archive.has(config):
        tensors.update(_payload_tensors(archive, folder, config))
    elif archive.has(legacy):
        value = read_torch_save_bytes(archive.read(legacy), f"{archive.path}:{legacy}")
        if isinstance(value, dict):
            tensors.update({str(k): v for k, v in value.items() if isinstance(v, torch.Tensor)})
    return tensors


def _sources(signature: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Graph input name -> stored tensor name; and the user inputs' names."""
    sources: dict[str, str] = {}
    user_inputs: list[str] = []
    for spec in signature.get("input_specs", []):
        if not isinstance(spec, dict) or len(spec) != 1:
            continue
        ((kind, body),) = spec.items()
        if not isinstance(body, dict):
            continue
        argument = body.get("arg", {})
        name = argument.get("name") if isinstance(argument, dict) else None
        if kind == "user_input":
            tensor = argument.get("as_tensor", {}) if isinstance(argument, dict) else {}
            if isinstance(tensor, dict) and isinstance(tensor.get("name"), str):
                user_inputs.append(tensor["name"])
            continue
        stored = body.get(f"{kind}_name") if kind in ("parameter", "buffer", "tensor_constant") else None
        if isinstance(name, str) and isinstance(stored, str):
            sources[name] = stored
    return sources, user_inputs


def _defaults(op: str, overload: str) -> dict[str, Any]:
    """The schema defaults of an allow-listed ATen convolution (stride=1...), from torch."""
    try:
        schema = getattr(getattr(torch.ops.aten, op), overload)._schema
    except (AttributeError, RuntimeError):
        return {}
    return {a.name: a.default_value for a in schema.arguments if a.has_default_value()}


def _argument(value: Any) -> Any:
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((kind, body),) = value.items()
    if kind in ("as_int", "as_bool", "as_ints"):
        return body
    if kind == "as_tensor" and isinstance(body, dict):
        return ("tensor", body.get("name"))
    return None


def read_export_archive(archive: ApprovedZip) -> ExportContents:
    """Kernels and tensors of an approved .pt2 archive, by parsing alone."""
    prefix = archive.prefix
    member = f"{prefix}models/{MODEL}.json"
    if not archive.has(member):
        raise AuditError(f"{archive.path} is a torch.export archive without models/{MODEL}.json.")
    program = _json(archive, member)
    graph_module = program.get("graph_module") if isinstance(program, dict) else None
    graph = graph_module.get("graph") if isinstance(graph_module, dict) else None
    if not isinstance(graph_module, dict) or not isinstance(graph, dict):
        raise AuditError(f"{archive.path}: models/{MODEL}.json holds no graph.")
    try:
        weights = _stored_tensors(archive, prefix, "weights")
        tensors = {**_stored_tensors(archive, prefix, "constants"), **weights}
    except UnsafePickle as error:
        raise AuditError(
            f"{archive.path} stores a weight as a pickle naming {error.name}, which is not a tensor; it is not read.",
            code="unsafe-file",
        )
    sources, user_inputs = _sources(graph_module.get("signature", {}) or {})

    found: list[ConvKernel] = []
    transformed: list[str] = []
    seen: set[str] = set()  # a weight shared by two calls is one layer
    derived: dict[str, set[str]] = {}  # a computed tensor -> the stored tensors it is computed from
    for node in graph.get("nodes", []):
        match = _TARGET.fullmatch(str(node.get("target", ""))) if isinstance(node, dict) else None
        if match is None or match.group(1) not in _CONV_OPS:
            _follow(node, sources, tensors, derived)
            continue
        op, overload = match.groups()
        arguments = dict(_defaults(op, overload))
        for entry in node.get("inputs", []):
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                arguments[entry["name"]] = _argument(entry.get("arg"))
        weight = arguments.get("weight")
        source = sources.get(weight[1]) if isinstance(weight, tuple) else None
        computed = False
        if source is None and isinstance(weight, tuple) and len(derived.get(weight[1], ())) == 1:
            # A weight computed from one stored kernel-shaped tensor (weight standardisation,
            # a scale): that tensor is the layer's kernel, and the notes say it was transformed.
            (candidate,) = derived[weight[1]]
            if tensors[candidate].dim() >= 3:
                source, computed = candidate, True
        if source is None or source not in tensors or source in seen:
            continue  # a weight computed at run time from no single stored kernel
        seen.add(source)
        name = source[: -len(".weight")] if source.endswith(".weight") else source
        if computed:
            transformed.append(name)
        groups = arguments.get("groups", 1)
        found.append(
            ConvKernel(
                name=name,
                weight=tensors[source].detach(),
                groups=int(groups) if isinstance(groups, int) else None,
                stride=int_tuple(arguments.get("stride")),
                dilation=int_tuple(arguments.get("dilation")),
                transposed="transpose" in op or arguments.get("transposed") is True,
            )
        )
    renamed, _ = strip_wrapper_prefixes([k.name for k in found])
    kernels = [ConvKernel(renamed[k.name], k.weight, k.groups, k.stride, k.dilation, k.transposed) for k in found]
    unused = [name for name, t in weights.items() if 3 <= t.dim() <= 5 and name not in seen]
    shape = _input_shape(graph, user_inputs)
    return ExportContents(kernels, weights, shape, [renamed[n] for n in transformed], unused)


def _follow(node: Any, sources: dict[str, str], tensors: dict[str, Any], derived: dict[str, set[str]]) -> None:
    """Record which stored tensors each output of a (non-conv) node is computed from; the
    graph is in execution order, so every input was seen before. Read, never run."""
    if not isinstance(node, dict):
        return
    origin: set[str] = set()
    for entry in node.get("inputs", []):
        argument = _argument(entry.get("arg")) if isinstance(entry, dict) else None
        if isinstance(argument, tuple) and isinstance(argument[1], str):
            name = argument[1]
            if sources.get(name) in tensors:
                origin.add(sources[name])
            origin |= derived.get(name, set())
    if not origin:
        return
    for output in node.get("outputs", []):
        body = output.get("as_tensor") if isinstance(output, dict) else None
        if isinstance(body, dict) and isinstance(body.get("name"), str):
            derived[body["name"]] = origin


def _input_shape(graph: dict[str, Any], user_inputs: list[str]) -> tuple[int | None, ...] | None:
    """Shape of the first user input, None for a symbolic dimension (never evaluated)."""
    values = graph.get("tensor_values", {})
    if not user_inputs or not isinstance(values, dict) or not isinstance(values.get(user_inputs[0]), dict):
        return None
    sizes = values[user_inputs[0]].get("sizes", [])
    return tuple(_int(s) for s in sizes) if isinstance(sizes, list) else None
