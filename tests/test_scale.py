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
    assert default_batch_size(cpu, 4096, 4096) == 8


def probes_of(**options) -> object:
    settings = {"data": None, "probes": "noise,blur", "resize": 36, "crop": 32, "batch_size": 8} | options
    return run_audit(MODEL, probes=ProbeOptions(**settings)).probes


def test_streaming_gives_the_numbers_of_the_resident_run(folder):
    resident = probes_of(data=str(folder))
    streamed = probes_of(data=str(folder), memory_budget=1e-6, workers=1)
    assert any("streamed in chunks" in note for note in streamed.notes)
    assert any("resident" in note for note in resident.notes)
    assert resident.clean_correct == streamed.clean_correct
    assert [dataclasses.asdict(r) for r in resident.results] == [dataclasses.asdict(r) for r in streamed.results]


@pytest.mark.slow
def test_torchrun_two_gloo_processes_write_what_one_process_writes(tmp_path):
    command = [str(MODEL), "--data", "cifar10-sample", "--samples", "80", "--probes", "noise,blur"]
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
