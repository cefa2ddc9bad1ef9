"""``python -m audit`` and the ``spectral-audit`` console script.

The interrupt handling is installed here, before anything heavy is imported, so that a
Ctrl-C (or SIGTERM) at any moment ends the run with one line and 130 (143), never a
traceback. ``torchrun -m audit`` starts the tool the same way.
"""

import sys


def main() -> None:
    from audit.io import Interrupted, install_interrupt_handlers

    install_interrupt_handlers()
    try:
        from audit.cli import run
    except Interrupted as interrupt:
        sys.stderr.write("interrupted; nothing was written.\n")
        raise SystemExit(interrupt.exit_code)
    run()


if __name__ == "__main__":
    main()
