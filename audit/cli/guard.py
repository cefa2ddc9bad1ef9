"""How a command ends: its exit code, and one line on stderr for anything that went wrong.

Exit codes: 0 success (every gate passed), 1 a gate failed, 2 bad input or usage, 130
interrupted (143 terminated). Nothing here imports torch: a command's action does, inside
:func:`guarded`, so an interrupt at any moment ends with one line.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping

import typer
from rich.console import Console
from rich.markup import escape

from audit.errors import AuditError, one_line
from audit.io import Interrupted, raise_if_interrupted

EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2

stdout = Console()
stderr = Console(stderr=True)


def print_error(text: str) -> None:
    rank = f"rank {os.environ['RANK']}: " if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
    stderr.print(f"[bold red]error:[/bold red] {rank}{escape(one_line(text))}", highlight=False, soft_wrap=True)


def guarded(action: Callable[[], int | None], debug: bool, spellings: Mapping[str, str]) -> None:
    """Run ``action``; turn user errors into one line on stderr (their option hints spelled
    by ``spellings``, the command line's flags) and an exit code.

    Under torchrun the process joins the group first; ranks other than 0 compute their
    share silently (their errors still show, with the rank)."""
    from audit.io import secondary_rank, written

    written.clear()  # this run's outputs (in-process callers run several)
    _fit_to_terminal()
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if secondary_rank():
        stdout.quiet = True
    try:
        if launched:
            from audit.probes import distributed

            distributed.start()
        code = action() or 0
        raise_if_interrupted()  # an interrupt whose exception a finaliser swallowed still counts
    except Exception as error:
        # A signal that arrived while a library was importing or working can surface as that
        # library's error ("cannot load module more than once per process"): once a signal
        # came, whatever followed is the interruption, not a problem to report.
        if isinstance(error, AuditError) and not _signal_came():
            code = _bad_input(error, debug, spellings)
        elif (signal_number := _signal_came()) is not None:
            code = _interrupted(Interrupted(signal_number))
        else:
            code = _unforeseen(error, debug)
    except KeyboardInterrupt as interrupt:
        code = _interrupted(interrupt)
    finally:
        if launched:
            from audit.probes import distributed

            distributed.stop()
    raise typer.Exit(code)


def _fit_to_terminal() -> None:
    """Tables as wide as the terminal (or $COLUMNS) when the command runs: a Console reads
    $COLUMNS once, when it is made, and in-process callers run several commands."""
    columns = shutil.get_terminal_size().columns
    for console in (stdout, stderr):
        console.width = columns


def _signal_came() -> int | None:
    from audit.io import received_signal

    return received_signal()


def _bad_input(error: AuditError, debug: bool, spellings: Mapping[str, str]) -> int:
    if debug:
        raise error
    print_error(error.render(spellings))
    return EXIT_BAD_INPUT


def _interrupted(interrupt: KeyboardInterrupt) -> int:
    from audit.io import written

    signal_code = interrupt.exit_code if isinstance(interrupt, Interrupted) else 130
    outcome = f"after writing {len(written)} file(s)" if written else "nothing was written"
    stderr.print("terminated" if signal_code == 143 else "interrupted", "; ", outcome, ".", sep="", highlight=False)
    return signal_code


def _unforeseen(error: Exception, debug: bool) -> int:
    if debug:
        raise error
    if isinstance(error, MemoryError):
        print_error("ran out of memory: the machine (or a ulimit on this process) leaves too little for this run.")
    elif isinstance(error, ImportError):
        detail = one_line(str(error))[:200]
        why = " The process has too little memory or address space for it (ulimit -v?)." if "map" in detail else ""
        print_error(f"a library spectral-audit needs could not be loaded ({detail}).{why}")
    else:  # a bug or an input we failed to foresee: still no traceback
        print_error(
            f"unexpected {type(error).__name__}: {error} (re-run with --debug for the traceback, and please report it)"
        )
    return EXIT_BAD_INPUT
