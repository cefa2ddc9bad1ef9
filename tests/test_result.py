"""The JSON result: stable keys, strict JSON, lossless round trip, version checks."""

from __future__ import annotations

import copy
import json

import pytest

from audit.api import load_result, run_audit, save_result
from audit.errors import AuditError
from audit.schema import AuditResult, decode_result, encode, to_json


@pytest.fixture(scope="module")
def result(zoo_forms):
    return run_audit(zoo_forms["torchscript.pt"], device="cpu")


def test_json_has_the_documented_shape(result):
    data = json.loads(to_json(result))
    assert data["schema_version"] == 1
    assert {"path", "sha256", "format", "parameters"} <= set(data["model"])
    spectral = data["spectral"]
    assert {"kind", "source"} <= set(spectral["baseline"])
    assert {"hfer", "baseline_hfer", "ssr"} <= set(spectral["summary"])
    for layer in spectral["layers"]:
        assert {
            "name",
            "shape",
            "kernel_size",
            "groups",
            "radii",
            "radial_energy",
            "hfer",
            "baseline_hfer",
            "ssr",
        } <= set(layer)


def test_round_trip_is_lossless(result, tmp_path):
    path = tmp_path / "result.json"
    save_result(result, path)
    again = load_result(path)
    assert again == result
    assert to_json(again) == to_json(result)


def test_non_finite_numbers_become_null(result):
    result = copy.deepcopy(result)  # the fixture is shared: change a copy
    result.spectral.layers[0].ssr = float("inf")
    text = to_json(result)
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text)["spectral"]["layers"][0]["ssr"] is None


def test_newer_schema_is_refused(result, tmp_path):
    data = encode(result)
    data["schema_version"] = 99
    path = tmp_path / "future.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AuditError, match="schema_version 99"):
        load_result(path)


def test_unknown_keys_are_ignored(result):
    data = encode(result)
    data["spectral"]["layers"][0]["added_later"] = 1
    assert decode_result(AuditResult, data).spectral.layers[0].name == result.spectral.layers[0].name


@pytest.mark.parametrize(
    "text,match",
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ("{}", "schema_version"),
        ('{"schema_version": 1}', "malformed"),
    ],
)
def test_bad_json_files(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(AuditError, match=match):
        load_result(path)


def test_one_codec_reads_back_every_kind_of_result(result):
    """Audit, track and zoo results go out and come back through the same two functions."""
    from builders import audit_result

    from audit.schema import SpectralSettings, TrackPoint, TrackResult

    track = TrackResult(
        points=[TrackPoint("a.pt", 1, "0" * 64, 0.8, 0.5, 0.0, 1.0, [0.2, 0.8], {"conv1": 0.8})],
        layers=["conv1"],
        bin_edges=[0.0, 0.5],
        settings=SpectralSettings(),
    )
    for value in (result, audit_result(), track):
        data = json.loads(to_json(value))
        assert list(data)[:2] == ["schema_version", "kind"]
        assert decode_result(type(value), data) == value


@pytest.mark.parametrize(
    "path,value,match",
    [
        (("findings", 0, "severity"), "fatal", "must be one of 'info', 'warning', 'error'"),
        (("probes", "results", 0, "kind"), "weird", "must be one of 'corruption', 'diagnostic'"),
        (("gates", "mode"), "lenient", "must be one of"),
        (("kind",), "zoo", "not a spectral-audit result"),
    ],
)
def test_a_value_outside_its_literal_type_is_refused(path, value, match):
    from builders import audit_result

    data = json.loads(to_json(audit_result()))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(AuditError, match=match):
        decode_result(AuditResult, data)


def test_a_section_whose_fields_all_have_defaults_may_be_missing(result):
    data = encode(result)
    del data["spectral"]["settings"], data["spectral"]["unmatched"]
    again = decode_result(AuditResult, data)
    assert again.spectral.settings == result.spectral.settings.__class__()
    assert again.spectral.unmatched.model_only == []
