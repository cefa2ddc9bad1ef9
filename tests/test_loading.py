"""Every checkpoint form gives the same kernels; bad files give one clear AuditError."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import make_resnet18, make_zoo

from audit.errors import AuditError
from audit.loading import detect_format, load_checkpoint
from audit.spectral.profile import measure_layers

PICKLED = {"whole_module.pt"}


def per_layer(path: Path) -> dict[str, tuple]:
    loaded = load_checkpoint(path, trust_code=path.name in PICKLED)
    return {layer.name: (tuple(layer.shape), layer.hfer, layer.paper_h) for layer in measure_layers(loaded.kernels)}


def test_every_resnet18_form_gives_the_same_per_layer_numbers(resnet18_forms):
    """Against the weights in memory, not against another form: a form read wrongly
    (a deflated archive memory-mapped as if stored) cannot hide behind the reference."""
    from audit.loading.kernels import ConvKernel

    model = make_resnet18()
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    in_memory = measure_layers([ConvKernel(n, m.weight.detach().clone()) for n, m in convs])
    reference = {l.name: (tuple(l.shape), l.hfer, l.paper_h) for l in in_memory}
    assert "deflated.pt" in resnet18_forms
    assert len(resnet18_forms) >= 16
    for form, path in resnet18_forms.items():
        numbers = per_layer(path)
        assert set(numbers) == set(reference), form
        for name, (shape, hfer, paper_h) in reference.items():
            got_shape, got_hfer, got_h = numbers[name]
            assert got_shape == shape, (form, name)
            if hfer is None:
                assert got_hfer is None, (form, name)
            else:
                assert got_hfer == pytest.approx(hfer, abs=1e-6), (form, name)
                assert got_h == pytest.approx(paper_h, abs=1e-6), (form, name)


def test_formats_are_recognised(resnet18_forms):
    expected = {
        "state_dict.pt": "torch.save",
        "legacy.pt": "torch.save",
        "lightning.ckpt": "torch.save",
        "safetensors.safetensors": "safetensors",
        "torchscript.pt": "torchscript",
        "exported.pt2": "torch.export",
        "model.onnx": "onnx",
    }
    for form, file_format in expected.items():
        assert detect_format(resnet18_forms[form]) == file_format, form


def test_parameter_count_is_the_same_in_every_form(resnet18_forms):
    expected = sum(p.numel() for p in make_resnet18().parameters())
    for form, path in resnet18_forms.items():
        loaded = load_checkpoint(path, trust_code=form in PICKLED)
        assert loaded.parameters == expected, form


def test_runnable_forms_carry_a_module(resnet18_forms):
    for form in ("torchscript.pt", "exported.pt2", "whole_module.pt"):
        loaded = load_checkpoint(resnet18_forms[form], trust_code=True)
        assert loaded.module is not None, form
        with torch.inference_mode():
            assert loaded.module(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert load_checkpoint(resnet18_forms["model.onnx"]).onnx_path is not None
    assert load_checkpoint(resnet18_forms["state_dict.pt"]).module is None


def test_notes_say_where_the_weights_were_found(resnet18_forms):
    notes = " ".join(load_checkpoint(resnet18_forms["lightning.ckpt"]).notes)
    assert "'state_dict'" in notes and "Lightning" in notes and "'model.'" in notes
    assert "module" in " ".join(load_checkpoint(resnet18_forms["ddp.pt"]).notes)
    assert "_orig_mod" in " ".join(load_checkpoint(resnet18_forms["compiled.pt"]).notes)


# --- convolution kinds -------------------------------------------------------------------

EXPECTED_ZOO = {
    "stem": ("standard", 1, (1, 1), (1, 1), False),
    "depthwise": ("depthwise", 8, (1, 1), (1, 1), False),
    "grouped": ("grouped (g=2)", 2, (1, 1), (1, 1), False),
    "dilated": ("dilated 2x2", 1, (1, 1), (2, 2), False),
    "pointwise": ("standard", 1, (1, 1), (1, 1), False),
    "up": ("transposed", 1, (2, 2), (1, 1), True),
}


@pytest.mark.parametrize("form", ["whole_module.pt", "torchscript.pt", "exported.pt2", "model.onnx"])
def test_runnable_forms_record_groups_stride_dilation(zoo_forms, form):
    loaded = load_checkpoint(zoo_forms[form], trust_code=form in PICKLED)
    found = {k.name: (k.kind, k.groups, k.stride, k.dilation, k.transposed) for k in loaded.kernels}
    assert found == EXPECTED_ZOO


def test_state_dict_kernels_have_unknown_groups(zoo_forms):
    kernels = load_checkpoint(zoo_forms["state_dict.pt"]).kernels
    assert [k.name for k in kernels] == list(EXPECTED_ZOO)
    assert all(k.groups is None and k.kind == "groups unknown" for k in kernels)


def test_scripted_torchscript_reads_attributes(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(make_zoo()), path)
    found = {k.name: (k.kind, k.groups, k.stride, k.dilation, k.transposed) for k in load_checkpoint(path).kernels}
    assert found == EXPECTED_ZOO


def test_1x1_and_1d_kernels_are_listed_without_a_spectrum(tmp_path):
    model = torch.nn.Sequential(
        torch.nn.Conv1d(2, 4, 5), torch.nn.Conv2d(4, 4, 3), torch.nn.Conv2d(4, 4, 1), torch.nn.Conv3d(4, 2, 3)
    )
    path = tmp_path / "mixed.pt"
    torch.save(model.state_dict(), path)
    layers = measure_layers(load_checkpoint(path).kernels)
    assert [layer.name for layer in layers] == ["0", "1", "2", "3"]
    assert [layer.hfer is None for layer in layers] == [True, False, True, True]
    assert "1x1" in layers[2].note
    assert "1-D" in layers[0].note and "3-D" in layers[3].note


def test_checkpoint_key_selects_ema_weights(tmp_path):
    main, ema = make_zoo(0).state_dict(), make_zoo(1).state_dict()
    path = tmp_path / "ema.pt"
    torch.save({"state_dict": main, "state_dict_ema": ema}, path)
    default = load_checkpoint(path).kernels[0].weight
    chosen = load_checkpoint(path, checkpoint_key="state_dict_ema").kernels[0].weight
    assert torch.equal(default, main["stem.weight"]) and torch.equal(chosen, ema["stem.weight"])
    with pytest.raises(AuditError, match="no key 'nope'"):
        load_checkpoint(path, checkpoint_key="nope")


def test_nested_wrapper_prefixes_are_removed(tmp_path):
    state = {f"module._orig_mod.{k}": v for k, v in make_zoo().state_dict().items()}
    path = tmp_path / "wrapped.pt"
    torch.save(state, path)
    assert [k.name for k in load_checkpoint(path).kernels] == list(EXPECTED_ZOO)


def test_half_precision_weights_are_analysed(tmp_path):
    path = tmp_path / "half.pt"
    torch.save(make_zoo().half().state_dict(), path)
    full = tmp_path / "full.pt"
    torch.save(make_zoo().half().float().state_dict(), full)
    a, b = measure_layers(load_checkpoint(path).kernels), measure_layers(load_checkpoint(full).kernels)
    assert [x.hfer for x in a] == pytest.approx([y.hfer for y in b], nan_ok=True)


# --- safety ------------------------------------------------------------------------------


class _Payload:
    """Unpickling this calls open(marker, "w"): proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_module_is_refused_by_default_and_names_the_flag(resnet18_forms):
    with pytest.raises(AuditError) as error:
        load_checkpoint(resnet18_forms["whole_module.pt"])
    message = str(error.value)
    assert "trust_code" in message and "torchvision.models.resnet.ResNet" in message
    assert "--allow-pickle" in error.value.render({"trust_code": "--allow-pickle"})


def test_a_pickle_payload_does_not_run_by_default(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": make_zoo().state_dict(), "extra": _Payload(marker)}, path)
    with pytest.raises(AuditError, match="trust_code"):
        load_checkpoint(path)
    assert not marker.exists()


# --- bad files ---------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(AuditError, match="no such file"):
        load_checkpoint(tmp_path / "nope.pt")


def test_directory(tmp_path):
    with pytest.raises(AuditError, match="is a directory"):
        load_checkpoint(tmp_path)


def test_empty_file(tmp_path):
    with pytest.raises(AuditError, match="empty"):
        load_checkpoint(_write(tmp_path / "empty.pt", b""))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".ckpt", ".pt2", ".safetensors"])
def test_random_bytes(tmp_path, suffix):
    data = bytes(range(7, 256)) * 40
    with pytest.raises(AuditError, match="not a format spectral-audit can read"):
        load_checkpoint(_write(tmp_path / f"random{suffix}", data))


def test_random_bytes_with_onnx_suffix(tmp_path):
    with pytest.raises(AuditError, match="ONNX"):
        load_checkpoint(_write(tmp_path / "random.onnx", bytes(range(7, 256)) * 40))


def test_truncated_zip(resnet18_forms, tmp_path):
    data = resnet18_forms["state_dict.pt"].read_bytes()
    with pytest.raises(AuditError, match="damaged or truncated"):
        load_checkpoint(_write(tmp_path / "cut.pt", data[: len(data) // 2]))


def test_truncated_onnx(resnet18_forms, tmp_path):
    data = resnet18_forms["model.onnx"].read_bytes()
    with pytest.raises(AuditError):
        load_checkpoint(_write(tmp_path / "cut.onnx", data[: len(data) // 3]))


def test_truncated_safetensors(resnet18_forms, tmp_path):
    data = resnet18_forms["safetensors.safetensors"].read_bytes()
    with pytest.raises(AuditError):
        load_checkpoint(_write(tmp_path / "cut.safetensors", data[: len(data) // 2]))


def test_zip_that_is_not_pytorch(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(AuditError, match="not a PyTorch file"):
        load_checkpoint(_write(tmp_path / "other.pt", buffer.getvalue()))


def test_state_dict_without_conv_weights(tmp_path):
    path = tmp_path / "mlp.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)).state_dict(), path)
    with pytest.raises(AuditError, match="holds no convolution weights"):
        load_checkpoint(path)


def test_checkpoint_dict_without_state_dict(tmp_path):
    path = tmp_path / "meta.pt"
    torch.save({"epoch": 3, "lr": 0.1}, path)
    with pytest.raises(AuditError, match="no state_dict"):
        load_checkpoint(path)


def test_pickled_tensor_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.ones(3), path)
    with pytest.raises(AuditError, match="Tensor"):
        load_checkpoint(path)


def test_safetensors_header_too_long(tmp_path):
    header = b'{"a": 1}'
    data = struct.pack("<Q", 10**6) + header
    with pytest.raises(AuditError):
        load_checkpoint(_write(tmp_path / "bad.safetensors", data))


# --- ONNX external data ------------------------------------------------------------------


def _with_external_location(source: Path, target: Path, location: str) -> Path:
    import onnx

    model = onnx.load(str(source), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(model, str(target))
    return target


def test_onnx_external_data_outside_the_folder_is_refused(zoo_forms, tmp_path):
    source = zoo_forms["external.onnx"]
    for location in ("../secret.bin", "/etc/passwd"):
        path = _with_external_location(source, tmp_path / "escape.onnx", location)
        with pytest.raises(AuditError, match="external data"):
            load_checkpoint(path)


def test_onnx_missing_external_file(zoo_forms, tmp_path):
    path = _with_external_location(zoo_forms["external.onnx"], tmp_path / "lonely.onnx", "weights.data")
    with pytest.raises(AuditError, match="missing: weights.data"):
        load_checkpoint(path)
