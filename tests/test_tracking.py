"""track: honest training order, SSR against the first checkpoint, the seed paper's own
protocol, refusing runs whose layers change, report and JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SAMPLES, invoke, make_zoo

from audit.api import run_track
from audit.errors import AuditError
from audit.loading.runs import list_checkpoints, position_in_name, training_order
from audit.spectral import paper

EVOLUTION = SAMPLES / "evolution"


@pytest.mark.parametrize(
    "name,expected",
    [
        ("model_epoch_07.pt", 7),
        ("ckpt-ep12.safetensors", 12),
        ("resnet18_step=3000.ckpt", 3000),
        ("epoch=3.ckpt", 3),
        ("run_iter_500.pt", 500),
        ("net_epoch_1.pth", 1),
        # digits that are not a training position
        ("resnet20_wd0_seed1.pth", None),
        ("resnet56.pt", None),
        ("lr5e-4.pt", None),
        ("deep12.pt", None),
        ("run3_42.pt", None),
        ("final.pt", None),
    ],
)
def test_only_explicit_name_patterns_give_a_position(name, expected):
    assert position_in_name(Path(name)) == expected


def test_the_checkpoints_own_epoch_key_comes_first(tmp_path):
    for epoch, name in ((3, "b_epoch_9.pt"), (1, "c.pt"), (2, "a_epoch_1.pt")):
        torch.save({"epoch": epoch, "state_dict": make_zoo(epoch).state_dict()}, tmp_path / name)
    result = run_track([tmp_path], device="cpu")
    assert [Path(p.path).name for p in result.points] == ["c.pt", "a_epoch_1.pt", "b_epoch_9.pt"]
    assert [p.epoch for p in result.points] == [1, 2, 3] and result.order == "epoch key"


def test_names_without_positions_keep_the_file_order_and_say_so(tmp_path):
    files = [tmp_path / n for n in ("resnet20_wd0_seed1.pth", "resnet20_wd5e-4_seed2.pth", "resnet20_wd0_seed3.pth")]
    order = training_order(files, [{}, {}, {}])
    assert order.positions == [0, 1, 2] and order.source == "file order" and "file order" in order.label
    given = training_order(files[::-1], [{}, {}, {}], "given")
    assert given.positions == [0, 1, 2] and given.source == "order given"


def test_ordering_is_numeric_not_alphabetical(tmp_path):
    for epoch in (10, 2, 1, 30):
        torch.save(make_zoo(epoch).state_dict(), tmp_path / f"net_epoch_{epoch}.pt")
    files = list_checkpoints([tmp_path])
    order = training_order(files, [{}] * 4)
    assert sorted(zip(order.positions, [f.name for f in files])) == [
        (1, "net_epoch_1.pt"),
        (2, "net_epoch_2.pt"),
        (10, "net_epoch_10.pt"),
        (30, "net_epoch_30.pt"),
    ]


def test_fewer_than_two_checkpoints(tmp_path):
    torch.save(make_zoo().state_dict(), tmp_path / "final.pt")
    with pytest.raises(AuditError, match="at least two"):
        list_checkpoints([tmp_path / "final.pt"])


def test_a_run_whose_layers_change_is_refused_unless_partial(tmp_path):
    torch.save(make_zoo().state_dict(), tmp_path / "epoch_1.pt")
    other = {k: v for k, v in make_zoo().state_dict().items() if not k.startswith("grouped")}
    torch.save(other, tmp_path / "epoch_2.pt")
    with pytest.raises(AuditError, match="change between checkpoints") as error:
        run_track([tmp_path], device="cpu")
    assert error.value.code == "mismatch"
    partial = run_track([tmp_path], device="cpu", match_mode="partial")
    assert partial.partial and "grouped" not in partial.layers


def test_first_checkpoint_has_ssr_one_and_training_moves_energy_to_low_frequencies():
    result = run_track([EVOLUTION / f"cifar_resnet8_baseline_epoch_{e:02d}.pt" for e in (30, 0, 10)], device="cpu")
    assert [p.epoch for p in result.points] == [0, 10, 30] and result.order == "file name"
    assert result.points[0].paper_ssr == 0.0 and result.points[0].ssr == 1.0
    assert result.points[0].hfer == pytest.approx(8 / 9, abs=0.02)  # random init is near white noise
    assert result.points[-1].hfer < result.points[0].hfer
    assert sum(result.points[-1].radial_profile) == pytest.approx(1.0)
    assert result.bin_edges == pytest.approx([0, 1 / 3, 2**0.5 / 3])  # a 3x3 network's true radii


# --- the seed paper's protocol, against a plain-NumPy port of its utils/frequency.py -------


def reference_small_kernel(kernel: np.ndarray) -> np.ndarray:
    """get_radial_spectrum_small_kernel(kernel, normalize=False), one loop at a time."""
    h, w = kernel.shape
    magnitude = np.abs(np.fft.fftshift(np.fft.fft2(kernel))) ** 2
    cy, cx = h // 2, w // 2
    radius = {}
    for i in range(h):
        for j in range(w):
            r = float(np.sqrt((j - cx) ** 2 + (i - cy) ** 2))
            radius.setdefault(r, []).append(magnitude[i, j])
    return np.array([np.mean(radius[r]) for r in sorted(radius)])


def reference_weight_spectrum(weight: np.ndarray) -> np.ndarray:
    """analyze_weight_spectrum(weight, normalize=True) for 4-D weights."""
    kh, kw = weight.shape[-2:]
    if min(kh, kw) <= 7:
        spectra = [reference_small_kernel(k) for k in weight.reshape(-1, kh, kw)]
        average = np.mean(spectra, axis=0)
        return average / average[0] if average[0] > 1e-8 else average / (np.max(average) + 1e-8)
    image = weight.mean(axis=0).mean(axis=0)
    magnitude = np.abs(np.fft.fftshift(np.fft.fft2(image))) ** 2
    cy, cx = kh // 2, kw // 2
    y, x = np.ogrid[:kh, :kw]
    r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2).astype(int)
    profile = np.zeros(min(kh, kw) // 2)
    for radius in range(len(profile)):
        if (r == radius).sum() > 0:
            profile[radius] = magnitude[r == radius].mean()
    return profile / profile.sum() if profile.sum() > 0 else profile


def reference_compute_ssr(before: np.ndarray, after: np.ndarray, threshold: float = 0.5) -> float:
    n = min(len(before), len(after))
    before, after = before[:n], after[:n]
    start = max(1, int(n * threshold))
    if start >= n:
        start = max(1, n - 1)
    h_before = 0.0 if before.sum() < 1e-12 else before[start:].sum() / before.sum()
    h_after = 0.0 if after.sum() < 1e-12 else after[start:].sum() / after.sum()
    return 0.0 if h_before < 1e-12 else (h_before - h_after) / h_before


@pytest.mark.parametrize(
    "shape", [(16, 3, 3, 3), (8, 4, 5, 5), (4, 2, 2, 2), (6, 3, 7, 7), (4, 3, 11, 11), (2, 2, 9, 9)]
)
def test_paper_spectrum_and_ssr_match_the_papers_code(shape):
    generator = torch.Generator().manual_seed(sum(shape))
    early, late = torch.randn(*shape, generator=generator), torch.randn(*shape, generator=generator)
    late = 0.5 * late + 0.5 * late.mean(dim=(-2, -1), keepdim=True)  # more low-pass
    ours_early, ours_late = paper.weight_spectrum(early), paper.weight_spectrum(late)
    assert np.allclose(ours_early.numpy(), reference_weight_spectrum(early.double().numpy()), rtol=1e-9, atol=1e-12)
    expected = reference_compute_ssr(
        reference_weight_spectrum(early.double().numpy()), reference_weight_spectrum(late.double().numpy())
    )
    assert paper.compute_ssr(ours_early, ours_late) == pytest.approx(expected, abs=1e-6)


def test_track_paper_protocol_uses_conv1_against_epoch_one():
    files = [EVOLUTION / f"cifar_resnet8_baseline_epoch_{e:02d}.pt" for e in (0, 1, 2, 30)]
    result = run_track(files, device="cpu", paper=True)
    assert result.paper_layer == "conv1" and result.paper_reference.startswith("epoch 1")
    epoch1 = torch.load(files[1], weights_only=True)["conv1.weight"].double().numpy()
    epoch30 = torch.load(files[3], weights_only=True)["conv1.weight"].double().numpy()
    expected = reference_compute_ssr(reference_weight_spectrum(epoch1), reference_weight_spectrum(epoch30))
    assert result.points[-1].paper_protocol_ssr == pytest.approx(expected, abs=1e-6)
    assert result.points[1].paper_protocol_ssr == 0.0


def test_track_verb_writes_report_and_json(tmp_path):
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    for epoch in (0, 1, 2, 15, 30):
        shutil.copy(EVOLUTION / f"cifar_resnet8_baseline_epoch_{epoch:02d}.pt", run_folder)
    run = invoke("track", run_folder, "--paper", "--out", tmp_path / "out", "--json", tmp_path / "t.json")
    assert run.returncode == 0, run.stderr
    data = json.loads((tmp_path / "t.json").read_text())
    assert [p["epoch"] for p in data["points"]] == [0, 1, 2, 15, 30]
    assert data["points"][0]["paper_ssr"] == 0.0 and data["paper_layer"] == "conv1"
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"track.html", "track.pdf", "track.json"}
    page = (tmp_path / "out" / "track.html").read_text()
    assert page.count("<svg") == 2 and "cifar_resnet8_baseline_epoch_15.pt" in page
    # --paper's numbers are in the report too, not only in the terminal: one per checkpoint.
    assert "compute_ssr, on conv1 vs epoch 1" in page
    last = data["points"][-1]["paper_protocol_ssr"]
    assert f'<td class="num">{last:.3f}</td></tr>' in page
    assert "seed paper's own protocol" in run.stdout
