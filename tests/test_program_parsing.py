"""Programs are parsed, never loaded: the kernels read from a TorchScript or .pt2 archive's
data equal, name for name and bit for bit, what torch.jit.load / torch.export.load give;
the one zip reader refuses what two readers could read differently."""

from __future__ import annotations

import io
import warnings
import zipfile

import pytest
import torch
import torch.nn as nn
from conftest import SAMPLES, invoke, make_zoo
from hostile_corpus import raw_zip

from audit.errors import AuditError
from audit.loading import load_checkpoint, modules
from audit.loading.export_archive import read_export_archive
from audit.loading.tensor_pickle import UnsafePickle, read_torch_save_bytes
from audit.loading.torchscript_archive import read_torchscript_archive
from audit.loading.zip_archive import ApprovedZip


def same_kernels(parsed, loaded) -> None:
    assert [k.name for k in parsed] == [k.name for k in loaded]
    for ours, theirs in zip(parsed, loaded):
        assert ours.shape == theirs.shape and torch.equal(ours.weight, theirs.weight), ours.name
        assert (ours.groups, ours.stride, ours.dilation, ours.transposed) == (
            theirs.groups,
            theirs.stride,
            theirs.dilation,
            theirs.transposed,
        ), ours.name


class Mixed(nn.Module):
    """Depthwise, grouped, dilated, strided, transposed and 1-D convolutions in one model."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 5, padding=2, groups=8)
        self.grouped = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.line = nn.Conv1d(4, 4, 3, padding=1)

    def forward(self, x):
        x = self.up(self.grouped(self.depthwise(self.stem(x))))
        return self.line(x.flatten(2)).mean(2)


def scripted_and_traced(model: nn.Module, example: torch.Tensor, folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(model), folder / "scripted.pt")
        torch.jit.save(torch.jit.trace(model, example), folder / "traced.pt")
    return [folder / "scripted.pt", folder / "traced.pt"]


def torchscript_cases(tmp_path):
    import torchvision

    paths = sorted(SAMPLES.glob("*.ts.pt"))
    for name, model, example in (
        ("mixed", Mixed().eval(), torch.randn(1, 3, 16, 16)),
        ("mobilenet", torchvision.models.mobilenet_v3_small(num_classes=10).eval(), torch.randn(1, 3, 32, 32)),
        ("zoo", make_zoo(), torch.randn(1, 3, 16, 16)),
    ):
        folder = tmp_path / name
        folder.mkdir()
        paths += scripted_and_traced(model, example, folder)
    return paths


def test_torchscript_kernels_equal_what_torch_jit_load_gives(tmp_path, resnet18_forms):
    for path in [*torchscript_cases(tmp_path), resnet18_forms["torchscript.pt"]]:
        with ApprovedZip(path) as archive:
            parsed = read_torchscript_archive(archive)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(path))
        same_kernels(parsed.kernels, modules.kernels_from_module(module))
        assert set(parsed.tensors) == set(module.state_dict()), path
        for name, tensor in module.state_dict().items():
            assert torch.equal(parsed.tensors[name], tensor), (path, name)


@pytest.mark.parametrize("dynamic", [False, True])
def test_exported_kernels_equal_what_torch_export_load_gives(tmp_path, dynamic):
    import torchvision

    for name, model, example in (
        ("mixed", Mixed().eval(), torch.randn(2, 3, 16, 16)),
        ("resnet18", torchvision.models.resnet18(num_classes=10).eval(), torch.randn(2, 3, 32, 32)),
    ):
        path = tmp_path / f"{name}.pt2"
        shapes = ({0: torch.export.Dim("batch", min=1, max=64)},) if dynamic else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.export.save(torch.export.export(model, (example,), dynamic_shapes=shapes), path)
            program = torch.export.load(str(path))
        with ApprovedZip(path) as archive:
            parsed = read_export_archive(archive)
        same_kernels(parsed.kernels, modules.kernels_from_exported_program(program))
        assert set(parsed.tensors) == set(program.state_dict)
        assert parsed.input_shape == ((None,) if dynamic else (2,)) + tuple(example.shape[1:])


def test_fixture_forms_give_the_same_spectra_trusted_or_not(resnet18_forms):
    for form in ("torchscript.pt", "exported.pt2"):
        parsed = load_checkpoint(resnet18_forms[form])
        trusted = load_checkpoint(resnet18_forms[form], trust_code=True)
        assert parsed.module is None and trusted.module is not None and parsed.program
        same_kernels(parsed.kernels, trusted.kernels)
        assert parsed.parameters == trusted.parameters


def test_the_sample_torchscript_audit_needs_no_trust_and_matches_the_state_dict(tmp_path):
    import json

    run_ts = invoke(SAMPLES / "cifar_resnet8_l2.ts.pt", "-q", "--json", tmp_path / "ts.json")
    run_sd = invoke(SAMPLES / "cifar_resnet8_l2.pt", "-q", "--json", tmp_path / "sd.json")
    assert run_ts.returncode == 0 and run_sd.returncode == 0, run_ts.stderr + run_sd.stderr
    ts, sd = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("ts", "sd"))
    assert [l["hfer"] for l in ts["spectral"]["layers"]] == [l["hfer"] for l in sd["spectral"]["layers"]]


def test_probing_a_program_needs_trust_and_names_the_safe_ways(tmp_path):
    run = invoke(SAMPLES / "cifar_resnet8_l2.ts.pt", "--data", "cifar10-sample", "--samples", "8", cwd=tmp_path)
    assert run.returncode == 2
    assert "--trust-code" in run.stderr and "--arch" in run.stderr and "ONNX" in run.stderr and "program" in run.stderr
    # Its parsed weights run in an architecture the user names: no code from the file.
    arch = f"{SAMPLES / 'cifar_resnet.py'}:CifarResNet"
    run = invoke(SAMPLES / "cifar_resnet8_l2.ts.pt", "--arch", arch, "--data", "cifar10-sample", "--samples", "8", "-q")
    assert run.returncode == 0, run.stderr
    # The old flag name still means the same.
    run = invoke(SAMPLES / "cifar_resnet8_l2.ts.pt", "--allow-pickle", "--data", "cifar10-sample", "--samples", "8")
    assert run.returncode == 0, run.stderr


# --- the tensor pickle reader ------------------------------------------------------------------


def test_torch_save_bytes_are_read_without_torch_load():
    state = {"a.weight": torch.randn(4, 3, 3, 3), "b": torch.arange(6, dtype=torch.int64).view(2, 3)[:, 1:]}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    read = read_torch_save_bytes(buffer.getvalue(), "memory")
    assert set(read) == set(state) and all(torch.equal(read[k], state[k]) for k in state)


def test_a_pickle_naming_anything_else_is_refused_by_name():
    import pickle

    class Sneaky:
        def __reduce__(self):
            return (print, ("ran",))

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x/data.pkl", pickle.dumps(Sneaky(), protocol=2))
    with pytest.raises(UnsafePickle) as error:
        read_torch_save_bytes(buffer.getvalue(), "memory")
    assert error.value.name.endswith(".print")


# --- the zip reader ----------------------------------------------------------------------------


GOOD = [(b"m/data.pkl", b"\x80\x02}q\x00."), (b"m/data/0", b"\x00" * 16)]


@pytest.mark.parametrize(
    "entries,options,message",
    [
        (GOOD + [GOOD[0]], {}, "appears twice"),
        (GOOD + [(b"m/DATA.pkl", b"")], {}, "name the same file"),
        (GOOD + [(b"m/./data.pkl", b"")], {}, "name the same file"),
        (GOOD + [(b"m/d\x00ata.pkl", b"")], {}, "NUL"),
        (GOOD + [(b"m/../x", b"")], {}, "leaves"),
        (GOOD + [(b"/etc/x", b"")], {}, "leaves"),
        (GOOD + [(b"m\\x", b"")], {}, "backslash"),
        (GOOD, {"local_names": {1: b"m/data/1"}}, "local header"),
        (GOOD, {"prepend": b"junk"}, "precede"),
    ],
)
def test_the_zip_reader_refuses_what_readers_disagree_on(tmp_path, entries, options, message):
    path = tmp_path / "a.zip"
    path.write_bytes(raw_zip(entries, **options))
    with pytest.raises(AuditError) as error:
        ApprovedZip(path)
    assert message in str(error.value)


def test_the_zip_reader_approves_what_torch_and_numpy_write(tmp_path, resnet18_forms):
    import numpy as np

    np.savez(tmp_path / "a.npz", images=np.zeros((2, 4, 4, 3), np.uint8))
    for path in [tmp_path / "a.npz", resnet18_forms["state_dict.pt"], resnet18_forms["deflated.pt"]]:
        with ApprovedZip(path) as archive:
            assert archive.names
    with ApprovedZip(tmp_path / "a.npz", content=(tmp_path / "a.npz").read_bytes()) as archive:
        assert archive.names == ["images.npy"]


def test_torch_reads_the_bytes_that_were_approved(tmp_path):
    """A file swapped on disk after approval is not what torch reads."""
    path = tmp_path / "state.pt"
    torch.save({"conv.weight": torch.ones(2, 3, 3, 3)}, path)
    with ApprovedZip(path) as archive:
        torch.save({"conv.weight": torch.zeros(2, 3, 3, 3)}, tmp_path / "other.pt")
        (tmp_path / "other.pt").replace(path)
        state = torch.load(archive.torch_source(), weights_only=True)
    assert torch.equal(state["conv.weight"], torch.ones(2, 3, 3, 3))


def test_a_traced_subclassed_conv_is_found_by_what_its_code_calls(tmp_path):
    """timm's Conv2dSame, traced, is neither called Conv2d nor holds groups/stride: its
    forward's torch._convolution(x, self.weight, ...) says it is a convolution."""
    timm = pytest.importorskip("timm")
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    expected = [name for name, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd)]
    path = tmp_path / "traced.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(model, torch.randn(1, 3, 32, 32)), path)
    loaded = load_checkpoint(path)
    assert [k.name for k in loaded.kernels] == expected and len(expected) == 49
    stem = loaded.kernels[0]
    assert stem.name == "conv_stem" and stem.stride == (2, 2) and torch.equal(stem.weight, model.conv_stem.weight)
    assert not any("not used as a conv weight" in note for note in loaded.notes)


class StdConv2d(nn.Conv2d):
    """Weight standardisation (as timm's StdConv2d and BiT use): the conv gets a weight
    computed from the parameter, not the parameter itself."""

    def forward(self, x):
        w = self.weight
        w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / (w.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
        return torch.nn.functional.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Standardised(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = StdConv2d(3, 8, 3, padding=1)
        self.b = StdConv2d(8, 8, 3, padding=1, stride=2, groups=2)
        self.c = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        return self.c(self.b(self.a(x))).mean((2, 3))


@pytest.mark.parametrize("form", ["traced", "scripted", "exported"])
def test_weight_standardised_convs_are_found_and_said_to_be_transformed(tmp_path, form):
    """Traced or exported, the two standardised convs were lost: the weight the convolution
    gets is computed from self.weight. Read, not run."""
    torch.manual_seed(0)
    model = Standardised().eval()
    path = tmp_path / (f"{form}.pt2" if form == "exported" else f"{form}.pt")
    example = torch.zeros(1, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if form == "exported":
            torch.export.save(torch.export.export(model, (example,)), path)
        else:
            program = torch.jit.trace(model, example) if form == "traced" else torch.jit.script(model)
            torch.jit.save(program, path)
    loaded = load_checkpoint(path)
    assert [(k.name, k.stride, k.groups) for k in loaded.kernels] == [
        ("a", (1, 1), 1),
        ("b", (2, 2), 2),
        ("c", (1, 1), 1),
    ]
    for kernel in loaded.kernels:
        assert torch.equal(kernel.weight, getattr(model, kernel.name).weight.detach())
    assert any("2 conv weight(s) transformed in code" in note and ": a, b;" in note for note in loaded.notes)
    assert not any("not used as a conv weight" in note for note in loaded.notes)


def test_timms_weight_standardised_convs_traced_are_found(tmp_path):
    """timm's StdConv2d standardises through F.batch_norm, StdConv2dSame also pads: both,
    traced, are convs whose weight is computed from self.weight."""
    layers = pytest.importorskip("timm.layers")
    model = nn.Sequential(layers.StdConv2d(3, 8, 3), layers.StdConv2dSame(8, 8, 3, stride=2)).eval()
    path = tmp_path / "timm_std.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(model, torch.zeros(1, 3, 32, 32)), path)
    loaded = load_checkpoint(path)
    assert [(k.name, k.stride) for k in loaded.kernels] == [("0", (1, 1)), ("1", (2, 2))]
    assert any("2 conv weight(s) transformed in code" in note for note in loaded.notes)


def test_an_exported_kernel_shaped_tensor_no_conv_uses_is_named(tmp_path):
    class WithExtra(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.extra = nn.Parameter(torch.randn(4, 4, 3, 3))

        def forward(self, x):
            return self.conv(x).mean() + self.extra.sum()

    path = tmp_path / "extra.pt2"
    torch.export.save(torch.export.export(WithExtra().eval(), (torch.zeros(1, 3, 8, 8),)), path)
    loaded = load_checkpoint(path)
    assert [k.name for k in loaded.kernels] == ["conv"]
    assert any(note.endswith("not used as a conv weight, not analysed: extra") for note in loaded.notes)
