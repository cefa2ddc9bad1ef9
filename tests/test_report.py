"""Rendering the report from a fixed JSON result, with no model: content, not existence."""

from __future__ import annotations

import copy
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

from audit.api import load_result
from audit.report.html import render_html, render_pdf, write_report
from audit.schema import AuditResult, Finding

SAMPLES = Path(__file__).resolve().parent.parent / "sample_models"


@pytest.fixture(scope="module")
def result_json(tmp_path_factory) -> Path:
    """A real result with probes and a baseline, written once by the console script."""
    folder = tmp_path_factory.mktemp("result")
    run = run_cli(
        SAMPLES / "cifar_resnet8_l2.ts.pt",
        "--baseline",
        SAMPLES / "cifar_resnet8_baseline.ts.pt",
        "--data",
        "cifar10-sample",
        "--samples",
        "64",
        "--probes",
        "default,fourier_heatmap",
        "--heatmap-samples",
        "8",
        "--json",
        folder / "result.json",
        "-q",
    )
    assert run.returncode == 0, run.stderr
    return folder / "result.json"


@pytest.fixture()
def result(result_json) -> AuditResult:
    return load_result(result_json)


def pdf_text(data: bytes) -> tuple[int, str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_html_shows_verdict_findings_layers_and_charts(result):
    page = render_html(result)
    assert result.verdict.split(" (")[0] in page
    assert result.findings, "the fixed result should have findings"
    for finding in result.findings:
        assert finding.message.replace("'", "&#39;") in page or finding.message in page
    for layer in result.spectral.layers:
        assert f"<code>{layer.name}</code>" in page
    # radial energy, depth heat map, HFER by depth, one curve per probe, the Fourier heat map
    probes = len({r.probe for r in result.probes.results})
    assert page.count('<figure class="chart">') == 3 + probes + 1
    assert page.count("<svg") == 3 + probes + 1
    assert "<script" not in page
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page)  # nothing fetched from the network


def test_sections_come_in_the_promised_order(result):
    page = render_html(result)
    order = [
        'id="summary"',
        'id="findings"',
        'id="spectra"',
        'id="probes"',
        'id="fourier-heatmap"',
        'id="how-it-was-run"',
    ]
    positions = [page.index(marker) for marker in order]
    assert positions == sorted(positions)


def test_run_facts_are_reported(result):
    page = render_html(result)
    for fact in (result.model.sha256, result.run.torch_version, result.run.onnxruntime_version, "seed", "precision"):
        assert fact in page


def test_pdf_pages_and_text(result):
    pages, text = pdf_text(render_pdf(render_html(result)))
    assert pages >= 3
    assert "Spectral audit of" in text and "page 1 of" in text
    flat = " ".join(text.split())
    assert "Verdict" in flat and "Findings" in flat and "How it was run" in flat
    assert "layer3.0.conv2" in flat


def test_hostile_layer_names_are_escaped(result):
    hostile = copy.deepcopy(result)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    hostile.spectral.layers[0].name = evil
    hostile.findings.append(Finding("x", "warning", f"{evil} is bad"))
    page = render_html(hostile)
    assert evil not in page
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;" in page


def test_data_free_result_renders_without_probe_sections(resnet18_forms, tmp_path):
    from audit.api import run_audit

    data_free = run_audit(resnet18_forms["state_dict.pt"], device="cpu")
    page = render_html(data_free)
    assert "Not run: this audit used the weights only" in page
    assert 'id="fourier-heatmap"' not in page


def test_write_report_writes_all_three_files(result, tmp_path):
    written = write_report(result, tmp_path / "out")
    assert sorted(p.name for p in written) == ["report.html", "report.pdf", "result.json"]
    assert load_result(tmp_path / "out" / "result.json") == result
    assert (tmp_path / "out" / "report.pdf").read_bytes().startswith(b"%PDF")
    assert oct((tmp_path / "out" / "report.html").stat().st_mode & 0o777) != oct(0o600)


def test_a_failing_render_leaves_the_previous_report(result, tmp_path, monkeypatch):
    folder = tmp_path / "out"
    write_report(result, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def broken(html):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr("audit.report.html.render_pdf", broken)
    changed = copy.deepcopy(result)
    changed.verdict = "something else"
    with pytest.raises(RuntimeError):
        write_report(changed, folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_report_verb_rerenders_from_json(result_json, tmp_path):
    run = run_cli("report", result_json, "--out", tmp_path / "again")
    assert run.returncode == 0, run.stderr
    assert {p.name for p in (tmp_path / "again").iterdir()} == {"report.html", "report.pdf"}
    run = run_cli("report", result_json, "--out", tmp_path / "html-only", "--no-pdf")
    assert {p.name for p in (tmp_path / "html-only").iterdir()} == {"report.html"}


def test_out_option_on_the_main_command(tmp_path):
    run = run_cli(SAMPLES / "cifar_resnet8_l2.pt", "--out", tmp_path / "r", "--no-pdf", "-q")
    assert run.returncode == 0, run.stderr
    assert {p.name for p in (tmp_path / "r").iterdir()} == {"report.html", "result.json"}


def test_out_path_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = run_cli(SAMPLES / "cifar_resnet8_l2.pt", "--out", blocker)
    assert run.returncode == 2 and "not a folder" in run.stderr


def test_templates_ship_inside_the_wheel(tmp_path, result_json):
    """Build the wheel, install it in a fresh venv, and render a report from there."""
    root = Path(__file__).resolve().parent.parent
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(root)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("spectral_audit-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True, text=True, check=True
    ).stdout.strip()
    # The dependencies (torch, weasyprint...) come from the test environment; the package itself only from the wheel.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "test-deps.pth").write_text("\n".join(deps) + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    script = venv / "bin" / "spectral-audit"
    run = subprocess.run(
        [str(script), "report", str(result_json), "--out", str(tmp_path / "from-wheel")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert run.returncode == 0, run.stderr
    location = subprocess.run(
        [str(python), "-c", "import audit.report.html as r; print(r.templates_folder())"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert str(venv) in location
    assert "Spectral audit of" in (tmp_path / "from-wheel" / "report.html").read_text()
