"""The terminal at 80 columns (what CI logs and pipes get): no line longer, no wrapped row."""

from __future__ import annotations

import io
import re

import pytest
from builders import audit_result
from conftest import SAMPLES, invoke
from rich.console import Console

from audit.report.terminal import print_result


def rendered(result, width: int) -> str:
    buffer = io.StringIO()
    print_result(result, Console(file=buffer, width=width, no_color=True, force_terminal=False))
    return buffer.getvalue()


def table_rows(text: str, first_column: str) -> list[str]:
    """The lines of the table whose header starts with ``first_column``, up to its end."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_column + " "))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            continue
        if line.startswith("  ") and not line.startswith("   "):  # the notes under the table
            break
        rows.append(line)
    return rows


@pytest.mark.parametrize("width", [80, 120])
def test_nothing_is_longer_than_the_terminal(width):
    for result in (audit_result(), audit_result(baseline=False), audit_result(probes=False)):
        text = rendered(result, width)
        assert max(len(line) for line in text.splitlines()) <= width


def test_every_table_row_is_one_line():
    result = audit_result()
    text = rendered(result, 80)
    probe_rows = [r for r in table_rows(text, "probe") if re.search(r"\d", r)]
    assert len(probe_rows) == 1 + len(result.probes.results)  # the clean row and one per condition
    layer_rows = table_rows(text, "layer")
    assert len(layer_rows) == len(result.spectral.layers)
    assert all(re.search(r"\d+x\d+x\d+x\d+", row) for row in layer_rows)


def test_repeated_notes_are_said_once():
    result = audit_result()
    for layer in result.spectral.layers:
        layer.kind = "groups unknown"
    text = rendered(result, 80)
    assert text.count("groups unknown") == 1


def test_the_bundled_model_with_probes_at_80_columns(tmp_path):
    run = invoke(
        SAMPLES / "cifar_resnet8_l2.ts.pt",
        "--baseline",
        SAMPLES / "cifar_resnet8_baseline.ts.pt",
        "--trust-code",
        "--data",
        "cifar10-sample",
        "--samples",
        "100",
        "-q",
        cwd=tmp_path,
        env={"COLUMNS": "80"},
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [r for r in table_rows(run.stdout, "probe") if re.search(r"\d", r)]
    assert len(rows) == 1 + 5 + 5 + 6 + 4 + 4  # clean + the default sweeps, one line each
    assert run.stderr == ""  # -q: no progress lines


def test_progress_lines_in_a_ci_log(tmp_path):
    run = invoke(
        SAMPLES / "cifar_resnet8_l2.ts.pt",
        "--trust-code",
        "--data",
        "cifar10-sample",
        "--samples",
        "40",
        "--probes",
        "blur,noise",
        cwd=tmp_path,
    )
    assert run.returncode == 0
    lines = run.stderr.splitlines()
    assert lines[0] == "probes on cifar10-sample: started, 440 image evaluations in 2 parts"
    assert [line.split(": ")[1].split(" (")[0] for line in lines[1:]] == ["gaussian_blur done", "gaussian_noise done"]
    assert all("elapsed, ETA" in line for line in lines[1:])


def test_each_command_is_as_wide_as_the_terminal_it_runs_in(tmp_path, monkeypatch):
    """A rich Console reads $COLUMNS when it is made: the command line's, made once at import,
    must still follow the terminal of each run (in-process callers run several commands)."""
    from audit.cli import guard

    for console in (guard.stdout, guard.stderr):  # as if imported while $COLUMNS was 70
        monkeypatch.setattr(console, "_width", 70)
    model = SAMPLES / "cifar_resnet8_l2.pt"
    widths = {}
    for columns in ("150", "70", "150"):
        run = invoke(model, "-q", cwd=tmp_path, env={"COLUMNS": columns})
        assert run.returncode == 0, run.stderr
        widths.setdefault(columns, set()).add(max(len(line) for line in run.stdout.splitlines()))
    assert max(widths["70"]) <= 70 < min(widths["150"]) <= 150
