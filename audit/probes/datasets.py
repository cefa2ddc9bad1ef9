"""Evaluation data sets behind one interface: decoded once to a uint8 (N, C, H, W) tensor.

Names resolve through :data:`PRESETS` (``cifar10``, ``cifar100``, ``svhn``, ``mnist``,
``fashion-mnist``, and the bundled ``cifar10-sample``); a path is read as an ``.npz`` of
images and labels or as an image folder with one sub-folder per class.

Torchvision's files are read where torchvision puts them (``ROOT/cifar-10-batches-py/``,
``ROOT/MNIST/raw/``...). When they are missing, torchvision's own download is tried;
with no network, the error says which files to put where.
"""

from __future__ import annotations

import gzip
import os
import pickle
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import torch
import torch.nn.functional as F

from audit.errors import AuditError
from audit.probes.images import (  # noqa: F401  (the data set API: ImageSet and friends live in images.py)
    IMAGE_SUFFIXES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MAX_IMAGE_PIXELS,
    ImageSet,
    decode_image,
    image_size,
)

if TYPE_CHECKING:
    from audit.probes.folders import ImageFiles

    DataSource = ImageSet | ImageFiles  # decoded images, or a folder decoded when needed

# A preset's reader: (root folder, whether to download) -> (uint8 images, labels or None).
Reader = Callable[[Path, bool], tuple[torch.Tensor, torch.Tensor | None]]

BUNDLED_CIFAR10_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "cifar10_test_846.npz"
MAX_DATA_FILE_BYTES = 1 << 30  # a torchvision test split file is at most a few hundred MB


def default_root() -> Path:
    """``$SPECTRAL_AUDIT_DATA``, else ``$TORCH_HOME/datasets`` (~/.cache/torch/datasets)."""
    if os.environ.get("SPECTRAL_AUDIT_DATA"):
        return Path(os.environ["SPECTRAL_AUDIT_DATA"])
    torch_home = os.environ.get("TORCH_HOME") or Path.home() / ".cache" / "torch"
    return Path(torch_home) / "datasets"


# --- file readers --------------------------------------------------------------------------


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles CIFAR's python batches (dicts of numpy arrays and lists) and nothing
    else, so a data root cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a data file")


def read_cifar_batch(path: Path, label_key: bytes) -> tuple[torch.Tensor, torch.Tensor]:
    """A CIFAR python batch file -> (uint8 (N, 3, 32, 32), int64 (N,))."""
    from audit.io import check_input_file

    check_input_file(path, "data file", MAX_DATA_FILE_BYTES)
    try:
        with open(path, "rb") as stream:
            batch = _ArrayUnpickler(stream, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except Exception as error:  # truncated pickle, wrong keys or shapes
        raise AuditError(
            f"{path} is not a readable CIFAR batch file ({type(error).__name__}: {error}); delete it and re-download."
        )
    if len(labels) != len(data):
        raise AuditError(f"{path}: {len(data)} images but {len(labels)} labels; the file is corrupt.")
    return torch.from_numpy(data.copy()), torch.from_numpy(labels)


def read_idx(path: Path) -> torch.Tensor:
    """An MNIST idx file (optionally .gz) -> uint8 tensor of its shape."""
    from audit.io import check_input_file

    check_input_file(path, "data file", MAX_DATA_FILE_BYTES)
    try:
        with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as stream:
            raw = stream.read(MAX_DATA_FILE_BYTES + 1)  # a .gz may inflate far beyond its size
        if len(raw) > MAX_DATA_FILE_BYTES:
            raise ValueError(f"more than {MAX_DATA_FILE_BYTES >> 20} MiB once decompressed")
        if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
            raise ValueError("not an unsigned-byte idx file")
        dims = raw[3]
        shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
        return torch.from_numpy(data.reshape(shape).copy())
    except (OSError, ValueError, EOFError, gzip.BadGzipFile) as error:
        raise AuditError(f"{path} is not a readable MNIST idx file ({error}); delete it and re-download.")


def _try_download(make: Callable[[], object], what: str) -> bool:
    """Run torchvision's download; False (not an exception) when there is no network."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        make()
        return True
    except Exception:
        return False
    finally:
        socket.setdefaulttimeout(previous)


def _missing(what: str, root: Path, files: str) -> AuditError:
    return AuditError(
        f"{what} was not found under {root} and could not be downloaded (no network?). Put {files} there.",
        hint="Or point {data_root} at where the files are, or run offline on the bundled sample with "
        "{data} cifar10-sample.",
        code="missing-data",
    )


def _cifar_reader(folder: str, file: str, label_key: bytes, archive: str, torchvision_class: str) -> Reader:
    def read(root: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        path = root / folder / file
        if not path.exists() and download:
            import torchvision.datasets as tvd

            _try_download(lambda: getattr(tvd, torchvision_class)(str(root), train=False, download=True), folder)
        if not path.exists():
            raise _missing(
                f"{torchvision_class} ({folder}/{file})", root, f"{archive} or its extracted {folder}/ folder"
            )
        return read_cifar_batch(path, label_key)

    return read


def _mnist_reader(torchvision_class: str) -> Reader:
    def read(root: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        raw = root / torchvision_class / "raw"

        def find(stem: str) -> Path | None:
            for candidate in (raw / stem, raw / f"{stem}.gz"):
                if candidate.exists():
                    return candidate
            return None

        if (find("t10k-images-idx3-ubyte") is None) and download:
            import torchvision.datasets as tvd

            _try_download(
                lambda: getattr(tvd, torchvision_class)(str(root), train=False, download=True), torchvision_class
            )
        images, labels = find("t10k-images-idx3-ubyte"), find("t10k-labels-idx1-ubyte")
        if images is None or labels is None:
            raise _missing(
                f"{torchvision_class} test split",
                root,
                f"t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in {torchvision_class}/raw/",
            )
        pixels, targets = read_idx(images), read_idx(labels).long()
        if pixels.dim() != 3 or len(targets) != len(pixels):
            raise AuditError(f"{raw}: {tuple(pixels.shape)} images but {len(targets)} labels; the files are corrupt.")
        return pixels[:, None], targets

    return read


def _svhn_reader(root: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    import torchvision.datasets as tvd

    path = root / "test_32x32.mat"
    try:
        import scipy.io  # noqa: F401  (torchvision reads SVHN's .mat with scipy)
    except ImportError:
        raise AuditError("reading SVHN needs scipy: pip install scipy.")
    if not path.exists() and download:
        _try_download(lambda: tvd.SVHN(str(root), split="test", download=True), "SVHN")
    if not path.exists():
        raise _missing("SVHN test split", root, "test_32x32.mat")
    try:
        dataset = tvd.SVHN(str(root), split="test", download=False)
    except Exception as error:
        raise AuditError(f"{path} could not be read as SVHN ({error}).")
    return torch.from_numpy(dataset.data.copy()), torch.from_numpy(dataset.labels.astype(np.int64))


MAX_INPUT_SIZE = 4096  # px per side after resizing


def _check_labels(labels: np.ndarray, where: str) -> np.ndarray:
    """Class indices: integers >= 0. A NaN, a fraction or a negative label is refused
    with its index, never silently cast."""
    flat = labels.reshape(-1)
    if flat.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(flat) | (flat != np.round(flat)))
        if bad.size:
            raise AuditError(
                f"{where}: label {flat[bad[0]]!r} at index {bad[0]} is not a whole number; labels are class indices."
            )
    elif flat.dtype.kind not in "iub":
        raise AuditError(f"{where}: labels are {flat.dtype}; expected integer class indices.")
    flat = flat.astype(np.int64)
    negative = np.flatnonzero(flat < 0)
    if negative.size:
        raise AuditError(
            f"{where}: label {flat[negative[0]]} at index {negative[0]} is negative; labels are class indices from 0."
        )
    return flat


def read_npz(path: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    """An .npz with images (N,H,W,C | N,C,H,W | N,H,W; uint8 or float in [0,1]) and
    optional labels. Keys: images/x/data and labels/y/targets."""
    from audit.io import check_input_file
    from audit.loading.sniff import available_memory
    from audit.loading.zip_archive import ApprovedZip, is_zip

    check_input_file(path, "data file")
    if not is_zip(path):
        raise AuditError(f"{path} is not a readable .npz file (an .npz is a zip archive of arrays).")
    with ApprovedZip(path) as approved:  # numpy reads the very archive approved here
        available = available_memory()
        declared = 2 * approved.declared_size  # the arrays, then the uint8 tensor made from them
        if available is not None and declared > 0.9 * available:
            raise AuditError(
                f"{path} declares {declared / 2**30:.1f} GiB of arrays; "
                f"only {available / 2**30:.1f} GiB of memory is available."
            )
        return _read_npz_arrays(path, approved.stream)


def _read_npz_arrays(path: Path, stream: BinaryIO) -> tuple[torch.Tensor, torch.Tensor | None]:
    try:
        stream.seek(0)
        archive = np.load(stream, allow_pickle=False)
        keys = set(archive.files)
    except Exception as error:
        raise AuditError(f"{path} is not a readable .npz file ({error}).")
    image_key = next((k for k in ("images", "x", "data", "X") if k in keys), None)
    if image_key is None:
        raise AuditError(f"{path} has arrays {sorted(keys)}; expected one named images (or x, data).")
    label_key = next((k for k in ("labels", "y", "targets", "Y") if k in keys), None)
    try:
        images = np.asarray(archive[image_key])
        labels = _check_labels(np.asarray(archive[label_key]), str(path)) if label_key else None
    except AuditError:
        raise
    except Exception as error:
        raise AuditError(f"{path}: could not read its arrays ({error}).")
    if images.ndim == 0 or len(images) == 0:
        raise AuditError(f"{path}: the '{image_key}' array holds no images (shape {images.shape}).")
    tensor = _to_uint8_nchw(torch.from_numpy(images), str(path))
    if labels is not None and len(labels) != len(tensor):
        raise AuditError(f"{path}: {len(tensor)} images but {len(labels)} labels.")
    return tensor, torch.from_numpy(labels) if labels is not None else None


def _to_uint8_nchw(images: torch.Tensor, where: str) -> torch.Tensor:
    if images.dim() == 3:
        images = images[:, None]
    if images.dim() != 4:
        raise AuditError(
            f"{where}: images have shape {tuple(images.shape)}; expected (N, H, W, C), (N, C, H, W) or (N, H, W)."
        )
    if images.shape[1] not in (1, 3, 4) and images.shape[-1] in (1, 3, 4):
        images = images.permute(0, 3, 1, 2)
    if 0 in images.shape:
        raise AuditError(f"{where}: images have shape {tuple(images.shape)}, with an empty dimension.")
    if images.dtype != torch.uint8:
        if not images.is_floating_point():
            raise AuditError(f"{where}: images are {images.dtype}; expected uint8, or floats in [0, 1].")
        if not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1:
            raise AuditError(f"{where}: float images must be finite and in [0, 1].")
        images = (images * 255).round().to(torch.uint8)
    return images.contiguous()


# --- presets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetPreset:
    name: str
    read: Reader
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    description: str


CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)

PRESETS: dict[str, DatasetPreset] = {
    p.name: p
    for p in (
        DatasetPreset(
            "cifar10",
            _cifar_reader("cifar-10-batches-py", "test_batch", b"labels", "cifar-10-python.tar.gz", "CIFAR10"),
            CIFAR10_MEAN,
            CIFAR10_STD,
            10,
            "CIFAR-10 test split (10,000 images)",
        ),
        DatasetPreset(
            "cifar10-sample",
            lambda root, download: read_npz(BUNDLED_CIFAR10_SAMPLE),
            CIFAR10_MEAN,
            CIFAR10_STD,
            10,
            "first 846 images of the CIFAR-10 test split, bundled",
        ),
        DatasetPreset(
            "cifar100",
            _cifar_reader("cifar-100-python", "test", b"fine_labels", "cifar-100-python.tar.gz", "CIFAR100"),
            (0.5071, 0.4865, 0.4409),
            (0.2673, 0.2564, 0.2762),
            100,
            "CIFAR-100 test split",
        ),
        DatasetPreset("svhn", _svhn_reader, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), 10, "SVHN test split"),
        DatasetPreset("mnist", _mnist_reader("MNIST"), (0.1307,), (0.3081,), 10, "MNIST test split"),
        DatasetPreset(
            "fashion-mnist", _mnist_reader("FashionMNIST"), (0.2860,), (0.3530,), 10, "Fashion-MNIST test split"
        ),
    )
}


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if tuple(images.shape[-2:]) == (size, size):
        return images
    resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def load_dataset(
    spec: str,
    root: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    input_size: int | None = None,
    resize: int | None = None,
    crop: int | None = None,
    workers: int | None = None,
) -> ImageSet | ImageFiles:
    """A data set: a preset name, an .npz file (decoded here, an :class:`ImageSet`), or
    an image folder or ImageNet val (indexed here, an :class:`~audit.probes.folders.ImageFiles`
    the probe stage decodes, at once or in chunks)."""
    from audit.probes import folders

    for label, value in (("an input size", input_size), ("a resize", resize), ("a crop", crop)):
        if value is not None and not 1 <= value <= MAX_INPUT_SIZE:
            raise AuditError(f"{label} of {value} px is out of range: expected 1 to {MAX_INPUT_SIZE}.")
    if (resize or crop) and input_size:
        raise AuditError(
            "an input size squashes images to N x N; it does not combine with a resize or a crop.",
            hint="Give {input_size}, or {resize} and {crop}.",
            code="usage",
        )
    root_path = Path(root) if root else default_root()
    geometry = {"resize": resize, "crop": crop, "square": input_size, "workers": workers}
    if spec == "imagenet":
        return folders.imagenet_val(root_path, **geometry)
    if (resize or crop) and not Path(spec).is_dir():
        raise AuditError(
            "a resize and a crop apply to image folders and ImageNet.",
            hint="Use {input_size} for other data.",
            code="usage",
        )
    if spec in PRESETS:
        preset = PRESETS[spec]
        images, labels = preset.read(root_path, download)
        images = _resize(images, input_size) if input_size else images
        source = str(BUNDLED_CIFAR10_SAMPLE) if spec == "cifar10-sample" else str(root_path)
        return ImageSet(spec, images, labels, preset.mean, preset.std, preset.num_classes, source)
    path = Path(spec)
    if path.suffix.lower() == ".npz" and path.is_file():
        images, labels = read_npz(path)
        images = _resize(images, input_size) if input_size else images
        classes = int(labels.max()) + 1 if labels is not None and len(labels) else None
        mean, std = _default_normalisation(images.shape[1])
        return ImageSet(path.name, images, labels, mean, std, classes, str(path))
    if path.is_dir():
        return folders.image_folder(path, **geometry)
    known = ", ".join([*PRESETS, "imagenet"])
    raise AuditError(f"unknown data set {spec!r}: expected one of {known}, an .npz file or an image folder.")


def _default_normalisation(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """ImageNet statistics for RGB (what most pretrained models expect), 0.5/0.5 otherwise."""
    if channels == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    return (0.5,) * channels, (0.5,) * channels


def with_normalisation(
    dataset: DataSource, mean: tuple[float, ...] | None, std: tuple[float, ...] | None
) -> DataSource:
    channels = dataset.shape[0]
    for label, values in (("mean", mean), ("std", std)):
        if values is not None and len(values) not in (1, channels):
            raise AuditError(
                f"the normalisation {label} has {len(values)} values; the images have {channels} channels."
            )
    if std is not None and any(v <= 0 for v in std):
        raise AuditError("the normalisation std must be positive.")

    def expand(values: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(values) * channels if len(values) == 1 else tuple(values)

    return replace(
        dataset,
        mean=expand(mean) if mean is not None else dataset.mean,
        std=expand(std) if std is not None else dataset.std,
    )


def take_subset(dataset: DataSource, samples: int | None, seed: int) -> DataSource:
    """A fixed, seeded subset of ``samples`` images (in their original order), of an
    :class:`ImageSet` or an :class:`~audit.probes.folders.ImageFiles`."""
    if samples is None or samples >= len(dataset):
        return dataset
    if samples < 1:
        raise AuditError("the number of samples must be at least 1.")
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(dataset), generator=generator)[:samples].sort().values
    if not isinstance(dataset, ImageSet):
        return dataset.select(chosen)
    labels = dataset.labels[chosen] if dataset.labels is not None else None
    return replace(dataset, images=dataset.images[chosen], labels=labels, subset_of=len(dataset))


def images_between(dataset: ImageSet, start: int, stop: int) -> ImageSet:
    """Images start..stop-1 (a process's shard)."""
    labels = dataset.labels[start:stop] if dataset.labels is not None else None
    return replace(dataset, images=dataset.images[start:stop], labels=labels)
