"""Progress of long work on stderr: a rich bar with ETA on a terminal, and plain lines
(every tenth of the work, with elapsed time and ETA) where stderr is a CI log or a pipe.

The first line is printed when the work starts, so a program driving spectral-audit
(or a test) can wait for it as a sign that the run is under way.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator


def _seconds(value: float) -> str:
    value = int(round(value))
    return f"{value // 60}m{value % 60:02d}s" if value >= 60 else f"{value}s"


@contextlib.contextmanager
def progress(total: int, show: bool, label: str, unit: str = "images") -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; show progress of ``total`` units on stderr when ``show``."""
    if not show or total <= 0:
        yield lambda n: None
        return
    if sys.stderr.isatty():
        with _rich_bar(total, label) as advance:
            yield advance
        return
    started = time.perf_counter()
    done = 0
    next_step = 1
    sys.stderr.write(f"{label}: started, {total:,} {unit}\n")
    sys.stderr.flush()

    def advance(n: int) -> None:
        nonlocal done, next_step
        done += n
        if done * 10 < next_step * total and done < total:
            return
        next_step = done * 10 // total + 1
        elapsed = time.perf_counter() - started
        remaining = elapsed * (total - done) / done if done else 0.0
        sys.stderr.write(
            f"{label}: {100 * done // total}% ({done:,}/{total:,} {unit}), "
            f"{_seconds(elapsed)} elapsed, ETA {_seconds(remaining)}\n"
        )
        sys.stderr.flush()

    yield advance


@contextlib.contextmanager
def _rich_bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
