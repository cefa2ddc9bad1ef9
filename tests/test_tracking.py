"""track: training order, SSR against the first checkpoint, report and JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import invoke, make_zoo

from audit.api import run_track as track
from audit.errors import AuditError
from audit.loading.runs import epoch_of, order_checkpoints

EVOLUTION = Path(__file__).resolve().parent.parent / "sample_models" / "evolution"


def test_epoch_numbers_from_names():
    assert epoch_of(Path("model_epoch_07.pt")) == 7
    assert epoch_of(Path("ckpt-ep12.safetensors")) == 12
    assert epoch_of(Path("resnet18_step=3000.ckpt")) == 3000
    assert epoch_of(Path("run3_42.pt")) == 42
    assert epoch_of(Path("final.pt")) is None


def test_ordering_is_numeric_not_alphabetical(tmp_path):
    for epoch in (10, 2, 1, 30):
        torch.save(make_zoo(epoch).state_dict(), tmp_path / f"net_epoch_{epoch}.pt")
    ordered = order_checkpoints([tmp_path])
    assert [epoch for _, epoch in ordered] == [1, 2, 10, 30]
    given = order_checkpoints([tmp_path / "net_epoch_30.pt", tmp_path / "net_epoch_1.pt"], order="given")
    assert [epoch for _, epoch in given] == [30, 1]


def test_ordering_errors(tmp_path):
    torch.save(make_zoo().state_dict(), tmp_path / "final.pt")
    torch.save(make_zoo().state_dict(), tmp_path / "epoch_3.pt")
    with pytest.raises(AuditError, match="order="):
        order_checkpoints([tmp_path])
    with pytest.raises(AuditError, match="at least two"):
        order_checkpoints([tmp_path / "final.pt"])


def test_first_checkpoint_has_paper_ssr_zero_and_training_moves_energy_to_low_frequencies():
    result = track([EVOLUTION / f"cifar_resnet8_baseline_epoch_{e:02d}.pt" for e in (30, 0, 10)])
    assert [p.epoch for p in result.points] == [0, 10, 30]
    assert result.points[0].paper_ssr == 0.0 and result.points[0].ssr == 1.0
    assert result.points[0].hfer == pytest.approx(8 / 9, abs=0.02)  # random init is near white noise
    assert result.points[-1].hfer < result.points[0].hfer
    assert result.points[-1].paper_ssr > 0
    assert sum(result.points[-1].radial_profile) == pytest.approx(1.0)


def test_track_verb_writes_report_and_json(tmp_path):
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    for epoch in (0, 1, 2, 15, 30):
        shutil.copy(EVOLUTION / f"cifar_resnet8_baseline_epoch_{epoch:02d}.pt", run_folder)
    run = invoke("track", run_folder, "--out", tmp_path / "out", "--json", tmp_path / "t.json")
    assert run.returncode == 0, run.stderr
    data = json.loads((tmp_path / "t.json").read_text())
    assert [p["epoch"] for p in data["points"]] == [0, 1, 2, 15, 30]
    assert data["points"][0]["paper_ssr"] == 0.0
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"track.html", "track.pdf", "track.json"}
    page = (tmp_path / "out" / "track.html").read_text()
    assert page.count("<svg") == 2 and "cifar_resnet8_baseline_epoch_15.pt" in page
