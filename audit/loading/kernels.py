"""What the loading edge hands to the rest of the tool: plain tensors and facts.

Every checkpoint format (state_dict, TorchScript, torch.export, safetensors, ONNX...)
ends up as a :class:`LoadedModel`; nothing after loading needs to know which it was.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from audit.loading.zip_archive import ApprovedZip


def int_tuple(value: Any) -> tuple[int, ...] | None:
    """A stride or dilation as a tuple of ints (an int becomes a 1-tuple); None where it is
    unknown or not integers (a parsed file may say anything)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (value,)
    try:
        items = tuple(value)
        if any(isinstance(v, bool) for v in items):
            return None
        return tuple(operator.index(v) for v in items)
    except TypeError:
        return None


@dataclass(frozen=True)
class ConvKernel:
    """The weight of one convolution layer and what is known about how it is applied.

    ``weight`` is stored as the framework stores it: (C_out, C_in/groups, *kernel) for a
    convolution, (C_in, C_out/groups, *kernel) for a transposed one. Either way every
    trailing kh x kw slice is one 2-D filter. ``groups``, ``stride``, ``dilation`` and
    ``transposed`` are None where the file does not say (a bare state_dict).
    """

    name: str
    weight: torch.Tensor
    groups: int | None = None
    stride: tuple[int, ...] | None = None
    dilation: tuple[int, ...] | None = None
    transposed: bool | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.weight.shape)

    @property
    def kernel_size(self) -> tuple[int, ...]:
        return tuple(self.weight.shape[2:])

    @property
    def num_slices(self) -> int:
        """Number of 2-D filters (kh x kw slices) in the layer."""
        return int(self.weight.shape[0] * self.weight.shape[1]) if self.weight.dim() >= 2 else 0

    @property
    def has_2d_spectrum(self) -> bool:
        """A 2-D kernel with more than one tap; 1x1, 1-D and 3-D kernels have no 2-D spectrum."""
        return len(self.kernel_size) == 2 and self.kernel_size[0] * self.kernel_size[1] > 1

    @property
    def kind(self) -> str:
        """Human description of the convolution: 'standard', 'depthwise', 'grouped (g=4)'..."""
        spatial = len(self.kernel_size)
        tags: list[str] = []
        if spatial != 2:
            tags.append(f"conv{spatial}d")
        if self.transposed:
            tags.append("transposed")
        if self.groups is None:
            tags.append("groups unknown")
        elif self.groups > 1:
            # depthwise: one input channel per group
            inputs_per_group = self.weight.shape[0] // self.groups if self.transposed else self.weight.shape[1]
            if inputs_per_group == 1:
                tags.append("depthwise")
            else:
                tags.append(f"grouped (g={self.groups})")
        if self.dilation is not None and any(d > 1 for d in self.dilation):
            tags.append("dilated " + "x".join(str(d) for d in self.dilation))
        return ", ".join(tags) if tags else "standard"


def with_known_layout(kernels: list[ConvKernel], known: list[ConvKernel]) -> tuple[list[ConvKernel], int]:
    """``kernels`` whose unknown groups/stride/dilation/transposed are taken from ``known``
    (the same layers read from a built architecture: same name, same weight shape); and
    how many were filled. A state_dict does not record them; the user's --arch does."""
    by_name = {k.name: k for k in known}
    filled, count = [], 0
    for kernel in kernels:
        match = by_name.get(kernel.name)
        if kernel.groups is None and match is not None and tuple(match.weight.shape) == tuple(kernel.weight.shape):
            kernel = dataclasses.replace(
                kernel,
                groups=match.groups,
                stride=match.stride,
                dilation=match.dilation,
                transposed=match.transposed,
            )
            count += 1
        filled.append(kernel)
    return filled, count


@dataclass
class LoadedModel:
    """A checkpoint after loading: its kernels, and a runnable form when there is one.

    ``module`` is a runnable ``torch.nn.Module`` (TorchScript, torch.export, pickled
    module) or None for weight-only formats, which keep their (cleaned) ``state_dict``
    so that an architecture given by the user can be loaded with it; ``onnx_path`` is
    set for ONNX models. ``input_shape`` is (batch, C, H, W) where the file fixes it,
    with None for a dynamic dimension.
    ``notes`` are facts worth telling the user (which dict key held the weights,
    which prefixes were removed...).
    """

    path: Path
    sha256: str
    format: str
    parameters: int
    kernels: list[ConvKernel]
    module: Any = None
    onnx_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    state_dict: dict[str, torch.Tensor] | None = None
    input_shape: tuple[int | None, ...] | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # what the checkpoint records: epoch, step, accuracy
    program: bool = False  # TorchScript / torch.export: its module exists only when its code is trusted
    needs_trust: str | None = None  # why running this file needs trust_code, when it is not runnable without

    def __post_init__(self) -> None:
        if self.program and self.module is None and self.needs_trust is None:
            what = "TorchScript" if self.format == "torchscript" else "torch.export (.pt2)"
            self.needs_trust = f"it is a {what} program: running it runs code from the file"

    @property
    def runnable(self) -> bool:
        return self.module is not None or self.onnx_path is not None


@dataclass(frozen=True)
class ReadRequest:
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

    def loaded(self, kernels: list[ConvKernel], parameters: int, **more: Any) -> LoadedModel:
        """The file read: its kernels and parameter count, and what else the format gives."""
        return LoadedModel(self.path, self.digest, self.file_format, parameters, kernels, **more)
