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

import numpy as np
import torch

from audit.errors import AuditError
from audit.loading.kernels import ConvKernel
from audit.loading.state_dict import count_parameters

_CONV_OPS = {"Conv": False, "ConvTranspose": True}  # op type -> transposed


def _external_location(tensor) -> str | None:
    import onnx

    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        return None
    entries = {entry.key: entry.value for entry in tensor.external_data}
    return entries.get("location", "")


def check_external_data(model, folder: Path, path: Path) -> None:
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


def _attributes(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _layer_name(weight_name: str, node_name: str) -> str:
    """PyTorch exporters name initializers by parameter path; keep that when present."""
    if weight_name.endswith(".weight") and not weight_name.startswith("onnx::"):
        return weight_name[: -len(".weight")]
    return node_name or weight_name


def read_onnx(path: Path) -> tuple[list[ConvKernel], int, list[str]]:
    """(kernels, parameter count, notes) of an ONNX file."""
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
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = node.attribute[0].t

    def as_tensor(proto) -> torch.Tensor:
        return torch.from_numpy(np.array(numpy_helper.to_array(proto), copy=True))

    kernels, notes = [], []
    for node in model.graph.node:
        if node.op_type not in _CONV_OPS or len(node.input) < 2:
            continue
        weight_name = node.input[1]
        if weight_name not in constants:
            notes.append(f"{node.name or node.op_type}: weight {weight_name!r} is computed at run time, not analysed")
            continue
        weight = as_tensor(constants[weight_name])
        if not weight.is_floating_point():
            notes.append(f"{node.name or weight_name}: {weight.dtype} weight (quantised?) not analysed")
            continue
        attributes = _attributes(node)
        spatial = weight.dim() - 2
        kernels.append(
            ConvKernel(
                name=_layer_name(weight_name, node.name),
                weight=weight,
                groups=int(attributes.get("group", 1)),
                stride=tuple(attributes.get("strides", [1] * spatial)),
                dilation=tuple(attributes.get("dilations", [1] * spatial)),
                transposed=_CONV_OPS[node.op_type],
            )
        )
    # Meta tensors carry the shape without copying the data a second time.
    floating = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16)
    parameters = count_parameters(
        {t.name: torch.empty(tuple(t.dims), device="meta") for t in model.graph.initializer if t.data_type in floating}
    )
    return kernels, parameters, notes
