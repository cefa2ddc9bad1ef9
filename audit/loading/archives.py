"""What is inside a checkpoint container, found before any library is allowed to read it.

- :func:`zip_entries` lists a zip archive's members with their declared sizes, so that a
  2 MB file that would inflate to gigabytes is refused before anything is decompressed,
  and so that compressed members (which cannot be memory-mapped) are known.
- :func:`unsafe_export_members` proves a ``torch.export`` archive (.pt2) safe to load:
  ``torch.export.load`` unpickles several members with ``weights_only=False``, so every
  member it could unpickle must be a ``torch.save`` archive that the weights-only
  unpickler accepts; anything else (a raw pickle, an opaque object, compiled code) is
  reported and the file is refused unless the user trusts it.
- :func:`pickle_globals` names the classes and functions a pickle would import, read from
  its opcodes without executing anything, for the error message only: the safety
  decision is always made by an unpickler with an allow-list, never by this scan.
"""

from __future__ import annotations

import io
import json
import pickletools
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from audit.errors import AuditError


@dataclass(frozen=True)
class ZipEntry:
    name: str
    size: int  # declared uncompressed size in bytes
    compressed: bool


def zip_entries(path: Path) -> list[ZipEntry]:
    """Members of a zip archive with their declared sizes, or one clear AuditError."""
    try:
        with zipfile.ZipFile(path) as archive:
            return [
                ZipEntry(i.filename, i.file_size, i.compress_type != zipfile.ZIP_STORED) for i in archive.infolist()
            ]
    except Exception as error:  # BadZipFile, EOFError, UnicodeDecodeError of a mangled name...
        raise AuditError(
            f"{path} starts like a zip archive (PyTorch's file format) but is damaged or truncated ({error}); "
            "re-save or re-download it."
        )


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
            key = len(memo) if name == "MEMOIZE" else argument
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
        elif name == "STOP":
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


# --- torch.export archives -----------------------------------------------------------------

_TEXT_MEMBERS = {"archive_format", "archive_version", "byteorder", "version", ".data/version", ".data/serialization_id"}
_CODE_DIRECTORIES = ("data/aotinductor/", "data/executorch/", "data/mtia")


def _weights_only_loadable(data: bytes) -> bool:
    """Whether torch's weights-only unpickler accepts this torch.save archive."""
    import pickle

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        return True
    except pickle.UnpicklingError:
        return False
    except Exception:
        return False  # malformed: not provably safe either


def _raw_payloads(archive: zipfile.ZipFile, prefix: str) -> set[str]:
    """Members that the payload configs declare as raw tensor bytes (read, never unpickled)."""
    raw: set[str] = set()
    for name in archive.namelist():
        relative = name[len(prefix) :]
        for folder, tensors_only in (("data/weights/", False), ("data/constants/", True)):
            if not (relative.startswith(folder) and relative.endswith("_config.json")):
                continue
            try:
                config = json.loads(archive.read(name)).get("config", {})
            except (ValueError, AttributeError):
                continue
            for entry in config.values() if isinstance(config, dict) else ():
                if not isinstance(entry, dict) or entry.get("use_pickle") is not False:
                    continue
                path_name = str(entry.get("path_name", ""))
                if tensors_only and not path_name.startswith("tensor_"):
                    continue  # custom and opaque objects are unpickled whatever the flag says
                raw.add(folder + path_name)
    return raw


def unsafe_export_members(path: Path) -> list[tuple[str, list[str]]]:
    """(member, classes it would import) for every member of a .pt2 archive that
    ``torch.export.load`` could unpickle or execute and that is not proven safe."""
    unsafe: list[tuple[str, list[str]]] = []
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        prefix = names[0].split("/", 1)[0] + "/" if names and "/" in names[0] else ""
        raw = _raw_payloads(archive, prefix)
        for name in names:
            relative = name[len(prefix) :] if name.startswith(prefix) else name
            if name.endswith("/") or relative in _TEXT_MEMBERS or relative in raw:
                continue
            if relative.startswith(_CODE_DIRECTORIES) or relative.endswith((".so", ".dll", ".dylib")):
                unsafe.append((relative, ["compiled code"]))
                continue
            data = archive.read(name)
            if relative.endswith(".json"):
                try:
                    json.loads(data)
                    continue
                except ValueError:
                    unsafe.append((relative, ["not JSON"]))
                    continue
            if data[:4] == b"PK\x03\x04" and _weights_only_loadable(data):
                continue  # a torch.save archive of tensors: what weights_only=True allows
            classes = zip_pickle_globals(data) if data[:4] == b"PK\x03\x04" else pickle_globals(data)
            unsafe.append((relative, classes or ["pickled objects"]))
    return unsafe
