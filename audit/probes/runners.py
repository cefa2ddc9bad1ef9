"""Runners: one interface that predicts logits for a normalised batch, for torch modules
and ONNX models alike.

    runner.logits(batch) -> (batch, classes) tensor on runner.device

Models in the wild return a tensor, a tuple, a list, a dict or an object with
``.logits``; :func:`select_logits` takes the one (batch, classes) tensor when that is
unambiguous, the one the user names otherwise, and records which.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from audit.errors import AuditError
from audit.loading.kernels import LoadedModel

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def named_outputs(output: Any) -> list[tuple[str, object]]:
    """Flatten a model output into (name, value) pairs: '[0]', 'logits', 'output'..."""
    if isinstance(output, torch.Tensor):
        return [("output", output)]
    if isinstance(output, dict):
        return [(str(k), v) for k, v in output.items()]
    if isinstance(output, (tuple, list)):
        return [(f"[{i}]", v) for i, v in enumerate(output)]
    if hasattr(output, "logits"):
        return [("logits", output.logits)]
    return [("output", output)]


def select_logits(
    outputs: Sequence[tuple[str, object]], batch: int, choice: str | None, num_classes: int | None = None
) -> tuple[str, torch.Tensor]:
    """The (batch, classes) logits among a model's outputs, and the name it goes by."""
    if choice is not None:
        for position, (name, value) in enumerate(outputs):
            if choice in (name, str(position), f"[{position}]"):
                if not (isinstance(value, torch.Tensor) and value.dim() == 2 and value.shape[0] == batch):
                    shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                    raise AuditError(f"model output {choice} is {shape}, not (batch={batch}, classes).")
                return name, value
        raise AuditError(f"{choice!r} matches none of the model's outputs: {', '.join(n for n, _ in outputs)}.")
    candidates = [
        (name, value)
        for name, value in outputs
        if isinstance(value, torch.Tensor) and value.dim() == 2 and value.shape[0] == batch and value.shape[1] > 1
    ]
    if len(candidates) > 1 and num_classes is not None:
        matching = [c for c in candidates if c[1].shape[1] == num_classes]
        candidates = matching or candidates
    if len(candidates) > 1:
        named = [c for c in candidates if c[0].lower() in ("logits", "output", "out", "pred", "predictions")]
        candidates = named if len(named) == 1 else candidates
    if len(candidates) == 1:
        return candidates[0]
    described = ", ".join(
        f"{name} {tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__}"
        for name, value in outputs
    )
    if not candidates:
        raise AuditError(f"the model's output is not (batch={batch}, classes) logits: it returned {described}.")
    raise AuditError(
        f"the model returns several (batch, classes) tensors ({described}).",
        hint="Choose the logits with {logits} NAME_OR_INDEX.",
    )


@dataclass
class TorchRunner:
    """A torch.nn.Module (eager, TorchScript or torch.export) on a device."""

    module: torch.nn.Module
    device: torch.device
    precision: str = "fp32"
    logits_output: str | None = None  # which model output holds the logits, when several could
    num_classes: int | None = None
    fixed_batch: int | None = None
    output_used: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.precision != "fp32" and self.device.type != "cuda":
            raise AuditError(f"precision {self.precision} needs a CUDA device; on the CPU use fp32.")
        self.module = self.module.to(self.device)
        self.channels_last = self.device.type == "cuda"
        if self.channels_last:
            with contextlib.suppress(Exception):  # TorchScript/export modules may refuse
                self.module = self.module.to(memory_format=torch.channels_last)
        with contextlib.suppress(Exception):
            self.module.eval()

    @property
    def description(self) -> str:
        return f"torch on {self.device} ({self.precision})"

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        autocast = (
            torch.autocast("cuda", dtype=PRECISIONS[self.precision])
            if self.precision != "fp32"
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            output = self.module(batch)
        name, logits = select_logits(named_outputs(output), batch.shape[0], self.logits_output, self.num_classes)
        self.output_used = name
        return logits.float()


@dataclass
class OnnxRunner:
    """An ONNX model on onnxruntime: the CUDA provider when a GPU is used, else the CPU."""

    path: str
    device: torch.device
    logits_output: str | None = None  # which model output holds the logits, when several could
    num_classes: int | None = None
    output_used: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        from audit.io import home_and_tmp_in_scratch

        with home_and_tmp_in_scratch():  # its session file and telemetry folder land in the scratch folder
            import onnxruntime as ort

            if hasattr(ort, "disable_telemetry_events"):
                ort.disable_telemetry_events()

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no provider chatter on the terminal
        providers = ["CPUExecutionProvider"]
        if self.device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise AuditError("onnxruntime has no CUDA provider here.", hint="Run on the CPU with {device} cpu.")
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(self.path, options, providers=providers)
        except Exception as error:
            raise AuditError(f"onnxruntime cannot run {self.path}: {str(error).strip().splitlines()[0]}")
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.input_shape = tuple(d if isinstance(d, int) else None for d in first.shape)
        self.fixed_batch = self.input_shape[0] if self.input_shape else None
        self.output_names = [o.name for o in self.session.get_outputs()]

        # CUDA: after a first run through the host shows the outputs' shapes, batches are
        # bound in place (IO binding): the input is read from the torch tensor on the GPU and
        # the outputs are written into torch tensors there, no host copy per batch.
        self.output_shapes: dict[str, tuple[int, ...]] | None = None

    @property
    def description(self) -> str:
        bound = " (IO binding)" if self.output_shapes else ""
        return f"onnxruntime {self.session.get_providers()[0]}{bound}"

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        if self.output_shapes:
            outputs = self._bound_run(batch)
        else:
            outputs = self._host_run(batch)
        name, logits = select_logits(outputs, batch.shape[0], self.logits_output, self.num_classes)
        self.output_used = name
        return logits.float().to(self.device)

    def _host_run(self, batch: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        array = batch.detach().float().cpu().numpy()
        try:
            values = self.session.run(None, {self.input_name: array})
        except Exception as error:
            raise AuditError(
                f"onnxruntime failed on a batch of shape {array.shape}: {str(error).strip().splitlines()[0]}"
            )
        if self.device.type == "cuda" and self.session.get_providers()[0] == "CUDAExecutionProvider":
            arrays = [np.asarray(v) for v in values]
            if all(a.dtype == np.float32 and a.ndim >= 1 and a.shape[0] == array.shape[0] for a in arrays):
                self.output_shapes = {n: tuple(a.shape[1:]) for n, a in zip(self.output_names, arrays)}
        return [(name, torch.from_numpy(np.asarray(v))) for name, v in zip(self.output_names, values)]

    def _bound_run(self, batch: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        images = batch.detach().float().contiguous()
        kind, device_id = images.device.type, images.device.index or 0
        binding = self.session.io_binding()
        binding.bind_input(self.input_name, kind, device_id, np.float32, tuple(images.shape), images.data_ptr())
        outputs = {}
        for name, trailing in (self.output_shapes or {}).items():
            outputs[name] = torch.empty((images.shape[0], *trailing), device=images.device, dtype=torch.float32)
            binding.bind_output(name, kind, device_id, np.float32, tuple(outputs[name].shape), outputs[name].data_ptr())
        if kind == "cuda":
            torch.cuda.synchronize(images.device)  # torch's writes to the input are finished before ORT reads it
        try:
            self.session.run_with_iobinding(binding)
        except Exception as error:
            raise AuditError(
                f"onnxruntime failed on a batch of shape {tuple(images.shape)}: {str(error).strip().splitlines()[0]}"
            )
        binding.synchronize_outputs()
        return [(name, outputs[name]) for name in self.output_names]


def run_in_fixed_batches(runner: Runner, batch: torch.Tensor) -> torch.Tensor:
    """Logits for any batch size on a model exported with a fixed batch size: split into
    chunks of that size and pad the last one (the padding's predictions are dropped)."""
    size = getattr(runner, "fixed_batch", None)
    if not size or batch.shape[0] == size:
        return runner.logits(batch)
    parts = []
    for start in range(0, batch.shape[0], size):
        chunk = batch[start : start + size]
        real = chunk.shape[0]
        if real < size:
            chunk = torch.cat([chunk, chunk[-1:].expand(size - real, *chunk.shape[1:])])
        parts.append(runner.logits(chunk)[:real])
    return torch.cat(parts)


Runner = TorchRunner | OnnxRunner  # what the suite and the heat map run images through


def make_runner(
    loaded: LoadedModel,
    device: torch.device,
    *,
    precision: str = "fp32",
    logits: str | None = None,
    arch: str | None = None,
    arch_args: dict[str, Any] | None = None,
    num_classes: int | None = None,
) -> Runner:
    """A runner for a :class:`~audit.loading.kernels.LoadedModel`: its own module, its ONNX file, or
    (for weight-only files) the user's architecture loaded with its state_dict."""
    from audit.probes.architectures import build_architecture, load_weights

    if loaded.onnx_path is not None:
        if precision != "fp32":
            raise AuditError("reduced precision applies to torch models; ONNX models run as exported.")
        return OnnxRunner(str(loaded.onnx_path), device, logits_output=logits, num_classes=num_classes)
    if loaded.module is not None:
        module = loaded.module
    elif arch is not None and loaded.state_dict is not None:
        module = load_weights(build_architecture(arch, arch_args, num_classes), loaded.state_dict, arch)
    elif loaded.needs_trust:
        raise AuditError(
            f"{loaded.path} is not probed: {loaded.needs_trust}, which is off by default.",
            hint="If you trust the file, re-run with {trust_code}. Safe ways to probe: its weights with an "
            "architecture you name ({arch}), a state_dict or .safetensors file with {arch}, or an ONNX export.",
            code="unsafe-file",
        )
    else:
        raise AuditError(
            f"{loaded.path} holds only weights ({loaded.format}); probes need a runnable model.",
            hint="Name its architecture with {arch} (torchvision:resnet18, my_pkg.models:Net or models/net.py:Net, "
            "with {arch_args} / {num_classes}), or audit a TorchScript, .pt2 or ONNX export.",
        )
    fixed = loaded.input_shape[0] if loaded.input_shape and isinstance(loaded.input_shape[0], int) else None
    return TorchRunner(
        module, device, precision=precision, logits_output=logits, num_classes=num_classes, fixed_batch=fixed
    )
