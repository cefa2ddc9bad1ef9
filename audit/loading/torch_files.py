"""Read PyTorch files: torch.save (state_dict, checkpoint dict, pickled module),
TorchScript archives, torch.export programs (.pt2) and safetensors.

Loading is safe by default: ``torch.load(weights_only=True)`` cannot run code from the
file. A whole pickled nn.Module needs ``allow_pickle=True``, and
the refusal says which classes the file would import, found by reading the pickle's
opcodes without executing them.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import pickletools
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from audit.errors import AuditError
from audit.loading import modules, sniff
from audit.loading.kernels import ConvKernel
from audit.loading.state_dict import (
    clean_state_dict,
    count_parameters,
    find_state_dict,
    kernels_from_state_dict,
)


@dataclass
class TorchContents:
    """What a PyTorch file yielded: kernels, a runnable module if any, facts for the user."""

    kernels: list[ConvKernel]
    parameters: int
    module: Any = None
    notes: list[str] = field(default_factory=list)
    state_dict: dict[str, torch.Tensor] | None = None
    input_shape: tuple[int | None, ...] | None = None


def pickle_globals(path: Path, limit: int = 5) -> list[str]:
    """Classes and functions a torch.save pickle would import, read without executing it."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                data = archive.read(name)
        else:
            data = path.read_bytes()
        found: list[str] = []
        strings: list[str] = []
        for opcode, argument, _ in pickletools.genops(data):
            if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                strings.append(argument)
            elif opcode.name == "GLOBAL":
                found.append(str(argument).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
        unusual = [g for g in dict.fromkeys(found) if not g.startswith(("torch.", "collections.", "builtins."))]
        return unusual[:limit]
    except Exception:  # best effort: only used to word an error message
        return []


def _torch_load(path: Path, allow_pickle: bool) -> Any:
    mmap = zipfile.is_zipfile(path)  # zip-format files can be memory-mapped, legacy ones not
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=not allow_pickle, mmap=mmap)
    except pickle.UnpicklingError as error:
        classes = pickle_globals(path) if not allow_pickle else []
        if classes:
            raise AuditError(
                f"{path} holds pickled Python objects ({', '.join(classes)}), not only tensors; "
                "loading them runs code from the file.",
                hint="If you trust the file, re-run with {allow_pickle}, or save model.state_dict() instead.",
                code="unsafe-file",
            )
        detail = str(error).strip().splitlines()[-1] if str(error).strip() else "unpickling failed"
        raise AuditError(f"{path} is not a readable PyTorch file: {detail}.")
    except (ImportError, AttributeError) as error:
        # The pickle names a class that this Python cannot find.
        missing = getattr(error, "name", None) or str(error)
        raise AuditError(
            f"{path} is a pickled model whose code ({missing}) is not importable here; install "
            "the package that defines the model, or save its state_dict() and audit that."
        )
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise AuditError(f"{path} could not be read as a PyTorch file: {message}.")


def _is_lightning(checkpoint: Any) -> bool:
    return isinstance(checkpoint, dict) and any(
        key in checkpoint for key in ("pytorch-lightning_version", "lightning_version")
    )


def _find_module(checkpoint: Any) -> tuple[torch.nn.Module | None, str | None]:
    if isinstance(checkpoint, torch.nn.Module):
        return checkpoint, None
    if isinstance(checkpoint, dict):
        for key, value in checkpoint.items():
            if isinstance(value, torch.nn.Module):
                return value, str(key)
    return None, None


def read_torch_save(path: Path, allow_pickle: bool = False, key: str | None = None) -> TorchContents:
    """A torch.save file: a state_dict, a checkpoint dict holding one, or a pickled module."""
    checkpoint = _torch_load(path, allow_pickle)
    module, module_key = _find_module(checkpoint) if key is None else (None, None)
    if module is not None:
        notes = ["whole pickled nn.Module" + (f" under key '{module_key}'" if module_key else "")]
        module.eval()
        return TorchContents(
            kernels=modules.kernels_from_module(module),
            parameters=count_parameters(dict(module.state_dict())),
            module=module,
            notes=notes,
        )
    state, found_key = find_state_dict(checkpoint, key)
    state, notes = clean_state_dict(state, lightning=_is_lightning(checkpoint))
    if _is_lightning(checkpoint):
        notes.insert(0, "Lightning checkpoint")
    if found_key is not None:
        notes.insert(0, f"weights from checkpoint key '{found_key}'")
    return TorchContents(
        kernels=kernels_from_state_dict(state),
        parameters=count_parameters(state),
        notes=notes + ["state_dict only: groups/stride/dilation unknown"],
        state_dict=state,
    )


def read_torchscript(path: Path) -> TorchContents:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scripted = torch.jit.load(str(path), map_location="cpu")
    except Exception as error:  # TorchScript raises RuntimeError subclasses of many kinds
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise AuditError(f"{path} looks like a TorchScript archive but could not be loaded: {message}.")
    scripted.eval()
    return TorchContents(
        kernels=modules.kernels_from_module(scripted),
        parameters=count_parameters(dict(scripted.state_dict())),
        module=scripted,
    )


@contextlib.contextmanager
def _quiet_torch_logs():
    """torch.export.load logs a full traceback at WARNING before it re-raises; the user
    gets our one-line error instead."""
    logger = logging.getLogger("torch")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def read_exported_program(path: Path) -> TorchContents:
    try:
        with warnings.catch_warnings(), _quiet_torch_logs():
            warnings.simplefilter("ignore")
            program = torch.export.load(str(path))
    except Exception as error:  # deserialisation errors have no common base class
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise AuditError(f"{path} looks like a torch.export program (.pt2) but could not be loaded: {message}.")
    input_shape = _exported_input_shape(program)
    notes = ["torch.export program"]
    if input_shape and isinstance(input_shape[0], int):
        notes.append(f"exported with a fixed batch size of {input_shape[0]}")
    return TorchContents(
        kernels=modules.kernels_from_exported_program(program),
        parameters=count_parameters(dict(program.state_dict)),
        module=program.module(),
        notes=notes,
        input_shape=input_shape,
    )


def read_safetensors(path: Path) -> TorchContents:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise AuditError(f"{path} has a safetensors header but could not be read: {error}.")
    state, notes = clean_state_dict(state)
    return TorchContents(
        kernels=kernels_from_state_dict(state),
        parameters=count_parameters(state),
        notes=notes + ["state_dict only: groups/stride/dilation unknown"],
        state_dict=state,
    )


def _exported_input_shape(program) -> tuple[int | None, ...] | None:
    """Shape of the first user input of an exported program, None where it is symbolic."""
    names = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in names:
            value = node.meta.get("val")
            if value is None or not hasattr(value, "shape"):
                return None
            return tuple(d if isinstance(d, int) else None for d in value.shape)
    return None


def read(path: Path, file_format: str, allow_pickle: bool, key: str | None) -> TorchContents:
    if file_format == sniff.TORCHSCRIPT:
        return read_torchscript(path)
    if file_format == sniff.TORCH_EXPORT:
        return read_exported_program(path)
    if file_format == sniff.SAFETENSORS:
        return read_safetensors(path)
    return read_torch_save(path, allow_pickle=allow_pickle, key=key)
