"""The bundled sample models: every shipped format agrees, and the files are not mixed up."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.loading import load_checkpoint
from audit.spectral.comparison import compare_layers, summarise
from audit.spectral.profile import measure_layers

SAMPLES = Path(__file__).resolve().parent.parent / "sample_models"
VARIANTS = ("baseline", "l2", "dropout")


def network(path: Path):
    layers = measure_layers(load_checkpoint(path).kernels)
    compare_layers(layers, None)
    return layers, summarise(layers)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_shipped_format_gives_the_same_spectra(variant):
    stem = SAMPLES / f"cifar_resnet8_{variant}"
    reference, _ = network(stem.with_suffix(".pt"))
    for suffix in (".ts.pt", ".onnx"):
        layers, _ = network(Path(f"{stem}{suffix}"))
        assert [l.name for l in layers] == [l.name for l in reference]
        for got, expected in zip(layers, reference):
            assert got.hfer == pytest.approx(expected.hfer, abs=1e-6) if expected.hfer is not None else got.hfer is None


def test_l2_model_is_more_low_pass_than_the_baseline():
    _, baseline = network(SAMPLES / "cifar_resnet8_baseline.pt")
    _, l2 = network(SAMPLES / "cifar_resnet8_l2.pt")
    assert l2.hfer < baseline.hfer - 0.1  # 0.454 vs 0.655 when trained


def test_evolution_has_every_epoch():
    epochs = sorted(SAMPLES.glob("evolution/cifar_resnet8_baseline_epoch_*.pt"))
    assert len(epochs) == 31
    _, final = network(epochs[-1])
    _, shipped = network(SAMPLES / "cifar_resnet8_baseline.pt")
    assert final.hfer == pytest.approx(shipped.hfer)  # the last epoch is the shipped baseline
