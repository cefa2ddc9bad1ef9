"""Read conv kernels from an ONNX model: Conv and ConvTranspose nodes whose weight is
an initializer (or a Constant), with weights stored inline or as external data.

External-data locations are checked before anything is read: a location that is
absolute or leaves the model's folder (``..``) is refused, so a downloaded model cannot
make the tool read arbitrary files. Note that exporters that optimise the graph fold
BatchNorm into the preceding Conv: the kernels are then the folded ones.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audit.errors import AuditError
from audit.loading.kernels import ConvKernel, LoadedModel, ReadRequest
from audit.loading.sniff import FileStart
from audit.loading.state_dict import count_parameters

_CONV_OPS = {"Conv": False, "ConvTranspose": True}  # op type -> transposed


def recognises(start: FileStart) -> bool:
    """ONNX is a protobuf whose first field is ir_version (tag byte 0x08)."""
    return start.members is None and (start.suffix == ".onnx" or start.head[:1] == b"\x08")


def read(request: ReadRequest) -> LoadedModel:
    kernels, parameters, notes, domains = read_onnx(request.path)
    if domains and not request.trust_code:
        # onnxruntime would run kernels that are not the standard's (custom operators come
        # from libraries); probing such a file is trusting it, as for a program.
        why = f"it uses operators outside the ONNX standard ({', '.join(domains)})"
        return request.loaded(kernels, parameters, notes=notes, needs_trust=why)
    return request.loaded(kernels, parameters, onnx_path=request.path, notes=notes)


def _external_location(tensor: Any) -> str | None:
    import onnx

    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        return None
    entries = {entry.key: entry.value for entry in tensor.external_data}
    return entries.get("location", "")


def check_external_data(model: Any, folder: Path, path: Path) -> None:
    """Refuse external data outside ``folder`` and say which files are missing."""
    missing = []
    for tensor in model.graph.initializer:
        location = _external_location(tensor)
        if location is None:
            continue
        if not location or os.path.isabs(location) or Path(location).drive:
            raise AuditError(
                f"{path}: initializer {tensor.name!r} points at external data {location!r}; "
                "only relative paths inside the model's folder are allowed."
            )
        resolved = (folder / location).resolve()
        if not resolved.is_relative_to(folder.resolve()):
            raise AuditError(
                f"{path}: initializer {tensor.name!r} points at external data {location!r}, "
                "outside the model's folder; refused for safety."
            )
        if not resolved.is_file():
            missing.append(location)
    if missing:
        files = ", ".join(sorted(set(missing)))
        raise AuditError(
            f"{path} keeps its weights in external data files that are missing: {files} "
            f"(expected next to the model in {folder})."
        )


def _attributes(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def module_path_from_node_name(node_name: str) -> str | None:
    """The module path hidden in a TorchScript-exporter node name.

    '/layer1/layer1.0/conv1/Conv' -> 'layer1.0.conv1' and
    '/layer2/layer2.0/shortcut/shortcut.0/Conv' -> 'layer2.0.shortcut.0': each scope is a
    child's attribute name, or, for a numbered child of a container, the container's
    attribute name with the number appended, which then replaces it.
    """
    parts = [p for p in node_name.split("/") if p]
    if len(parts) < 2:
        return None
    path: list[str] = []
    for scope in parts[:-1]:  # the last part is the op (Conv, Conv_3...)
        if path and scope.startswith(path[-1] + "."):
            path[-1] = scope
        else:
            path.append(scope)
    return ".".join(path) or None


def layer_name(weight_name: str, node_name: str) -> str:
    """A layer's name as PyTorch would call it, so an ONNX export matches its state_dict:
    the weight initializer's parameter path ('layer1.0.conv1.weight'), else the module
    path in the node name, else whatever name there is ('onnx::Conv_123')."""
    if weight_name.endswith(".weight") and not weight_name.startswith("onnx::"):
        return weight_name[: -len(".weight")]
    return module_path_from_node_name(node_name) or node_name or weight_name


def _dequantise(values: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor | None, axis: int) -> torch.Tensor:
    """ONNX DequantizeLinear: (q - zero_point) * scale, per tensor or along ``axis``."""
    shape = [1] * values.dim()
    if scale.numel() > 1:
        shape[axis] = scale.numel()
    result = values.double()
    if zero_point is not None:
        result = result - zero_point.double().reshape(shape)
    return (result * scale.double().reshape(shape)).float()


def _integer_weight(values: torch.Tensor, zero_point: torch.Tensor | None) -> torch.Tensor:
    shape = [1] * values.dim()
    if zero_point is not None and zero_point.numel() > 1:
        shape[0] = zero_point.numel()
    result = values.double()
    if zero_point is not None:
        result = result - zero_point.double().reshape(shape)
    return result.float()


STANDARD_DOMAINS = ("", "ai.onnx")


def foreign_domains(model: Any) -> list[str]:
    """Operator domains beyond the ONNX standard that running ``model`` would use: custom
    operators (kernels from a library registered with onnxruntime), ``ai.onnx.ml``,
    training and preview domains, ``com.microsoft`` contrib ops; in the graph, its
    subgraphs and its local functions. Read from the parsed protobuf; nothing is run."""
    found: set[str] = set()
    graphs = [model.graph]
    for function in model.functions:
        found.update(node.domain for node in function.node)
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            found.add(node.domain)
            for attribute in node.attribute:
                graphs.extend([attribute.g] if attribute.HasField("g") else [])
                graphs.extend(attribute.graphs)
    local = {function.domain for function in model.functions}
    return sorted(d for d in found if d not in STANDARD_DOMAINS and d not in local)


def read_onnx(path: Path) -> tuple[list[ConvKernel], int, list[str], list[str]]:
    """(kernels, parameter count, notes, operator domains beyond the standard) of an ONNX file.

    Conv and ConvTranspose weights are read from initializers or Constant nodes, also
    through a DequantizeLinear node; QLinearConv weights are dequantised with their
    scale and zero point; ConvInteger weights are analysed as (q - zero point), whose
    spectrum is the real one up to the scale applied after the convolution.
    """
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf DecodeError and friends
        raise AuditError(f"{path} is not a valid ONNX model: {str(error).strip() or type(error).__name__}.")
    if not model.graph.node:
        raise AuditError(f"{path} parsed as ONNX but has no graph nodes; it is not an ONNX model.")

    folder = path.parent
    check_external_data(model, folder, path)
    try:
        onnx.external_data_helper.load_external_data_for_model(model, str(folder))
    except Exception as error:
        raise AuditError(f"{path}: its external data could not be read ({error}).")

    constants = {t.name: t for t in model.graph.initializer}
    producers = {}
    for node in model.graph.node:
        for output in node.output:
            producers[output] = node
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = node.attribute[0].t

    def constant(name: str) -> torch.Tensor | None:
        if name not in constants:
            return None
        return torch.from_numpy(np.array(numpy_helper.to_array(constants[name]), copy=True))

    def optional(node: Any, index: int) -> torch.Tensor | None:
        return constant(node.input[index]) if len(node.input) > index and node.input[index] else None

    kernels, notes, quantised = [], [], []
    for node in model.graph.node:
        label = node.name or node.op_type
        if node.op_type in _CONV_OPS and len(node.input) >= 2:
            weight_name = node.input[1]
            weight = constant(weight_name)
            producer = producers.get(weight_name)
            if weight is None and producer is not None and producer.op_type == "DequantizeLinear":
                values, scale = constant(producer.input[0]), optional(producer, 1)
                if values is not None and scale is not None:
                    axis = int(_attributes(producer).get("axis", 1))
                    weight = _dequantise(values, scale, optional(producer, 2), axis % max(1, values.dim()))
                    weight_name = producer.input[0]
                    quantised.append(f"{label} (DequantizeLinear)")
            if weight is None:
                notes.append(f"{label}: weight {weight_name!r} is computed at run time, not analysed")
                continue
            if not weight.is_floating_point():
                notes.append(f"{label}: {str(weight.dtype).replace('torch.', '')} weight without a scale, not analysed")
                continue
            transposed = _CONV_OPS[node.op_type]
        elif node.op_type == "QLinearConv" and len(node.input) >= 6:
            values, scale = optional(node, 3), optional(node, 4)
            if values is None or scale is None:
                notes.append(f"{label}: QLinearConv weight is computed at run time, not analysed")
                continue
            weight_name = node.input[3]
            weight = _dequantise(values, scale, optional(node, 5), 0)
            transposed = False
            quantised.append(f"{label} (QLinearConv)")
        elif node.op_type == "ConvInteger" and len(node.input) >= 2:
            values = optional(node, 1)
            if values is None:
                notes.append(f"{label}: ConvInteger weight is computed at run time, not analysed")
                continue
            weight_name = node.input[1]
            weight = _integer_weight(values, optional(node, 3))
            transposed = False
            quantised.append(f"{label} (ConvInteger: integer weights, scale unknown)")
        else:
            continue
        if weight.dim() < 3:
            raise AuditError(
                f"{path}: {node.op_type} node {label!r} has a weight of rank {weight.dim()} (shape "
                f"{tuple(weight.shape)}); a convolution weight has rank 3 to 5. The model is malformed."
            )
        attributes = _attributes(node)
        spatial = weight.dim() - 2
        kernels.append(
            ConvKernel(
                name=layer_name(weight_name, node.name),
                weight=weight,
                groups=int(attributes.get("group", 1)),
                stride=tuple(attributes.get("strides", [1] * spatial)),
                dilation=tuple(attributes.get("dilations", [1] * spatial)),
                transposed=transposed,
            )
        )
    if quantised:
        notes.append(f"dequantised {len(quantised)} quantised conv weight(s): {', '.join(quantised[:3])}")
    # Meta tensors carry the shape without copying the data a second time.
    floating = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16)
    parameters = count_parameters(
        {t.name: torch.empty(tuple(t.dims), device="meta") for t in model.graph.initializer if t.data_type in floating}
    )
    domains = foreign_domains(model)
    if domains:
        notes.append(f"operators outside the ONNX standard: {', '.join(domains)}")
    return kernels, parameters, notes, domains
