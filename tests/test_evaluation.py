"""The probe suite end to end on the sample model and the bundled data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audit.errors import AuditError
from audit.loading import load_checkpoint
from audit.probes import datasets
from audit.probes.heatmap import run_fourier_heatmap
from audit.probes.registry import PROBES
from audit.probes.runners import make_runner
from audit.probes.suite import check_compatibility, run_probe_suite
from audit.probes.summary import Outcomes, summarise

SAMPLES = Path(__file__).resolve().parent.parent / "sample_models"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def small_set():
    return datasets.take_subset(datasets.load_dataset("cifar10-sample"), 48, seed=0)


@pytest.fixture(scope="module")
def runners():
    return {
        "model": make_runner(load_checkpoint(SAMPLES / "cifar_resnet8_l2.ts.pt", trust_code=True), CPU),
        "baseline": make_runner(load_checkpoint(SAMPLES / "cifar_resnet8_baseline.onnx"), CPU),
    }


def test_suite_is_deterministic_and_independent_of_the_batch_size_and_the_baseline(small_set, runners):
    """Noise belongs to images: another batch size (as after an out-of-memory halving),
    or running without the baseline, changes no image's outcome."""
    probes = [PROBES["gaussian_noise"], PROBES["gaussian_blur"]]
    first = run_probe_suite(runners, small_set, probes, seed=3, batch_size=20)
    again = run_probe_suite(runners, small_set, probes, seed=3, batch_size=7)
    alone = run_probe_suite({"model": runners["model"]}, small_set, probes, seed=3, batch_size=48)
    assert np.array_equal(first.correct, again.correct) and np.array_equal(first.agrees, again.agrees)
    assert np.array_equal(first.correct[:, :1], alone.correct)
    other_seed = run_probe_suite(runners, small_set, probes, seed=4, batch_size=20)
    noise_rows = slice(1, 1 + len(probes[0].severities))
    assert not np.array_equal(first.correct[noise_rows], other_seed.correct[noise_rows])
    assert np.array_equal(
        first.correct[1 + len(probes[0].severities) :], other_seed.correct[1 + len(probes[0].severities) :]
    )
    assert first.correct.shape == (11, 2, 48)


def test_a_shard_sees_the_noise_of_its_images(small_set, runners):
    """Images 16..47 evaluated alone (as a second rank would) get the same outcomes."""
    probes = [PROBES["gaussian_noise"]]
    whole = run_probe_suite({"model": runners["model"]}, small_set, probes, seed=5, batch_size=16)
    shard = datasets.ImageSet("s", small_set.images[16:], small_set.labels[16:], small_set.mean, small_set.std, 10, "t")
    part = run_probe_suite({"model": runners["model"]}, shard, probes, seed=5, batch_size=9, first_index=16)
    assert np.array_equal(whole.correct[:, :, 16:], part.correct)


def test_accuracy_matches_a_plain_loop(small_set, runners):
    blur = PROBES["gaussian_blur"]
    outcome = run_probe_suite({"model": runners["model"]}, small_set, [blur], batch_size=32)
    results, clean = summarise(outcome.tasks, Outcomes(outcome.correct[:, 0], outcome.agrees[:, 0]), None, 32, 0)
    mean = torch.tensor(small_set.mean).view(1, -1, 1, 1)
    std = torch.tensor(small_set.std).view(1, -1, 1, 1)
    x = small_set.images.float() / 255
    with torch.inference_mode():
        predictions = runners["model"].module((x - mean) / std).argmax(1)
        blurred = runners["model"].module((blur.apply(x, 5, None) - mean) / std).argmax(1)
    assert clean.accuracy == pytest.approx((predictions == small_set.labels).float().mean().item())
    k5 = next(r for r in results if r.severity == 5)
    assert k5.accuracy == pytest.approx((blurred == small_set.labels).float().mean().item())
    assert k5.agreement == pytest.approx((blurred == predictions).float().mean().item())
    assert k5.accuracy_drop == pytest.approx(clean.accuracy - k5.accuracy)
    assert k5.accuracy_ci[0] <= k5.accuracy <= k5.accuracy_ci[1]


def test_labels_are_optional(small_set, runners):
    unlabelled = datasets.ImageSet("x", small_set.images, None, small_set.mean, small_set.std, None, "test")
    outcome = run_probe_suite({"model": runners["model"]}, unlabelled, [PROBES["low_pass"]])
    assert outcome.correct is None
    results, clean = summarise(outcome.tasks, Outcomes(None, outcome.agrees[:, 0]), None, 32, 0)
    assert clean.accuracy is None and results[0].accuracy is None and 0 <= results[0].agreement <= 1


def test_channel_and_size_mismatch_fail_before_work(runners, tmp_path):
    import numpy as np

    np.savez(tmp_path / "gray.npz", images=np.zeros((4, 28, 28), np.uint8), labels=np.zeros(4))
    gray = datasets.load_dataset(str(tmp_path / "gray.npz"))
    with pytest.raises(AuditError, match=r"\(1, 28, 28\)"):
        check_compatibility(runners["model"], gray)
    with pytest.raises(AuditError, match="expects inputs of shape"):
        check_compatibility(runners["baseline"], gray, runners["baseline"].input_shape)


def test_class_count_mismatch(small_set, runners):
    hundred = datasets.ImageSet("c100", small_set.images, small_set.labels, small_set.mean, small_set.std, 100, "t")
    with pytest.raises(AuditError, match="predicts 10 classes but c100 has 100"):
        check_compatibility(runners["model"], hundred)


def test_fourier_heatmap_lights_up_only_where_the_model_looks():
    """A model that reads one Fourier coefficient (u0, v0) of its input: only a perturbation
    at that frequency (and its mirror) can change its predictions."""
    from audit.probes.fourier import fourier_basis
    from audit.probes.runners import TorchRunner

    u0, v0 = 2, 1
    basis = fourier_basis(8, 8, u0, v0)

    class ReadsOneFrequency(torch.nn.Module):
        def forward(self, x):
            projection = (x * basis).sum(dim=(1, 2, 3))  # normalisation is affine: sign kept
            return torch.stack([projection, -projection] + [torch.zeros_like(projection)] * 8, dim=1)

    generator = torch.Generator().manual_seed(0)
    # Images near mid-grey, so a perturbation of L2 norm 1 is never clipped.
    images = (127 + torch.randint(-2, 3, (16, 3, 8, 8), generator=generator)).to(torch.uint8)
    unlabelled = datasets.ImageSet("grey", images, None, (0.0,) * 3, (1.0,) * 3, None, "test")
    heatmap = run_fourier_heatmap({"model": TorchRunner(ReadsOneFrequency(), CPU)}, unlabelled, norm=1.0, samples=16)
    grid = torch.tensor(heatmap.errors)
    looked_at = {((u0 + 4) % 8, (v0 + 4) % 8), ((-u0 + 4) % 8, (-v0 + 4) % 8)}
    assert all(grid[i, j] > 0 for i, j in looked_at)
    assert all(grid[i, j] == 0 for i in range(8) for j in range(8) if (i, j) not in looked_at)


def test_fourier_heatmap_does_not_depend_on_how_frequencies_are_grouped(small_set, runners):
    tiny = datasets.take_subset(small_set, 8, seed=0)
    tiny = datasets.ImageSet("t", tiny.images[:, :, 8:20, 8:20].contiguous(), tiny.labels, tiny.mean, tiny.std, 10, "t")
    one_at_a_time = run_fourier_heatmap({"model": runners["model"]}, tiny, samples=8, batch_size=8)
    grouped = run_fourier_heatmap({"model": runners["model"]}, tiny, samples=8, batch_size=256)
    assert one_at_a_time.errors == grouped.errors
    several_batches = run_fourier_heatmap({"model": runners["model"]}, tiny, samples=8, batch_size=3)
    grid = torch.tensor(several_batches.errors)
    assert grid.shape == (12, 12) and 0 <= grid.min() and grid.max() <= 1
