"""Hostile and broken input, through the console script where a user would see it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from conftest import invoke, make_zoo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.errors import AuditError
from audit.loading import load_checkpoint, sniff

SAMPLES = Path(__file__).resolve().parent.parent / "sample_models"


def assert_one_clear_line(run, *fragments):
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    message = run.stderr.strip()
    assert message.startswith("error:") and "Traceback" not in run.stderr + run.stdout
    assert message.count("\n") == 0, message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_path(tmp_path):
    assert_one_clear_line(invoke(tmp_path / "nope.pt"), "no such file")


def test_directory_instead_of_a_file(tmp_path):
    assert_one_clear_line(invoke(tmp_path), "is a directory")


def test_empty_file(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    assert_one_clear_line(invoke(tmp_path / "empty.pt"), "empty")


@pytest.mark.parametrize("suffix", [".pt", ".onnx", ".safetensors", ".pt2", ".ckpt"])
def test_random_bytes_with_a_checkpoint_suffix(tmp_path, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(os.urandom(4096))
    assert_one_clear_line(invoke(path))


def test_truncated_zip(tmp_path):
    data = (SAMPLES / "cifar_resnet8_l2.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    assert_one_clear_line(invoke(tmp_path / "cut.pt"), "truncated")


def test_state_dict_without_conv_weights(tmp_path):
    torch.save({"fc.weight": torch.zeros(10, 4), "fc.bias": torch.zeros(10)}, tmp_path / "mlp.pt")
    assert_one_clear_line(invoke(tmp_path / "mlp.pt"), "holds no convolution weights")


def test_nan_and_inf_weights_are_a_finding_not_a_crash(tmp_path):
    state = make_zoo().state_dict()
    state["depthwise.weight"][0, 0, 1, 1] = float("nan")
    state["grouped.weight"][1, 0, 0, 0] = float("inf")
    torch.save(state, tmp_path / "nan.pt")
    out = tmp_path / "nan.json"
    run = invoke(tmp_path / "nan.pt", "--json", out, "-q", cwd=tmp_path)
    assert run.returncode == 1  # the default fail_on=error gate: the finding is an error
    findings = json.loads(out.read_text())["findings"]
    assert findings[0]["id"] == "non-finite-weights" and findings[0]["severity"] == "error"
    assert set(findings[0]["evidence"]["layers"]) == {"depthwise", "grouped"}
    assert "NaN or Inf" in run.stdout and "Traceback" not in run.stderr


def test_model_whose_output_is_not_logits(tmp_path):
    class Features(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return self.conv(x)

    torch.jit.save(torch.jit.script(Features()), tmp_path / "features.pt")
    run = invoke(tmp_path / "features.pt", "--trust-code", "--data", "cifar10-sample", "--samples", "4", cwd=tmp_path)
    assert_one_clear_line(run, "not (batch=2, classes) logits")


def test_class_count_not_matching_the_data_set(tmp_path):
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 7)
    )
    torch.jit.save(torch.jit.script(model), tmp_path / "seven.pt")
    run = invoke(tmp_path / "seven.pt", "--trust-code", "--data", "cifar10-sample", "--samples", "4", cwd=tmp_path)
    assert_one_clear_line(run, "predicts 7 classes", "has 10")


def test_wrong_input_channels(tmp_path):
    import numpy as np

    np.savez(tmp_path / "gray.npz", images=np.zeros((4, 32, 32), np.uint8), labels=np.zeros(4, np.int64))
    run = invoke(SAMPLES / "cifar_resnet8_l2.onnx", "--data", tmp_path / "gray.npz", cwd=tmp_path)
    assert_one_clear_line(run, "(1, 32, 32)")


def test_unwritable_output_directory(tmp_path):
    if os.geteuid() == 0:
        # root ignores permission bits: use a path whose parent is a file instead
        blocker = tmp_path / "file"
        blocker.write_text("x")
        target = blocker / "reports"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "reports"
    run = invoke(SAMPLES / "cifar_resnet8_l2.pt", "--out", target, "--no-pdf", cwd=tmp_path)
    assert_one_clear_line(run, "cannot write")


def test_data_root_with_corrupt_files(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(b"\x80\x02}q\x00" + os.urandom(100))
    run = invoke(
        SAMPLES / "cifar_resnet8_l2.onnx", "--data", "cifar10", "--data-root", tmp_path, "--no-download", cwd=tmp_path
    )
    assert_one_clear_line(run, "not a readable CIFAR batch")


def test_checkpoint_larger_than_memory(monkeypatch, tmp_path):
    monkeypatch.setattr(sniff, "available_memory", lambda: 1000)
    with pytest.raises(AuditError, match="of memory is available"):
        load_checkpoint(SAMPLES / "cifar_resnet8_l2.pt")


def test_debug_flag_lets_the_exception_through(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(AuditError, match="empty"):
        invoke(tmp_path / "empty.pt", "--debug")


# --- fuzzing the loaders -------------------------------------------------------------------

FORMS = ["state_dict.pt", "legacy.pt", "torchscript.pt", "exported.pt2", "safetensors.safetensors", "model.onnx"]


@pytest.mark.parametrize("form", FORMS)
def test_fuzzed_checkpoints_load_or_raise_the_tools_error(zoo_forms, tmp_path_factory, form, capfd):
    original = zoo_forms[form].read_bytes()
    folder = tmp_path_factory.mktemp("fuzz")
    suffix = zoo_forms[form].suffix

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.data())
    def check(data):
        mutated = bytearray(original)
        kind = data.draw(st.sampled_from(["flip", "truncate", "splice"]))
        if kind == "flip":
            for _ in range(data.draw(st.integers(1, 16))):
                position = data.draw(st.integers(0, len(mutated) - 1))
                mutated[position] = data.draw(st.integers(0, 255))
        elif kind == "truncate":
            mutated = mutated[: data.draw(st.integers(0, len(mutated) - 1))]
        else:
            start = data.draw(st.integers(0, len(mutated) - 1))
            mutated[start : start + 64] = data.draw(st.binary(min_size=1, max_size=64))
        path = folder / f"mutant{suffix}"
        path.write_bytes(bytes(mutated))
        try:
            load_checkpoint(path)
        except AuditError:
            pass

    check()
    assert "Traceback" not in capfd.readouterr().err  # no library logs a traceback on the way


def test_terminal_escapes_in_a_file_name_are_shown_not_obeyed(tmp_path):
    name = tmp_path / "m\x1b[31mred\x1b[2J.pt"
    name.write_bytes(b"not a checkpoint")
    run = invoke(name)
    assert run.returncode == 2 and "\x1b" not in run.stderr and "\\x1b[31m" in run.stderr
