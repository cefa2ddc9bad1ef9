"""Gates through the console script's real exit code: each threshold passes, and fails by a hair."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
from conftest import invoke

from audit.errors import AuditError
from audit.rules.policy import load_policy

SAMPLES = Path(__file__).resolve().parent.parent / "sample_models"
# The safe way to probe: state_dicts with the architecture named (no --trust-code).
MODEL = SAMPLES / "cifar_resnet8_l2.pt"
BASELINE = SAMPLES / "cifar_resnet8_baseline.pt"
PROBE_ARGS = [
    "--arch",
    f"{SAMPLES / 'cifar_resnet.py'}:CifarResNet",
    "--data",
    "cifar10-sample",
    "--samples",
    "64",
    "--probes",
    "blur",
    "--seed",
    "1",
]


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """The numbers the gates will be set around, measured once."""
    out = tmp_path_factory.mktemp("measured") / "result.json"
    run = invoke(MODEL, "--baseline", BASELINE, *PROBE_ARGS, "--json", out, "-q")
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    k5 = next(r for r in data["probes"]["results"] if r["probe"] == "gaussian_blur" and r["severity"] == 5)
    return {
        "hfer": data["spectral"]["summary"]["hfer"],
        "ssr": data["spectral"]["summary"]["ssr"],
        "layer_hfer": max(l["hfer"] for l in data["spectral"]["layers"] if l["hfer"] is not None),
        "clean": data["probes"]["clean_accuracy"],
        "drop_k5": k5["accuracy_drop"],
        "lost_vs_baseline_k5": k5["baseline_accuracy"] - k5["accuracy"],
        "gates": data["gates"],
    }


def audit(*args, tmp_path=None, probes=False):
    extra = ["--baseline", str(BASELINE), *PROBE_ARGS] if probes else ["--baseline", str(BASELINE)]
    return invoke(MODEL, *extra, "-q", *args, cwd=tmp_path)


def write_policy(tmp_path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


EPS = 1e-3


@pytest.mark.parametrize(
    "flag,key,side",
    [
        ("--max-hfer", "hfer", "max"),
        ("--max-layer-hfer", "layer_hfer", "max"),
        ("--min-ssr", "ssr", "min"),
    ],
)
def test_spectral_flags(measured, flag, key, side, tmp_path):
    value = measured[key]
    passing, failing = (value + EPS, value - EPS) if side == "max" else (value - EPS, value + EPS)
    ok = audit(flag, f"{passing:.6f}", tmp_path=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().splitlines()[-1].startswith("Gates: all")
    bad = audit(flag, f"{failing:.6f}", tmp_path=tmp_path)
    assert bad.returncode == 1
    last = bad.stdout.strip().splitlines()[-1]
    assert last.startswith("Gates: FAILED 1") and flag.lstrip("-").replace("-", "_") in last and "by 0.001" in last


# --- accuracy gates judge intervals (hand-built results, in-process) -------------------------


@pytest.fixture(scope="module")
def paired():
    from builders import audit_result

    return audit_result()


def gate(result, **settings):
    from audit.rules.gates import check_gates
    from audit.rules.policy import Policy

    return check_gates(result, Policy(fail_on="never", **settings)).checks[0]


def test_min_clean_accuracy_fails_only_when_the_whole_interval_is_below(paired):
    low, high = paired.probes.clean_accuracy_ci
    estimate = paired.probes.clean_accuracy
    just_above = (estimate + high) / 2  # above the estimate, inside the interval
    assert gate(paired, min_clean_accuracy=just_above).passed  # the data do not show it is below
    assert not gate(paired, min_clean_accuracy=just_above, gate_mode="point").passed
    check = gate(paired, min_clean_accuracy=high + 0.001)
    assert not check.passed and check.interval == [low, high] and check.mode == "significant"


def test_max_accuracy_drop_fails_only_when_the_whole_interval_is_above(paired):
    row = next(r for r in paired.probes.results if r.probe == "gaussian_blur" and r.severity == 5)
    low, high = row.accuracy_drop_ci
    inside = (low + row.accuracy_drop) / 2
    table = {"gaussian_blur": {5.0: inside}}
    assert gate(paired, max_accuracy_drop=table).passed
    assert not gate(paired, max_accuracy_drop=table, gate_mode="point").passed
    assert not gate(paired, max_accuracy_drop={"gaussian_blur": {5.0: low - 0.001}}).passed


def test_max_accuracy_drop_vs_baseline_uses_the_paired_difference(paired):
    row = next(r for r in paired.probes.results if r.probe == "gaussian_noise" and r.severity == 0.2)
    lost = row.baseline_accuracy - row.accuracy
    low, high = -row.difference_ci[1], -row.difference_ci[0]
    check = gate(paired, max_accuracy_drop_vs_baseline={"gaussian_noise": {0.2: (low + lost) / 2}})
    assert check.value == pytest.approx(lost) and check.interval == pytest.approx([low, high]) and check.passed
    assert not gate(paired, max_accuracy_drop_vs_baseline={"gaussian_noise": {0.2: low - 0.001}}).passed
    assert "not the drop difference" in check.detail  # which number the gate used, beside the findings' one


def test_non_inferiority_passes_only_when_the_whole_interval_is_within_the_limit(paired):
    row = next(r for r in paired.probes.results if r.probe == "gaussian_blur" and r.severity == 5)
    low, high = row.accuracy_drop_ci
    between = {"gaussian_blur": {5.0: (row.accuracy_drop + high) / 2}}  # above the value, below the far bound
    assert gate(paired, max_accuracy_drop=between).passed
    assert gate(paired, max_accuracy_drop=between, gate_mode="point").passed
    check = gate(paired, max_accuracy_drop=between, gate_mode="non-inferiority")
    assert not check.passed and check.deciding == high and check.mode == "non-inferiority"
    assert gate(paired, max_accuracy_drop={"gaussian_blur": {5.0: high + 0.001}}, gate_mode="non-inferiority").passed
    clean_low = paired.probes.clean_accuracy_ci[0]
    assert not gate(paired, min_clean_accuracy=clean_low + 0.001, gate_mode="non-inferiority").passed


def test_every_ci_output_shows_value_interval_mode_and_the_deciding_bound_in_points(paired):
    """'0.3924 > 0.35 (by 0.0424)' hid that the interval's bound decided; fractions beside points."""
    from audit.report.ci import describe_check, junit_xml, markdown_summary
    from audit.rules.gates import check_gates
    from audit.rules.policy import Policy

    row = next(r for r in paired.probes.results if r.probe == "gaussian_blur" and r.severity == 5)
    low, high = row.accuracy_drop_ci
    limit = low - 0.008
    gates = check_gates(paired, Policy(fail_on="never", max_accuracy_drop={"gaussian_blur": {5.0: limit}}))
    (check,) = gates.checks
    text = describe_check(check)
    assert text.startswith(
        f"max_accuracy_drop[gaussian_blur@5] {100 * row.accuracy_drop:.1f} [{100 * low:.1f}, {100 * high:.1f}] "
        f"points, limit {100 * limit:.1f} (significant mode: the interval's lower bound {100 * low:.1f} is past it "
        "by 0.8)"
    )
    from xml.etree import ElementTree as ET

    failure = ET.fromstring(junit_xml(gates)).find(".//failure")
    assert failure.get("message") == text and failure.text.startswith(text)
    summary = markdown_summary(paired, gates)
    assert (
        f"| {100 * row.accuracy_drop:.1f} points [{100 * low:.1f}, {100 * high:.1f}] | significant | {100 * low:.1f} |"
        in summary
    )


def test_a_limit_finer_than_the_sample_resolves_is_named(paired):
    from audit.rules.gates import check_gates
    from audit.rules.policy import Policy

    fine = check_gates(paired, Policy(fail_on="never", max_accuracy_drop_vs_baseline={"gaussian_blur": 0.01}))
    assert len(fine.notes) == 5 and "finer than the sample resolves" in fine.notes[0]
    wide = check_gates(paired, Policy(fail_on="never", max_accuracy_drop_vs_baseline={"gaussian_blur": 0.2}))
    assert wide.notes == []


def test_gate_mode_from_the_command_line(measured, tmp_path):
    """A limit between the measured drop's lower bound and its value: significant passes, point fails."""
    drop = measured["drop_k5"]
    policy = write_policy(tmp_path, f'[max_accuracy_drop]\ngaussian_blur = {{ "5" = {drop - EPS:.6f} }}\n')
    assert audit("--policy", policy, probes=True, tmp_path=tmp_path).returncode == 0
    run = audit("--policy", policy, "--gate-mode", "point", probes=True, tmp_path=tmp_path)
    assert run.returncode == 1 and "max_accuracy_drop[gaussian_blur@5]" in run.stdout.splitlines()[-1]


def test_fail_on_warning(tmp_path):
    # The L2 model's layers are low-pass: no warnings against white noise...
    assert invoke(MODEL, "--fail-on", "warning", "-q", cwd=tmp_path).returncode == 0
    # ...but a policy that wants it more low-pass than the baseline is turns its SSR into a warning.
    policy = tmp_path / "policy.toml"
    policy.write_text("[findings]\nnetwork_ssr_below = 100.0\n")
    against = (BASELINE, "--baseline", MODEL, "--policy", str(policy), "-q")
    run = invoke(*against, "--fail-on", "warning", cwd=tmp_path)
    assert run.returncode == 1 and "fail_on_warning" in run.stdout.splitlines()[-1]
    assert invoke(*against, "--fail-on", "never", cwd=tmp_path).returncode == 0


def test_pyproject_tool_table_is_found_from_the_working_directory(measured, tmp_path):
    (tmp_path / "pyproject.toml").write_text(f"[tool.spectral-audit]\nmax_hfer = {measured['hfer'] - EPS:.6f}\n")
    nested = tmp_path / "sub" / "dir"
    nested.mkdir(parents=True)
    run = invoke(MODEL, "-q", cwd=nested)
    assert run.returncode == 1 and "max_hfer" in run.stdout.splitlines()[-1]


@pytest.mark.parametrize(
    "text,message",
    [
        ("max_hfer = [", "not valid TOML"),
        ("max_hfr = 0.5", "unknown policy key 'max_hfr'"),
        ('max_hfer = "high"', "max_hfer must be a number"),
        ("fail_on = 'sometimes'", "fail_on must be one of"),
        ("[max_accuracy_drop]\nwobble = 0.1", "max_accuracy_drop.wobble: unknown probe"),
        ("[max_accuracy_drop]\ngaussian_blur = 'x'", "max_accuracy_drop.gaussian_blur must be a number"),
        ("[findings]\nnope = 1", "findings.nope"),
    ],
)
def test_malformed_policy_exits_2_naming_the_key(tmp_path, text, message):
    run = audit("--policy", write_policy(tmp_path, text), tmp_path=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr


def test_probe_gate_without_data_is_a_usage_error(tmp_path):
    run = audit("--min-clean-accuracy", "0.5", tmp_path=tmp_path)
    assert run.returncode == 2 and "--data" in run.stderr


def test_junit_has_one_case_per_gate(measured, tmp_path):
    path = tmp_path / "junit.xml"
    run = audit("--max-hfer", f"{measured['hfer'] - EPS:.6f}", "--min-ssr", "1.0", "--junit", path, tmp_path=tmp_path)
    assert run.returncode == 1
    suite = ElementTree.parse(path).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["max_hfer", "min_ssr", "fail_on_error"]
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    assert cases[0].find("failure") is not None and cases[1].find("failure") is None


def test_gates_in_json_and_github_summary(tmp_path):
    summary = tmp_path / "summary.md"
    out = tmp_path / "r.json"
    run = invoke(
        MODEL, "--max-hfer", "0.9", "--json", out, "-q", cwd=tmp_path, env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert run.returncode == 0
    gates = json.loads(out.read_text())["gates"]
    assert gates["passed"] is True
    assert {"name", "value", "threshold", "passed"} <= set(gates["checks"][0])
    assert "| `max_hfer` |" in summary.read_text()


def test_baseline_result_json_supplies_probe_numbers(measured, tmp_path):
    """CI keeps the last release's JSON instead of its weights."""
    release = tmp_path / "release.json"
    assert invoke(BASELINE, *PROBE_ARGS, "--json", release, "-q", cwd=tmp_path).returncode == 0
    out = tmp_path / "candidate.json"
    run = invoke(MODEL, "--baseline", release, *PROBE_ARGS, "--json", out, "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert data["spectral"]["baseline"]["kind"] == "profile"
    assert data["spectral"]["summary"]["ssr"] == pytest.approx(measured["ssr"])
    k5 = next(r for r in data["probes"]["results"] if r["severity"] == 5)
    assert k5["baseline_accuracy"] - k5["accuracy"] == pytest.approx(measured["lost_vs_baseline_k5"])


def test_load_policy_reads_pyproject_path_directly(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.spectral-audit]\nmin_ssr = 1.2\n")
    assert load_policy(path).min_ssr == 1.2
    with pytest.raises(AuditError, match="no such file"):
        load_policy(tmp_path / "missing.toml")


def test_gates_show_in_the_report_with_pass_and_fail(measured, tmp_path):
    run = audit(
        "--max-hfer",
        f"{measured['hfer'] - EPS:.6f}",
        "--min-ssr",
        "1.0",
        "--out",
        tmp_path / "r",
        "--no-pdf",
        tmp_path=tmp_path,
    )
    assert run.returncode == 1
    page = (tmp_path / "r" / "report.html").read_text()
    section = page[page.index('id="gates"') : page.index('id="spectra"')]
    assert "<code>max_hfer</code>" in section and "FAIL" in section
    assert "<code>min_ssr</code>" in section and ">pass<" in section


@pytest.mark.parametrize(
    "flag,value,fragment",
    [
        ("--max-hfer", "70", "percentage"),
        ("--max-hfer", "inf", "finite"),
        ("--max-hfer", "nan", "finite"),
        ("--min-ssr", "-5", "out of range"),
        ("--max-layer-hfer", "2", "out of range"),
        ("--min-clean-accuracy", "60", "percentage"),
    ],
)
def test_gate_flags_are_checked_as_the_policy_file_is(tmp_path, flag, value, fragment):
    run = invoke(MODEL, flag, value, "-q", cwd=tmp_path)
    assert run.returncode == 2, run.stdout
    message = run.stderr.strip()
    assert message.count("\n") == 0 and fragment in message and flag in message


def test_flags_and_the_policy_file_share_one_constructor_and_its_checks():
    from audit.rules.policy import Policy, overridden

    base = Policy(max_hfer=0.5)
    changed = overridden(base, {"max_hfer": 0.6, "min_ssr": None, "gate_mode": "point"})
    assert (changed.max_hfer, changed.min_ssr, changed.gate_mode) == (0.6, None, "point")
    assert base.max_hfer == 0.5  # a new policy; the file's is left as read
    with pytest.raises(AuditError, match="out of range"):
        overridden(base, {"max_hfer": 70})
    with pytest.raises(AuditError, match="must be one of"):
        overridden(base, {"gate_mode": "lenient"})
    with pytest.raises(AuditError, match="not a policy setting"):
        overridden(base, {"max_hferr": 0.5})
