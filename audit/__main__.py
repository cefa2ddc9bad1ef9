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
    kill the process by signal (-2) after a run that had finished and written its files.
    The scratch folder is removed first, since atexit handlers do not run."""
    from audit.io import remove_scratch

    remove_scratch()
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
    except Exception:  # an import that a signal broke half-way ("cannot load module more than once")
        from audit.io import received_signal

        signal_number = received_signal()
        if signal_number is None:
            raise
        broken = Interrupted(signal_number)
        sys.stderr.write(f"{'terminated' if broken.exit_code == 143 else 'interrupted'}; nothing was written.\n")
        code = broken.exit_code
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, (int, type(None))):
            sys.stderr.write(f"{done.code}\n")
    _exit_now(_signal_code(code))


def _signal_code(code: int) -> int:
    """A signal that came at any moment decides the exit code (128 + signal), even where a
    library caught its exception first (click turns a KeyboardInterrupt into a bare 130,
    whatever the signal); the one line is written here when the CLI could not write it."""
    from audit import io

    signum = io.received_signal()
    if signum is None or code == 128 + signum:
        return code
    outcome = f"after writing {len(io.written)} file(s)" if io.written else "nothing was written"
    sys.stderr.write(f"{'terminated' if signum == 15 else 'interrupted'}; {outcome}.\n")
    return 128 + signum


if __name__ == "__main__":
    main()
