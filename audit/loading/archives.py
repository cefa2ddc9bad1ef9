"""Naming what a pickle would import, for error messages only.

:func:`pickle_globals` reads a pickle's opcodes without executing anything and lists the
classes and functions it would import, so that a refusal can say "this file would import
posix.system". The safety decision is never made here: it is made by construction (an
unpickler with an allow-list, or a reader that imports nothing).
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path

# --- naming what a pickle imports (messages only) ------------------------------------------

_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING", "STRING"}


def _globals_of_one(data: bytes, start: int) -> tuple[list[str], int]:
    """Globals named by the pickle that begins at ``start``, and where it ends."""
    found: list[str] = []
    strings: list[str] = []
    memo: dict[int, str] = {}
    end = start
    stream = io.BytesIO(data)
    stream.seek(start)
    for opcode, argument, position in pickletools.genops(stream):
        name = opcode.name
        if name in _STRING_OPS:
            strings.append(argument if isinstance(argument, str) else str(argument))
        elif name in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"):
            key = len(memo) if name == "MEMOIZE" else int(argument or 0)  # PUT's argument is its memo index
            if strings:
                memo[key] = strings[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET") and argument in memo:
            strings.append(memo[argument])
        elif name in ("GLOBAL", "INST"):
            found.append(str(argument).replace(" ", "."))
        elif name == "STACK_GLOBAL" and len(strings) >= 2:
            found.append(f"{strings[-2]}.{strings[-1]}")
        elif name.startswith("EXT"):
            found.append(f"<copyreg extension {argument}>")
        elif name == "STOP" and position is not None:  # a bytes stream always tells its position
            end = position + 1
    return found, end


def pickle_globals(data: bytes, limit: int = 5) -> list[str]:
    """Classes and functions that the pickle(s) in ``data`` would import, beyond torch's
    own and plain containers; successive pickles are read in turn (legacy torch.save
    files are several pickles followed by raw storage bytes). Best effort, never raises."""
    found: list[str] = []
    start = 0
    try:
        while start < len(data) and len(found) < 64:
            names, end = _globals_of_one(data, start)
            found += names
            if end <= start:
                break
            start = end
    except Exception:  # the raw storage bytes after the last pickle, or a mangled stream
        pass
    unusual = [g for g in dict.fromkeys(found) if not g.startswith(("torch.", "collections.", "builtins.", "_codecs."))]
    return unusual[:limit]


def zip_pickle_globals(path_or_bytes: Path | bytes, limit: int = 5) -> list[str]:
    """:func:`pickle_globals` of every ``*.pkl`` member of a zip (a torch.save archive)."""
    try:
        source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
        with zipfile.ZipFile(source) as archive:
            found: list[str] = []
            for name in archive.namelist():
                if name.endswith(".pkl"):
                    found += pickle_globals(archive.read(name), limit)
            return list(dict.fromkeys(found))[:limit]
    except Exception:
        return []
