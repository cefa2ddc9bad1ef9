"""Read PyTorch files: torch.save (state_dict, checkpoint dict, pickled module),
TorchScript archives, torch.export programs (.pt2) and safetensors.

Loading is safe by default: ``torch.load(weights_only=True)`` cannot run code from the
file, and a ``torch.export`` archive is loaded only once every member that
``torch.export.load`` would unpickle has passed the same weights-only check
(:func:`audit.loading.archives.unsafe_export_members`). A whole pickled nn.Module, or a
.pt2 that cannot be proven safe, needs ``allow_pickle=True``; the refusal names what the
file would import, read from the pickle's opcodes without executing them.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from audit.errors import AuditError
from audit.loading import modules, sniff
from audit.loading.archives import pickle_globals, unsafe_export_members, zip_entries, zip_pickle_globals
from audit.loading.kernels import ConvKernel
from audit.loading.state_dict import (
    checkpoint_facts,
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
    facts: dict = field(default_factory=dict)  # epoch, step, recorded accuracy (checkpoint_facts)


def _refuse_pickles(path: Path, classes: list[str], what: str = "pickled Python objects") -> AuditError:
    named = f" ({', '.join(classes)})" if classes else ""
    return AuditError(
        f"{path} holds {what}{named}, not only tensors; loading them runs code from the file.",
        hint="If you trust the file, re-run with {allow_pickle}, or save model.state_dict() instead.",
        code="unsafe-file",
    )


def _classes_in(path: Path) -> list[str]:
    with open(path, "rb") as stream:
        is_zip = stream.read(4) == b"PK\x03\x04"
    return zip_pickle_globals(path) if is_zip else pickle_globals(path.read_bytes())


def _encodable(path: Path) -> bool:
    """Whether torch's C++ side can take the path: a name with bytes that are not UTF-8
    (kept by Python as surrogates) must be handed over as an open file instead."""
    try:
        str(path).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


@contextlib.contextmanager
def _source(path: Path):
    if _encodable(path):
        yield str(path)
    else:
        with open(path, "rb") as stream:
            yield stream


def _torch_load(path: Path, allow_pickle: bool) -> Any:
    with open(path, "rb") as stream:
        is_zip = stream.read(4) == b"PK\x03\x04"
    # A zip-format file can be memory-mapped (layer by layer, no copy), but only if its
    # members are stored: torch would map a deflated member's compressed bytes as if they
    # were the tensor (valid files re-zipped with ZIP_DEFLATED exist). Legacy files cannot.
    mmap = is_zip and not any(entry.compressed for entry in zip_entries(path)) and _encodable(path)
    try:
        with warnings.catch_warnings(), _source(path) as source:
            warnings.simplefilter("ignore")
            return torch.load(source, map_location="cpu", weights_only=not allow_pickle, mmap=mmap)
    except pickle.UnpicklingError as error:
        classes = _classes_in(path) if not allow_pickle else []
        if classes:
            raise _refuse_pickles(path, classes)
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
            facts=checkpoint_facts(checkpoint),
        )
    state, found_key = find_state_dict(checkpoint, key)
    state, notes = clean_state_dict(state, lightning=_is_lightning(checkpoint))
    if _is_lightning(checkpoint):
        notes.insert(0, "Lightning checkpoint")
    if found_key is not None:
        notes.insert(0, f"weights from checkpoint key '{found_key}'")
    kernels, found = kernels_from_state_dict(state)
    return TorchContents(
        kernels=kernels,
        parameters=count_parameters(state),
        notes=notes + found + ["state_dict only: groups/stride/dilation unknown"],
        state_dict=state,
        facts=checkpoint_facts(checkpoint),
    )


def read_torchscript(path: Path) -> TorchContents:
    try:
        with warnings.catch_warnings(), _source(path) as source:
            warnings.simplefilter("ignore")
            scripted = torch.jit.load(source, map_location="cpu")
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


def read_exported_program(path: Path, allow_pickle: bool = False) -> TorchContents:
    if not allow_pickle:
        unsafe = unsafe_export_members(path)
        if unsafe:
            described = "; ".join(f"{member}: {', '.join(classes)}" for member, classes in unsafe[:3])
            raise _refuse_pickles(path, [], f"torch.export members it cannot prove safe ({described})")
    try:
        with warnings.catch_warnings(), _quiet_torch_logs():
            warnings.simplefilter("ignore")
            with _source(path) as source:
                program = torch.export.load(source)
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
        if _encodable(path):
            state = load_file(str(path), device="cpu")
        else:
            from safetensors.torch import load

            state = load(path.read_bytes())
    except (SafetensorError, OSError, ValueError) as error:
        raise AuditError(f"{path} has a safetensors header but could not be read: {error}.")
    state, notes = clean_state_dict(state)
    kernels, found = kernels_from_state_dict(state)
    return TorchContents(
        kernels=kernels,
        parameters=count_parameters(state),
        notes=notes + found + ["state_dict only: groups/stride/dilation unknown"],
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
        return read_exported_program(path, allow_pickle)
    if file_format == sniff.SAFETENSORS:
        return read_safetensors(path)
    return read_torch_save(path, allow_pickle=allow_pickle, key=key)
