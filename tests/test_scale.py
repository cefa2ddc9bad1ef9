"""Scale-out: image folders and ImageNet val at any resolution (against torchvision's own
transforms and ImageNet class), streaming equals resident, shards, batch sizes, and
torchrun with gloo: 2 processes write the probe results 1 process writes."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, invoke

from audit.api import ProbeOptions, run_audit
from audit.errors import AuditError
from audit.probes import datasets, distributed
from audit.probes.folders import EVALUATION_224, Geometry, ImageFiles, image_folder, imagenet_val
from audit.probes.stage import default_batch_size

MODEL = ROOT / "sample_models" / "cifar_resnet8_l2.ts.pt"


def write_jpegs(folder: Path, classes: list[str], per_class: int, seed: int = 0, sizes=(64, 129)) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name in classes:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            height, width = rng.integers(*sizes, 2)
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{index:03d}.JPEG", quality=90)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Ten classes (the sample model's), 5 JPEGs each, of mixed sizes 64-128 px."""
    path = tmp_path_factory.mktemp("jpegs")
    write_jpegs(path, [f"class{i}" for i in range(10)], 5)
    return path


def test_geometry_gives_the_pixels_of_torchvisions_evaluation_transform(folder):
    from PIL import Image
    from torchvision import transforms

    reference = transforms.Compose([transforms.Resize(96), transforms.CenterCrop(80), transforms.PILToTensor()])
    files = image_folder(folder, resize=96, crop=80)
    for index in (0, 7, 31):
        with Image.open(files.files[index]) as image:
            expected = reference(image.convert("RGB"))
        assert torch.equal(files.decode(index, index + 1).images[0], expected)


def test_a_folder_of_mixed_sizes_gets_the_224_convention_and_says_so(folder):
    files = image_folder(folder)
    assert files.geometry == EVALUATION_224 and files.shape == (3, 224, 224)
    assert any("256 and centre-cropped to 224" in note for note in files.notes)
    assert files.labels.tolist() == [i // 5 for i in range(50)] and files.num_classes == 10


def test_a_folder_of_one_size_is_kept_as_it_is(tmp_path):
    write_jpegs(tmp_path, ["a", "b"], 2, sizes=(40, 41))
    files = datasets.load_dataset(str(tmp_path))
    assert isinstance(files, ImageFiles) and files.geometry == Geometry() and files.shape == (3, 40, 40)
    assert datasets.load_dataset(str(tmp_path), input_size=16).shape == (3, 16, 16)
    with pytest.raises(AuditError, match="does not combine"):
        datasets.load_dataset(str(tmp_path), input_size=16, crop=8)


def test_imagenet_val_layout_labels_as_torchvisions_imagenet(tmp_path):
    import torchvision

    wnids = ["n01440764", "n01443537", "n01484850"]
    write_jpegs(tmp_path / "val", wnids, 3)
    # torchvision's ImageNet reads the class names from meta.bin, which its own parser writes.
    torch.save(({w: (f"class {w}",) for w in wnids}, [w for w in wnids for _ in range(3)]), tmp_path / "meta.bin")
    reference = torchvision.datasets.ImageNet(str(tmp_path), split="val")
    ours = imagenet_val(tmp_path)
    assert [str(f) for f in ours.files] == [path for path, _ in reference.samples]
    assert ours.labels.tolist() == [target for _, target in reference.samples]
    assert ours.geometry == Geometry(resize=256, crop=224) and ours.mean == (0.485, 0.456, 0.406)
    assert any("3 classes, not 1000" in note for note in ours.notes)
    assert datasets.load_dataset("imagenet", tmp_path, resize=72, crop=64).shape == (3, 64, 64)


def test_a_flat_imagenet_val_folder_reads_its_labels_from_the_solution_csv(tmp_path):
    """val/*.JPEG as Kaggle ships it: labels from LOC_val_solution.csv, with the same class
    indices as the WNID-folder layout of the same images."""
    wnids = ["n01440764", "n01443537", "n01484850"]
    write_jpegs(tmp_path / "nested" / "val", wnids, 2)
    nested = imagenet_val(tmp_path / "nested")
    flat = tmp_path / "flat" / "val"
    flat.mkdir(parents=True)
    rows = ["ImageId,PredictionString"]
    for index, file in enumerate(nested.files):
        name = f"ILSVRC2012_val_{index + 1:08d}"
        (flat / f"{name}.JPEG").write_bytes(file.read_bytes())
        rows.append(f"{name},{file.parent.name} 1 2 30 40")
    with pytest.raises(AuditError, match="LOC_val_solution.csv") as error:
        imagenet_val(tmp_path / "flat")
    assert "WNID" in str(error.value)
    (tmp_path / "flat" / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    ours = imagenet_val(tmp_path / "flat")
    assert ours.labels.tolist() == nested.labels.tolist() and ours.classes == wnids


def test_imagenet_missing_names_what_is_expected(tmp_path):
    with pytest.raises(AuditError, match="ILSVRC2012_img_val.tar"):
        datasets.load_dataset("imagenet", tmp_path)


def test_shards_are_whole_batches_covering_every_image_once():
    for count, size, align in [(100, 2, 16), (846, 3, 256), (5, 4, 2), (0, 2, 8), (1000, 7, 1)]:
        shards = [distributed.shard(count, rank, size, align) for rank in range(size)]
        assert shards[0][0] == 0 and shards[-1][1] == count
        assert all(a[1] == b[0] for a, b in zip(shards, shards[1:]))
        assert all(start % align == 0 for start, _ in shards)


def test_batch_size_by_device_and_image_size():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert default_batch_size(cpu, 32, 32) == 256 and default_batch_size(gpu, 32, 32) == 512
    assert default_batch_size(cpu, 224, 224) == 16 and default_batch_size(gpu, 224, 224) == 128
    assert default_batch_size(cpu, 512, 512) == 8 and default_batch_size(cpu, 4096, 4096) == 1


def probes_of(**options) -> object:
    settings = {"data": None, "probes": "noise,blur", "resize": 36, "crop": 32, "batch_size": 8} | options
    return run_audit(MODEL, trust_code=True, probes=ProbeOptions(**settings)).probes


def test_streaming_gives_the_numbers_of_the_resident_run(folder):
    resident = probes_of(data=str(folder))
    streamed = probes_of(data=str(folder), memory_budget=1e-6, workers=1)
    assert any("streamed in chunks" in note for note in streamed.notes)
    assert any("resident" in note for note in resident.notes)
    assert resident.clean_correct == streamed.clean_correct
    assert [dataclasses.asdict(r) for r in resident.results] == [dataclasses.asdict(r) for r in streamed.results]


@pytest.mark.slow
def test_torchrun_two_gloo_processes_write_what_one_process_writes(tmp_path):
    command = [str(MODEL), "--trust-code", "--data", "cifar10-sample", "--samples", "80", "--probes", "noise,blur"]
    command += ["--batch-size", "16", "-q"]
    one = invoke(*command, "--json", "one.json", cwd=tmp_path)  # one process: this one
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "audit"]
    two = subprocess.run([*launcher, *command, "--json", "two.json"], cwd=tmp_path, capture_output=True, text=True)
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.count("Verdict:") == 1  # rank 1 printed nothing
    first, second = (json.loads((tmp_path / name).read_text())["probes"] for name in ("one.json", "two.json"))
    assert json.dumps(first["results"]) == json.dumps(second["results"])
    assert first["clean_correct"] == second["clean_correct"] and first["samples"] == second["samples"] == 80
    assert any("2 processes" in note for note in second["notes"])


def test_every_probe_is_unchanged_at_32_px_and_follows_its_rule_beyond():
    from audit.probes.registry import PROBES

    for probe in PROBES.values():
        assert [probe.parameter_value(s, 32) for s in probe.severities] == list(probe.severities)
    at = {name: list(PROBES[name].parameter_values(224)) for name in PROBES}
    assert at["gaussian_blur"] == [5, 11, 17, 25, 37]  # sigma 1.1-5.9 px: ImageNet-C's 1-6 px
    assert at["low_resolution"] == [196, 168, 140, 112, 84, 56]  # a quarter of the image at most
    assert at["low_pass"] == [112, 84, 56, 28]
    assert at["high_pass"] == [4, 8, 12, 16]  # cycles/image: the same scene content at every size
    assert at["gaussian_noise"] == list(PROBES["gaussian_noise"].severities)  # per pixel: no size
    assert at["paper_gaussian_blur"] == [21, 35, 49, 63, 77]  # the paper's sweep: 7x, odd


def test_the_default_blur_at_224_px_is_imagenet_c_blur():
    from audit.probes.corruptions import IMAGENETC_PARAMETERS
    from audit.probes.registry import PROBES
    from audit.probes.sweeps import blur_sigma

    applied = [blur_sigma(k) for k in PROBES["gaussian_blur"].parameter_values(224)]
    for sigma, published in zip(applied, IMAGENETC_PARAMETERS["gaussian_blur"], strict=True):
        assert sigma == pytest.approx(published, abs=0.15)  # the nearest odd kernel's sigma


def test_blur_sigma_is_a_power_law_between_the_anchors_and_proportional_beyond():
    from audit.probes.sweeps import interpolated_sigma, kernel_for_sigma

    assert interpolated_sigma(0.8, 1.0, 32) == pytest.approx(0.8)
    assert interpolated_sigma(0.8, 1.0, 224) == pytest.approx(1.0)
    assert interpolated_sigma(2.0, 6.0, round((32 * 224) ** 0.5)) == pytest.approx((2.0 * 6.0) ** 0.5, rel=0.01)
    assert interpolated_sigma(2.0, 6.0, 448) == pytest.approx(12.0)  # twice the side, twice the sigma
    assert interpolated_sigma(2.0, 6.0, 16) == pytest.approx(2.0)  # below 32 px: the 32-px sweep
    for k in (3, 5, 7, 9, 11, 37):
        assert kernel_for_sigma(0.15 * k + 0.35) == k


@pytest.mark.parametrize("size", [33, 40, 48, 64, 80, 96, 128, 160, 192, 224, 256, 299, 384, 512])
def test_the_blur_sweep_grows_with_severity_and_size_at_every_size(size):
    from audit.probes.registry import PROBES

    kernels = PROBES["gaussian_blur"].parameter_values(size)
    assert all(k % 2 == 1 for k in kernels) and list(kernels) == sorted(set(kernels))
    assert all(k >= small for k, small in zip(kernels, PROBES["gaussian_blur"].parameter_values(size - 1), strict=True))


def blur_spread(probe: str, size: int, severity: float) -> float:
    """The standard deviation (in pixels) of the blur of a single bright pixel."""
    from audit.probes.registry import PROBES

    image = torch.zeros(1, 1, size, size)
    image[0, 0, size // 2, size // 2] = 1
    blurred = PROBES[probe].apply(image, severity, None, as_uint8=False)[0, 0, size // 2]
    offsets = torch.arange(size) - size // 2
    return float((blurred * offsets**2).sum() / blurred.sum()) ** 0.5


@pytest.mark.parametrize("probe", ["paper_gaussian_blur", "c10c_gaussian_blur"])
def test_a_reference_blur_covers_the_same_fraction_of_the_image_at_every_size(probe):
    severity = 3
    small, large = blur_spread(probe, 32, severity) / 32, blur_spread(probe, 224, severity) / 224
    assert large == pytest.approx(small, rel=0.05)


@pytest.mark.parametrize("size", [32, 96, 224])
def test_the_default_blur_is_torchvisions_blur_with_the_kernel_it_names(size):
    from torchvision.transforms.functional import gaussian_blur

    from audit.probes.registry import PROBES

    probe = PROBES["gaussian_blur"]
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(size))
    for severity, k in zip(probe.severities, probe.parameter_values(size), strict=True):
        expected = gaussian_blur(images, [int(k)] * 2, [0.15 * k + 0.35] * 2)  # torchvision's own sigma rule
        assert torch.allclose(probe.apply(images, severity, None), expected, atol=1e-5)


def test_the_heat_map_of_a_large_image_evaluates_a_subsampled_grid():
    from audit.probes.fourier import fourier_basis, fourier_perturbation, heatmap_frequencies
    from audit.probes.heatmap import _signs, default_step, run_fourier_heatmap
    from audit.probes.runners import TorchRunner

    assert default_step(32, 32) == 1 and default_step(64, 64) == 1 and default_step(224, 224) == 7
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 10, 5), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    runner = TorchRunner(model.eval(), torch.device("cpu"))
    pixels = torch.randint(0, 256, (8, 3, 72, 72), dtype=torch.uint8)
    images = datasets.ImageSet("x", pixels, None, (0.5,) * 3, (0.5,) * 3, 10, "t")
    heatmap = run_fourier_heatmap({"model": runner}, images, norm=60.0, samples=8, seed=0, batch_size=64)
    assert heatmap.step == 3 and len(heatmap.errors) == 24 and len(heatmap.errors[0]) == 24
    assert heatmap.frequencies == len(heatmap_frequencies(24, 24))  # a half-plane of 24 x 24
    # Cell (i, j) holds frequency (3 (i - 12), 3 (j - 12)): recompute cells directly (for
    # frequencies of the evaluated half-plane; their mirrors share the value).
    clean = model((pixels.float() / 255 - 0.5) / 0.5).argmax(1)
    rates = []
    for u, v in [(3, 6), (9, 0), (33, 12), (-36, 3)]:
        perturbed = fourier_perturbation(
            pixels.float() / 255, fourier_basis(72, 72, u, v, "cpu"), 60.0, _signs(0, u, v, 0, "cpu")
        )
        expected = (model((perturbed - 0.5) / 0.5).argmax(1) != clean).float().mean().item()
        assert heatmap.errors[(u // 3 + 12) % 24][(v // 3 + 12) % 24] == pytest.approx(expected)
        assert heatmap.errors[(-u // 3 + 12) % 24][(-v // 3 + 12) % 24] == pytest.approx(expected)
        rates.append(expected)
    assert max(rates) > 0  # the check above is not vacuous


def test_timm_architectures_by_name_with_timms_checkpoint_conventions(tmp_path, folder):
    timm = pytest.importorskip("timm")
    if not timm.is_model("test_convnext"):
        pytest.skip("this timm has no test_convnext")
    model = timm.create_model("test_convnext", pretrained=False, num_classes=10)
    # A timm training script's checkpoint: EMA weights beside the trained ones, DDP prefixes.
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 3, "state_dict": state, "state_dict_ema": state}, tmp_path / "convnext.pth")
    result = run_audit(
        tmp_path / "convnext.pth",
        probes=ProbeOptions(
            data=str(folder),
            probes="blur",
            arch="timm:test_convnext",
            arch_args={"num_classes": 10},
            resize=72,
            crop=64,
        ),
    )
    depthwise = [l for l in result.spectral.layers if l.kernel_size == [7, 7]]
    assert depthwise and all(l.shape[1] == 1 and l.hfer is not None for l in depthwise)  # depthwise 7x7
    assert len(depthwise[0].radii) == len(
        {(min(a, 7 - a) ** 2 + min(b, 7 - b) ** 2) for a in range(7) for b in range(7)}
    )
    assert result.probes.samples == 50 and result.probes.image_shape == [3, 64, 64]
    assert [r.value for r in result.probes.results] == [3, 7, 9, 13, 17]  # blur k chosen for 64 px
    with pytest.raises(AuditError, match="timm has no model"):
        run_audit(tmp_path / "convnext.pth", probes=ProbeOptions(data=str(folder), arch="timm:no_such_net"))


def test_stream_chunks_follow_the_memory_budget():
    from audit.probes.stage import STREAM_CHUNK, default_batch_size, stream_chunk

    per_image = 3 * 224 * 224
    assert stream_chunk(1 << 40, per_image, 32) == STREAM_CHUNK  # a large budget: the usual chunk
    small = stream_chunk(64 << 20, per_image, 32)  # 64 MiB: a quarter holds 111 images
    assert small == 96 and small * per_image * 4 <= 64 << 20
    assert stream_chunk(1, per_image, 32) == 32  # never less than one batch
    assert default_batch_size(torch.device("cpu"), 6000, 6000) == 1  # 36 MP photos: one at a time
    assert default_batch_size(torch.device("cpu"), 224, 224) == 16


def test_the_docs_table_of_applied_values_is_the_rule():
    from audit.probes.registry import PROBES

    readme = (Path(__file__).resolve().parent.parent / "docs" / "scale.md").read_text()
    header = next(line for line in readme.splitlines() if line.strip().startswith("| probe | 32 px |"))
    sizes = [int(cell.split()[0]) for cell in header.strip().strip("|").split("|")[1:]]
    row = next(line for line in readme.splitlines() if line.strip().startswith("| blur k |"))
    cells = [cell.strip() for cell in row.strip().strip("|").split("|")[1:]]
    for size, cell in zip(sizes, cells, strict=True):
        assert [float(k) for k in cell.split(", ")] == list(PROBES["gaussian_blur"].parameter_values(size)), size
