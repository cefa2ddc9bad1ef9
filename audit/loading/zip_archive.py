"""The one zip reader: every zip-based format (torch.save, TorchScript, torch.export .pt2,
.npz) is opened here, once, and what this reader approves is what every later step reads.

Two zip readers can disagree about the same bytes: with two central-directory entries of
one name, torch's reader takes the first and Python's ``zipfile`` the last; a local header
can name another file than the central directory; ``Model.pt`` and ``model.pt`` are one
file on some systems and two on others; a name with a NUL is cut short in C. A checker
that approves an archive through one reader and hands it to another cannot be safe, so
this module refuses every archive on which readers could disagree:

- duplicate names, names equal after case folding or Unicode / path normalisation;
- names with a NUL, a backslash, a ``..`` component, or an absolute path;
- bytes before the first member or between the central directory and its end record
  (offsets that only some readers correct for);
- local headers whose name, compression or sizes differ from the central directory;
- members whose data overlap (two names for the same bytes).

The archive's file stays open from approval to the last read (:attr:`ApprovedZip.stream`),
so a file swapped on disk in between is never read, and torch is handed the same open file
(:meth:`ApprovedZip.torch_source`).
"""

from __future__ import annotations

import io
import os
import posixpath
import struct
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from audit.errors import AuditError

ZIP_MAGIC = b"PK\x03\x04"
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # signature ... name length, extra length
_END_RECORD = b"PK\x05\x06"


@dataclass(frozen=True)
class ZipEntry:
    name: str
    size: int  # declared uncompressed size in bytes
    compressed: bool


def is_zip(path: Path) -> bool:
    with open(path, "rb") as stream:
        return stream.read(4) == ZIP_MAGIC


def _damaged(path: Path, why: str) -> AuditError:
    return AuditError(
        f"{path} starts like a zip archive (PyTorch's file format) but is damaged or truncated ({why}); "
        "re-save or re-download it."
    )


def _ambiguous(path: Path, why: str) -> AuditError:
    return AuditError(
        f"{path} is a zip archive that different readers would read differently: {why}; "
        "no tool writes such archives, so it is refused.",
        code="unsafe-file",
    )


def _canonical(name: str) -> str:
    """The form under which two names would be one file somewhere: NFC, case-folded, normalised."""
    return posixpath.normpath(unicodedata.normalize("NFC", name).casefold())


def _check_name(path: Path, name: str) -> None:
    if "\x00" in name:
        raise _ambiguous(path, f"member name {name!r} holds a NUL byte")
    if "\\" in name:
        raise _ambiguous(path, f"member name {name!r} holds a backslash")
    if name.startswith("/") or any(part == ".." for part in name.split("/")):
        raise _ambiguous(path, f"member name {name!r} leaves the archive's folder")


class ApprovedZip:
    """A zip archive whose every reader would see the same members and bytes.

    Use as a context manager; raises AuditError (one line) on anything ambiguous or damaged.
    """

    def __init__(self, path: str | os.PathLike[str], content: bytes | None = None) -> None:
        """``content``: the archive's bytes when it is a member of another archive (a .pt2
        holds torch.save archives); ``path`` then only names it in messages."""
        self.path = Path(path)
        self.stream: BinaryIO = io.BytesIO(content) if content is not None else open(self.path, "rb")  # noqa: SIM115
        try:
            self._archive = self._open()
            self._approve()
        except BaseException:
            self.stream.close()
            raise

    # -- approval -----------------------------------------------------------------------------

    def _open(self) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(self.stream)
        except Exception as error:  # BadZipFile, EOFError, UnicodeDecodeError of a mangled name...
            raise _damaged(self.path, str(error) or type(error).__name__)

    def _approve(self) -> None:
        infos = self._archive.infolist()
        seen: dict[str, str] = {}
        for info in infos:
            _check_name(self.path, info.orig_filename)  # zipfile cuts .filename at a NUL
            key = _canonical(info.filename)
            if key in seen:
                other = seen[key]
                why = "appears twice" if other == info.filename else f"and {other!r} name the same file"
                raise _ambiguous(self.path, f"member {info.filename!r} {why}")
            seen[key] = info.filename
        size = self.stream.seek(0, io.SEEK_END)
        self._check_layout(infos, size)

    def _check_layout(self, infos: list[zipfile.ZipInfo], size: int) -> None:
        # Python's zipfile silently shifts every offset when bytes precede the archive
        # (a "concatenated" zip); torch's reader does not. Refuse the shift.
        end = self._end_record(size)
        if end is not None and end != self._archive.start_dir:
            raise _ambiguous(self.path, "bytes precede the archive, so its offsets are read differently")
        spans: list[tuple[int, int, str]] = []
        for info in infos:
            self.stream.seek(info.header_offset)
            header = self.stream.read(_LOCAL_HEADER.size)
            if len(header) < _LOCAL_HEADER.size:
                raise _damaged(self.path, f"member {info.filename!r} lies past the end of the file")
            signature, _, flags, method, _, _, _, compressed, uncompressed, name_length, extra_length = (
                _LOCAL_HEADER.unpack(header)
            )
            if signature != ZIP_MAGIC:
                raise _damaged(self.path, f"member {info.filename!r} has no local header where the directory says")
            raw_name = self.stream.read(name_length)
            central_name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace")
            if raw_name != central_name:
                raise _ambiguous(
                    self.path,
                    f"member {info.filename!r} is named {raw_name[:80]!r} in its local header",
                )
            if method != info.compress_type:
                raise _ambiguous(self.path, f"member {info.filename!r} declares two compression methods")
            if not flags & 0x08 and 0xFFFFFFFF not in (compressed, uncompressed):
                if (compressed, uncompressed) != (info.compress_size, info.file_size):
                    raise _ambiguous(self.path, f"member {info.filename!r} declares two sizes")
            start = info.header_offset
            data_end = start + _LOCAL_HEADER.size + name_length + extra_length + info.compress_size
            if data_end > size:
                raise _damaged(self.path, f"member {info.filename!r} is cut short")
            spans.append((start, data_end, info.filename))
        spans.sort()
        for (_, first_end, first), (second_start, _, second) in zip(spans, spans[1:]):
            if second_start < first_end:
                raise _ambiguous(self.path, f"members {first!r} and {second!r} share bytes")

    def _end_record(self, size: int) -> int | None:
        """The central directory's offset as the end record states it (None for zip64)."""
        tail_length = min(size, 22 + 0xFFFF)
        self.stream.seek(size - tail_length)
        tail = self.stream.read(tail_length)
        at = tail.rfind(_END_RECORD)
        if at < 0 or len(tail) - at < 22:
            return None
        (offset,) = struct.unpack("<L", tail[at + 16 : at + 20])
        return None if offset == 0xFFFFFFFF else offset

    # -- reading ------------------------------------------------------------------------------

    @property
    def entries(self) -> list[ZipEntry]:
        return [
            ZipEntry(i.filename, i.file_size, i.compress_type != zipfile.ZIP_STORED) for i in self._archive.infolist()
        ]

    @property
    def names(self) -> list[str]:
        return self._archive.namelist()

    @property
    def declared_size(self) -> int:
        return sum(i.file_size for i in self._archive.infolist())

    @property
    def prefix(self) -> str:
        """The top folder every member of a torch archive sits in (``archive/``), or ''."""
        names = self.names
        top = names[0].split("/", 1)[0] + "/" if names and "/" in names[0] else ""
        return top if all(n.startswith(top) for n in names) else ""

    def has(self, name: str) -> bool:
        return name in self._archive.NameToInfo

    def size_of(self, name: str) -> int:
        return self._archive.getinfo(name).file_size

    def read(self, name: str) -> bytes:
        """A member's bytes (CRC checked by zipfile), or AuditError naming it."""
        if not self.has(name):
            raise AuditError(f"{self.path}: the archive has no member {name!r}.")
        try:
            return self._archive.read(name)
        except Exception as error:
            raise _damaged(self.path, f"member {name!r}: {error}")

    def torch_source(self) -> str | BinaryIO:
        """What to hand torch so that it reads the very file approved here: on Linux the
        open descriptor by its /proc path (which torch can memory-map), else the stream."""
        self.stream.seek(0)
        if isinstance(self.stream, io.BytesIO):
            return self.stream
        fd_path = f"/proc/self/fd/{self.stream.fileno()}"
        return fd_path if os.path.exists(fd_path) else self.stream

    def close(self) -> None:
        self._archive.close()
        self.stream.close()

    def __enter__(self) -> ApprovedZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
