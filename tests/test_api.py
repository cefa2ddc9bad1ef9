"""run_audit with each kind of baseline."""

from __future__ import annotations

import pytest

from audit.api import build_profile, run_audit, save_result
from audit.errors import AuditError
from audit.schema import SpectralSettings


def test_white_noise_baseline_is_the_default(resnet18_forms):
    result = run_audit(resnet18_forms["state_dict.pt"], device="cpu")
    assert result.spectral.baseline.kind == "white-noise"
    assert result.spectral.summary.baseline_hfer == pytest.approx(
        sum(l.white_noise_hfer * l.slices for l in result.spectral.layers if l.hfer is not None)
        / result.spectral.summary.slices
    )


def test_checkpoint_against_itself_in_another_format(resnet18_forms):
    result = run_audit(resnet18_forms["model.onnx"], baseline=resnet18_forms["state_dict.pt"], device="cpu")
    assert result.spectral.baseline.kind == "checkpoint"
    assert result.spectral.summary.ssr == pytest.approx(1.0, abs=1e-6)
    assert result.spectral.summary.paper_ssr == pytest.approx(0.0, abs=1e-6)
    assert result.spectral.summary.layers_compared == 17


def test_saved_profile_as_baseline(resnet18_forms, tmp_path):
    profile = build_profile(resnet18_forms["state_dict.pt"], device="cpu")
    assert profile.kind == "profile"
    path = tmp_path / "ref.json"
    save_result(profile, path)
    result = run_audit(resnet18_forms["torchscript.pt"], baseline=path, device="cpu")
    assert result.spectral.baseline.kind == "profile"
    assert result.spectral.baseline.sha256 == profile.model.sha256
    assert result.spectral.summary.ssr == pytest.approx(1.0, abs=1e-6)


def test_profile_with_other_settings_is_refused(resnet18_forms, tmp_path):
    path = tmp_path / "ref.json"
    save_result(build_profile(resnet18_forms["state_dict.pt"], device="cpu"), path)
    with pytest.raises(AuditError, match="different settings"):
        run_audit(resnet18_forms["state_dict.pt"], baseline=path, settings=SpectralSettings(fft_size=8), device="cpu")


def test_a_baseline_of_another_architecture_is_refused(zoo_forms, resnet18_forms):
    with pytest.raises(AuditError, match="different architectures") as error:
        run_audit(zoo_forms["state_dict.pt"], baseline=resnet18_forms["state_dict.pt"], device="cpu")
    assert error.value.code == "mismatch"


def test_cuda_without_gpu_is_a_clear_error(zoo_forms):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(AuditError, match="no CUDA GPU"):
        run_audit(zoo_forms["state_dict.pt"], device="cuda")


def test_a_state_dict_with_its_architecture_named_knows_its_groups():
    """--arch builds the model, which knows each conv's groups; the layers said 'groups unknown'."""
    from pathlib import Path

    from audit.api import ProbeOptions

    samples = Path(__file__).resolve().parent.parent / "sample_models"
    result = run_audit(
        samples / "cifar_resnet8_l2.pt",
        device="cpu",
        probes=ProbeOptions(
            data="cifar10-sample", samples=16, probes="none", arch=f"{samples / 'cifar_resnet.py'}:CifarResNet"
        ),
    )
    assert all(layer.groups == 1 and "unknown" not in layer.kind for layer in result.spectral.layers)
    assert any("from the architecture" in note for note in result.model.notes)
    assert not any("unknown" in note for note in result.model.notes)
    alone = run_audit(samples / "cifar_resnet8_l2.pt", device="cpu")
    assert all(layer.groups is None for layer in alone.spectral.layers)
