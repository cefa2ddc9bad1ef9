"""End to end: the installed ``spectral-audit`` command in a new process, as a user and a
CI job run it. Everything else is tested in-process (conftest.invoke); these are the
only tests that launch the console script (eight at most), and they are marked slow.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import zipfile

import pytest
from conftest import ROOT, SAMPLES, HandSetNet, console_script, run_cli

pytestmark = pytest.mark.slow


def readme_audit_command() -> list[str]:
    """The spectral-audit part of the README's first command."""
    for line in (ROOT / "README.md").read_text().splitlines():
        if "pip install ." in line and "spectral-audit " in line:
            return shlex.split(line[line.index(".venv/bin/spectral-audit ") :])[1:]
    raise AssertionError("the README's first command is not an install + spectral-audit line")


def test_the_readme_first_command_runs_offline(tmp_path):
    args = readme_audit_command()
    # The command as written, on a seeded 64 of the bundled images to keep the suite fast.
    run = run_cli(*args, "--samples", "64", "--json", tmp_path / "result.json", "-q", cwd=ROOT)
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["probes"]["dataset"] == "cifar10-sample" and result["probes"]["samples"] == 64
    assert "Verdict" in run.stdout and run.stdout.strip().splitlines()[-1].startswith("Gates:")


def test_hand_set_kernels_through_the_command_json_and_report(hand_set_model, tmp_path):
    run = run_cli(hand_set_model, "--json", tmp_path / "r.json", "--out", tmp_path / "report", "--no-pdf")
    assert run.returncode == 0, run.stderr
    layers = {l["name"]: l for l in json.loads((tmp_path / "r.json").read_text())["spectral"]["layers"]}
    for name, expected in HandSetNet.EXPECTED_HFER.items():
        assert layers[name]["hfer"] == pytest.approx(expected, abs=1e-9), name
    page = (tmp_path / "report" / "report.html").read_text()
    for name, expected in HandSetNet.EXPECTED_HFER.items():
        row = page[page.index(f"<code>{name}</code>") :].split("</tr>", 1)[0]
        assert f">{expected:.3f}<" in row, (name, row)
    for name, expected in HandSetNet.EXPECTED_HFER.items():
        line = next(l for l in run.stdout.splitlines() if re.search(rf"\b{name}\b", l))
        assert f"{expected:.3f}" in line


def test_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    run = run_cli(tmp_path / "empty.pt")
    assert run.returncode == 2
    assert run.stderr.startswith("error:") and run.stderr.strip().count("\n") == 0
    assert "Traceback" not in run.stderr + run.stdout


def test_version_and_help_do_not_import_torch():
    run = run_cli("--version")
    assert run.returncode == 0 and run.stdout.startswith("spectral-audit ")
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, audit, audit.cli; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=120,
    )
    assert probe.stdout.strip() == "False", probe.stderr


def _interrupt_during_the_probes(tmp_path, signum: int) -> tuple[subprocess.Popen, str, dict]:
    """Write a report, then start a long run into the same folder and send ``signum``
    once it reports that the probes have started (a readiness line, not a sleep)."""
    from conftest import invoke

    out = tmp_path / "report"
    first = invoke(SAMPLES / "cifar_resnet8_l2.pt", "--out", out, "--no-pdf", "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    process = subprocess.Popen(
        [
            console_script(),
            str(SAMPLES / "cifar_resnet8_l2.ts.pt"),
            "--trust-code",
            "--data",
            "cifar10-sample",
            "--probes",
            "default,cifar10-c",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "160"},
    )
    seen = []
    for line in process.stderr:  # stderr is a pipe: one plain progress line at the start
        seen.append(line)
        if line.startswith("probes on cifar10-sample: started"):
            break
    else:
        raise AssertionError(f"the run ended before its probes started: {''.join(seen)}")
    process.send_signal(signum)
    stdout, rest = process.communicate(timeout=300)
    return process, "".join(seen) + rest, before


@pytest.mark.parametrize("signum,code,word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_keeps_the_previous_report_and_leaves_no_temporary_file(tmp_path, signum, code, word):
    process, stderr, before = _interrupt_during_the_probes(tmp_path, signum)
    assert process.returncode == code, stderr
    assert word in stderr and "Traceback" not in stderr
    out = tmp_path / "report"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no .report.html.XXXX left either


def test_templates_ship_inside_the_wheel(tmp_path, hand_set_model):
    """Build the wheel, unpack it (a pure-Python wheel unpacked is installed), and render a
    report with nothing but the wheel's files on the path for the package itself."""
    from conftest import invoke

    result_json = tmp_path / "result.json"
    assert invoke(hand_set_model, "--json", result_json, "-q").returncode == 0
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)]
    build = subprocess.run([*command, "--no-build-isolation"], capture_output=True, text=True, timeout=600)
    if build.returncode != 0:  # this environment's setuptools cannot build it: let pip fetch one
        build = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("spectral_audit-*.whl")
    installed = tmp_path / "installed"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(installed)
    assert "audit/templates/report.html" in names and "audit/templates/partials/_summary.html" in names
    assert "audit/data/cifar10_test_846.npz" in names and "audit/py.typed" in names
    environment = {**os.environ, "PYTHONPATH": str(installed)}
    run = subprocess.run(
        [sys.executable, "-m", "audit", "report", str(result_json), "--out", str(tmp_path / "from-wheel"), "--no-pdf"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env=environment,
    )
    assert run.returncode == 0, run.stderr
    location = subprocess.run(
        [sys.executable, "-c", "import audit.report.html as r; print(r.templates_folder())"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
    ).stdout
    assert location.startswith(str(installed))
    assert "Spectral audit of" in (tmp_path / "from-wheel" / "report.html").read_text()


@pytest.mark.slow
def test_runs_leave_nothing_in_home_or_tmpdir(tmp_path):
    """onnxruntime (a session file, a telemetry folder), matplotlib (config, font cache) and
    torch.export (an inductor cache) are kept in the run's scratch folder, removed at exit."""
    import warnings

    import torch

    sys.path.insert(0, str(SAMPLES))
    from cifar_resnet import CifarResNet

    model = CifarResNet().eval()
    model.load_state_dict(torch.load(SAMPLES / "cifar_resnet8_l2.pt", weights_only=True))
    program = tmp_path / "model.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(model, (torch.randn(2, 3, 32, 32),)), program)
    probes = ["--data", "cifar10-sample", "--samples", "8", "--probes", "blur"]
    for args in (  # (a data-free run of a .pt file does a subset of what these two do)
        [SAMPLES / "cifar_resnet8_l2.onnx", *probes, "--out", tmp_path / "report"],
        [program, "--trust-code", *probes],
    ):
        home, scratch = tmp_path / "home", tmp_path / "tmp"
        home.mkdir(exist_ok=True)
        scratch.mkdir(exist_ok=True)
        run = run_cli(*args, "-q", env={"HOME": str(home), "TMPDIR": str(scratch)})
        assert run.returncode == 0, run.stderr
        assert list(home.iterdir()) == [] and list(scratch.iterdir()) == [], (
            args[0],
            list(home.rglob("*")),
            list(scratch.rglob("*")),
        )


def _handlers_installed(pid: int) -> bool:
    """Whether the process catches SIGTERM yet (Linux /proc): spectral-audit's handlers are
    in place, so from now on every moment of start-up is the tool's to answer."""
    try:
        with open(f"/proc/{pid}/status") as status:
            caught = next(line for line in status if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def _wait_until_handlers_installed(process: subprocess.Popen) -> None:
    """Readiness from the process itself: it catches SIGTERM once spectral-audit's handlers
    are in place (read from /proc). A spin on that state, no clock: the deadline only
    turns a hang into a failure."""
    deadline = time.monotonic() + 120
    while not _handlers_installed(process.pid):
        assert process.poll() is None and time.monotonic() < deadline, "the handlers were never installed"


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc to see the handlers installed")
def test_a_signal_at_each_stage_exits_128_plus_it_in_one_line(tmp_path):
    """A signal as soon as the handlers are in place (while torch and the CLI import), and
    after a progress line of the probes: 130 for SIGINT, 143 for SIGTERM, at most one
    line, nothing written, never a library's error. Each moment is found by a readiness
    signal from the process (its caught-signal mask, a line on stderr), not by a delay."""
    failures = []
    # Each signal at start-up (their exit paths differ before the CLI is imported), then
    # one after the first progress line and one after the third (mid-way through the probes).
    moments = [(signal.SIGINT, 0), (signal.SIGTERM, 0), (signal.SIGINT, 1), (signal.SIGTERM, 3)]
    for signum, lines_first in moments:  # lines_first 0: at start-up; k: after the k-th progress line
        out = tmp_path / f"{signum}-{lines_first}.json"
        process = subprocess.Popen(
            [
                console_script(),
                str(SAMPLES / "cifar_resnet8_l2.onnx"),
                "--data",
                "cifar10-sample",
                "--samples",
                "256",  # after the third line, three probes' work is still to come
                "--json",
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_until_handlers_installed(process)
        seen = [process.stderr.readline() for _ in range(lines_first)]
        process.send_signal(signum)
        _, err = process.communicate(timeout=300)
        lines = err.strip().splitlines()
        if process.returncode != 128 + signum or len(lines) > 1 or out.exists() or "Traceback" in err:
            failures.append((signum, lines_first, seen[-1:], process.returncode, err.strip()[-200:]))
    assert not failures, failures
