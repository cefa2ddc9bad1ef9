"""``python -m audit`` and the ``spectral-audit`` console script.

The interrupt handling is installed here, before anything heavy is imported, so that a
Ctrl-C (or SIGTERM) at any moment ends the run with one line and 130 (143), never a
traceback. ``torchrun -m audit`` starts the tool the same way.
"""

import os
import sys


def _exit_now(code: int) -> None:
    """Leave without the interpreter's teardown: Python restores the default signal
    handlers while it finalises (torch's teardown takes a while), so a Ctrl-C then would
    kill the process by signal (-2) after a run that had finished and written its files."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def main() -> None:
    from audit.io import Interrupted, install_interrupt_handlers

    install_interrupt_handlers()
    code = 0
    try:
        from audit.cli import run

        run()
    except Interrupted as interrupt:  # before the command line was even parsed
        sys.stderr.write(f"{'terminated' if interrupt.exit_code == 143 else 'interrupted'}; nothing was written.\n")
        code = interrupt.exit_code
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, (int, type(None))):
            sys.stderr.write(f"{done.code}\n")
    _exit_now(code)


if __name__ == "__main__":
    main()
