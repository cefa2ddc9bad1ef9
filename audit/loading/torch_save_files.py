"""The torch.save format: a state_dict, a checkpoint dict holding one (Lightning's too), or
a pickled module; saved since PyTorch 1.6 as a zip archive with a data.pkl, before as a
bare pickle.

Read through ``torch.load(weights_only=True)``, which builds tensors and plain containers
only. A whole pickled nn.Module needs ``trust_code=True``; the refusal names what the file
would import, read from the pickle's opcodes without executing them.
"""

from __future__ import annotations

import contextlib
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from audit.errors import AuditError
from audit.loading import modules
from audit.loading.archives import pickle_globals, zip_pickle_globals
from audit.loading.kernels import LoadedModel, ReadRequest
from audit.loading.sniff import FileStart
from audit.loading.state_dict import (
    checkpoint_facts,
    clean_state_dict,
    count_parameters,
    find_state_dict,
)
from audit.loading.torch_files import from_weights, opened_for_torch
from audit.loading.zip_archive import ApprovedZip


def recognises(start: FileStart) -> bool:
    """A zip archive with a data.pkl (torch.save since 1.6), or a bare pickle (before)."""
    if start.members is not None:
        return any(name.endswith("data.pkl") for name in start.members)
    return start.head[:1] == b"\x80"  # pickle protocol marker


def read(request: ReadRequest) -> LoadedModel:
    """A torch.save file: a state_dict, a checkpoint dict holding one, or a pickled module."""
    path, key = request.path, request.checkpoint_key
    checkpoint = _torch_load(path, request.trust_code, request.archive)
    module, module_key = _find_module(checkpoint) if key is None else (None, None)
    if module is not None:
        notes = ["whole pickled nn.Module" + (f" under key '{module_key}'" if module_key else "")]
        module.eval()
        return request.loaded(
            modules.kernels_from_module(module),
            count_parameters(dict(module.state_dict())),
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
    return from_weights(request, state, notes, facts=checkpoint_facts(checkpoint))


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
                source, mmap = stack.enter_context(opened_for_torch(path)), False
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
