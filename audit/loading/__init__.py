"""The loading edge: any checkpoint file -> :class:`~audit.loading.kernels.LoadedModel`.

This is the only place that knows about file formats; everything downstream works on
the plain tensors in ``LoadedModel.kernels``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audit import formats
from audit.errors import AuditError
from audit.loading import onnx_files, sniff, torch_files
from audit.loading.kernels import LoadedModel
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


@dataclass(frozen=True)
class _Request:
    """What a format's reader gets: the file, its digest, the user's trust and key, and the
    approved archive of a zip-based file (every read goes through it)."""

    path: Path
    file_format: str
    digest: str
    trust_code: bool
    checkpoint_key: str | None
    archive: ApprovedZip | None

    def approved_archive(self) -> ApprovedZip:
        if self.archive is None:
            raise ValueError(f"a {self.file_format} file is read from its approved archive")
        return self.archive


def _read_onnx(request: _Request) -> LoadedModel:
    path, digest = request.path, request.digest
    kernels, parameters, notes, domains = onnx_files.read_onnx(path)
    if domains and not request.trust_code:
        # onnxruntime would run kernels that are not the standard's (custom operators come
        # from libraries); probing such a file is trusting it, as for a program.
        why = f"it uses operators outside the ONNX standard ({', '.join(domains)})"
        return LoadedModel(path, digest, formats.ONNX, parameters, kernels, notes=notes, needs_trust=why)
    return LoadedModel(path, digest, formats.ONNX, parameters, kernels, onnx_path=path, notes=notes)


def _from_torch(read: Callable[[_Request], torch_files.TorchContents]) -> Callable[[_Request], LoadedModel]:
    """A reader of a PyTorch format, its contents as a LoadedModel."""

    def reader(request: _Request) -> LoadedModel:
        contents = read(request)
        return LoadedModel(
            request.path,
            request.digest,
            request.file_format,
            contents.parameters,
            contents.kernels,
            module=contents.module,
            notes=contents.notes,
            state_dict=contents.state_dict,
            input_shape=contents.input_shape,
            facts=contents.facts,
            program=contents.program,
        )

    return reader


@dataclass(frozen=True)
class Reader:
    """How one format is recognised (its first bytes or its zip members) and read."""

    recognises: sniff.Recogniser
    read: Callable[[_Request], LoadedModel]


# Each format of audit.formats, in the order they are tried: a new format is a module with
# its recogniser and reader, and one line here (programs before torch.save: their zips
# hold a data.pkl too; safetensors before a legacy pickle, ONNX last, by suffix or tag).
READERS: dict[str, Reader] = {
    formats.TORCHSCRIPT: Reader(
        sniff.is_torchscript,
        _from_torch(lambda r: torch_files.read_torchscript(r.path, r.approved_archive(), r.trust_code)),
    ),
    formats.TORCH_EXPORT: Reader(
        sniff.is_torch_export,
        _from_torch(lambda r: torch_files.read_exported_program(r.path, r.approved_archive(), r.trust_code)),
    ),
    formats.SAFETENSORS: Reader(sniff.is_safetensors, _from_torch(lambda r: torch_files.read_safetensors(r.path))),
    formats.TORCH_SAVE: Reader(
        sniff.is_torch_save,
        _from_torch(
            lambda r: torch_files.read_torch_save(
                r.path, trust_code=r.trust_code, key=r.checkpoint_key, archive=r.archive
            )
        ),
    ),
    formats.ONNX: Reader(sniff.is_onnx, _read_onnx),
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
    return READERS[file_format].read(_Request(path, file_format, digest, trust_code, checkpoint_key, archive))
