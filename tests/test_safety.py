"""Safe by default, item by item: destinations that are not regular files, numbers read
right from every valid container, quantised weights, interrupts, odd file names."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SAMPLES, invoke

from audit import io as audit_io
from audit.errors import AuditError
from audit.loading import load_checkpoint

MODEL = SAMPLES / "cifar_resnet8_l2.pt"


# --- destinations that are not regular files -------------------------------------------------


def test_json_to_dev_null_leaves_the_device_alone(tmp_path):
    run = invoke(MODEL, "--json", "/dev/null", "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_json_to_a_character_device_is_written_in_place(tmp_path):
    device = tmp_path / "null"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # the same device as /dev/null
    except PermissionError:
        pytest.skip("creating device nodes is not permitted here")
    run = invoke(MODEL, "--json", device, "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert stat.S_ISCHR(device.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]  # no temporary file beside it


def test_json_to_a_fifo_is_written_into_the_fifo(tmp_path):
    fifo = tmp_path / "result.fifo"
    os.mkfifo(fifo)
    received = {}

    def read():
        with open(fifo, "rb") as stream:
            received["data"] = stream.read()

    reader = threading.Thread(target=read)
    reader.start()
    run = invoke(MODEL, "--json", fifo, "-q", cwd=tmp_path)
    reader.join(timeout=60)
    assert run.returncode == 0, run.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received["data"])["model"]["format"] == "torch.save"


def test_a_symlink_output_is_refused_and_its_target_untouched(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    link = tmp_path / "link.json"
    link.symlink_to(outside)
    run = invoke(MODEL, "--json", link, "-q", cwd=tmp_path)
    assert run.returncode == 2 and "symbolic link" in run.stderr
    assert link.is_symlink() and outside.read_text() == "precious"


def test_a_symlink_committed_inside_the_output_folder_is_not_followed(tmp_path):
    """A pull request commits audit/result.json as a link to a file outside the checkout."""
    outside = tmp_path / "home.txt"
    outside.write_text("precious")
    folder = tmp_path / "audit"
    folder.mkdir()
    (folder / "result.json").symlink_to(outside)
    run = invoke(MODEL, "--out", folder, "--no-pdf", "-q", cwd=tmp_path)
    assert run.returncode == 2 and "symbolic link" in run.stderr and run.stderr.count("\n") == 1
    assert outside.read_text() == "precious" and not (folder / "report.html").exists()


def test_an_output_folder_that_is_a_link_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "real")
    run = invoke(MODEL, "--out", tmp_path / "out", "-q", cwd=tmp_path)
    assert run.returncode == 2 and "symbolic link" in run.stderr and not any((tmp_path / "real").iterdir())


@pytest.mark.parametrize("flag", ["--json", "--junit"])
def test_an_output_naming_an_input_is_refused(tmp_path, flag):
    model = tmp_path / "model.pt"
    model.write_bytes(MODEL.read_bytes())
    run = invoke(model, flag, model, "-q", cwd=tmp_path)
    assert run.returncode == 2 and "input" in run.stderr
    assert model.read_bytes() == MODEL.read_bytes()


def test_two_outputs_naming_one_file_are_refused(tmp_path):
    run = invoke(MODEL, "--json", tmp_path / "a.xml", "--junit", tmp_path / "a.xml", "-q", cwd=tmp_path)
    assert run.returncode == 2 and "same file" in run.stderr and not (tmp_path / "a.xml").exists()


def test_outputs_are_all_replaced_or_none(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    for name in ("report.html", "result.json"):
        (out / name).write_text("old")
    (tmp_path / "old.json").write_text("old")
    run = invoke(MODEL, "--out", out, "--no-pdf", "--json", tmp_path / "old.json", "--junit", "/dev/full", "-q")
    assert run.returncode == 2 and "No space left" in run.stderr
    assert (out / "report.html").read_text() == "old" and (out / "result.json").read_text() == "old"
    assert (tmp_path / "old.json").read_text() == "old"
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "result.json"]  # no temporary file left


def test_a_fifo_nobody_reads_is_refused_not_waited_for(tmp_path):
    fifo = tmp_path / "nobody.fifo"
    os.mkfifo(fifo)
    run = invoke(MODEL, "--json", fifo, "-q", cwd=tmp_path)
    assert run.returncode == 2 and "nobody is reading" in run.stderr
    run = invoke(MODEL, "-q", cwd=tmp_path, env={"GITHUB_STEP_SUMMARY": str(fifo)})
    assert run.returncode == 2 and "nobody is reading" in run.stderr


def test_an_output_in_a_missing_folder_is_refused_not_created(tmp_path):
    run = invoke(MODEL, "--json", tmp_path / "no" / "such" / "r.json", "-q", cwd=tmp_path)
    assert run.returncode == 2 and "does not exist" in run.stderr
    run = invoke(MODEL, "--out", tmp_path / "no" / "such", "-q", cwd=tmp_path)
    assert run.returncode == 2 and "does not exist" in run.stderr and not (tmp_path / "no").exists()
    run = invoke(MODEL, "--out", tmp_path / "new", "--no-pdf", "-q", cwd=tmp_path)  # one level, as mkdir
    assert run.returncode == 0 and (tmp_path / "new" / "report.html").is_file()


# --- numbers read right ----------------------------------------------------------------------


def test_quantised_state_dict_is_dequantised(tmp_path):
    weight = torch.randn(8, 3, 3, 3)
    scales = weight.abs().amax(dim=(1, 2, 3)) / 127
    # torch deprecates its quantized tensors; where a newer torch no longer makes them,
    # no checkpoint can hold them either.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantised = torch.quantize_per_channel(weight, scales, torch.zeros(8, dtype=torch.long), 0, torch.qint8)
    except (AttributeError, NotImplementedError, RuntimeError) as error:
        pytest.skip(f"this torch makes no quantized tensors ({type(error).__name__})")
    torch.save({"conv.weight": quantised, "conv.scale": torch.tensor(1.0)}, tmp_path / "q.pt")
    loaded = load_checkpoint(tmp_path / "q.pt")
    (kernel,) = loaded.kernels
    assert torch.equal(kernel.weight, quantised.dequantize())
    assert any("dequantised" in note for note in loaded.notes)


def test_integer_weights_without_a_scale_are_named(tmp_path):
    torch.save({"conv.weight": torch.ones(4, 3, 3, 3, dtype=torch.int8)}, tmp_path / "int8.pt")
    with pytest.raises(AuditError, match=r"not analysed: conv\.weight \(int8\)"):
        load_checkpoint(tmp_path / "int8.pt")


def _onnx_model(nodes, initializers, path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializers,
    )
    onnx.save(helper.make_model(graph), path)
    return path


def test_onnx_quantised_convolutions_are_dequantised(tmp_path):
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    q = rng.integers(-127, 127, size=(4, 3, 3, 3), dtype=np.int8)
    scale = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    zero = np.zeros(4, np.int8)
    expected = torch.from_numpy(q.astype(np.float32) * scale[:, None, None, None])
    cases = {
        "qlinear": (
            [helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"], name="qconv")],
            [
                numpy_helper.from_array(q, "w"),
                numpy_helper.from_array(scale, "ws"),
                numpy_helper.from_array(zero, "wz"),
                numpy_helper.from_array(np.array(1.0, np.float32), "xs"),
                numpy_helper.from_array(np.array(0, np.int8), "xz"),
                numpy_helper.from_array(np.array(1.0, np.float32), "ys"),
                numpy_helper.from_array(np.array(0, np.int8), "yz"),
            ],
        ),
        "dequantize": (
            [
                helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=0, name="dq"),
                helper.make_node("Conv", ["x", "w"], ["y"], name="/layer1/layer1.0/conv1/Conv"),
            ],
            [
                numpy_helper.from_array(q, "wq"),
                numpy_helper.from_array(scale, "ws"),
                numpy_helper.from_array(zero, "wz"),
            ],
        ),
    }
    for name, (nodes, initializers) in cases.items():
        loaded = load_checkpoint(_onnx_model(nodes, initializers, tmp_path / f"{name}.onnx"))
        (kernel,) = loaded.kernels
        assert torch.allclose(kernel.weight, expected), name
        assert any("dequantised" in note for note in loaded.notes), name
    assert loaded.kernels[0].name == "layer1.0.conv1"  # named as PyTorch names the module
    integer = _onnx_model(
        [helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], name="ci")],
        [
            numpy_helper.from_array(q, "w"),
            numpy_helper.from_array(np.array(0, np.uint8), "xz"),
            numpy_helper.from_array(np.int8(3), "wz"),
        ],
        tmp_path / "integer.onnx",
    )
    (kernel,) = load_checkpoint(integer).kernels
    assert torch.equal(kernel.weight, torch.from_numpy(q.astype(np.float32) - 3))


# --- interrupts ------------------------------------------------------------------------------


@pytest.fixture()
def clean_interrupts():
    audit_io.reset_interrupts()
    yield
    audit_io.reset_interrupts()


def test_an_interrupt_whose_exception_was_swallowed_still_ends_the_run(tmp_path, clean_interrupts):
    """A KeyboardInterrupt raised inside a finaliser is printed and dropped by Python; the
    handler's flag makes it count anyway: exit 130, previous result untouched."""
    previous = tmp_path / "result.json"
    previous.write_text('{"previous": true}')
    audit_io._received_signal = signal.SIGINT  # as if the exception had been swallowed
    run = invoke(MODEL, "--json", previous, "-q", cwd=tmp_path)
    assert run.returncode == 130 and "interrupted" in run.stderr
    assert previous.read_text() == '{"previous": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_an_interrupt_while_staging_removes_the_temporary_files(tmp_path, monkeypatch, clean_interrupts):
    for name in ("a.json", "b.html"):
        (tmp_path / name).write_text("old")
    monkeypatch.setattr(audit_io, "_signal_pending", lambda: True)  # arrived while the files were staged
    with pytest.raises(audit_io.Interrupted):
        audit_io.write_all_atomic([(tmp_path / "a.json", "new"), (tmp_path / "b.html", "new")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.html"]
    assert {(tmp_path / n).read_text() for n in ("a.json", "b.html")} == {"old"}


def test_an_interrupt_during_start_up_is_one_line(monkeypatch, capsys, clean_interrupts):
    """Ctrl-C while the command line is still being imported: no traceback, exit 130."""
    import importlib.abc

    from audit import __main__ as entry

    class Interrupting(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "audit.cli":
                raise audit_io.Interrupted(signal.SIGINT)
            return None

    monkeypatch.delitem(sys.modules, "audit.cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Interrupting(), *sys.meta_path])
    monkeypatch.setattr(audit_io, "install_interrupt_handlers", lambda: None)

    def leave(code):  # main() leaves with os._exit; here it must not end pytest
        raise SystemExit(code)

    monkeypatch.setattr(entry, "_exit_now", leave)
    with pytest.raises(SystemExit) as exit_info:
        entry.main()
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == "interrupted; nothing was written.\n"


# --- names and messages ----------------------------------------------------------------------


def test_a_file_name_that_is_not_utf8_loads(tmp_path):
    name = os.fsdecode(b"model-\xff.pt")
    (tmp_path / name).write_bytes(MODEL.read_bytes())
    run = invoke(tmp_path / name, "--json", tmp_path / "r.json", "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "model-\ufffd.pt" in json.loads((tmp_path / "r.json").read_text())["model"]["path"]


def test_library_messages_with_newlines_become_one_line():
    error = AuditError("line one\n  line two\tand three", hint="use {logits}\nnow")
    assert error.render({"logits": "--logits"}) == "line one line two and three use --logits now"


def test_usage_errors_are_one_line(tmp_path):
    run = invoke(MODEL, "--hfer-cutoff", "2", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "--hfer-cutoff" in run.stderr and "--help" in run.stderr


def test_a_step_summary_that_cannot_be_written_is_one_line(tmp_path):
    run = invoke(MODEL, "-q", cwd=tmp_path, env={"GITHUB_STEP_SUMMARY": str(tmp_path / "missing" / "summary.md")})
    assert run.returncode == 2
    assert run.stderr.startswith("error: cannot append to GITHUB_STEP_SUMMARY") and run.stderr.count("\n") == 1


# --- saved results are inputs too --------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_result(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "result.json"
    assert invoke(MODEL, "--json", path, "-q").returncode == 0
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    "change,fragment",
    [
        (lambda d: d["spectral"]["layers"][0].__setitem__("hfer", float("nan")), "spectral.layers[0].hfer"),
        (lambda d: d["spectral"]["summary"].__setitem__("hfer", 1e400), "spectral.summary.hfer"),
        (lambda d: d["spectral"]["layers"][0].__setitem__("hfer", 7.5), "fraction"),
        (lambda d: d["spectral"]["layers"][0].__setitem__("name", "x" * (4 << 20)), "characters long"),
        (lambda d: d["spectral"]["layers"][0].__setitem__("shape", "big"), "must be a list"),
        (lambda d: d["model"].__setitem__("parameters", True), "model.parameters"),
    ],
)
def test_a_forged_saved_result_is_refused_naming_the_field(tmp_path, saved_result, change, fragment):
    data = json.loads(json.dumps(saved_result))
    change(data)
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))  # json writes NaN and Infinity for the non-finite ones
    for args in (["report", forged, "--out", tmp_path / "out"], [MODEL, "--baseline", forged, "-q"]):
        run = invoke(*args, cwd=tmp_path)
        assert run.returncode == 2 and fragment in run.stderr and run.stderr.count("\n") == 1, run.stderr[:300]
    assert not (tmp_path / "out").exists()


def test_per_image_outcomes_that_are_not_base64_are_refused(tmp_path):
    result = tmp_path / "probed.json"
    arch = f"{SAMPLES / 'cifar_resnet.py'}:CifarResNet"
    run = invoke(
        MODEL, "--arch", arch, "--data", "cifar10-sample", "--samples", "16", "--probes", "blur", "--json", result, "-q"
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(result.read_text())
    data["probes"]["results"][0]["correct"] = "not base64 !!"
    result.write_text(json.dumps(data))
    run = invoke(MODEL, "--baseline", result, "-q", cwd=tmp_path)
    assert run.returncode == 2 and "probes.results[0].correct" in run.stderr and "base64" in run.stderr


def test_a_json_result_with_a_byte_order_mark_reads(tmp_path):
    result = tmp_path / "r.json"
    assert invoke(MODEL, "--json", result, "-q").returncode == 0
    result.write_bytes(b"\xef\xbb\xbf" + result.read_bytes())
    run = invoke(MODEL, "--baseline", result, "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr


def test_an_error_that_follows_a_signal_is_reported_as_the_interruption(monkeypatch, capsys, clean_interrupts):
    """A signal during an import can surface as the library's error ('cannot load module
    more than once per process'): once a signal came, what follows is the interruption."""
    import typer

    from audit.cli import guard

    def broken_import() -> int:
        monkeypatch.setattr(audit_io, "_received_signal", signal.SIGTERM)
        raise ImportError("cannot load module more than once per process")

    with pytest.raises(typer.Exit) as exit_info:
        guard.guarded(broken_import, debug=False, spellings={})
    assert exit_info.value.exit_code == 143
    assert capsys.readouterr().err.strip() == "terminated; nothing was written."
