"""Images, one at a time and as a set: what every data source (presets, .npz files, image
folders, ImageNet val) produces and the probes consume. Pillow decodes; a header is checked
before any pixel is (decompression bombs, corrupt files: one line each)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audit.errors import AuditError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_IMAGE_PIXELS = 40_000_000  # 40 MP: any camera photo; a decompression bomb is far larger


@dataclass
class ImageSet:
    """Evaluation images, uint8 (N, C, H, W), with labels (N,) int64 or None."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int | None
    source: str
    subset_of: int | None = None  # size of the full split when a subset was taken

    @property
    def shape(self) -> tuple[int, int, int]:
        channels, height, width = self.images.shape[1:]
        return int(channels), int(height), int(width)

    def __len__(self) -> int:
        return int(self.images.shape[0])


@contextlib.contextmanager
def _checked_image(file: Path) -> Any:
    """A Pillow image whose header was checked: a decompression bomb (a small file that
    declares a huge image) is refused before any pixel is decoded, and a corrupt file
    gives one line, not a decoder's chatter."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise AuditError(
                    f"{file} declares {width}x{height} pixels ({width * height / 1e6:,.0f} MP), more than the "
                    f"{MAX_IMAGE_PIXELS / 1e6:.0f} MP spectral-audit decodes; refused before decoding."
                )
            yield image
    except AuditError:
        raise
    except Image.DecompressionBombError:  # Pillow's own guard, at twice its warning size
        raise AuditError(
            f"{file} declares more pixels than the {MAX_IMAGE_PIXELS / 1e6:.0f} MP spectral-audit decodes; "
            "refused before decoding."
        )
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise AuditError(f"{file} could not be decoded as an image ({type(error).__name__}: {error}).")


def image_size(file: Path) -> tuple[int, int]:
    """(width, height) from the header only, with the checks of :func:`decode_image`."""
    with _checked_image(file) as image:
        return image.size


def decode_image(file: Path, transform: Callable[[Any], Any] | None = None) -> torch.Tensor:
    """One image file as uint8 RGB (3, H, W), with Pillow, after the header checks.
    ``transform`` (PIL image -> PIL image) is applied to the RGB image before conversion."""
    with _checked_image(file) as image:
        try:
            rgb = image.convert("RGB")
            pixels = np.asarray(transform(rgb) if transform else rgb)
        except (OSError, ValueError, SyntaxError) as error:
            raise AuditError(f"{file} could not be decoded as an image ({type(error).__name__}: {error}).")
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()
