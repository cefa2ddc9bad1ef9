"""Data sets: torchvision's file layouts, the bundled sample, .npz, image folders, errors."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from audit.errors import AuditError
from audit.probes import datasets


def write_cifar10_layout(root, n=20, seed=0):
    """A tiny CIFAR-10 laid out exactly as torchvision extracts it: cifar-10-batches-py/."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    with open(folder / "test_batch", "wb") as stream:
        pickle.dump(
            {b"batch_label": b"testing batch 1 of 1", b"labels": labels, b"data": data, b"filenames": [b"x.png"] * n},
            stream,
            protocol=2,
        )
    with open(folder / "batches.meta", "wb") as stream:
        pickle.dump({b"label_names": [b"airplane"] * 10}, stream, protocol=2)
    return data, labels


def write_mnist_layout(root, n=12, gz=True):
    """MNIST idx files as torchvision stores them: MNIST/raw/t10k-*-idx?-ubyte(.gz)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images_bytes = b"\x00\x00\x08\x03" + b"".join(int(d).to_bytes(4, "big") for d in pixels.shape) + pixels.tobytes()
    labels_bytes = b"\x00\x00\x08\x01" + n.to_bytes(4, "big") + labels.tobytes()
    for name, payload in (("t10k-images-idx3-ubyte", images_bytes), ("t10k-labels-idx1-ubyte", labels_bytes)):
        if gz:
            (raw / f"{name}.gz").write_bytes(gzip.compress(payload))
        else:
            (raw / name).write_bytes(payload)
    return pixels, labels


def test_cifar10_torchvision_layout(tmp_path):
    data, labels = write_cifar10_layout(tmp_path)
    loaded = datasets.load_dataset("cifar10", tmp_path, download=False)
    assert loaded.images.dtype == torch.uint8 and loaded.shape == (3, 32, 32)
    assert torch.equal(loaded.images.reshape(len(labels), -1), torch.from_numpy(data))
    assert loaded.labels.tolist() == labels
    assert loaded.mean == datasets.CIFAR10_MEAN and loaded.num_classes == 10


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_torchvision_layout(tmp_path, gz):
    pixels, labels = write_mnist_layout(tmp_path, gz=gz)
    loaded = datasets.load_dataset("mnist", tmp_path, download=False)
    assert loaded.shape == (1, 28, 28)
    assert torch.equal(loaded.images[:, 0], torch.from_numpy(pixels))
    assert loaded.labels.tolist() == labels.tolist()


def test_missing_data_says_where_to_put_it(tmp_path):
    with pytest.raises(AuditError, match="cifar-10-python.tar.gz") as error:
        datasets.load_dataset("cifar10", tmp_path, download=False)
    assert str(tmp_path) in str(error.value) and "cifar10-sample" in str(error.value)


def test_missing_data_without_network_fails_quickly_with_the_same_message(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(tvd, "CIFAR10", offline)
    with pytest.raises(AuditError, match="could not be downloaded"):
        datasets.load_dataset("cifar10", tmp_path, download=True)


def test_corrupt_cifar_file(tmp_path):
    write_cifar10_layout(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(AuditError, match="not a readable CIFAR batch"):
        datasets.load_dataset("cifar10", tmp_path, download=False)


def test_a_data_file_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    with open(folder / "test_batch", "wb") as stream:
        pickle.dump({b"data": Payload(), b"labels": []}, stream)
    with pytest.raises(AuditError):
        datasets.load_dataset("cifar10", tmp_path, download=False)
    assert not marker.exists()


def test_bundled_sample():
    loaded = datasets.load_dataset("cifar10-sample")
    assert len(loaded) == 846 and loaded.shape == (3, 32, 32)
    assert loaded.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]  # the official test split's start


def test_npz_layouts(tmp_path):
    rng = np.random.default_rng(2)
    hwc = rng.integers(0, 256, size=(5, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "hwc.npz", images=hwc, labels=np.arange(5))
    np.savez(tmp_path / "float.npz", x=hwc.transpose(0, 3, 1, 2) / 255.0)
    a = datasets.load_dataset(str(tmp_path / "hwc.npz"))
    b = datasets.load_dataset(str(tmp_path / "float.npz"))
    assert a.shape == b.shape == (3, 16, 16)
    assert torch.equal(a.images, b.images)
    assert b.labels is None and a.num_classes == 5


def test_bad_npz(tmp_path):
    np.savez(tmp_path / "nolabels.npz", other=np.zeros(3))
    with pytest.raises(AuditError, match="expected one named images"):
        datasets.load_dataset(str(tmp_path / "nolabels.npz"))
    np.savez(tmp_path / "mismatch.npz", images=np.zeros((4, 8, 8, 3), np.uint8), labels=np.zeros(3))
    with pytest.raises(AuditError, match="4 images but 3 labels"):
        datasets.load_dataset(str(tmp_path / "mismatch.npz"))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(AuditError, match="not a readable .npz"):
        datasets.load_dataset(str(tmp_path / "junk.npz"))


def test_image_folder(tmp_path):
    from torchvision.io import write_png

    for label, name in enumerate(["cat", "dog"]):
        (tmp_path / name).mkdir()
        for i in range(3):
            write_png(torch.full((3, 8, 8), 40 * label + i, dtype=torch.uint8), str(tmp_path / name / f"{i}.png"))
    loaded = datasets.load_dataset(str(tmp_path))
    assert loaded.shape == (3, 8, 8) and loaded.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert loaded.num_classes == 2
    assert datasets.load_dataset(str(tmp_path), input_size=16).shape == (3, 16, 16)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(AuditError, match="cifar10, cifar10-sample"):
        datasets.load_dataset("imagenet-nope")


def test_seeded_subset_is_fixed():
    full = datasets.load_dataset("cifar10-sample")
    a, b = datasets.take_subset(full, 100, seed=1), datasets.take_subset(full, 100, seed=1)
    c = datasets.take_subset(full, 100, seed=2)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert a.subset_of == 846 and len(a) == 100


def test_normalisation_override():
    full = datasets.load_dataset("cifar10-sample")
    assert datasets.with_normalisation(full, (0.5,), (0.25,)).mean == (0.5, 0.5, 0.5)
    with pytest.raises(AuditError, match="2 values"):
        datasets.with_normalisation(full, (0.5, 0.5), None)
