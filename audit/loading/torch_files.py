"""What the readers of the PyTorch formats share: handing torch a path it can take, the
error for a program torch could not load, and the notes about weights a parse could not
place.

Safe by construction: without ``trust_code`` nothing from a file runs. torch.save files go
through ``torch.load(weights_only=True)`` (:mod:`~audit.loading.torch_save_files`);
TorchScript and .pt2 files are programs whose kernels are *parsed*, never loaded
(:mod:`~audit.loading.torchscript_files`, :mod:`~audit.loading.export_files`); every
zip-based file is first approved by :class:`~audit.loading.zip_archive.ApprovedZip`, and
torch reads the very file that was approved (its open descriptor).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from audit.errors import AuditError
from audit.loading.kernels import LoadedModel, ReadRequest
from audit.loading.state_dict import count_parameters, kernels_from_state_dict


def encodable(path: Path) -> bool:
    """Whether torch's C++ side can take the path: a name with bytes that are not UTF-8
    (kept by Python as surrogates) must be handed over as an open file instead."""
    try:
        str(path).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


@contextlib.contextmanager
def opened_for_torch(path: Path) -> Any:
    """The file as torch's loaders take it: its name, or an open file where the name is not UTF-8."""
    if encodable(path):
        yield str(path)
    else:
        with open(path, "rb") as stream:
            yield stream


def program_error(path: Path, what: str, error: Exception) -> AuditError:
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return AuditError(f"{path} looks like {what} but could not be loaded: {message}.")


def unrecognised_note(names: list[str]) -> str:
    return f"{len(names)} tensor(s) of rank 3-5 not used as a conv weight, not analysed: " + ", ".join(names[:3])


def transformed_note(names: list[str]) -> str:
    return (
        f"{len(names)} conv weight(s) transformed in code before the convolution (weight standardisation, a "
        f"scale...): {', '.join(names[:3])}; their stored weights are analysed"
    )


def from_weights(request: ReadRequest, state: dict[str, Any], notes: list[str], **more: Any) -> LoadedModel:
    """A file of weights only (a cleaned state_dict): its conv kernels, whose groups, stride
    and dilation no file of weights records."""
    kernels, found = kernels_from_state_dict(state)
    notes = notes + found + ["state_dict only: groups/stride/dilation unknown"]
    return request.loaded(kernels, count_parameters(state), notes=notes, state_dict=state, **more)
