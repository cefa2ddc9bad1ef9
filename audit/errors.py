"""The one error type users see, and how it names options.

Anything that is the user's input being wrong (a missing file, a checkpoint of an
unknown kind, a baseline that does not match) raises :class:`AuditError` with one
sentence that says what was found and what was expected. The library does not know
about command-line flags: where a message points at a setting, its ``hint`` names the
keyword argument in braces (``"re-run with {trust_code}"``), and whoever shows the
error spells it: the CLI as ``--trust-code``, the library as ``trust_code=``.
Anything else that escapes is a bug in spectral-audit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


def spell(text: str, options: Mapping[str, str] | None = None, names: frozenset[str] | None = None) -> str:
    """``text`` with its ``{option}`` fields spelled by ``options`` (the CLI passes its
    flags), else as the library's keyword arguments (``mean=…``). With ``names``, only
    fields of those names are replaced and every other brace stays as it is: safe on
    messages that quote a file or layer name, which may hold braces of their own."""
    spelled = options or {}

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if names is not None and name not in names:
            return match.group(0)
        return spelled.get(name, f"{name}=…")

    return re.sub(r"\{([a-z_]+)\}", one, text)


def printable(text: str) -> str:
    """``text`` safe to print and encode as UTF-8: a file name with bytes that are not
    UTF-8 (kept by Python as lone surrogates) shows them as U+FFFD."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _visible(character: str) -> str:
    """A control character as an escape a terminal shows (``\\x1b``), never obeys: a file
    name with ANSI sequences must not recolour, move or clear a CI log."""
    return f"\\x{ord(character):02x}" if ord(character) < 0x20 or 0x7F <= ord(character) < 0xA0 else character


def one_line(text: str) -> str:
    """Printable, whitespace collapsed, control characters escaped: messages from libraries
    and file names can hold newlines, tabs and terminal escape sequences."""
    collapsed = " ".join(printable(text).split())
    return "".join(_visible(c) for c in collapsed)


class AuditError(Exception):
    """Bad input or usage, explained in one line.

    code: a stable name for the kind of problem ("bad-input", "unsafe-file",
        "mismatch"...), for programs that handle some of them.
    hint: what to do about it; ``{option}`` fields are spelled by :meth:`render`.
        Hints are written by spectral-audit, never built from user data, so braces in
        a file name cannot break them.
    """

    def __init__(self, message: str, *, hint: str | None = None, code: str = "bad-input"):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code

    def render(self, options: Mapping[str, str] | None = None) -> str:
        """The message and hint on one line, options spelled by ``options``."""
        text = self.message
        if self.hint:
            text = f"{text} {spell(self.hint, options)}"
        return one_line(text)

    def __str__(self) -> str:
        return self.render()
