"""Shared fixtures: tiny real models and every checkpoint form built from them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn as nn


class ConvZoo(nn.Module):
    """One of every convolution kind the tool must recognise, runnable on 3x16x16."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.grouped = nn.Conv2d(8, 8, 5, padding=2, groups=2)
        self.dilated = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.pointwise = nn.Conv2d(8, 8, 1)
        self.up = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
        self.head = nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = torch.relu(self.depthwise(x))
        x = torch.relu(self.grouped(x))
        x = torch.relu(self.dilated(x))
        x = torch.relu(self.pointwise(x))
        x = self.up(x)
        return self.head(x.mean(dim=(2, 3)))


def make_zoo(seed: int = 0) -> ConvZoo:
    torch.manual_seed(seed)
    return ConvZoo().eval()


def make_resnet18(seed: int = 0) -> nn.Module:
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.resnet18(num_classes=10)
    # Give BatchNorm non-trivial statistics so that folding BN would change the kernels.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 2.0)
    return model.eval()


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path, external_data: bool = False) -> Path:
    """ONNX export without graph optimisation, so BatchNorm is not folded into the convs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (example,), dynamo=True, optimize=False, verbose=False)
    program.save(str(path), external_data=external_data)
    return path


def save_all_forms(model: nn.Module, example: torch.Tensor, folder: Path) -> dict[str, Path]:
    """The same weights as every checkpoint form spectral-audit reads."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    forms: dict[str, Path] = {}

    def put(name: str, obj) -> None:
        forms[name] = folder / name
        torch.save(obj, forms[name])

    put("state_dict.pt", state)
    put("state_dict.pth", state)
    put("pytorch_model.bin", state)
    put("model_key.pth", {"model": state, "epoch": 3, "optimizer": {"lr": 0.1}})
    put("net_key.pt", {"net": state, "acc": 0.9})
    put("model_state_dict.pt", {"model_state_dict": state, "epoch": 7})
    put("ddp.pt", {f"module.{k}": v for k, v in state.items()})
    put("compiled.pt", {f"_orig_mod.{k}": v for k, v in state.items()})
    put(
        "lightning.ckpt",
        {
            "epoch": 4,
            "global_step": 100,
            "pytorch-lightning_version": "2.4.0",
            "state_dict": {f"model.{k}": v for k, v in state.items()},
            "hyper_parameters": {"lr": 0.1},
            "optimizer_states": [],
        },
    )
    torch.save(state, folder / "legacy.pt", _use_new_zipfile_serialization=False)
    forms["legacy.pt"] = folder / "legacy.pt"
    put("whole_module.pt", model)
    forms["safetensors.safetensors"] = folder / "model.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, forms["safetensors.safetensors"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forms["torchscript.pt"] = folder / "torchscript.pt"
        torch.jit.save(torch.jit.trace(model, example), forms["torchscript.pt"])
        forms["exported.pt2"] = folder / "exported.pt2"
        # A dynamic batch dimension, as a user exporting for serving would do.
        batch = torch.export.Dim("batch", min=1, max=4096)
        program = torch.export.export(model, (example.expand(2, *example.shape[1:]),), dynamic_shapes=({0: batch},))
        torch.export.save(program, forms["exported.pt2"])
    forms["model.onnx"] = export_onnx(model, example, folder / "model.onnx")
    external = folder / "external"
    external.mkdir()
    forms["external.onnx"] = export_onnx(model, example, external / "model.onnx", external_data=True)
    return forms


@pytest.fixture(scope="session")
def resnet18_forms(tmp_path_factory) -> dict[str, Path]:
    model = make_resnet18()
    return save_all_forms(model, torch.randn(1, 3, 32, 32), tmp_path_factory.mktemp("resnet18"))


@pytest.fixture(scope="session")
def zoo_forms(tmp_path_factory) -> dict[str, Path]:
    return save_all_forms(make_zoo(), torch.randn(1, 3, 16, 16), tmp_path_factory.mktemp("zoo"))


def console_script() -> str:
    """The installed ``spectral-audit`` next to this Python, else the one on PATH."""
    candidate = Path(sys.executable).with_name("spectral-audit")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("spectral-audit")
    if not found:
        pytest.fail("the spectral-audit console script is not installed (pip install .)")
    return found


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = dict(os.environ, COLUMNS="160", NO_COLOR="1", **(env or {}))
    return subprocess.run(
        [console_script(), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=300,
    )
