"""Shared fixtures: tiny real models, every checkpoint form built from them, a model
whose kernels are set by hand, and the command line run in-process.

The tests exercise the *installed* package (``pip install .`` or ``-e .``): ``python -m
pytest`` puts the working directory first on sys.path, which would import ``audit/``
from the source tree, where ``templates/`` is not the ``audit.templates`` package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

SAMPLES = ROOT / "sample_models"

# Under pytest-xdist the workers share the cores: one torch thread each, so that two workers
# on two cores do not each spin two threads (and a container whose CPU quota is below its
# core count is not oversubscribed many times over).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    torch.set_num_threads(1)


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


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """ONNX export without graph optimisation, so BatchNorm is not folded into the convs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (example,), dynamo=True, optimize=False, verbose=False)
    program.save(str(path))
    return path


def deflate(source: Path, target: Path) -> Path:
    """The same torch.save archive with every member deflate-compressed."""
    import zipfile

    deflated = zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1)  # deflated at all is what counts
    with zipfile.ZipFile(source) as original, deflated as copy:
        for info in original.infolist():
            copy.writestr(info.filename, original.read(info.filename))
    return target


class CheckpointForms(Mapping[str, Path]):
    """The same weights in every checkpoint form spectral-audit reads, each written the first
    time a test asks for it (most tests need only the state_dict; iterating writes them all).
    A new format: one writer here, and every test that walks the forms checks it."""

    def __init__(self, model: nn.Module, example: torch.Tensor, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.model, self.example, self.folder = model, example, folder
        self.state = model.state_dict()
        state = self.state
        self._written: dict[str, Path] = {}
        self._writers: dict[str, Callable[[], Path]] = {
            "state_dict.pt": self._saved("state_dict.pt", state),
            "state_dict.pth": self._saved("state_dict.pth", state),
            "pytorch_model.bin": self._saved("pytorch_model.bin", state),
            "model_key.pth": self._saved("model_key.pth", {"model": state, "epoch": 3, "optimizer": {"lr": 0.1}}),
            "net_key.pt": self._saved("net_key.pt", {"net": state, "acc": 0.9}),
            "model_state_dict.pt": self._saved("model_state_dict.pt", {"model_state_dict": state, "epoch": 7}),
            "ddp.pt": self._saved("ddp.pt", {f"module.{k}": v for k, v in state.items()}),
            "compiled.pt": self._saved("compiled.pt", {f"_orig_mod.{k}": v for k, v in state.items()}),
            "lightning.ckpt": self._saved(
                "lightning.ckpt",
                {
                    "epoch": 4,
                    "global_step": 100,
                    "pytorch-lightning_version": "2.4.0",
                    "state_dict": {f"model.{k}": v for k, v in state.items()},
                    "hyper_parameters": {"lr": 0.1},
                    "optimizer_states": [],
                },
            ),
            "deflated.pt": self._deflated,  # valid: torch.load reads it
            "legacy.pt": self._legacy,
            "whole_module.pt": self._saved("whole_module.pt", model),
            "safetensors.safetensors": self._safetensors,
            "torchscript.pt": self._torchscript,
            "exported.pt2": self._exported,
            "model.onnx": lambda: export_onnx(self.model, self.example, self.folder / "model.onnx"),
            "external.onnx": self._external_onnx,
        }

    def __getitem__(self, name: str) -> Path:
        if name not in self._written:
            self._written[name] = self._writers[name]()
        return self._written[name]

    def __iter__(self):
        return iter(self._writers)

    def __len__(self) -> int:
        return len(self._writers)

    def _saved(self, name: str, obj) -> Callable[[], Path]:
        def write() -> Path:
            torch.save(obj, self.folder / name)
            return self.folder / name

        return write

    def _deflated(self) -> Path:
        return deflate(self["state_dict.pt"], self.folder / "deflated.pt")

    def _legacy(self) -> Path:
        torch.save(self.state, self.folder / "legacy.pt", _use_new_zipfile_serialization=False)
        return self.folder / "legacy.pt"

    def _safetensors(self) -> Path:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in self.state.items()}, self.folder / "model.safetensors")
        return self.folder / "model.safetensors"

    def _torchscript(self) -> Path:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.save(torch.jit.trace(self.model, self.example), self.folder / "torchscript.pt")
        return self.folder / "torchscript.pt"

    def _exported(self) -> Path:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # A dynamic batch dimension, as a user exporting for serving would do.
            batch = torch.export.Dim("batch", min=1, max=4096)
            example = self.example.expand(2, *self.example.shape[1:])
            program = torch.export.export(self.model, (example,), dynamic_shapes=({0: batch},))
            torch.export.save(program, self.folder / "exported.pt2")
        return self.folder / "exported.pt2"

    def _external_onnx(self) -> Path:
        import onnx

        # The same graph with its weights in a side file, as large exports are stored.
        external = self.folder / "external"
        external.mkdir(exist_ok=True)
        onnx.save_model(
            onnx.load(str(self["model.onnx"])),
            str(external / "model.onnx"),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location="model.onnx.data",
            size_threshold=0,
        )
        return external / "model.onnx"


@pytest.fixture(scope="session")
def resnet18_forms(tmp_path_factory) -> CheckpointForms:
    model = make_resnet18()
    return CheckpointForms(model, torch.randn(1, 3, 32, 32), tmp_path_factory.mktemp("resnet18"))


@pytest.fixture(scope="session")
def zoo_forms(tmp_path_factory) -> CheckpointForms:
    return CheckpointForms(make_zoo(), torch.randn(1, 3, 16, 16), tmp_path_factory.mktemp("zoo"))


class HandSetNet(nn.Module):
    """Kernels set by hand so that every layer's HFER is known exactly (captum-style):

    flat     3x3, every slice constant            HFER 0
    delta    3x3, every slice a unit impulse       HFER 8/9 (flat power, like white noise)
    checker  3x3, every slice a +-1 checkerboard   HFER 80/81 (DC keeps 1/81)
    nyquist  2x2, every slice a +-1 checkerboard   HFER 1 (all at the Nyquist corner)
    """

    EXPECTED_HFER = {"flat": 0.0, "delta": 8 / 9, "checker": 80 / 81, "nyquist": 1.0}

    def __init__(self) -> None:
        super().__init__()
        self.flat = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.delta = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.checker = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.nyquist = nn.Conv2d(4, 4, 2, bias=False)
        self.head = nn.Linear(4, 10)
        signs3 = torch.tensor([[1.0, -1, 1], [-1, 1, -1], [1, -1, 1]])
        signs2 = torch.tensor([[1.0, -1], [-1, 1]])
        impulse = torch.zeros(3, 3)
        impulse[0, 2] = 1.0
        with torch.no_grad():
            self.flat.weight.copy_(torch.full((4, 3, 3, 3), 0.1))
            self.delta.weight.copy_(impulse.expand(4, 4, 3, 3) * 0.5)
            self.checker.weight.copy_(signs3.expand(4, 4, 3, 3) * 0.2)
            self.nyquist.weight.copy_(signs2.expand(4, 4, 2, 2) * 0.3)
            torch.manual_seed(0)
            self.head.weight.normal_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.flat(x))
        x = torch.tanh(self.delta(x))
        x = torch.tanh(self.checker(x))
        x = self.nyquist(x)
        return self.head(x.mean(dim=(2, 3)))


@pytest.fixture(scope="session")
def hand_set_model(tmp_path_factory) -> Path:
    """HandSetNet as a traced TorchScript archive (runnable, names kept)."""
    path = tmp_path_factory.mktemp("hand_set") / "hand_set.ts.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(HandSetNet().eval(), torch.zeros(1, 3, 32, 32)), path)
    return path


class Invocation:
    """What a command run in-process printed, and its exit code."""

    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.returncode = exit_code
        self.stdout = stdout
        self.stderr = stderr


def invoke(*args, cwd: Path | None = None, env: dict | None = None) -> Invocation:
    """``spectral-audit ARGS`` in this process (typer's CliRunner): argument parsing, the
    library and the printing, without paying for a new interpreter and torch import."""
    from typer.testing import CliRunner

    from audit.cli import app

    previous = Path.cwd()
    environment = {"COLUMNS": "160", "NO_COLOR": "1", "GITHUB_STEP_SUMMARY": None, **(env or {})}
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner(env=environment).invoke(app, [str(a) for a in args])
    finally:
        os.chdir(previous)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Invocation(result.exit_code, result.stdout, result.stderr)


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
    """The installed console script in a new process: only for the few end-to-end tests."""
    environment = dict(os.environ, COLUMNS="160", NO_COLOR="1", **(env or {}))
    return subprocess.run(
        [console_script(), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=300,
    )
