"""The report rendered from hand-built results, with no model: content, not existence."""

from __future__ import annotations

import copy
import io
import os
import re
from pathlib import Path

import pytest
from builders import audit_result
from conftest import SAMPLES, invoke

from audit.api import load_result, save_result
from audit.report.html import render_html, render_pdf, write_report
from audit.rules.policy import Policy
from audit.schema import Finding

GOLD = Path(__file__).resolve().parent / "gold"


@pytest.fixture(scope="module")
def result():
    return audit_result()


@pytest.fixture(scope="module")
def page(result) -> str:
    """The hand-built result's HTML, rendered once for the tests that only read it."""
    return render_html(result)


def test_html_shows_verdict_findings_layers_and_charts(result, page):
    assert result.verdict.split(" (")[0] in page
    assert result.findings, "the hand-built result should have findings"
    for finding in result.findings:
        assert finding.message.replace("'", "&#39;") in page or finding.message in page
    for layer in result.spectral.layers:
        assert f"<code>{layer.name}</code>" in page
    # the summary chart, radial energy, depth heat map, HFER by depth, one curve per probe, the Fourier heat map
    probes = len({r.probe for r in result.probes.results})
    assert page.count("<svg") == 1 + 3 + probes + 1
    assert page.count('class="probe-chart"') == probes
    assert "<script" not in page
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page)  # nothing fetched from the network


def test_sections_come_in_the_promised_order(result, page):
    order = ["summary", "findings", "spectra", "probes", "fourier-heatmap", "how-it-was-run"]
    positions = [page.index(f'id="{marker}"') for marker in order]
    assert positions == sorted(positions)


def test_run_facts_are_reported(result, page):
    for fact in (result.model.sha256, result.run.torch_version, "seed", "precision"):
        assert fact in page


def test_hostile_layer_names_are_escaped(result):
    hostile = copy.deepcopy(result)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    hostile.spectral.layers[0].name = evil
    hostile.findings.append(Finding("x", "warning", f"{evil} is bad"))
    page = render_html(hostile)
    assert evil not in page
    assert (
        "<script" not in page
        and "<img src=x" not in page
        and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    )
    assert "&lt;script&gt;" in page


def test_data_free_result_renders_without_probe_sections():
    page = render_html(audit_result(probes=False))
    assert "Not run: this audit used the weights only" in page
    assert 'id="fourier-heatmap"' not in page


def test_write_report_writes_the_files_atomically(result, tmp_path):
    written = write_report(result, tmp_path / "out", pdf=False)
    assert sorted(p.name for p in written) == ["report.html", "result.json"]
    assert load_result(tmp_path / "out" / "result.json") == result
    assert oct((tmp_path / "out" / "report.html").stat().st_mode & 0o777) != oct(0o600)
    assert sorted(os.listdir(tmp_path / "out")) == ["report.html", "result.json"]  # no temporary file left


def test_a_failing_render_leaves_the_previous_report(result, tmp_path, monkeypatch):
    folder = tmp_path / "out"
    monkeypatch.setattr("audit.report.html.render_pdf", lambda html: b"%PDF-previous")
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


def test_report_verb_rerenders_from_json(result, page, tmp_path):
    save_result(result, tmp_path / "result.json")
    run = invoke("report", tmp_path / "result.json", "--out", tmp_path / "html-only", "--no-pdf")
    assert run.returncode == 0, run.stderr
    assert {p.name for p in (tmp_path / "html-only").iterdir()} == {"report.html"}
    assert (tmp_path / "html-only" / "report.html").read_text() == page


def test_out_option_on_the_main_command(tmp_path):
    run = invoke(SAMPLES / "cifar_resnet8_l2.pt", "--out", tmp_path / "r", "--no-pdf", "-q")
    assert run.returncode == 0, run.stderr
    assert {p.name for p in (tmp_path / "r").iterdir()} == {"report.html", "result.json"}


def test_out_path_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = invoke(SAMPLES / "cifar_resnet8_l2.pt", "--out", blocker)
    assert run.returncode == 2 and "not a folder" in run.stderr


# --- gold file -----------------------------------------------------------------------------


def scrub(page: str) -> str:
    """The report without what changes from run to run or between library versions: the
    date, the version, hashes, and the inside of the SVG charts (matplotlib's output
    changes between releases; the charts are tested for content elsewhere)."""
    page = re.sub(r"<svg\b[^>]*aria-label=\"([^\"]*)\".*?</svg>", r'<svg aria-label="\1"/>', page, flags=re.S)
    page = re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", page)
    page = re.sub(r"\b[0-9a-f]{16}…", "<sha256-prefix>…", page)
    page = re.sub(r"spectral-audit \d+\.\d+\.\d+\S*", "spectral-audit <version>", page)
    page = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", "<date>", page)
    return page


def test_html_matches_the_gold_file(page):
    """Whole-page comparison (coverage.py's habit). After an intended change, regenerate:
    SPECTRAL_AUDIT_REGENERATE_GOLD=1 pytest tests/test_report.py -k gold, and read the diff."""
    page = scrub(page)
    gold = GOLD / "report.html"
    if os.environ.get("SPECTRAL_AUDIT_REGENERATE_GOLD"):
        gold.parent.mkdir(exist_ok=True)
        gold.write_text(page)
    assert page == gold.read_text(), "the report changed; see the docstring to regenerate the gold file"


# --- the printed report -------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_pdf(tmp_path_factory) -> list[str]:
    """The README's first command (the sample L2 state_dict against the baseline, its
    architecture named, the default probes) on a seeded 256 of the 846 bundled images:
    text per page. The layout depends on the rows and findings, not on the number of
    images: all 846 give the same five pages and the same six findings (measured), in
    2.5 times the time."""
    from pypdf import PdfReader

    from audit.api import ProbeOptions, run_audit

    result = run_audit(
        SAMPLES / "cifar_resnet8_l2.pt",
        baseline=SAMPLES / "cifar_resnet8_baseline.pt",
        device="cpu",
        probes=ProbeOptions(data="cifar10-sample", samples=256, arch=f"{SAMPLES / 'cifar_resnet.py'}:CifarResNet"),
        policy=Policy(),
    )
    reader = PdfReader(io.BytesIO(render_pdf(render_html(result))))
    return [page.extract_text() for page in reader.pages]


HEADERS = ("probe value accuracy % drop", "layer shape kind HFER", "gate value 95% interval", "severity finding")


@pytest.mark.slow  # the README's first command on 256 images, then a PDF
def test_the_sample_report_fits_five_pages_with_the_verdict_and_findings_on_page_one(sample_pdf):
    assert len(sample_pdf) <= 5
    first = " ".join(sample_pdf[0].split())
    assert "Spectral audit of" in first and "page 1 of" in first
    assert "Verdict" in first and "more low-pass than the baseline" in first and "Findings" in first
    everything = " ".join(" ".join(sample_pdf).split())
    assert "How to read this report" in everything and "How it was run" in everything
    assert "layer3.0.conv2" in everything


@pytest.mark.slow
def test_no_page_ends_with_a_table_header(sample_pdf):
    for number, text in enumerate(sample_pdf, start=1):
        lines = [l.strip() for l in text.splitlines() if l.strip() and not l.startswith("page ")]
        lines = [l for l in lines if l != "spectral-audit report"]
        assert not any(lines[-1].startswith(header) for header in HEADERS), (number, lines[-3:])


def test_the_depth_heat_map_of_3x3_kernels_draws_only_their_radii():
    from audit.report.charts import depth_heatmap

    svg = depth_heatmap(audit_result())
    ticks = svg.split('<g id="xtick_')[1:]  # each x tick's group, then its label's <text>
    labels = [re.search(r"<text[^>]*>(.*?)</text>", tick, flags=re.S).group(1).strip() for tick in ticks]
    assert labels[:3] == ["0", "0.333", "0.471"] and set(labels) <= {"0", "0.333", "0.471"}


def test_findings_link_to_their_explanation(result, page):
    for finding in result.findings:
        assert f'href="#guide-{finding.id}"' in page and f'id="guide-{finding.id}"' in page
    assert 'id="how-to-read"' in page and '<img src="data:image/png;base64,' in page


def test_the_vs_baseline_column_means_model_minus_baseline_accuracy_in_every_row(result):
    """The clean row and the probe rows used to differ (model better vs model worse)."""
    from audit.report.view import _probe_groups

    probes = _probe_groups(result)
    section = result.probes
    assert probes["clean_difference"].startswith(f"{100 * section.clean_difference:+.1f}")
    for group in probes["groups"]:
        rows = [r for r in section.results if r.probe == group["probe"]]
        for shown, row in zip(group["rows"], rows):
            assert shown["difference"].startswith(f"{100 * (row.accuracy - row.baseline_accuracy):+.1f}")


def test_the_baseline_line_breaks_where_a_layer_has_no_counterpart():
    """A dashed line bridging unmatched layers (depth 6 -> 19) invented a trend."""
    from audit.report.charts import hfer_by_depth

    def baseline_segments(result) -> int:
        svg = hfer_by_depth(result)
        dashed = re.findall(r'<path d="([^"]*)"[^>]*stroke-dasharray', svg, flags=re.S)
        return dashed[0].count("M")  # one move per drawn segment

    whole = audit_result()
    assert baseline_segments(whole) == 1
    gap = audit_result()
    gap.spectral.layers[2].baseline_hfer = None
    assert baseline_segments(gap) == 2


def test_the_hfer_caption_names_the_white_noise_reference_when_that_is_the_baseline():
    from audit.report.html import render_html

    alone = render_html(audit_result(baseline=False, probes=False))
    assert "against the white-noise reference (what i.i.d." in alone and "Look for where the lines part" not in alone
    assert "Look for where the lines part" in render_html(audit_result(probes=False))


def test_the_guide_spells_options_as_its_reader_types_them(result, tmp_path):
    """The guide names options by the library's names; the command line's report spells
    them as flags, a library caller's as keyword arguments."""
    chance = copy.deepcopy(result)
    chance.findings = [Finding("chance-level-accuracy", "error", "at chance")]
    assert "({mean}/{std})" not in render_html(chance)
    assert "(mean=…/std=…)" in render_html(chance)
    assert "(--mean/--std)" in render_html(chance, {"mean": "--mean", "std": "--std"})
    save_result(chance, tmp_path / "result.json")
    assert invoke("report", tmp_path / "result.json", "--out", tmp_path / "r", "--no-pdf").returncode == 0
    assert "(--mean/--std)" in (tmp_path / "r" / "report.html").read_text()
