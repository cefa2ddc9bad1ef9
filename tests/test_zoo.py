"""The zoo: rank correlations (against scipy and numpy loops), the statistics, the table,
the forecasts the findings make from a fixture study table, and the verb and the study
script run on tiny models."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from builders import audit_result
from conftest import ROOT as REPO
from conftest import invoke
from scipy.stats import spearmanr

from audit.errors import AuditError
from audit.rules.forecasts import Calibration, bundled_calibration, forecasts, load_calibration, supported
from audit.schema import Correlation, LayerSpectrum, ZooModel, ZooResult, decode_result
from audit.spectral.statistics import STATISTICS, spectral_statistics
from audit.zoo.correlation import correlate, spearman
from audit.zoo.table import correlation_table, drop_key

FIXTURE = Path(__file__).parent / "gold" / "zoo_calibration.json"


# --- correlations -------------------------------------------------------------------------


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, (30, 3)).astype(float)  # many ties
    y = x[:, :1] * 0.5 + rng.normal(size=(30, 4))
    ours = spearman(x, y)
    for i in range(3):
        for j in range(4):
            assert ours[i, j] == pytest.approx(spearmanr(x[:, i], y[:, j]).statistic, abs=1e-12)


def test_within_groups_is_the_correlation_of_ranks_centred_per_group():
    rng = np.random.default_rng(1)
    groups = np.array(["a"] * 7 + ["b"] * 9)
    x, y = rng.normal(size=(16, 1)), rng.normal(size=(16, 1))
    # Reference by hand: rank inside each group, subtract the group's mean rank, correlate.
    rx, ry = np.zeros(16), np.zeros(16)
    for g in ("a", "b"):
        rows = np.flatnonzero(groups == g)
        for target, values in ((rx, x[rows, 0]), (ry, y[rows, 0])):
            ranks = np.array([1 + sum(v > u for u in values) for v in values], dtype=float)  # no ties
            target[rows] = ranks - ranks.mean()
    expected = (rx * ry).sum() / np.sqrt((rx**2).sum() * (ry**2).sum())
    assert spearman(x, y, groups)[0, 0] == pytest.approx(expected, abs=1e-12)


def test_a_difference_between_architectures_does_not_fake_a_within_correlation():
    """Deep models have a higher statistic and a larger drop, but inside each
    architecture the two are unrelated: rho across is high, within is not."""
    rng = np.random.default_rng(2)
    groups = np.array(["shallow"] * 20 + ["deep"] * 20)
    statistic = np.where(groups == "deep", 1.0, 0.0) + 0.1 * rng.normal(size=40)
    drop = np.where(groups == "deep", 0.3, 0.1) + 0.02 * rng.normal(size=40)
    table = correlate(statistic[:, None], drop[:, None], groups, resamples=400)
    assert table.rho[0, 0] > 0.7 and table.low[0, 0] > 0.5
    assert abs(table.within[0, 0]) < 0.35 and table.within_low[0, 0] < 0 < table.within_high[0, 0]


def test_a_monotone_relation_has_rho_one_in_every_resample():
    x = np.arange(12.0)[:, None]
    table = correlate(x, np.exp(x), ["g"] * 12, resamples=200)
    assert table.rho[0, 0] == pytest.approx(1) and table.low[0, 0] == pytest.approx(1)
    assert table.within_low[0, 0] == pytest.approx(1)


def test_a_constant_column_has_no_correlation():
    table = correlate(np.ones((6, 1)), np.arange(6.0)[:, None], ["g"] * 6, resamples=100)
    assert np.isnan(table.rho[0, 0]) and np.isnan(table.within[0, 0]) and np.isnan(table.low[0, 0])


def test_the_bootstrap_is_seeded():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(15, 2)), rng.normal(size=(15, 2))
    first, second = correlate(x, y, ["g"] * 15, resamples=300), correlate(x, y, ["g"] * 15, resamples=300)
    assert np.array_equal(first.low, second.low) and np.array_equal(first.within_high, second.within_high)


# --- statistics ---------------------------------------------------------------------------


def layer(name: str, hfer: float | None, slices: int, h: float = 0.5, base: float | None = None) -> LayerSpectrum:
    return LayerSpectrum(
        name=name,
        shape=[1, 1, 3, 3],
        kernel_size=[3, 3],
        kind="conv2d",
        groups=1,
        stride=[1, 1],
        dilation=[1, 1],
        transposed=False,
        slices=slices,
        hfer=hfer,
        paper_h=h,
        baseline_hfer=base,
        baseline_paper_h=None if base is None else 2 * h,
    )


def test_stage_statistics_split_the_layers_with_a_spectrum_into_thirds():
    layers = [
        layer("a", 0.1, 1, base=0.2),
        layer("pointwise", None, 100),  # 1x1: no spectrum, not counted anywhere
        layer("b", 0.2, 3, base=0.2),
        layer("c", 0.4, 1, base=0.2),
        layer("d", 0.6, 1, base=0.2),
        layer("e", 0.8, 2, base=0.2),
    ]
    values = spectral_statistics(layers)
    assert values["first_layer_hfer"] == 0.1
    assert values["early_hfer"] == pytest.approx((0.1 * 1 + 0.2 * 3) / 4)  # a, b
    assert values["middle_hfer"] == pytest.approx(0.5)  # c, d
    assert values["late_hfer"] == pytest.approx(0.8)  # e
    assert values["network_hfer"] == pytest.approx((0.1 + 0.6 + 0.4 + 0.6 + 1.6) / 8)
    assert values["paper_h"] == pytest.approx(0.5)
    baseline = spectral_statistics(layers, baseline=True)
    assert baseline["network_hfer"] == pytest.approx(0.2) and baseline["paper_h"] == pytest.approx(1.0)


def test_fewer_than_three_layers_have_no_stages():
    values = spectral_statistics([layer("a", 0.1, 1), layer("b", 0.3, 1)])
    assert values["early_hfer"] is None and values["late_hfer"] is None and values["first_layer_hfer"] == 0.1


# --- the table ------------------------------------------------------------------------------


def zoo_models(count: int = 8, seed: int = 0) -> list[ZooModel]:
    rng = np.random.default_rng(seed)
    models = []
    for index in range(count):
        hfer = 0.2 + 0.05 * index
        models.append(
            ZooModel(
                name=f"m{index}",
                path=f"m{index}.pt",
                sha256="0" * 64,
                architecture="A" if index % 2 else "B",
                parameters=1000,
                clean_accuracy=0.6,
                clean_accuracy_ci=[0.55, 0.65],
                statistics={name: float(rng.normal()) for name in STATISTICS} | {"network_hfer": hfer},
                drops={
                    drop_key("gaussian_blur", 7): [hfer / 2, 0.0, 1.0],
                    drop_key("gaussian_noise", 0.1): [0.1, 0, 1],
                },
            )
        )
    return models


def test_the_table_has_one_row_per_statistic_and_condition():
    models = zoo_models(20)  # 10 per architecture: the least that may support a forecast
    models[0].statistics["ssr_init"] = None  # no initial weights for one model
    rows, notes = correlation_table(models, {"gaussian_blur@7": "blur k=7"}, resamples=100)
    statistics = {r.statistic for r in rows}
    assert "ssr_init" not in statistics and len(rows) == 2 * len(statistics)
    assert any("SSR vs initialisation" in note for note in notes)
    blur = next(r for r in rows if r.statistic == "network_hfer" and r.probe == "gaussian_blur")
    assert blur.condition == "blur k=7" and blur.rho == pytest.approx(1) and blur.within == pytest.approx(1)
    assert supported(blur)
    noise = next(r for r in rows if r.statistic == "network_hfer" and r.probe == "gaussian_noise")
    assert noise.rho is None and not supported(noise)  # every model drops the same


def test_nothing_is_supported_with_fewer_than_ten_models_per_architecture():
    """3 models gave rho -1.00 [-1.00, -1.00] and 44 of 128 pairs 'supported'."""
    rows, notes = correlation_table(zoo_models(18), {"gaussian_blur@7": "blur k=7"}, resamples=100)
    blur = next(r for r in rows if r.statistic == "network_hfer" and r.probe == "gaussian_blur")
    assert blur.within == pytest.approx(1) and blur.smallest_group == 9 and not supported(blur)
    assert any("fewer than 10" in note and "none is called supported" in note for note in notes)


def test_chance_level_models_are_left_out_and_named():
    from audit.zoo.table import build_zoo

    models = zoo_models(6)
    models[2].at_chance, models[2].clean_accuracy = True, 0.11
    zoo = build_zoo(models, {}, dataset="d", samples=846, probes="default", resamples=100, skipped=["notes.txt: x"])
    assert [m.name for m in zoo.models] == ["m0", "m1", "m3", "m4", "m5"]
    assert zoo.notes[0] == "skipped notes.txt: x"
    assert zoo.notes[1] == "m2: clean accuracy 11.0% is not above twice chance; left out"
    with pytest.raises(AuditError, match="above chance"):
        build_zoo(models[:3], {}, dataset="d", samples=846, probes="default", resamples=100)


def test_a_folder_s_checkpoints_are_found_by_their_bytes_and_the_rest_named(tmp_path):
    from audit.loading.runs import list_checkpoints

    torch.save({"conv.weight": torch.zeros(2, 1, 3, 3)}, tmp_path / "aka_resnet20.weights")
    torch.save({"conv.weight": torch.zeros(2, 1, 3, 3)}, tmp_path / "b.pt")
    (tmp_path / "README.md").write_text("# models\n")
    skipped = []
    files = list_checkpoints([tmp_path], skipped=skipped)
    assert [f.name for f in files] == ["aka_resnet20.weights", "b.pt"]
    assert len(skipped) == 1 and skipped[0].startswith("README.md: ")


def test_a_zoo_needs_three_models():
    with pytest.raises(AuditError, match="at least 3"):
        correlation_table(zoo_models(2), {})


def test_the_zoo_json_round_trips():
    rows, notes = correlation_table(zoo_models(), {}, resamples=100)
    zoo = ZooResult(zoo_models(), rows, {}, "cifar10-sample", 846, "default", 100, 2, notes=notes)
    from audit.schema import to_json

    again = decode_result(ZooResult, json.loads(to_json(zoo)))
    assert again.correlations == zoo.correlations and again.models[3] == zoo.models[3]


# --- forecasts and the findings' wording (fixture study table) --------------------------------


@pytest.fixture(scope="module")
def fixture_calibration() -> Calibration:
    return load_calibration(FIXTURE)


def test_a_supported_statistic_forecasts_and_cites_its_correlation(fixture_calibration):
    result = audit_result(probes=False, calibration=fixture_calibration)
    (forecast,) = [f for f in result.findings if f.id == "spectral-forecast"]  # one finding, every forecast in it
    by_probe = {e["probe"]: e for e in forecast.evidence["forecasts"]}
    # The model's kernels are smoother than the baseline's: lower first-layer HFER.
    blur = by_probe["gaussian_blur"]
    assert blur["statistic"] == "first_layer_hfer"  # the strongest *comparable* supported one
    assert not blur["larger_drop"]
    assert forecast.message.startswith("Forecast from the weights: ")
    assert "a smaller drop than the baseline's under blur k=7 is likely: its first-layer HFER is" in forecast.message
    assert (
        "rho +0.71 [+0.45, +0.86]; +0.48 [+0.20, +0.70] with clean accuracy held fixed in the fixture zoo study "
        "(24 models), n=24" in forecast.message
    )
    assert " will " not in forecast.message
    # late-stage HFER is stronger within architectures (-0.75) but not once accuracy is held fixed.
    noise = by_probe["gaussian_noise"]  # lower network HFER, negative rho: a larger noise drop
    assert forecast.severity == "warning" and noise["larger_drop"]  # a warning: one forecast is a larger drop
    assert "rho -0.62 [-0.80, -0.35]" in forecast.message
    assert "low_resolution" not in by_probe  # its only correlation is not supported
    assert (
        "From its spectrum, a forecast that replicates across the zoo studies suggests a larger drop than the "
        "baseline's under noise σ=0.10 and a smaller one under blur k=7" in result.verdict
    )


def flipped(calibration: Calibration, statistic: str | None) -> Calibration:
    """The same study with one statistic's correlations of the opposite sign (as the real
    zoo has for first-layer HFER)."""
    swapped = [
        dataclasses.replace(
            c, within=-c.within, within_low=-c.within_high, within_high=-c.within_low,
            partial=None if c.partial is None else -c.partial,
            partial_low=None if c.partial is None else -c.partial_high,
            partial_high=None if c.partial is None else -c.partial_low,
        )
        if statistic in (None, c.statistic) and c.within is not None else c
        for c in calibration.correlations
    ]  # fmt: skip
    return Calibration("a real zoo", 14, 2, swapped)


def test_a_forecast_needs_the_same_sign_in_every_study(fixture_calibration):
    both = [fixture_calibration, fixture_calibration]
    agreeing = audit_result(probes=False, calibration=both)
    (forecast,) = [f for f in agreeing.findings if f.id == "spectral-forecast"]
    blur = next(e for e in forecast.evidence["forecasts"] if e["probe"] == "gaussian_blur")
    assert blur["statistic"] == "first_layer_hfer" and len(blur["studies"]) == 2
    assert forecast.message.count("n=24") == 2 * len(forecast.evidence["forecasts"])
    # The real zoo reverses first-layer HFER: it no longer forecasts; another statistic may.
    real = flipped(fixture_calibration, "first_layer_hfer")
    made = forecasts(audit_result(probes=False, calibration=None), [fixture_calibration, real])
    assert all(f.statistic != "first_layer_hfer" for f in made)
    assert all(len(f.support) == 2 and f.support[1][0] == "a real zoo" for f in made)


def test_without_a_replicated_forecast_the_verdict_says_the_weights_alone_do_not_predict(fixture_calibration):
    opposite = flipped(fixture_calibration, None)  # every statistic reversed in the second study
    result = audit_result(probes=False, calibration=[fixture_calibration, opposite])
    assert not [f for f in result.findings if f.id == "spectral-forecast"]
    assert (
        "The weights alone do not predict its robustness" in result.verdict and "(data=…)" in result.verdict
    )  # a library call spells it so


def test_held_out_agreement_leaves_out_each_source():
    from audit.zoo.table import folds_of

    models = zoo_models()
    for index, model in enumerate(models):
        model.recipe = {"source": "A" if index % 2 else "B", "seed": index}
    kind, folds = folds_of(models)
    assert kind == "source" and set(folds) == {"A", "B"}
    rows, _ = correlation_table(models, {}, resamples=50)
    assert all(r.held_out == "source" for r in rows)
    assert all(r.held_out_agreement in (None, 0.0, 0.5, 1.0) for r in rows)
    for model in models:
        model.recipe = {"width": 8, "seed": model.name}
    assert folds_of(models)[0] == "recipe"
    for model in models:
        model.recipe = {}
    assert folds_of(models)[0] == "model"


def test_unsupported_statistics_make_no_prediction(fixture_calibration):
    weak = Calibration(
        "weak",
        24,
        2,
        [
            dataclasses.replace(c, within_low=min(-0.1, c.within), within_high=max(0.1, c.within))
            for c in fixture_calibration.correlations
        ],
    )
    result = audit_result(probes=False, calibration=weak)
    assert not [f for f in result.findings if f.id == "spectral-forecast"]
    assert not [f for f in result.findings if f.severity == "warning"]  # descriptions only
    network = next(f for f in result.findings if f.id == "network-ssr")
    assert "The weights alone do not predict robustness for this architecture" in network.message
    layers = [f for f in result.findings if f.id == "layer-high-frequency"]
    assert all(f.severity == "info" for f in layers)


def test_measured_drops_take_precedence_over_forecasts(fixture_calibration):
    result = audit_result(probes=True, calibration=fixture_calibration)
    assert not [f for f in result.findings if f.id == "spectral-forecast"]
    assert "forecasts" not in result.verdict
    # Where the forecast and a significant measurement meet, the verdict says which won and
    # names the statistic behind each forecast.
    assert "As its first-layer HFER forecast (zoo studies), it loses less" in result.verdict
    assert "against what its network HFER forecast (zoo studies), it loses less" in result.verdict


def test_no_forecast_against_white_noise_or_another_architecture(fixture_calibration):
    white = audit_result(baseline=False, probes=False, calibration=fixture_calibration)
    assert forecasts(white, fixture_calibration) == []
    partial = audit_result(probes=False, calibration=fixture_calibration)
    partial.spectral.summary.matched_by = "partial"
    assert forecasts(partial, fixture_calibration) == []


def test_the_bundled_calibration_is_the_committed_study():
    calibration = bundled_calibration()
    study = REPO / "benchmarks" / "zoo_study.json"
    assert calibration is not None and study.is_file()
    zoo = decode_result(ZooResult, json.loads(study.read_text()))
    assert calibration.models == len(zoo.models) >= 24 and calibration.groups == zoo.groups
    ours = {(c.statistic, c.probe, c.severity): c.within for c in calibration.correlations}
    assert ours == {(c.statistic, c.probe, c.severity): c.within for c in zoo.correlations}


def test_the_bundled_real_calibration_is_the_committed_real_study():
    from audit.rules.forecasts import bundled_calibrations

    studies = bundled_calibrations()
    study = REPO / "benchmarks" / "real_zoo_study.json"
    assert len(studies) == 3 and study.is_file()
    zoo = decode_result(ZooResult, json.loads(study.read_text()))
    real = studies[1]
    assert real.models == len(zoo.models) == 14 and real.groups == zoo.groups == 2
    ours = {(c.statistic, c.probe, c.severity): c.within for c in real.correlations}
    assert ours == {(c.statistic, c.probe, c.severity): c.within for c in zoo.correlations}
    assert {m.recipe["source"] for m in zoo.models} == {
        "DanSun18/pytorch_resnet_cifar10",
        "antonioverdi/MLReproChallenge",
    }


def test_the_bundled_factors_calibration_is_the_committed_factors_study():
    """The recipe-factor zoo: 13 recipes x 2 seeds, its seed spread and plateau published."""
    from audit.rules.forecasts import bundled_calibrations

    factors = bundled_calibrations()[2]
    data = json.loads((REPO / "benchmarks" / "zoo_factors_study.json").read_text())
    zoo = decode_result(ZooResult, data)
    assert factors.models == len(zoo.models) == 26 and factors.groups == zoo.groups == 1
    ours = {(c.statistic, c.probe, c.severity): c.within for c in factors.correlations}
    assert ours == {(c.statistic, c.probe, c.severity): c.within for c in zoo.correlations}
    recipes = {
        json.dumps({k: v for k, v in m.recipe.items() if k not in ("seed", "test_accuracy")}) for m in zoo.models
    }
    assert len(recipes) == 13 and {m.recipe["seed"] for m in zoo.models} == {0, 1}
    assert {row["statistic"] for row in data["seed_spread"]} >= {"network_hfer", "first_layer_hfer"}
    assert data["plateau"]["models"] == 26


def test_no_spectral_forecast_replicates_across_the_bundled_zoos():
    """The trained zoo's first-layer and late-stage HFER forecasts do not hold on the real
    zoo, so the bundled studies forecast nothing (what the README says)."""
    from audit.rules.forecasts import bundled_calibrations, replicated
    from audit.spectral.statistics import STATISTICS

    studies = bundled_calibrations()
    for name, statistic in STATISTICS.items():
        if not statistic.comparable:
            continue
        for probe in ("gaussian_noise", "gaussian_blur", "low_resolution"):
            from audit.probes.registry import PROBES

            assert replicated(studies, name, probe, PROBES[probe].middle_severity()) is None, (name, probe)


# --- the verb and the study script ----------------------------------------------------------


def load_study_script():
    spec = importlib.util.spec_from_file_location("zoo_study", REPO / "benchmarks" / "zoo_study.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["zoo_study"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """The study script end to end on 3 tiny models trained for one step each."""
    study = load_study_script()
    work = tmp_path_factory.mktemp("zoo")
    rng = np.random.default_rng(0)
    train = work / "train.npz"
    np.savez(train, images=rng.integers(0, 256, (48, 32, 32, 3), dtype=np.uint8), labels=rng.integers(0, 10, 48))
    arguments = ["--train", str(train), "--work", str(work), "--max-steps", "1", "--limit", "3", "--samples", "24"]
    arguments += ["--probes", "noise", "--resamples", "100", "--out", str(work), "--calibration", str(work / "c.json")]
    arguments += ["--no-report"]  # the report's rendering is tested below, in-process
    study.subprocess = InProcess()  # the tool's command line, run here rather than in a new interpreter
    assert study.main(arguments) == 0
    return study, work, arguments


class InProcess:
    """Stands in for the subprocess module: runs ``python -m audit ...`` in this process."""

    @staticmethod
    def run(command, check):
        assert command[1:3] == ["-m", "audit"]
        result = invoke(*command[3:])
        sys.stderr.write(result.stderr)
        assert result.returncode == 0 or not check, result.stderr


def test_the_study_script_trains_audits_and_publishes(tiny_study):
    _, work, _ = tiny_study
    zoo = decode_result(ZooResult, json.loads((work / "zoo_study.json").read_text()))
    assert len(zoo.models) == 3 and zoo.groups == 2
    assert all(m.recipe["max_steps"] == 1 and "test_accuracy" in m.recipe for m in zoo.models)
    assert all(m.statistics["ssr_init"] is not None for m in zoo.models)  # the initial weights were saved
    assert {c.probe for c in zoo.correlations} == {"gaussian_noise"}
    markdown = (work / "zoo_study.md").read_text()
    assert "## Strongest pairs" in markdown and "small-image, small-model study" in markdown
    assert load_calibration(work / "c.json").models == 3


def test_a_rerun_trains_and_audits_nothing_again(tiny_study, capfd):
    study, work, arguments = tiny_study
    before = {p.name: p.stat().st_mtime_ns for p in (work / "models").iterdir()}
    assert study.main(arguments) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (work / "models").iterdir()} == before
    assert capfd.readouterr().err.count("from the cache") == 3


def test_the_zoo_verb_refuses_what_it_cannot_rank(tmp_path, tiny_study):
    _, work, _ = tiny_study
    models = sorted((work / "models").glob("*.ts.pt"))
    run = invoke("zoo", *map(str, models[:2]), "--data", "cifar10-sample", cwd=tmp_path)
    assert run.returncode == 2 and "at least 3" in run.stderr and "Traceback" not in run.stderr
    run = invoke("zoo", str(work / "models"), cwd=tmp_path)
    assert run.returncode == 2 and "--data" in run.stderr
    (tmp_path / "bad.json").write_text("[1, 2]")
    run = invoke("zoo", str(work / "models"), "--data", "cifar10-sample", "--recipes", "bad.json", cwd=tmp_path)
    assert run.returncode == 2 and "model name" in run.stderr


def test_the_zoo_report_shows_the_matrix_and_a_scatter_per_statistic_and_probe(tiny_study, tmp_path):
    from audit.report.html import render_zoo_html, write_zoo_report

    _, work, _ = tiny_study
    zoo = decode_result(ZooResult, json.loads((work / "zoo_study.json").read_text()))
    html = render_zoo_html(zoo)
    assert html.count("<svg") == 1  # one probe: one figure of small multiples
    assert html.count('class="matrix"') == 1 and "SSR vs initialisation" in html
    written = write_zoo_report(zoo, tmp_path, pdf=False)
    assert sorted(p.name for p in written) == ["zoo.html", "zoo.json", "zoo.md"]


def test_support_needs_both_intervals_to_exclude_zero_with_one_sign():
    def pair(within, partial):
        return Correlation("s", "p", 1.0, "p 1", 0.5, 0.1, 0.9, *within, *partial)

    assert supported(pair((0.5, 0.2, 0.7), (0.4, 0.1, 0.6)))
    assert not supported(pair((0.5, 0.2, 0.7), (0.1, -0.2, 0.4)))  # accuracy explains it
    assert not supported(pair((0.5, 0.2, 0.7), (-0.4, -0.6, -0.1)))  # the sign flips
    assert not supported(pair((0.3, -0.1, 0.6), (0.4, 0.1, 0.6)))
    assert supported(pair((-0.5, -0.7, -0.2), (None, None, None)))  # no control measured: within decides


def test_accuracy_held_fixed_removes_a_correlation_that_only_runs_through_accuracy():
    rng = np.random.default_rng(4)
    accuracy = rng.uniform(0.3, 0.7, 60)
    through_accuracy = accuracy + 0.02 * rng.normal(size=60)  # a statistic that tracks accuracy
    own = rng.normal(size=60)  # one with its own effect
    drop = 0.5 * accuracy + 0.05 * own + 0.005 * rng.normal(size=60)
    x = np.stack([through_accuracy, own], axis=1)
    table = correlate(x, drop[:, None], ["g"] * 60, resamples=300, control=accuracy)
    assert table.within[0, 0] > 0.6 and abs(table.partial[0, 0]) < 0.3  # explained by accuracy
    assert table.partial[1, 0] > 0.5 and table.partial_low[1, 0] > 0  # survives it


def test_every_recipe_factor_of_the_factors_grid_trains(tmp_path):
    """Each real-training factor (optimisers, schedules, label smoothing, PGD, pruning with
    fine-tuning) trains a few steps on tiny data and leaves what it promises."""
    study = load_study_script()
    recipes = study.recipe_grid(seeds=2, epochs=1)
    assert len(recipes) == 13 * 2 * 2 and len({r.name for r in recipes}) == len(recipes)
    assert {r.width for r in study.recipe_grid(seeds=2, epochs=1, widths=(8,))} == {8}
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (16, 3, 32, 32), dtype=np.uint8))
    labels = torch.from_numpy(rng.integers(0, 10, 16)).long()
    for recipe in recipes[:13]:  # one seed, width 8: every variant once
        tiny = dataclasses.replace(recipe, max_steps=2, batch_size=8)
        record = study.train_one(tiny, (images, labels), (images, labels), tmp_path)
        assert record["steps"] == (4 if tiny.prune else 2), tiny.name
        assert len(record["epoch_test_accuracy"]) == 1  # one epoch of 16 images: the plateau curve has one point
        if tiny.prune:  # the pruned share of conv weights is still zero after fine-tuning
            state = _traced_state(tmp_path, tiny)
            weights = torch.cat([t.flatten() for n, t in state.items() if n.endswith(".weight") and t.dim() == 4])
            assert (weights == 0).float().mean() >= tiny.prune - 0.01, tiny.name
    model = study.CifarResNet(width=8)
    pixels = images.float() / 255
    adversarial = study.pgd_images(model, pixels, labels, 3, torch.Generator().manual_seed(0))
    assert (adversarial - pixels).abs().max() <= study.PGD_EPSILON + 1e-6


def _traced_state(work, recipe):
    from audit.loading import load_checkpoint

    loaded = load_checkpoint(work / "models" / f"{recipe.name}.ts.pt")
    return loaded.state_dict


def test_seed_spread_tells_a_recipe_signal_from_seed_noise():
    """A statistic that moves between recipes far more than between seeds has a large F; one
    that moves only between seeds has F near or below 1."""
    study = load_study_script()
    models = zoo_models(12)
    for index, model in enumerate(models):
        recipe, seed = index // 2, index % 2
        model.recipe = {"optimiser": f"r{recipe}", "seed": seed}
        model.statistics["network_hfer"] = 0.1 * recipe + 0.001 * seed  # recipe signal
        model.statistics["first_layer_hfer"] = 0.5 + (0.1 if seed else -0.1)  # seed noise only
    zoo = ZooResult(models, [], {}, "d", 846, "default", 100, 2)
    rows = {row["statistic"]: row for row in study.seed_spread(zoo)}
    assert rows["network_hfer"]["f"] > 100 and rows["network_hfer"]["p"] < 0.001
    assert rows["first_layer_hfer"]["f"] < 1e-6 and rows["first_layer_hfer"]["recipes"] == 6
    facts = study.plateau([{"epoch_test_accuracy": [0.1, 0.3, 0.5, 0.55, 0.56, 0.56, 0.57, 0.57]}])
    assert facts["median"] == pytest.approx(1.0)  # 0.57 - 0.56 over the last 2 of 8 epochs


def test_run_zoo_reads_each_checkpoint_once_and_keeps_its_numbers(tmp_path, monkeypatch):
    """The audit, the zero-padded spectra and SSR against the initial weights come from one
    load of each file (they came from three)."""
    import audit.api as api
    from audit.api import ProbeOptions, run_audit, run_zoo

    sys.path.insert(0, str(REPO / "sample_models"))
    from cifar_resnet import CifarResNet

    (tmp_path / "zoo").mkdir()
    (tmp_path / "init").mkdir()
    for seed in range(3):
        torch.manual_seed(seed)
        torch.save(CifarResNet(width=8).state_dict(), tmp_path / "init" / f"m{seed}.pt")
        trained = CifarResNet(width=8)
        with torch.no_grad():
            for weight in trained.parameters():
                weight.mul_(0.5 + 0.2 * seed)
        torch.save(trained.state_dict(), tmp_path / "zoo" / f"m{seed}.pt")
    arch = f"{REPO / 'sample_models' / 'cifar_resnet.py'}:CifarResNet"
    probes = ProbeOptions(data="cifar10-sample", samples=16, probes="noise", arch=arch, arch_args={"width": 8})
    reads = []
    original = api.load_checkpoint
    monkeypatch.setattr(
        api, "load_checkpoint", lambda path, **kw: reads.append(Path(path).name) or original(path, **kw)
    )
    zoo = run_zoo([tmp_path / "zoo"], probes=probes, init_dir=tmp_path / "init", device="cpu", resamples=50)
    assert sorted(reads) == ["m0.pt", "m0.pt", "m1.pt", "m1.pt", "m2.pt", "m2.pt"]  # each model once, each init once
    monkeypatch.setattr(api, "load_checkpoint", original)
    expected = run_audit(tmp_path / "zoo" / "m1.pt", baseline=tmp_path / "init" / "m1.pt", device="cpu")
    row = next(m for m in zoo.models if m.name == "m1")
    assert row.statistics["ssr_init"] == pytest.approx(expected.spectral.summary.ssr)


def test_the_control_itself_has_no_partial_correlation():
    """Clean accuracy against a drop, clean accuracy held fixed: undefined (it showed as
    +0.00 [+0.00, +0.00], 'supported', when rounding left r_xz a hair below 1)."""
    from audit.zoo.correlation import partial_correlation

    r_xz = np.array([1 - 1e-15, 0.5])
    out = partial_correlation(np.array([[0.6], [0.3]]), r_xz, np.array([0.6]))
    assert np.isnan(out[0, 0]) and np.isfinite(out[1, 0])


def test_a_scatter_plots_each_model_with_both_numbers_and_skips_one_without_a_drop():
    """x and y stay paired: a model with no drop for the condition is left out of the
    panel, not shifted onto its neighbour's value."""
    from audit.report.charts import zoo_scatter
    from audit.zoo.table import build_zoo

    zoo = build_zoo(zoo_models(8), {"gaussian_blur@7": "blur k=7"}, dataset="d", samples=846, probes="p", resamples=50)
    cells = {(c.statistic, c.probe): c for c in zoo.correlations}
    del zoo.models[3].drops[drop_key("gaussian_blur", 7)]  # e.g. a cached row from an older run
    svg = zoo_scatter(zoo, "gaussian_blur", "blur k=7", ["network_hfer"], cells)
    assert svg.startswith("<svg") and svg.count('id="PathCollection_') >= 1
