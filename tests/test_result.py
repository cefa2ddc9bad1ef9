"""The JSON result: stable keys, strict JSON, lossless round trip, version checks."""

from __future__ import annotations

import copy
import json

import pytest

from audit.api import load_result, run_audit, save_result
from audit.errors import AuditError
from audit.schema import AuditResult, to_json


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
    data = result.to_dict()
    data["schema_version"] = 99
    path = tmp_path / "future.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AuditError, match="schema_version 99"):
        load_result(path)


def test_unknown_keys_are_ignored(result):
    data = result.to_dict()
    data["spectral"]["layers"][0]["added_later"] = 1
    assert AuditResult.from_dict(data).spectral.layers[0].name == result.spectral.layers[0].name


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
