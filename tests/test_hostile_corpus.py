"""Every hostile input of the corpus (tests/hostile_corpus.py) through the command line:
no payload run, no traceback, nothing created outside the output folder, no large memory
spike; a refused case exits 2 with exactly one line on stderr and leaves the previous
output alone; a program audited data-free (parsed, never run) may succeed."""

from __future__ import annotations

import resource
from pathlib import Path

from conftest import SAMPLES, invoke
from hostile_corpus import MARKER, build

MODEL = SAMPLES / "cifar_resnet8_l2.onnx"  # runnable without trusting code


def tree(folder: Path) -> dict[str, bytes | str]:
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            found[str(path)] = "link"
        elif path.is_file():
            found[str(path)] = path.read_bytes() if path.stat().st_size < (1 << 20) else str(path.stat().st_size)
        else:
            found[str(path)] = "other"
    return found


def test_every_hostile_input_is_refused_in_one_line_and_harms_nothing(tmp_path):
    folder = tmp_path / "files"
    cases = build(folder, MODEL)
    assert len(cases) >= 75  # 41 before issue 18
    failures = []
    for case in cases:
        work = tmp_path / "work" / case.name.replace(" ", "_").replace("/", "_")
        previous = work / "previous" / "result.json"
        previous.parent.mkdir(parents=True)
        previous.write_text('{"previous": true}\n')
        args = list(case.args)
        if "--json" not in args and args[0] != "report":
            args += ["--json", str(previous)]  # a run that fails must not replace it
        before_files, before_work = tree(folder), tree(work)
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run = invoke(*args, cwd=work)
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) * 1024
        lines = run.stderr.strip().splitlines()
        problems = []
        if case.expect is None:  # parsed data-free: may succeed, must run nothing
            if run.returncode not in (0, 1, 2) or "Traceback" in run.stderr + run.stdout:
                problems.append(f"exit {run.returncode}: {run.stderr[-300:]!r}")
            if (folder / MARKER).exists():
                problems.append("THE PAYLOAD RAN")
            if tree(folder) != before_files:
                problems.append("files changed in the corpus folder")
            changed = {k for k in set(tree(work)) | set(before_work) if tree(work).get(k) != before_work.get(k)}
            if changed - {str(previous)}:
                problems.append(f"files other than --json changed: {sorted(changed)}")
            if problems:
                failures.append(f"{case.name}: {'; '.join(problems)}")
            continue
        if run.returncode != 2:
            problems.append(f"exit {run.returncode}")
        if len(lines) != 1 or not lines[0].startswith("error:"):
            problems.append(f"stderr is not one error line: {run.stderr!r}")
        elif case.expect not in lines[0]:
            problems.append(f"{case.expect!r} not in {lines[0]!r}")
        elif "unexpected" in lines[0].lower():  # the message must say what is wrong with the input
            problems.append(f"a message that does not say what is wrong: {lines[0]!r}")
        if "Traceback" in run.stderr + run.stdout:
            problems.append("traceback")
        if (folder / MARKER).exists():
            problems.append("THE PAYLOAD RAN")
        if tree(work) != before_work:
            problems.append("files changed or appeared in the working folder")
        if tree(folder) != before_files:
            problems.append("files changed in the corpus folder")
        if grown > 1 << 30:
            problems.append(f"memory peak grew by {grown >> 20} MiB")
        if problems:
            failures.append(f"{case.name}: {'; '.join(problems)}")
    assert not failures, "\n".join(failures)
