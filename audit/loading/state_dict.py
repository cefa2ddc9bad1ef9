"""Find the weights inside a checkpoint object and name its conv kernels.

Checkpoints in the wild wrap a state_dict in many ways: ``{"state_dict": ...}``
(Lightning), ``{"model": ...}``, ``{"net": ...}``, ``{"model_state_dict": ...}``, EMA
copies, ``module.`` prefixes from DataParallel/DDP and ``_orig_mod.`` from
torch.compile. This module reduces all of them to ``{name: tensor}`` with clean names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard

import torch

from audit.errors import AuditError
from audit.loading.kernels import ConvKernel

# Looked up in this order; the first that holds tensors wins. EMA copies come last so
# that the trained weights are the default (``--checkpoint-key ema`` picks them).
STATE_DICT_KEYS = (
    "state_dict",
    "model_state_dict",
    "model",
    "net",
    "network",
    "module",
    "params",
    "weights",
    "ema",
    "model_ema",
    "state_dict_ema",
    "ema_state_dict",
)
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Buffers that are not learned weights; left out of the parameter count.
_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def is_state_dict(obj: Any) -> TypeGuard[Mapping[str, Any]]:
    """A mapping of str to tensors (a few non-tensor values, e.g. None, are tolerated)."""
    if not isinstance(obj, Mapping) or not obj:
        return False
    tensors = sum(isinstance(v, torch.Tensor) for v in obj.values())
    return tensors > 0 and all(isinstance(k, str) for k in obj) and tensors >= 0.5 * len(obj)


def find_state_dict(checkpoint: Any, key: str | None = None) -> tuple[dict[str, torch.Tensor], str | None]:
    """The state_dict inside ``checkpoint`` and the key it was under (None: top level).

    ``key`` forces a key (dotted for nesting, e.g. ``"ema.module"``).
    """
    if key is not None:
        node = checkpoint
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                found = (
                    ", ".join(map(str, list(checkpoint)[:12]))
                    if isinstance(checkpoint, Mapping)
                    else type(checkpoint).__name__
                )
                raise AuditError(f"checkpoint has no key {key!r}; its top-level keys are: {found}.")
            node = node[part]
        if isinstance(node, torch.nn.Module):
            return dict(node.state_dict()), key
        if not is_state_dict(node):
            raise AuditError(f"checkpoint key {key!r} holds a {type(node).__name__}, not a state_dict of tensors.")
        return _tensors_only(node), key

    if is_state_dict(checkpoint):
        return _tensors_only(checkpoint), None
    if isinstance(checkpoint, Mapping):
        for candidate in STATE_DICT_KEYS:
            value = checkpoint.get(candidate)
            if isinstance(value, torch.nn.Module):
                return dict(value.state_dict()), candidate
            if is_state_dict(value):
                return _tensors_only(value), candidate
        nested = [k for k, v in checkpoint.items() if is_state_dict(v)]
        if len(nested) == 1:
            return _tensors_only(checkpoint[nested[0]]), str(nested[0])
        keys = ", ".join(map(str, list(checkpoint)[:12]))
        several = f" (several hold tensors: {', '.join(map(str, nested))})" if nested else ""
        raise AuditError(
            f"found a checkpoint dict with keys [{keys}] but no state_dict in it{several}.",
            hint="Choose the entry with {checkpoint_key}." if nested else None,
        )
    raise AuditError(
        f"found a pickled {type(checkpoint).__name__}, expected a state_dict or a checkpoint dict holding one."
    )


def _tensors_only(mapping: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in mapping.items() if isinstance(v, torch.Tensor)}


def strip_wrapper_prefixes(names: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map each name to its clean form without DataParallel/DDP/torch.compile wrappers.

    Returns ({old: new}, notes). ``module.`` and ``_orig_mod.`` are removed at the start
    and wherever a wrapped submodule put them inside a name.
    """
    renamed: dict[str, str] = {}
    seen: set[str] = set()
    for name in names:
        clean = name
        for prefix in WRAPPER_PREFIXES:
            clean = clean.replace("." + prefix, ".")
        while clean.startswith(WRAPPER_PREFIXES):
            clean = clean.split(".", 1)[1]
        renamed[name] = clean
        if name != clean:
            seen.update(p.rstrip(".") for p in WRAPPER_PREFIXES if p in name)
    notes = [f"removed wrapper prefixes: {', '.join(sorted(seen))}"] if seen else []
    return renamed, notes


def strip_common_component(names: list[str]) -> tuple[dict[str, str], str | None]:
    """Remove a first name component shared by every name (Lightning's ``model.``)."""
    heads = {name.split(".", 1)[0] for name in names}
    if len(heads) == 1 and all("." in name for name in names):
        head = heads.pop()
        return {name: name.split(".", 1)[1] for name in names}, head
    return {name: name for name in names}, None


def clean_state_dict(
    state: dict[str, torch.Tensor], lightning: bool = False
) -> tuple[dict[str, torch.Tensor], list[str]]:
    renamed, notes = strip_wrapper_prefixes(list(state))
    if lightning:
        inner, head = strip_common_component(list(renamed.values()))
        if head:
            renamed = {old: inner[new] for old, new in renamed.items()}
            notes.append(f"removed the LightningModule attribute prefix '{head}.'")
    return {renamed[k]: v for k, v in state.items()}, notes


def count_parameters(named: Mapping[str, torch.Tensor]) -> int:
    """Learned values: floating (or quantised) tensors, without BatchNorm running statistics."""
    return sum(
        t.numel()
        for name, t in named.items()
        if (t.is_floating_point() or t.is_quantized) and name.rsplit(".", 1)[-1] not in _STATISTICS
    )


def kernels_from_state_dict(state: Mapping[str, torch.Tensor]) -> tuple[list[ConvKernel], list[str]]:
    """Conv kernels of a bare state_dict, and notes on weights that were changed or left out.

    Every 3-D to 5-D floating ``*.weight`` is a kernel; a quantised one (qint8, quint8,
    per-tensor or per-channel affine) is dequantised first. Integer weights without a
    quantisation scale cannot be put on a real scale and are named, not analysed.
    A state_dict does not record groups, stride, dilation or whether a layer is
    transposed; those stay None. 3-D weights are Conv1d, 5-D Conv3d: both are listed as
    having no 2-D spectrum.
    """
    kernels, dequantised, integer = [], [], []
    for name, tensor in state.items():
        if not (name == "weight" or name.endswith(".weight")) or not 3 <= tensor.dim() <= 5:
            continue
        layer = name[: -len(".weight")] if name.endswith(".weight") else name
        if tensor.is_quantized:
            dequantised.append(f"{layer} ({str(tensor.dtype).replace('torch.', '')})")
            tensor = tensor.dequantize()
        elif not tensor.is_floating_point():
            integer.append(f"{name} ({str(tensor.dtype).replace('torch.', '')})")
            continue
        kernels.append(ConvKernel(name=layer, weight=tensor.detach()))
    notes = []
    if dequantised:
        notes.append(f"dequantised {len(dequantised)} quantised weight(s): {', '.join(dequantised[:3])}")
    if integer:
        notes.append(
            f"{len(integer)} integer conv weight(s) without a quantisation scale, not analysed: "
            f"{', '.join(integer[:3])}"
        )
    return kernels, notes


# Keys under which training scripts record where a checkpoint is in training and how
# accurate it was, in the order they are trusted.
POSITION_KEYS = ("epoch", "global_step", "step")
ACCURACY_KEYS = (
    "best_prec1",
    "best_acc1",
    "best_acc",
    "best_top1",
    "prec1",
    "acc1",
    "top1",
    "test_acc",
    "test_accuracy",
    "val_acc",
    "val_accuracy",
    "acc",
    "accuracy",
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and (value.is_floating_point() or not value.is_complex()):
        number = float(value.detach().reshape(()).item())
        return number if math.isfinite(number) else None
    return None


def checkpoint_facts(checkpoint: Any) -> dict[str, float]:
    """Scalar facts a checkpoint dict records about itself: its epoch or step and its
    accuracy (as a fraction: values above 1 are read as percentages)."""
    if not isinstance(checkpoint, Mapping):
        return {}
    facts: dict[str, float] = {}
    for key in POSITION_KEYS:
        number = _number(checkpoint.get(key))
        if number is not None and number >= 0 and number == int(number):
            facts[key] = number
    for key in ACCURACY_KEYS:
        number = _number(checkpoint.get(key))
        if number is None or number < 0 or number > 100:
            continue
        facts["accuracy"] = number / 100 if number > 1 else number
        facts["accuracy_key"] = key  # type: ignore[assignment]
        break
    return facts
