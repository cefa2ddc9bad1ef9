"""Runners: torch and ONNX agree, outputs are chosen sensibly, fixed batches work."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from audit.errors import AuditError
from audit.loading import load_checkpoint
from audit.probes.architectures import build_architecture, parse_arch_args
from audit.probes.runners import (
    OnnxRunner,
    TorchRunner,
    make_runner,
    named_outputs,
    run_in_fixed_batches,
    select_logits,
)

SAMPLES = Path(__file__).resolve().parent.parent / "sample_models"
CPU = torch.device("cpu")


def batch(n=6, seed=0):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_torch_and_onnx_runners_agree_on_the_sample_model():
    torch_runner = make_runner(load_checkpoint(SAMPLES / "cifar_resnet8_l2.ts.pt", trust_code=True), CPU)
    onnx_runner = make_runner(load_checkpoint(SAMPLES / "cifar_resnet8_l2.onnx"), CPU)
    x = batch()
    a, b = torch_runner.logits(x), onnx_runner.logits(x)
    assert a.shape == b.shape == (6, 10)
    assert torch.allclose(a, b, atol=1e-4)
    assert torch.equal(a.argmax(1), b.argmax(1))


def test_state_dict_with_arch_from_a_file_matches_torchscript():
    loaded = load_checkpoint(SAMPLES / "cifar_resnet8_l2.pt")
    with pytest.raises(AuditError, match="arch="):
        make_runner(loaded, CPU)
    runner = make_runner(
        loaded, CPU, arch=f"{SAMPLES / 'cifar_resnet.py'}:CifarResNet", arch_args=parse_arch_args("width=16")
    )
    scripted = make_runner(load_checkpoint(SAMPLES / "cifar_resnet8_l2.ts.pt", trust_code=True), CPU)
    x = batch()
    assert torch.allclose(runner.logits(x), scripted.logits(x), atol=1e-5)


def test_torchvision_arch_and_mismatched_weights(resnet18_forms):
    loaded = load_checkpoint(resnet18_forms["state_dict.pt"])
    runner = make_runner(loaded, CPU, arch="torchvision:resnet18", num_classes=10)
    assert runner.logits(batch(2)).shape == (2, 10)
    with pytest.raises(AuditError, match="does not fit the architecture torchvision:resnet34"):
        make_runner(loaded, CPU, arch="torchvision:resnet34", num_classes=10)
    with pytest.raises(AuditError, match="torchvision has no model"):
        build_architecture("torchvision:resnet_nope")
    with pytest.raises(AuditError, match="not of the form"):
        build_architecture("resnet18")


def test_arch_args_parsing():
    assert parse_arch_args("width=64,num_classes=10,name=wide,scale=0.5") == {
        "width": 64,
        "num_classes": 10,
        "name": "wide",
        "scale": 0.5,
    }
    with pytest.raises(AuditError, match="NAME=VALUE"):
        parse_arch_args("64")


class TwoHeads(torch.nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, 10)
        self.aux = torch.nn.Linear(4, 10)
        self.kind = kind

    def forward(self, x):
        features = self.conv(x).mean(dim=(2, 3))
        if self.kind == "tuple":
            return features, self.fc(features)
        if self.kind == "dict":
            return {"features": features, "logits": self.fc(features)}
        return self.fc(features), self.aux(features)


def test_output_selection():
    x = batch(3)
    tuple_runner = TorchRunner(TwoHeads("tuple"), CPU, num_classes=10)  # the data set's class count
    assert tuple_runner.logits(x).shape == (3, 10) and tuple_runner.output_used == "[1]"
    dict_runner = TorchRunner(TwoHeads("dict"), CPU)
    assert dict_runner.logits(x).shape == (3, 10) and dict_runner.output_used == "logits"
    ambiguous = TorchRunner(TwoHeads("two"), CPU)
    with pytest.raises(AuditError, match="logits="):
        ambiguous.logits(x)
    chosen = TorchRunner(TwoHeads("two"), CPU, logits_output="1")
    assert chosen.logits(x).shape == (3, 10) and chosen.output_used == "[1]"
    with pytest.raises(AuditError, match="matches none"):
        TorchRunner(TwoHeads("two"), CPU, logits_output="nope").logits(x)


def test_output_that_is_not_logits():
    with pytest.raises(AuditError, match="not \\(batch=2, classes\\)"):
        select_logits(named_outputs(torch.zeros(2, 3, 4, 4)), 2, None)


def test_onnx_with_a_fixed_batch_dimension(tmp_path):
    torch.manual_seed(0)
    model = TwoHeads("dict").eval()
    path = tmp_path / "fixed.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (batch(4),), str(path), dynamo=True, optimize=False, verbose=False)
    runner = OnnxRunner(str(path), CPU, num_classes=10)
    assert runner.fixed_batch == 4
    x = batch(10, seed=1)
    logits = run_in_fixed_batches(runner, x)
    assert logits.shape == (10, 10)
    assert torch.allclose(logits, model(x)["logits"], atol=1e-5)


def test_reduced_precision_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(AuditError, match="needs a CUDA device"):
        TorchRunner(TwoHeads("dict"), CPU, precision="bf16")


def test_exported_program_with_a_fixed_batch(tmp_path):
    from conftest import make_zoo

    model = make_zoo()
    path = tmp_path / "static.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(model, (torch.randn(3, 3, 16, 16),)), path)
    loaded = load_checkpoint(path, trust_code=True)
    assert loaded.input_shape == (3, 3, 16, 16)
    assert any("fixed batch size of 3" in note for note in loaded.notes)
    runner = make_runner(loaded, CPU, num_classes=10)
    x = torch.randn(7, 3, 16, 16)
    assert torch.allclose(run_in_fixed_batches(runner, x), model(x), atol=1e-5)


def test_onnx_io_binding_gives_the_host_runs_logits():
    """The CUDA path binds torch tensors in place; the same binding code runs here on CPU
    tensors, once the first (host) run has recorded the output shapes."""
    runner = make_runner(load_checkpoint(SAMPLES / "cifar_resnet8_l2.onnx"), CPU)
    x = batch(n=5)
    host = runner.logits(x)
    runner.output_shapes = {name: (10,) for name in runner.output_names}  # what a CUDA host run records
    bound = runner.logits(x)
    assert "IO binding" in runner.description
    assert torch.equal(host, bound) and bound.shape == (5, 10)
    assert torch.equal(runner.logits(x[:3]), host[:3])  # another batch size: outputs allocated per batch
