"""Several processes, one audit: torch.distributed as torchrun sets it up.

    torchrun --standalone --nproc-per-node 4 -m audit model.pt --data imagenet --out report/

Every rank loads the model and measures the spectra (cheap), takes its own contiguous
shard of the evaluation images, runs the whole probe suite on it, and the per-image
outcomes are gathered so that the summary (and its intervals) is computed from all
images; only rank 0 prints and writes. Shards are whole batches and noise belongs to
image indices, so the numbers equal a one-process run's for any number of ranks.

Backend: NCCL when the ranks have GPUs (one per rank, ``LOCAL_RANK``), gloo on CPUs.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.probes.suite import SuiteOutcome


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher) as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start() -> None:
    """Join the process group torchrun describes (idempotent; nothing when not launched)."""
    if not launched():
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank())
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")


def stop() -> None:
    if launched():
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def world() -> tuple[int, int]:
    """(rank, world size): (0, 1) outside a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(count: int, rank: int, size: int, align: int = 1) -> tuple[int, int]:
    """Images [start, stop) of ``rank``: contiguous, whole blocks of ``align`` images, as
    even as the blocks allow (the last block may be short)."""
    blocks = -(-count // align)
    first = blocks * rank // size
    last = blocks * (rank + 1) // size
    return min(count, first * align), min(count, last * align)


def gather_outcome(outcome: SuiteOutcome) -> SuiteOutcome:
    """A :class:`~audit.probes.suite.SuiteOutcome` of all images from each rank's shard,
    in rank (= image) order, on every rank."""
    from audit.probes.suite import join_outcomes

    _, size = world()
    if size == 1:
        return outcome
    import torch.distributed as dist

    pieces: list[Any] = [None] * size  # each rank's (correct, agrees, batch size, notes)
    dist.all_gather_object(pieces, (outcome.correct, outcome.agrees, outcome.batch_size, outcome.notes))
    return join_outcomes([replace(outcome, correct=c, agrees=a, batch_size=b, notes=n) for c, a, b, n in pieces])
