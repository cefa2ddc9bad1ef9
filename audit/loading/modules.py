"""Conv kernels of runnable PyTorch models: nn.Module, TorchScript, torch.export.

A runnable model knows how each kernel is applied (groups, stride, dilation,
transposed), which a bare state_dict does not; these functions read that too.
"""

from __future__ import annotations

import ast
from typing import Any

import torch

from audit.loading.kernels import ConvKernel, int_tuple
from audit.loading.state_dict import strip_wrapper_prefixes

CONV_CLASS_NAMES = {
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
}


def _class_name(module: torch.nn.Module) -> str:
    # A TorchScript submodule is a RecursiveScriptModule; its Python class is in original_name.
    return getattr(module, "original_name", None) or type(module).__name__


def _is_conv(module: torch.nn.Module) -> bool:
    if isinstance(module, torch.nn.modules.conv._ConvNd):
        return True
    # Subclasses that TorchScript no longer knows as such (timm's Conv2dSame...):
    # anything with a conv weight and the conv hyper-parameters.
    if _class_name(module) in CONV_CLASS_NAMES or all(
        hasattr(module, attr) for attr in ("groups", "stride", "dilation")
    ):
        weight = getattr(module, "weight", None)
        return isinstance(weight, torch.Tensor) and weight.dim() >= 3
    return False


# Positional parameters of the ATen calls a traced Conv's forward code makes.
_TRACED_SIGNATURES = {
    "_convolution": (
        "input",
        "weight",
        "bias",
        "stride",
        "padding",
        "dilation",
        "transposed",
        "output_padding",
        "groups",
    ),
    "conv1d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "conv2d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "conv3d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
}


def conv_call_arguments(node: ast.AST) -> dict[str, Any] | None:
    """For a call ``torch.conv2d(...)`` / ``torch._convolution(...)`` in TorchScript code,
    its literal arguments by name (variables left out); None for any other node."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    names = _TRACED_SIGNATURES.get(node.func.attr)
    if names is None:
        return None
    values = {}
    for name, argument in zip(names, node.args):
        try:
            values[name] = ast.literal_eval(argument)
        except (ValueError, SyntaxError, TypeError, RecursionError):
            pass  # a variable, not a literal
    return values


def _traced_conv_arguments(module: torch.nn.Module) -> dict[str, Any]:
    """Hyper-parameters of a *traced* TorchScript conv, read from its forward code.

    Tracing keeps only the weights as attributes; groups, stride and dilation survive
    as literals in the recorded call, e.g. ``torch._convolution(input, weight, bias,
    [1, 1], [1, 1], [1, 1], False, [0, 0], 8, ...)``.
    """
    try:
        tree = ast.parse(str(module.code))
    except Exception:  # no code (not TorchScript) or code that is not Python syntax
        return {}
    for node in ast.walk(tree):
        values = conv_call_arguments(node)
        if values is not None:
            return values
    return {}


def kernels_from_module(model: torch.nn.Module) -> list[ConvKernel]:
    """One kernel per convolution submodule, named by its module path."""
    found = [(name, sub) for name, sub in model.named_modules() if _is_conv(sub)]
    renamed, _ = strip_wrapper_prefixes([name for name, _ in found])
    kernels = []
    for name, conv in found:
        traced = {} if hasattr(conv, "groups") else _traced_conv_arguments(conv)
        groups = getattr(conv, "groups", traced.get("groups"))
        transposed = getattr(conv, "transposed", traced.get("transposed"))
        if transposed is None:
            transposed = "Transpose" in _class_name(conv)
        kernels.append(
            ConvKernel(
                name=renamed[name] or "(root)",
                weight=conv.weight.detach(),
                groups=int(groups) if groups is not None else None,
                stride=int_tuple(getattr(conv, "stride", traced.get("stride"))),
                dilation=int_tuple(getattr(conv, "dilation", traced.get("dilation"))),
                transposed=bool(transposed),
            )
        )
    return kernels


_CONV_OPS = {
    "aten::conv1d",
    "aten::conv2d",
    "aten::conv3d",
    "aten::conv_transpose1d",
    "aten::conv_transpose2d",
    "aten::conv_transpose3d",
    "aten::convolution",
    "aten::_convolution",
}


def _bound_arguments(node: Any) -> dict[str, Any]:
    """Arguments of an ATen call node by schema name, defaults filled in."""
    schema = node.target._schema
    values = {}
    for position, argument in enumerate(schema.arguments):
        if position < len(node.args):
            values[argument.name] = node.args[position]
        elif argument.name in node.kwargs:
            values[argument.name] = node.kwargs[argument.name]
        elif argument.has_default_value():
            values[argument.name] = argument.default_value
    return values


def kernels_from_exported_program(program: Any) -> list[ConvKernel]:
    """Kernels of a ``torch.export`` ExportedProgram, read from its ATen graph.

    Each convolution call's weight input is traced back to the parameter it came from,
    so layers are named by module path just as for an nn.Module.
    """
    signature = program.graph_signature
    sources = dict(signature.inputs_to_parameters)
    sources.update(getattr(signature, "inputs_to_buffers", {}) or {})
    sources.update(getattr(signature, "inputs_to_lifted_tensor_constants", {}) or {})
    tensors = dict(program.state_dict)
    tensors.update(getattr(program, "constants", {}) or {})

    kernels = []
    seen: set[str] = set()  # a weight shared by two calls is one layer
    for node in program.graph.nodes:
        if node.op != "call_function" or not hasattr(node.target, "_schema"):
            continue
        if node.target._schema.name not in _CONV_OPS:
            continue
        arguments = _bound_arguments(node)
        weight_node = arguments.get("weight")
        source = sources.get(getattr(weight_node, "name", None))
        if source is None or source not in tensors or source in seen:
            continue  # a weight computed at run time, not a stored kernel
        seen.add(source)
        op = node.target._schema.name
        transposed = "transpose" in op or bool(arguments.get("transposed", False))
        name = source[: -len(".weight")] if source.endswith(".weight") else source
        kernels.append(
            ConvKernel(
                name=name,
                weight=tensors[source].detach(),
                groups=int(arguments.get("groups", 1)),
                stride=int_tuple(arguments.get("stride")),
                dilation=int_tuple(arguments.get("dilation")),
                transposed=transposed,
            )
        )
    renamed, _ = strip_wrapper_prefixes([k.name for k in kernels])
    return [ConvKernel(renamed[k.name], k.weight, k.groups, k.stride, k.dilation, k.transposed) for k in kernels]
