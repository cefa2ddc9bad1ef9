"""The loading edge: any checkpoint file -> :class:`~audit.loading.kernels.LoadedModel`.

This is the only place that knows about file formats; everything downstream works on
the plain tensors in ``LoadedModel.kernels``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from pathlib import Path
from typing import Protocol, cast

from audit import formats
from audit.errors import AuditError
from audit.loading import sniff
from audit.loading.kernels import LoadedModel, ReadRequest
from audit.loading.sniff import FileStart
from audit.loading.zip_archive import ApprovedZip

__all__ = ["load_checkpoint", "detect_format", "LoadedModel"]


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    trust_code: bool = False,
    checkpoint_key: str | None = None,
) -> LoadedModel:
    """Load any supported checkpoint and extract its convolution kernels.

    trust_code: allow what runs code from the file: unpickling arbitrary objects (whole
        nn.Module files) and loading TorchScript / torch.export programs as runnable
        modules for the probes. Off, programs are parsed for their kernels only.
    checkpoint_key: which entry of a checkpoint dict holds the weights (default: the
        first of ``state_dict``, ``model_state_dict``, ``model``, ``net``... that does).
    Raises AuditError with one explanatory sentence for anything that is not a
    readable checkpoint with at least one convolution.
    """
    path = Path(path)
    # One reader: a zip-based file is approved once, and every later step (format, size,
    # digest, tensors, torch itself) reads through that same open, approved archive.
    with contextlib.ExitStack() as stack:
        archive = sniff.open_archive(path)
        if archive is not None:
            stack.enter_context(archive)
        file_format = detect_format(path, archive)
        sniff.check_fits_in_memory(path, archive)
        digest = sniff.sha256_of(path, stream=archive.stream if archive is not None else None)
        try:
            loaded = _read(path, file_format, digest, trust_code, checkpoint_key, archive)
        except (AuditError, KeyboardInterrupt, MemoryError):
            raise
        except Exception as error:
            # The parsers below us raise whatever they like on malformed input; the user
            # gets one line, never a traceback (a fuzz test holds us to this).
            detail = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            raise AuditError(f"{path} could not be read as {file_format}: {type(error).__name__}: {detail[:300]}.")
    for kernel in loaded.kernels:
        if 0 in kernel.shape:
            raise AuditError(
                f"{path}: conv layer {kernel.name} has a weight with a zero dimension (shape {kernel.shape}); "
                "it holds no kernel, so the file is malformed."
            )
    if not loaded.kernels:
        found = "; ".join(note for note in loaded.notes if "not analysed" in note)
        raise AuditError(
            f"{path} ({file_format}) holds no convolution weights it can analyse ({loaded.parameters:,} "
            f"parameters{'; ' + found if found else ', none of them a 3-D to 5-D conv kernel'}); "
            "spectral-audit analyses the kernels of convolutional networks."
        )
    return loaded


class FormatReader(Protocol):
    """A format's module (named in audit.formats): how it is recognised, and read."""

    def recognises(self, start: FileStart) -> bool: ...

    def read(self, request: ReadRequest) -> LoadedModel: ...


# Each format's reader, in the order detection tries them (audit.formats.FORMATS's order).
READERS: dict[str, FormatReader] = {
    f.name: cast(FormatReader, importlib.import_module(f"audit.loading.{f.reader}")) for f in formats.FORMATS
}


def detect_format(path: Path, archive: ApprovedZip | None = None) -> str:
    """The format of the file at ``path`` (a name of audit.formats), or AuditError."""
    return sniff.detect_format(path, archive, {name: reader.recognises for name, reader in READERS.items()})


def _read(
    path: Path,
    file_format: str,
    digest: str,
    trust_code: bool,
    checkpoint_key: str | None,
    archive: ApprovedZip | None,
) -> LoadedModel:
    return READERS[file_format].read(ReadRequest(path, file_format, digest, trust_code, checkpoint_key, archive))
