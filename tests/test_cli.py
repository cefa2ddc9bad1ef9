"""The installed ``spectral-audit`` console script, run as a user would run it."""

from __future__ import annotations

import json

import pytest
from conftest import invoke

from audit.cli.options import ProbeFlags  # at the top: a command's annotations are resolved here


def test_main_command_prints_the_table_and_verdict(resnet18_forms):
    run = invoke(resnet18_forms["state_dict.pt"], "--device", "cpu")
    assert run.returncode == 0, run.stderr
    assert "layer1.0.conv1" in run.stdout and "Verdict:" in run.stdout
    assert "1x1: no spatial frequencies" in run.stdout
    assert run.stderr == ""


def test_explicit_audit_verb_is_the_same_command(zoo_forms):
    a = invoke("audit", zoo_forms["state_dict.pt"], "-q")
    b = invoke(zoo_forms["state_dict.pt"], "-q")
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout


def test_json_output_round_trips_and_matches_the_terminal(zoo_forms, tmp_path):
    path = tmp_path / "out" / "audit.json"
    run = invoke(zoo_forms["torchscript.pt"], "--json", path)
    assert run.returncode == 0, run.stderr
    data = json.loads(path.read_text())
    assert data["schema_version"] == 1 and data["model"]["format"] == "torchscript"
    assert f"SSR {data['spectral']['summary']['ssr']:.2f}" in run.stdout
    assert [l["name"] for l in data["spectral"]["layers"]] == [
        "stem",
        "depthwise",
        "grouped",
        "dilated",
        "pointwise",
        "up",
    ]
    assert data["spectral"]["layers"][1]["kind"] == "depthwise"
    assert data["run"]["command"][0] == "spectral-audit"


def test_profile_then_baseline(resnet18_forms, tmp_path):
    ref = tmp_path / "ref.json"
    run = invoke("profile", resnet18_forms["state_dict.pt"], "--json", ref)
    assert run.returncode == 0, run.stderr
    assert json.loads(ref.read_text())["kind"] == "profile"
    out = tmp_path / "vs.json"
    run = invoke(resnet18_forms["safetensors.safetensors"], "--baseline", ref, "--json", out, "-q")
    assert run.returncode == 0, run.stderr
    summary = json.loads(out.read_text())["spectral"]["summary"]
    assert summary["ssr"] == pytest.approx(1.0, abs=1e-6)


def test_fft_size_option(zoo_forms, tmp_path):
    out = tmp_path / "fine.json"
    run = invoke(zoo_forms["state_dict.pt"], "--fft-size", "16", "--rings", "--json", out, "-q")
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert data["spectral"]["settings"]["fft_size"] == 16
    assert data["spectral"]["layers"][0]["radii"][1] == pytest.approx(1 / 16)


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.pt"], "no such file"),
        (["{zoo}", "--rings"], "--rings needs --fft-size"),
        (["{pickled}"], "--trust-code"),
        (["{zoo}", "--baseline", "missing.json"], "no such file"),
        (["{zoo}", "--hfer-cutoff", "2"], "Invalid value"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(zoo_forms, args, message, tmp_path):
    args = [a.format(zoo=zoo_forms["state_dict.pt"], pickled=zoo_forms["whole_module.pt"]) for a in args]
    run = invoke(*args, cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_error_is_a_single_line(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 100)
    run = invoke(tmp_path / "junk.pt")
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0
    assert run.stderr.startswith("error:")


def test_trust_code_loads_a_whole_module(resnet18_forms):
    run = invoke(resnet18_forms["whole_module.pt"], "--allow-pickle", "-q")
    assert run.returncode == 0, run.stderr


def test_pickled_module_whose_class_is_not_importable(tmp_path, monkeypatch):
    import importlib
    import sys

    import torch

    (tmp_path / "gone_models.py").write_text(
        "import torch\nclass Gone(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.conv = torch.nn.Conv2d(3, 4, 3)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.save(importlib.import_module("gone_models").Gone(), tmp_path / "whole.pt")
    monkeypatch.delitem(sys.modules, "gone_models")
    (tmp_path / "gone_models.py").unlink()  # the class's code is no longer importable
    run = invoke(tmp_path / "whole.pt", "--allow-pickle", "-q")
    assert run.returncode == 2
    assert "gone_models" in run.stderr and "importable" in run.stderr


def test_unwritable_json_path(zoo_forms, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = invoke(zoo_forms["state_dict.pt"], "--json", blocker / "sub" / "out.json")
    assert run.returncode == 2 and "cannot write" in run.stderr


def test_help_and_version():
    run = invoke("--help")
    assert run.returncode == 0 and "Spectral Suppression Ratio" in run.stdout
    run = invoke("audit", "--help")
    assert run.returncode == 0 and "--baseline" in run.stdout and "--allow-pickle" in run.stdout
    run = invoke("--version")
    assert run.returncode == 0 and "spectral-audit" in run.stdout


SAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "sample_models"


def test_probes_end_to_end_with_baseline_and_json(tmp_path):
    out = tmp_path / "probes.json"
    run = invoke(
        SAMPLES / "cifar_resnet8_l2.ts.pt",
        "--trust-code",
        "--baseline",
        SAMPLES / "cifar_resnet8_baseline.onnx",
        "--data",
        "cifar10-sample",
        "--samples",
        "64",
        "--probes",
        "blur,lowres",
        "--json",
        out,
    )
    assert run.returncode == 0, run.stderr
    assert "Robustness probes" in run.stdout and "vs base" in run.stdout
    probes = json.loads(out.read_text())["probes"]
    assert probes["dataset"] == "cifar10-sample" and probes["samples"] == 64
    assert {r["probe"] for r in probes["results"]} == {"gaussian_blur", "low_resolution"}
    assert len(probes["results"]) == 11
    for r in probes["results"]:
        assert {"probe", "severity", "accuracy", "agreement", "baseline_accuracy"} <= set(r)
        assert r["baseline_accuracy"] is not None
    assert 0 <= probes["clean_accuracy"] <= 1


def test_same_command_gives_the_same_numbers(tmp_path):
    outputs = []
    for name in ("a.json", "b.json"):
        run = invoke(
            SAMPLES / "cifar_resnet8_l2.onnx",
            "--data",
            "cifar10-sample",
            "--samples",
            "48",
            "--probes",
            "noise",
            "--seed",
            "7",
            "--json",
            tmp_path / name,
            "-q",
        )
        assert run.returncode == 0, run.stderr
        outputs.append(json.loads((tmp_path / name).read_text())["probes"]["results"])
    assert outputs[0] == outputs[1]


def test_weights_only_checkpoint_needs_arch_for_probes():
    run = invoke(SAMPLES / "cifar_resnet8_l2.pt", "--data", "cifar10-sample", "--samples", "8")
    assert run.returncode == 2 and "--arch" in run.stderr
    run = invoke(
        SAMPLES / "cifar_resnet8_l2.pt",
        "--data",
        "cifar10-sample",
        "--samples",
        "8",
        "--probes",
        "blur",
        "--arch",
        f"{SAMPLES / 'cifar_resnet.py'}:CifarResNet",
        "--arch-args",
        "width=16",
        "-q",
    )
    assert run.returncode == 0, run.stderr


def test_channel_mismatch_is_a_clear_error(tmp_path):
    import numpy as np

    np.savez(tmp_path / "mnist_like.npz", images=np.zeros((4, 28, 28), np.uint8), labels=np.zeros(4, np.int64))
    run = invoke(SAMPLES / "cifar_resnet8_l2.ts.pt", "--trust-code", "--data", tmp_path / "mnist_like.npz")
    assert run.returncode == 2 and "(1, 28, 28)" in run.stderr and "Traceback" not in run.stderr


def test_unknown_probe_lists_known_ones():
    run = invoke(SAMPLES / "cifar_resnet8_l2.ts.pt", "--trust-code", "--data", "cifar10-sample", "--probes", "wobble")
    assert run.returncode == 2 and "gaussian_blur" in run.stderr


def test_data_free_audit_says_how_to_add_probes():
    run = invoke(SAMPLES / "cifar_resnet8_l2.pt", "-q")
    assert run.returncode == 0 and "Add --data" in run.stdout and "cifar10-sample runs offline" in run.stdout


def test_probes_none_is_a_clean_only_run_and_an_empty_list_is_refused(tmp_path):
    onnx_model = SAMPLES / "cifar_resnet8_l2.onnx"
    run = invoke(
        onnx_model, "--data", "cifar10-sample", "--samples", "32", "--probes", "none", "--json", tmp_path / "r.json"
    )
    assert run.returncode == 0, run.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["probes"]["results"] == [] and data["probes"]["clean_accuracy"] is not None
    assert "clean accuracy only" in run.stdout
    run = invoke(onnx_model, "--data", "cifar10-sample", "--probes", ", ,")
    assert run.returncode == 2 and "names no probe" in run.stderr and "none" in run.stderr


def _hint_placeholders() -> set[str]:
    """Every {option} named in a hint= string anywhere in the library."""
    import ast
    import re
    from pathlib import Path

    found = set()
    for path in (Path(__file__).resolve().parent.parent / "audit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "hint":
                for constant in ast.walk(node.value):
                    if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
                        found |= set(re.findall(r"\{([a-z_]+)\}", constant.value))
    from audit.rules.judgement import OPTIONS_NAMED
    from audit.rules.kinds import KINDS  # the report guide's entries are hints too

    for kind in KINDS.values():
        found |= set(re.findall(r"\{([a-z_]+)\}", kind.meaning + kind.action))
    # The findings' and the verdict's texts, spelled by rules.judgement: only names it knows.
    root = Path(__file__).resolve().parent.parent / "audit" / "rules"
    for name in ("findings.py", "verdict.py"):
        for node in ast.walk(ast.parse((root / name).read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                named = set(re.findall(r"\{([a-z_]+)\}", node.value))
                assert named <= OPTIONS_NAMED, (name, named - OPTIONS_NAMED)
                found |= named
    return found


def test_every_option_a_hint_names_exists_on_the_command_line():
    """A hint names options by their library names ({data}); the CLI spells them. A hint
    naming an option the CLI does not have would send a user looking for nothing."""
    import typer.main

    from audit.cli import FLAGS, app

    placeholders = _hint_placeholders()
    assert {"data", "trust_code", "arch"} <= placeholders  # the scan finds the hints
    assert placeholders <= set(FLAGS), placeholders - set(FLAGS)
    command = typer.main.get_command(app)
    options = set()
    for sub in [command, *getattr(command, "commands", {}).values()]:
        for parameter in sub.params:
            if parameter.param_type_name == "option":  # typer may ship its own click
                options |= set(parameter.opts)
    assert set(FLAGS.values()) <= options, set(FLAGS.values()) - options


def test_geometry_errors_name_the_flags_through_their_hints():
    run = invoke(SAMPLES / "cifar_resnet8_l2.onnx", "--data", "cifar10-sample", "--resize", "40", "--input-size", "32")
    assert run.returncode == 2 and "--input-size" in run.stderr and "--resize" in run.stderr
    assert "{" not in run.stderr and "Traceback" not in run.stderr


def test_the_probe_options_are_declared_once_and_shared_by_audit_and_zoo():
    """A flag group's fields become the same options, with the same help, on every verb that
    takes the group, and the command receives the group back whole."""
    import dataclasses

    import typer.main

    from audit.cli import app
    from audit.cli.options import GateFlags, ReportFlags, SpectralFlags, with_flag_groups

    group = typer.main.get_command(app)
    by_command = {name: {p.name: p for p in command.params} for name, command in getattr(group, "commands", {}).items()}
    for flags, verbs in [
        (ProbeFlags, ["audit", "zoo"]),
        (ReportFlags, ["audit", "track", "zoo"]),
        (SpectralFlags, ["audit", "profile", "track"]),
        (GateFlags, ["audit"]),
    ]:
        for field in dataclasses.fields(flags):
            declared = [by_command[verb][field.name] for verb in verbs]
            assert {tuple(p.opts) for p in declared} == {tuple(declared[0].opts)}, field.name
            assert {p.help for p in declared} == {declared[0].help}, field.name

    received = []

    @with_flag_groups
    def command(model: str, probe: ProbeFlags = ProbeFlags(), debug: bool = False) -> None:
        received.append((model, probe, debug))

    command(
        model="m.pt",
        data="cifar10-sample",
        seed=3,
        **{f.name: f.default for f in dataclasses.fields(ProbeFlags) if f.name not in ("data", "seed")},
        debug=True,
    )
    assert received == [("m.pt", ProbeFlags(data="cifar10-sample", seed=3), True)]


def test_probe_flags_become_the_library_options_by_keyword():
    from audit.cli.options import Precision

    options = ProbeFlags(
        data="cifar10-sample", samples=64, mean="0.5,0.5,0.5", arch_args="width=4", precision=Precision.bf16
    ).options(show_progress=True, heatmap_samples=32)
    assert (options.data, options.samples, options.mean, options.arch_args) == (
        "cifar10-sample",
        64,
        (0.5, 0.5, 0.5),
        {"width": 4},
    )
    assert (options.precision, options.show_progress, options.heatmap_samples) == ("bf16", True, 32)
