"""The one error type users see.

Anything that is the user's input being wrong (a missing file, a checkpoint of an
unknown kind, a baseline that does not match) raises :class:`AuditError` with one
sentence that says what was found and what was expected. The CLI prints that sentence
and exits with code 2; any other exception is a bug in spectral-audit.
"""


class AuditError(Exception):
    """Bad input or usage, explained in one line. ``exit_code`` is what the CLI returns."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message} {self.hint}" if self.hint else message
