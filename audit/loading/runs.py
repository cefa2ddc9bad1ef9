"""The checkpoints of one training run, in training order (for the track verb)."""

from __future__ import annotations

import re
from pathlib import Path

from audit.errors import AuditError
from audit.loading.sniff import EXPECTED

CHECKPOINT_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".pt2", ".safetensors", ".onnx"}
_EPOCH = re.compile(r"(?:epoch|ep|step|iter|e)[_\-=]?(\d+)", re.IGNORECASE)
_NUMBER = re.compile(r"(\d+)")


def epoch_of(path: Path) -> int | None:
    """The epoch number in a file name: after 'epoch'/'ep'/'step'..., else its last number."""
    stem = path.name.split(".")[0]
    match = _EPOCH.findall(stem) or _NUMBER.findall(stem)
    return int(match[-1]) if match else None


def order_checkpoints(paths: list[Path], order: str = "epoch") -> list[tuple[Path, int | None]]:
    """Expand folders, then sort by the epoch number in the name ('epoch') or keep the
    order given ('given')."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES)
            if not found:
                raise AuditError(f"{path} holds no checkpoint files ({', '.join(sorted(CHECKPOINT_SUFFIXES))}).")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise AuditError(f"{path}: no such file; {EXPECTED}.")
    if len(files) < 2:
        raise AuditError("track needs at least two checkpoints of one training run.")
    numbered = [(f, epoch_of(f)) for f in files]
    if order == "given":
        return numbered
    missing = [f.name for f, epoch in numbered if epoch is None]
    if missing:
        raise AuditError(
            f"no epoch number in {missing[0]}.",
            hint="Name files like model_epoch_07.pt, or keep your order with {order}.",
        )
    epochs = [epoch for _, epoch in numbered]
    if len(set(epochs)) != len(epochs):
        raise AuditError("two checkpoints have the same epoch number.", hint="Keep your order with {order}.")
    return sorted(numbered, key=lambda item: item[1])
