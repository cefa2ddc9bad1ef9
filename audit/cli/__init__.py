"""The ``spectral-audit`` command line: the verbs (:mod:`~audit.cli.commands`), their
options declared once (:mod:`~audit.cli.options`), and how a command ends
(:mod:`~audit.cli.guard`: exit codes and one-line errors).

Exit codes: 0 success (every gate passed), 1 a gate failed, 2 bad input or usage,
130 interrupted (143 terminated).
"""

from audit.cli.commands import FLAGS, app, run

__all__ = ["FLAGS", "app", "run"]
