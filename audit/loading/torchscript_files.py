"""The TorchScript format: a zip archive of code and data (constants.pkl, code/__torch__).

A TorchScript file is a program. Its kernels are parsed from its data
(:mod:`~audit.loading.torchscript_archive`), nothing of it run; only ``trust_code`` hands
it to ``torch.jit.load`` to make a runnable module for the probes.
"""

from __future__ import annotations

import warnings

import torch

from audit.loading.kernels import LoadedModel, ReadRequest
from audit.loading.sniff import FileStart
from audit.loading.state_dict import count_parameters
from audit.loading.torch_files import program_error, transformed_note, unrecognised_note
from audit.loading.torchscript_archive import read_torchscript_archive


def recognises(start: FileStart) -> bool:
    members = start.members or ()
    return any(name.endswith("/constants.pkl") or "/code/__torch__" in name for name in members)


def read(request: ReadRequest) -> LoadedModel:
    """Kernels parsed from the archive; with ``trust_code`` also the module torch builds
    from it (which runs the file's code), for the probes."""
    archive = request.approved_archive()
    contents = read_torchscript_archive(archive)
    notes = ["TorchScript program: kernels parsed from its data, nothing of it run"]
    if contents.custom_classes:
        notes.append(f"objects of custom classes not read: {', '.join(sorted(set(contents.custom_classes))[:3])}")
    if contents.unrecognised:
        notes.append(unrecognised_note(contents.unrecognised))
    if contents.transformed:
        notes.append(transformed_note(contents.transformed))
    module = None
    if request.trust_code:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = torch.jit.load(archive.torch_source(), map_location="cpu")
        except Exception as error:  # TorchScript raises RuntimeError subclasses of many kinds
            raise program_error(request.path, "a TorchScript archive", error)
        module.eval()
        notes[0] = "TorchScript program, run with trust_code"
    return request.loaded(
        contents.kernels,
        count_parameters(contents.tensors),
        module=module,
        notes=notes,
        state_dict=contents.tensors,
        program=True,
    )
