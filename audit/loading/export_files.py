"""The torch.export format (.pt2): a zip archive of a serialised program and its weights.

A .pt2 file is a program. Its kernels are parsed from its JSON and raw tensor bytes
(:mod:`~audit.loading.export_archive`), nothing of it run; only ``trust_code`` hands it to
``torch.export.load`` to make a runnable module for the probes.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

import torch

from audit.loading.export_archive import read_export_archive
from audit.loading.kernels import LoadedModel, ReadRequest
from audit.loading.sniff import FileStart
from audit.loading.state_dict import count_parameters
from audit.loading.torch_files import program_error, transformed_note, unrecognised_note


def recognises(start: FileStart) -> bool:
    members = start.members or ()
    return any(name.endswith("/archive_format") or name.endswith("/models/model.json") for name in members)


def read(request: ReadRequest) -> LoadedModel:
    """Kernels parsed from the .pt2 archive; with ``trust_code`` also ``program.module()``."""
    archive = request.approved_archive()
    contents = read_export_archive(archive)
    notes = ["torch.export program: kernels parsed from its data, nothing of it run"]
    if contents.input_shape and isinstance(contents.input_shape[0], int):
        notes.append(f"exported with a fixed batch size of {contents.input_shape[0]}")
    if contents.transformed:
        notes.append(transformed_note(contents.transformed))
    if contents.unrecognised:
        notes.append(unrecognised_note(contents.unrecognised))
    module = None
    if request.trust_code:
        try:
            _inductor_cache_in_scratch()
            with warnings.catch_warnings(), _quiet_torch_logs():
                warnings.simplefilter("ignore")
                module = torch.export.load(archive.torch_source()).module()
        except Exception as error:  # deserialisation errors have no common base class
            raise program_error(request.path, "a torch.export program (.pt2)", error)
        notes[0] = "torch.export program, run with trust_code"
    return request.loaded(
        contents.kernels,
        count_parameters(contents.tensors),
        module=module,
        notes=notes,
        state_dict=contents.tensors,
        input_shape=contents.input_shape,
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
