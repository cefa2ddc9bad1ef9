"""Progress of long work on stderr: a rich bar with ETA on a terminal, and plain lines
where stderr is a CI log or a pipe: one when the work starts, one per finished part (a
probe), with elapsed time and ETA, or every tenth of the work when there are no parts.

The first line is printed when the work starts, so a program driving spectral-audit
(or a test) can wait for it as a sign that the run is under way.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any


def _seconds(value: float) -> str:
    value = int(round(value))
    return f"{value // 60}m{value % 60:02d}s" if value >= 60 else f"{value}s"


class Progress:
    """``advance(n)`` as work is done; ``finished(part)`` when a named part is complete."""

    def advance(self, amount: int) -> None:  # pragma: no cover - the silent default
        pass

    def finished(self, part: str) -> None:  # pragma: no cover - the silent default
        pass


class _PlainLines(Progress):
    def __init__(self, total: int, label: str, unit: str, parts: int) -> None:
        self.total, self.label, self.unit, self.parts = total, label, unit, parts
        self.done = self.parts_done = 0
        self.next_tenth = 1
        self.started = time.perf_counter()
        self._write(f"{label}: started, {total:,} {unit}" + (f" in {parts} parts" if parts else ""))

    def _write(self, line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def _timing(self) -> str:
        elapsed = time.perf_counter() - self.started
        remaining = elapsed * (self.total - self.done) / self.done if self.done else 0.0
        return f"{_seconds(elapsed)} elapsed, ETA {_seconds(remaining)}"

    def advance(self, amount: int) -> None:
        self.done += amount
        if self.parts or (self.done * 10 < self.next_tenth * self.total and self.done < self.total):
            return
        self.next_tenth = self.done * 10 // self.total + 1
        self._write(
            f"{self.label}: {100 * self.done // self.total}% ({self.done:,}/{self.total:,} {self.unit}), "
            f"{self._timing()}"
        )

    def finished(self, part: str) -> None:
        self.parts_done += 1
        self._write(f"{self.label}: {part} done ({self.parts_done}/{self.parts}), {self._timing()}")


class _RichBar(Progress):
    def __init__(self, bar: Any, task: Any) -> None:
        self.bar, self.task = bar, task

    def advance(self, amount: int) -> None:
        self.bar.advance(self.task, amount)

    def finished(self, part: str) -> None:
        self.bar.update(self.task, description=f"{self.bar.tasks[0].description.split(':')[0]}: {part} done")


@contextlib.contextmanager
def progress(total: int, show: bool, label: str, unit: str = "images", parts: int = 0) -> Iterator[Progress]:
    """A :class:`Progress` for ``total`` units (in ``parts`` named parts, if any)."""
    if not show or total <= 0:
        yield Progress()
        return
    if not sys.stderr.isatty():
        yield _PlainLines(total, label, unit, parts)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    with RichProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        yield _RichBar(bar, bar.add_task(label, total=total))
