"""Random numbers that belong to images, not to batches.

The noise an image receives under a random probe depends only on (seed, stream, image
index): images are grouped in fixed blocks of :data:`BLOCK`, each block's numbers come
from its own generator, and a batch takes the rows of the blocks it overlaps. So the
numbers are the same for any batch size (an out-of-memory halving included), any order
of batches and any sharding of the images across processes, and the model and the
baseline see the same corrupted images.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import torch

BLOCK = 64  # images per generator
# The block drawn last, reused while consecutive batches fall in it: a batch smaller than
# a block (16 images of 224 px) would otherwise draw the whole block again each time.
_last_block: tuple[tuple[Any, ...], torch.Tensor] | None = None


def _block_seed(seed: int, stream: str, block: int) -> int:
    return (seed * 1_000_003 + zlib.crc32(stream.encode()) * 10_007 + block) % (2**63)


class ImageNoise:
    """Noise source for the images ``start .. start + count - 1`` of a data set."""

    def __init__(self, seed: int, stream: str, start: int, device: torch.device | str) -> None:
        self.seed, self.stream, self.start, self.device = seed, stream, start, torch.device(device)

    def _rows(self, count: int, draw: Callable[[torch.Generator], torch.Tensor], kind: tuple[Any, ...]) -> torch.Tensor:
        global _last_block
        first, last = self.start // BLOCK, (self.start + count - 1) // BLOCK
        blocks = []
        for block in range(first, last + 1):
            key = (self.seed, self.stream, block, self.device, kind)
            if _last_block is not None and _last_block[0] == key:
                blocks.append(_last_block[1])
                continue
            generator = torch.Generator(device=self.device).manual_seed(_block_seed(self.seed, self.stream, block))
            blocks.append(draw(generator))
            _last_block = (key, blocks[-1])
        rows = torch.cat(blocks)
        offset = self.start - first * BLOCK
        return rows[offset : offset + count]

    def normal(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Standard normal numbers of ``shape`` (first dimension: the images)."""
        per_image = tuple(shape[1:])
        draw = lambda g: torch.randn((BLOCK, *per_image), generator=g, device=self.device)  # noqa: E731
        return self._rows(shape[0], draw, ("normal", per_image)).to(dtype)

    def signs(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """+1 or -1 with equal probability, of ``shape`` (first dimension: the images)."""
        per_image = tuple(shape[1:])
        draw = lambda g: torch.randint(0, 2, (BLOCK, *per_image), generator=g, device=self.device)  # noqa: E731
        bits = self._rows(shape[0], draw, ("signs", per_image))
        return (2 * bits - 1).to(dtype)


def standard_normal(images: torch.Tensor, source: Any) -> torch.Tensor:
    """N(0, 1) noise shaped like ``images`` from an :class:`ImageNoise` or a torch.Generator."""
    if isinstance(source, ImageNoise):
        return source.normal(tuple(images.shape), images.dtype)
    return torch.randn(images.shape, generator=source, device=images.device, dtype=images.dtype)


def random_signs(shape: tuple[int, ...], source: Any, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """+-1 of ``shape`` from an :class:`ImageNoise` or a torch.Generator."""
    if isinstance(source, ImageNoise):
        return source.signs(shape, dtype)
    return (2 * torch.randint(0, 2, shape, generator=source, device=device) - 1).to(dtype)
