"""Read PyTorch files: torch.save (state_dict, checkpoint dict, pickled module),
TorchScript archives, torch.export programs (.pt2) and safetensors.

Safe by construction: without ``trust_code`` nothing from the file runs.

- torch.save files go through ``torch.load(weights_only=True)``, which builds tensors and
  plain containers only;
- TorchScript and .pt2 files are programs: their kernels are *parsed*
  (:mod:`audit.loading.torchscript_archive`, :mod:`audit.loading.export_archive`), never
  loaded, and only ``trust_code=True`` hands them to ``torch.jit.load`` /
  ``torch.export.load`` to make a runnable module for the probes;
- every zip-based file is first approved by :class:`~audit.loading.zip_archive.ApprovedZip`,
  and torch reads the very file that was approved (its open descriptor).

A whole pickled nn.Module also needs ``trust_code=True``; the refusal names what the file
would import, read from the pickle's opcodes without executing them.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from audit.errors import AuditError
from audit.loading import modules
from audit.loading.archives import pickle_globals, zip_pickle_globals
from audit.loading.export_archive import read_export_archive
from audit.loading.kernels import ConvKernel
from audit.loading.state_dict import (
    checkpoint_facts,
    clean_state_dict,
    count_parameters,
    find_state_dict,
    kernels_from_state_dict,
)
from audit.loading.torchscript_archive import read_torchscript_archive
from audit.loading.zip_archive import ApprovedZip


@dataclass
class TorchContents:
    """What a PyTorch file yielded: kernels, a runnable module if any, facts for the user."""

    kernels: list[ConvKernel]
    parameters: int
    module: Any = None
    notes: list[str] = field(default_factory=list)
    state_dict: dict[str, torch.Tensor] | None = None
    input_shape: tuple[int | None, ...] | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # epoch, step, recorded accuracy (checkpoint_facts)
    program: bool = False  # TorchScript / torch.export: running it runs the file's code


def _refuse_pickles(path: Path, classes: list[str], what: str = "pickled Python objects") -> AuditError:
    named = f" ({', '.join(classes)})" if classes else ""
    return AuditError(
        f"{path} holds {what}{named}, not only tensors; loading them runs code from the file.",
        hint="If you trust the file, re-run with {trust_code}, or save model.state_dict() instead.",
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
def _source(path: Path) -> Any:
    if _encodable(path):
        yield str(path)
    else:
        with open(path, "rb") as stream:
            yield stream


def _torch_load(path: Path, trust_code: bool, archive: ApprovedZip | None) -> Any:
    # A zip-format file can be memory-mapped (layer by layer, no copy), but only if its
    # members are stored: torch would map a deflated member's compressed bytes as if they
    # were the tensor (valid files re-zipped with ZIP_DEFLATED exist). Legacy files cannot.
    try:
        with warnings.catch_warnings(), contextlib.ExitStack() as stack:
            warnings.simplefilter("ignore")
            if archive is not None:
                source = archive.torch_source()  # the approved bytes, not the path again
                mmap = isinstance(source, str) and not any(entry.compressed for entry in archive.entries)
            else:
                source, mmap = stack.enter_context(_source(path)), False
            return torch.load(source, map_location="cpu", weights_only=not trust_code, mmap=mmap)
    except pickle.UnpicklingError as error:
        classes = _classes_in(path) if not trust_code else []
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
    except (EOFError, IndexError):  # the pickle stops in the middle of an opcode or a container
        raise AuditError(
            f"{path} ends before its pickled data does: the file is truncated or damaged; re-save or re-download it."
        )
    except (RuntimeError, OSError, ValueError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "unexpected eof" in message.lower() or "might be corrupted" in message.lower():
            raise AuditError(
                f"{path} ends before its tensor data does: the file is truncated; re-save or re-download it."
            )
        raise AuditError(f"{path} could not be read as a PyTorch file: {message.rstrip('.')}.")


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


def read_torch_save(
    path: Path, trust_code: bool = False, key: str | None = None, archive: ApprovedZip | None = None
) -> TorchContents:
    """A torch.save file: a state_dict, a checkpoint dict holding one, or a pickled module."""
    checkpoint = _torch_load(path, trust_code, archive)
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


def _program_error(path: Path, what: str, error: Exception) -> AuditError:
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return AuditError(f"{path} looks like {what} but could not be loaded: {message}.")


def unrecognised_note(names: list[str]) -> str:
    return f"{len(names)} tensor(s) of rank 3-5 not used as a conv weight, not analysed: " + ", ".join(names[:3])


def transformed_note(names: list[str]) -> str:
    return (
        f"{len(names)} conv weight(s) transformed in code before the convolution (weight standardisation, a "
        f"scale...): {', '.join(names[:3])}; their stored weights are analysed"
    )


def read_torchscript(path: Path, archive: ApprovedZip, trust_code: bool = False) -> TorchContents:
    """Kernels parsed from the archive; with ``trust_code`` also the module torch builds
    from it (which runs the file's code), for the probes."""
    contents = read_torchscript_archive(archive)
    notes = ["TorchScript program: kernels parsed from its data, nothing of it run"]
    if contents.custom_classes:
        notes.append(f"objects of custom classes not read: {', '.join(sorted(set(contents.custom_classes))[:3])}")
    if contents.unrecognised:
        notes.append(unrecognised_note(contents.unrecognised))
    if contents.transformed:
        notes.append(transformed_note(contents.transformed))
    module = None
    if trust_code:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = torch.jit.load(archive.torch_source(), map_location="cpu")
        except Exception as error:  # TorchScript raises RuntimeError subclasses of many kinds
            raise _program_error(path, "a TorchScript archive", error)
        module.eval()
        notes[0] = "TorchScript program, run with trust_code"
    return TorchContents(
        kernels=contents.kernels,
        parameters=count_parameters(contents.tensors),
        module=module,
        notes=notes,
        state_dict=contents.tensors,
        program=True,
    )


@contextlib.contextmanager
def _quiet_torch_logs() -> Iterator[None]:
    """torch.export.load logs a full traceback at WARNING before it re-raises; the user
    gets our one-line error instead."""
    logger = logging.getLogger("torch")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _inductor_cache_in_scratch() -> None:
    """torch.export's module() sets up inductor, which makes a torchinductor_USER folder in
    $TMPDIR: point its cache at the run's scratch folder instead (unless the user chose one),
    for the rest of the run, since the module may use it again when it first runs."""
    import os

    from audit.io import scratch_folder

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(scratch_folder() / "torchinductor"))


def read_exported_program(path: Path, archive: ApprovedZip, trust_code: bool = False) -> TorchContents:
    """Kernels parsed from the .pt2 archive; with ``trust_code`` also ``program.module()``."""
    contents = read_export_archive(archive)
    notes = ["torch.export program: kernels parsed from its data, nothing of it run"]
    if contents.input_shape and isinstance(contents.input_shape[0], int):
        notes.append(f"exported with a fixed batch size of {contents.input_shape[0]}")
    if contents.transformed:
        notes.append(transformed_note(contents.transformed))
    if contents.unrecognised:
        notes.append(unrecognised_note(contents.unrecognised))
    module = None
    if trust_code:
        try:
            _inductor_cache_in_scratch()
            with warnings.catch_warnings(), _quiet_torch_logs():
                warnings.simplefilter("ignore")
                module = torch.export.load(archive.torch_source()).module()
        except Exception as error:  # deserialisation errors have no common base class
            raise _program_error(path, "a torch.export program (.pt2)", error)
        notes[0] = "torch.export program, run with trust_code"
    return TorchContents(
        kernels=contents.kernels,
        parameters=count_parameters(contents.tensors),
        module=module,
        notes=notes,
        state_dict=contents.tensors,
        input_shape=contents.input_shape,
        program=True,
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
