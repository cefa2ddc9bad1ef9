"""Image folders at any resolution: indexed once, decoded in parallel, resident or streamed.

Layouts, both with class index = the folder's place in sorted order, as torchvision's
ImageFolder and ImageNet do:

    FOLDER/CLASS_NAME/image.jpg          an ImageFolder (``--data FOLDER``)
    ROOT/val/n01440764/*.JPEG            torchvision's ImageNet val layout (``--data imagenet
                                         --data-root ROOT``; made from the official archives by
                                         torchvision.datasets.ImageNet when only those are there)

Geometry, applied to each decoded image: torchvision's evaluation convention for 224-px
models (shorter side resized to 256, bilinear with antialiasing, then a centre crop of
224) or any ``--resize`` / ``--crop``; ``--input-size N`` squashes to N x N instead.

A set whose decoded pixels fit the memory budget is decoded once (in parallel, by
DataLoader workers) and stays resident as uint8, like every other data set. A larger one
is streamed: :meth:`ImageFiles.parts` yields consecutive chunks while workers decode the
next ones, and since noise belongs to image indices (:mod:`audit.probes.noise`) and
chunks are whole batches, the numbers are those of the resident run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from audit.errors import AuditError
from audit.probes.images import IMAGE_SUFFIXES, IMAGENET_MEAN, IMAGENET_STD, ImageSet, decode_image, image_size

DECODE_BATCH = 32  # images per DataLoader item: small enough to keep every worker busy
WNID = re.compile(r"^n\d{8}$")


@dataclass(frozen=True)
class Geometry:
    """How each decoded image becomes a model input."""

    resize: int | None = None  # the shorter side, before cropping
    crop: int | None = None  # centre crop, square
    square: int | None = None  # squash to N x N (--input-size), instead of resize + crop

    def describe(self) -> str:
        if self.square:
            return f"resized to {self.square}x{self.square}"
        parts = [f"shorter side resized to {self.resize}" if self.resize else None]
        parts.append(f"centre crop {self.crop}x{self.crop}" if self.crop else None)
        return ", ".join(p for p in parts if p) or "as stored"

    def apply(self, image: Any) -> Any:
        """A PIL image -> the model input's PIL image, with torchvision's own functions on
        PIL images: the pixels torchvision's Resize + CenterCrop evaluation gives."""
        from torchvision.transforms.v2 import functional as T

        if self.square:
            return T.resize(image, [self.square, self.square], antialias=True)
        if self.resize:
            image = T.resize(image, self.resize, antialias=True)  # shorter side, as torchvision's Resize(int)
        if self.crop:
            if min(image.size) < self.crop:
                raise AuditError(
                    f"{image.size[0]}x{image.size[1]} px after resizing, smaller than the {self.crop}-px crop.",
                    hint="Choose a smaller {crop} or a larger {resize}.",
                )
            image = T.center_crop(image, [self.crop, self.crop])
        return image


EVALUATION_224 = Geometry(resize=256, crop=224)  # torchvision's ImageNet evaluation transform


def _class_folders(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _files_of(path: Path, classes: list[str]) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    for index, name in enumerate(classes):
        for file in sorted((path / name).iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file():
                files.append(file)
                labels.append(index)
    return files, labels


def _sizes(files: list[Path]) -> set[tuple[int, int]]:
    """The (width, height) of the files, from their headers, until two differ."""
    sizes = set()
    for file in files:
        sizes.add(image_size(file))
        if len(sizes) > 1:
            break
    return sizes


@dataclass
class ImageFiles:
    """Images as files (not yet decoded), their labels and the geometry to apply."""

    name: str
    files: list[Path]
    labels: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    geometry: Geometry
    subset_of: int | None = None
    workers: int = 0
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.files)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @functools.cached_property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of a model input, from the first image."""
        channels, height, width = self._decode_one(0).shape
        return int(channels), int(height), int(width)

    def decoded_bytes(self) -> int:
        channels, height, width = self.shape
        return len(self) * channels * height * width

    def select(self, indices: torch.Tensor) -> ImageFiles:
        chosen = indices.tolist()
        return replace(
            self,
            files=[self.files[i] for i in chosen],
            labels=self.labels[indices],
            subset_of=self.subset_of or len(self),
        )

    def _decode_one(self, index: int) -> torch.Tensor:
        try:
            return decode_image(self.files[index], self.geometry.apply if self.geometry != Geometry() else None)
        except AuditError as error:
            if str(self.files[index]) in error.message:
                raise
            raise AuditError(f"{self.files[index]}: {error.message}", hint=error.hint)

    def _as_set(self, images: torch.Tensor, labels: torch.Tensor) -> ImageSet:
        return ImageSet(
            self.name, images, labels, self.mean, self.std, self.num_classes, self.source, subset_of=self.subset_of
        )

    def _batches(self, start: int, stop: int) -> Iterator[torch.Tensor]:
        """Decoded images start..stop-1 in order, DECODE_BATCH at a time, by ``workers``
        processes ahead of the caller (0: in this process)."""
        from torch.utils.data import DataLoader

        loader = DataLoader(
            _Decoder(self, start, stop),
            batch_size=None,  # each item is already a batch
            num_workers=self.workers,
            worker_init_fn=_one_thread if self.workers else None,
            prefetch_factor=4 if self.workers else None,
        )
        try:
            yield from loader
        except AuditError as error:
            if not self.workers:
                raise
            # A worker's error comes back with the worker's traceback in its message;
            # the user gets the original one line (the traceback's last).
            last = [line for line in error.message.splitlines() if line.strip()][-1]
            raise AuditError(last.split("AuditError: ", 1)[-1], hint=error.hint)

    def decode(self, start: int = 0, stop: int | None = None) -> ImageSet:
        """Images start..stop-1 decoded and resident, as an :class:`ImageSet`."""
        stop = len(self) if stop is None else stop
        images = torch.cat(list(self._batches(start, stop))) if stop > start else torch.empty(0, dtype=torch.uint8)
        return self._as_set(images, self.labels[start:stop])

    def parts(self, start: int, stop: int, chunk: int) -> Iterator[tuple[int, ImageSet]]:
        """(first index, decoded chunk) over images start..stop-1, ``chunk`` images at a
        time; the workers decode ahead while the caller works on the current chunk."""
        pending: list[torch.Tensor] = []
        held = 0
        first = start
        for batch in self._batches(start, stop):
            pending.append(batch)
            held += len(batch)
            while held >= chunk:
                joined = torch.cat(pending)
                yield first, self._as_set(joined[:chunk], self.labels[first : first + chunk])
                first += chunk
                rest = joined[chunk:]
                pending, held = ([rest] if len(rest) else []), len(rest)
        if held:
            yield first, self._as_set(torch.cat(pending), self.labels[first:stop])


class _Decoder(torch.utils.data.Dataset):
    """Item k: the decoded images start + k*DECODE_BATCH ... (a worker decodes a whole item)."""

    def __init__(self, files: ImageFiles, start: int, stop: int) -> None:
        self.files, self.start, self.stop = files, start, stop

    def __len__(self) -> int:
        return -(-(self.stop - self.start) // DECODE_BATCH)

    def __getitem__(self, item: int) -> torch.Tensor:
        first = self.start + item * DECODE_BATCH
        last = min(first + DECODE_BATCH, self.stop)
        images = [self.files._decode_one(i) for i in range(first, last)]
        shapes = {tuple(i.shape) for i in images}
        if len(shapes) > 1:
            raise AuditError(
                f"{self.files.name}: images have different sizes after {self.files.geometry.describe()} "
                f"({sorted(shapes)[:2]}).",
                hint="Give them one size with {crop} (and {resize}) or {input_size}.",
            )
        return torch.stack(images)


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)  # a decoding worker must not compete with inference for cores


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers(count: int) -> int:
    """Decoding processes: none for a few hundred images (starting them costs more), else
    the cores left after one for inference, at most 8."""
    if count < 512:
        return 0
    return max(1, min(8, _cores() - 1))


@contextlib.contextmanager
def inference_threads(workers: int) -> Iterator[None]:
    """While ``workers`` processes decode, inference keeps only the remaining cores, so the
    two never oversubscribe the machine (threads fighting for cores were measured several
    times slower). An explicit OMP_NUM_THREADS is the user's choice and is kept."""
    if not workers or "OMP_NUM_THREADS" in os.environ:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(before, _cores() - workers)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _geometry_for(
    files: list[Path], where: str, resize: int | None, crop: int | None, square: int | None
) -> tuple[Geometry, str | None]:
    """The user's geometry, else none for images of one size, else the 224-px evaluation
    convention (with a note saying so)."""
    if square is not None:
        return Geometry(square=square), None
    if resize is not None or crop is not None:
        return Geometry(resize=resize, crop=crop), None
    if len(_sizes(files)) <= 1:
        return Geometry(), None
    return (
        EVALUATION_224,
        f"{where}: images of several sizes; resized to 256 and centre-cropped to 224, as torchvision evaluates",
    )


def image_folder(
    path: Path,
    *,
    resize: int | None = None,
    crop: int | None = None,
    square: int | None = None,
    workers: int | None = None,
) -> ImageFiles:
    """An ImageFolder: FOLDER/CLASS_NAME/image.*"""
    classes = _class_folders(path)
    if not classes:
        raise AuditError(f"{path} has no class sub-folders; expected FOLDER/CLASS_NAME/image.png.")
    files, labels = _files_of(path, classes)
    if not files:
        raise AuditError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in its class folders.")
    geometry, note = _geometry_for(files, path.name, resize, crop, square)
    return _indexed(path.name, path, files, labels, classes, geometry, workers, [note] if note else [])


def _indexed(
    name: str,
    folder: Path,
    files: list[Path],
    labels: list[int] | None,
    classes: list[str],
    geometry: Geometry,
    workers: int | None,
    notes: list[str],
) -> ImageFiles:
    """ImageFiles with ImageNet's normalisation (what RGB photo models expect; --mean/--std
    override it) and the default number of decoders."""
    return ImageFiles(
        name=name,
        files=files,
        labels=torch.tensor(labels),
        classes=classes,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        source=str(folder),
        geometry=geometry,
        workers=default_workers(len(files)) if workers is None else workers,
        notes=tuple(notes),
    )


SOLUTION_CSV = "LOC_val_solution.csv"  # the ILSVRC localisation challenge's ground truth (as on Kaggle)


def _flat_val(root: Path, folder: Path, flat: list[Path]) -> tuple[list[Path], list[int], list[str]]:
    """val/*.JPEG with no class folders: labels from LOC_val_solution.csv (ImageId, then a
    prediction string that starts with the WNID), in root/ or val/. Classes are the sorted
    WNIDs, torchvision's order, so label k means the same as in the WNID-folder layout."""
    import csv

    solution = next((p for p in (root / SOLUTION_CSV, folder / SOLUTION_CSV) if p.is_file()), None)
    if solution is None:
        raise AuditError(
            f"{folder} holds {len(flat)} images directly, with no class folders, and no {SOLUTION_CSV} gives their "
            f"labels. Either place {SOLUTION_CSV} (ImageId,PredictionString) in {root}, or arrange the images as "
            f"{folder}/WNID/*.JPEG (torchvision's layout; valprep.sh does it)."
        )
    from audit.io import read_text

    truth: dict[str, str] = {}
    for row in csv.DictReader(read_text(solution, "ImageNet ground truth", 64 << 20).splitlines()):
        words = (row.get("PredictionString") or "").split()
        if row.get("ImageId") and words and WNID.match(words[0]):
            truth[row["ImageId"]] = words[0]
    if not truth:
        raise AuditError(f"{solution}: no rows of ImageId,PredictionString with a WordNet id (n01440764...).")
    missing = [f.name for f in flat if f.stem not in truth]
    if missing:
        raise AuditError(f"{solution} gives no label for {len(missing)} image(s) of {folder}, e.g. {missing[0]}.")
    classes = sorted(set(truth.values()))
    index = {wnid: k for k, wnid in enumerate(classes)}
    return flat, [index[truth[f.stem]] for f in flat], classes


def imagenet_val(
    root: Path,
    *,
    resize: int | None = None,
    crop: int | None = None,
    square: int | None = None,
    workers: int | None = None,
) -> ImageFiles:
    """torchvision's ImageNet val layout under ``root``: root/val/WNID/*.JPEG. When only
    the official archives are there, torchvision.datasets.ImageNet unpacks them first."""
    folder = root / "val"
    if not folder.is_dir():
        archives = [root / "ILSVRC2012_img_val.tar", root / "ILSVRC2012_devkit_t12.tar.gz"]
        if all(a.is_file() for a in archives):
            import torchvision

            torchvision.datasets.ImageNet(str(root), split="val")  # parses the archives into val/WNID/
        else:
            raise AuditError(
                f"ImageNet val was not found under {root}: expected {folder}/WNID/*.JPEG (torchvision's layout) or "
                "the archives ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz (they cannot be downloaded).",
                hint="Point {data_root} at the folder that holds val/.",
            )
    classes = _class_folders(folder)
    flat = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if not classes and flat:
        files, labels, classes = _flat_val(root, folder, flat)
    elif not classes or not all(WNID.match(c) for c in classes):
        raise AuditError(f"{folder}: expected one folder per WordNet id (n01440764...), found {classes[:3]}.")
    else:
        files, labels = _files_of(folder, classes)
    if not files:
        raise AuditError(f"{folder}: no images in its class folders.")
    notes = []
    if len(classes) != 1000:
        notes.append(f"ImageNet val with {len(classes)} classes, not 1000: labels index the classes present")
    geometry = Geometry(square=square) if square else Geometry(resize=resize or 256, crop=crop or 224)
    return _indexed("imagenet", folder, files, labels, classes, geometry, workers, notes)
