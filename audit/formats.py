"""The checkpoint formats spectral-audit reads, in one table.

Every list of suffixes, the sentence that says what a file should have been, the CLI's
help, the track/zoo folder listing and the readers :mod:`audit.loading` uses derive from
:data:`FORMATS`, so that a new format is one module plus one line here. The module, in
``audit/loading/``, has ``recognises(FileStart) -> bool`` (the file's first bytes or its
zip members) and ``read(ReadRequest) -> LoadedModel``; the line names it, without
importing it, so that this table stays light enough for ``--help``.

trust: what reading a file of the format may do. "data": tensors only; "pickle": a
torch.save pickle, read without running anything unless ``--trust-code`` asks to
unpickle whole modules; "program": TorchScript / torch.export, parsed for their kernels
and run only with ``--trust-code``; "graph": ONNX, run by onnxruntime (operators outside
the standard need ``--trust-code``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str  # what detection returns and results record
    title: str  # how a person names it
    suffixes: tuple[str, ...]  # the usual file suffixes (detection goes by bytes)
    trust: str  # "data", "pickle", "program" or "graph" (see the module docstring)
    reader: str  # its module in audit.loading: recognises(start) and read(request)


TORCH_SAVE = "torch.save"
TORCHSCRIPT = "torchscript"
TORCH_EXPORT = "torch.export"
SAFETENSORS = "safetensors"
ONNX = "onnx"

# In the order detection tries them: programs before torch.save (their zips hold a data.pkl
# too), safetensors before a legacy pickle, ONNX last (recognised by suffix or a tag byte).
FORMATS: tuple[Format, ...] = (
    Format(TORCHSCRIPT, "TorchScript", (".pt", ".pth"), "program", "torchscript_files"),
    Format(TORCH_EXPORT, "torch.export", (".pt2",), "program", "export_files"),
    Format(SAFETENSORS, "safetensors", (".safetensors",), "data", "safetensors_files"),
    # .th: what pytorch_resnet_cifar10 and its forks save (a legacy torch.save file)
    Format(TORCH_SAVE, "a PyTorch checkpoint", (".pt", ".pth", ".th", ".bin", ".ckpt"), "pickle", "torch_save_files"),
    Format(ONNX, "ONNX", (".onnx",), "graph", "onnx_files"),
)

# Every suffix a checkpoint may have, for listing a folder and naming a model by its file.
CHECKPOINT_SUFFIXES: frozenset[str] = frozenset(s for f in FORMATS for s in f.suffixes)


def described() -> str:
    """'a PyTorch checkpoint (.pt/.pth/.th/.bin/.ckpt), TorchScript, torch.export (.pt2),
    safetensors (.safetensors) or ONNX (.onnx)'."""
    # The most common first; TorchScript shares torch.save's suffixes: it is named without them.
    listed = sorted(FORMATS, key=lambda f: f.name != TORCH_SAVE)
    parts = [f"{f.title} ({'/'.join(f.suffixes)})" if f.name != TORCHSCRIPT else f.title for f in listed]
    return ", ".join(parts[:-1]) + " or " + parts[-1]


EXPECTED = f"expected {described()} file"
