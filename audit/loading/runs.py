"""The checkpoints of one training run, and where each one is in training (the track verb).

A checkpoint's place in training is taken, in this order of trust, from:

1. the checkpoint's own ``epoch``, ``global_step`` or ``step`` key (every file must
   have it, and no two the same);
2. an explicit pattern in the file name: ``epoch_07``, ``ep12``, ``epoch=3``,
   ``step=3000``, ``iter_500`` (digits alone are never an epoch: ``resnet20``,
   ``wd0``, ``seed1`` and ``5e-4`` say nothing about training time);
3. otherwise the files keep their order (sorted names in a folder, the command line's
   order for files) and their position is their x, which the report says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.errors import AuditError
from audit.formats import CHECKPOINT_SUFFIXES, EXPECTED
from audit.loading.state_dict import POSITION_KEYS

# A word boundary (or _ - . =) before the keyword, digits after it, and no more digits or
# a decimal point after those: "model_epoch_07" and "ckpt-ep12", not "deep12" or "ep1.5".
_NAMED_POSITION = re.compile(r"(?:^|(?<=[^a-z]))(epoch|ep|step|iter|it)[_\-=]?(\d+)(?![\d])", re.IGNORECASE)


def position_in_name(path: Path) -> int | None:
    """The epoch or step an explicit pattern in the file name gives, else None."""
    stem = path.name
    for suffix in sorted(CHECKPOINT_SUFFIXES, key=len, reverse=True):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    matches = _NAMED_POSITION.findall(stem)
    return int(matches[-1][1]) if matches else None


def checkpoints_in(folder: Path) -> tuple[list[Path], list[str]]:
    """A folder's checkpoints, sorted by name, recognised by their suffix or, for any other
    file, by their bytes (a checkpoint named ``model.weights`` counts); and one line per file
    left out, saying why."""
    from audit.loading import detect_format

    found, skipped = [], []
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        if path.suffix.lower() in CHECKPOINT_SUFFIXES:
            found.append(path)
            continue
        try:
            detect_format(path)
        except AuditError as error:
            skipped.append(f"{path.name}: {error.message.removeprefix(str(path)).strip(' :;')}")
            continue
        found.append(path)
    return found, skipped


def list_checkpoints(
    paths: list[Path],
    minimum: int = 2,
    too_few: str = "track needs at least two checkpoints of one training run.",
    skipped: list[str] | None = None,
) -> list[Path]:
    """The files of a run (or a zoo): folders expanded (sorted by name, see
    :func:`checkpoints_in`), files as given. ``skipped`` collects the files of a folder left
    out, with why."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found, left_out = checkpoints_in(path)
            if skipped is not None:
                skipped.extend(left_out)
            if not found:
                raise AuditError(f"{path} holds no checkpoint files ({', '.join(sorted(CHECKPOINT_SUFFIXES))}).")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise AuditError(f"{path}: no such file; {EXPECTED}.")
    if len(files) < minimum:
        raise AuditError(too_few)
    return files


@dataclass(frozen=True)
class TrainingOrder:
    """Where each checkpoint is in training: positions[i] is the x of files[i]."""

    positions: list[int]
    source: str  # "epoch key", "global_step key", "step key", "file name", "file order", "order given"
    label: str  # the x axis: "epoch", "step", "checkpoint (file order)"...


def training_order(files: list[Path], facts: list[dict[str, Any]], order: str = "auto") -> TrainingOrder:
    """Positions in training of ``files`` (whose checkpoint facts are ``facts``), from the
    most trustworthy source that gives every file a distinct number; ``order="given"``
    keeps the files' order."""
    if order == "given":
        return TrainingOrder(list(range(len(files))), "order given", "checkpoint (order given)")
    for key in POSITION_KEYS:
        values = [f.get(key) for f in facts]
        known = [int(v) for v in values if v is not None]
        if len(known) == len(values) and len(set(known)) == len(known):
            return TrainingOrder(known, f"{key} key", "epoch" if key == "epoch" else "step")
    found = [position_in_name(f) for f in files]
    named = [v for v in found if v is not None]
    if len(named) == len(found) and len(set(named)) == len(named):
        words = {m[0].lower() for f in files for m in _NAMED_POSITION.findall(f.name)}
        return TrainingOrder(named, "file name", "step" if words & {"step", "iter", "it"} else "epoch")
    return TrainingOrder(list(range(len(files))), "file order", "checkpoint (file order)")
