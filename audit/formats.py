"""The checkpoint formats spectral-audit reads, in one table.

Every list of suffixes, the sentence that says what a file should have been, the CLI's
help and the track/zoo folder listing derive from :data:`FORMATS`, so that a new format
is one reader module plus one line here (detection by bytes lives in
:mod:`audit.loading.sniff`, which returns these names).

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


TORCH_SAVE = "torch.save"
TORCHSCRIPT = "torchscript"
TORCH_EXPORT = "torch.export"
SAFETENSORS = "safetensors"
ONNX = "onnx"

FORMATS: tuple[Format, ...] = (
    # .th: what pytorch_resnet_cifar10 and its forks save (a legacy torch.save file)
    Format(TORCH_SAVE, "a PyTorch checkpoint", (".pt", ".pth", ".th", ".bin", ".ckpt"), "pickle"),
    Format(TORCHSCRIPT, "TorchScript", (".pt", ".pth"), "program"),
    Format(TORCH_EXPORT, "torch.export", (".pt2",), "program"),
    Format(SAFETENSORS, "safetensors", (".safetensors",), "data"),
    Format(ONNX, "ONNX", (".onnx",), "graph"),
)

# Every suffix a checkpoint may have, for listing a folder and naming a model by its file.
CHECKPOINT_SUFFIXES: frozenset[str] = frozenset(s for f in FORMATS for s in f.suffixes)


def described() -> str:
    """'a PyTorch checkpoint (.pt/.pth/.th/.bin/.ckpt), TorchScript, torch.export (.pt2),
    safetensors (.safetensors) or ONNX (.onnx)'."""
    # TorchScript shares torch.save's suffixes: it is named without them.
    parts = [f"{f.title} ({'/'.join(f.suffixes)})" if f.name != TORCHSCRIPT else f.title for f in FORMATS]
    return ", ".join(parts[:-1]) + " or " + parts[-1]


EXPECTED = f"expected {described()} file"
