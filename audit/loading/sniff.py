"""Recognise a checkpoint file by its bytes, before any library tries to parse it.

Sniffing first lets every malformed file get one precise sentence ("starts like a zip
archive but is truncated") instead of whatever a parser happens to raise.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from audit.errors import AuditError
from audit.formats import EXPECTED
from audit.io import check_input_file
from audit.loading.zip_archive import ZIP_MAGIC, ApprovedZip


def sha256_of(path: Path, chunk: int = 1 << 20, stream: BinaryIO | None = None) -> str:
    """SHA-256 of a file; of ``stream`` (from its start) when given, so that the digest is of
    the very bytes an open :class:`ApprovedZip` reads."""
    digest = hashlib.sha256()
    with contextlib.nullcontext(stream) if stream is not None else open(path, "rb") as source:
        source.seek(0)
        while block := source.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_readable_file(path: Path) -> int:
    """Size of ``path`` in bytes, or an AuditError saying why it is not a usable file."""
    if not path.exists() and not path.is_symlink():
        raise AuditError(f"{path}: no such file; {EXPECTED}.")
    if path.is_dir():
        raise AuditError(f"{path} is a directory; {EXPECTED}.")
    size = check_input_file(path, "checkpoint")  # a FIFO, a device, /proc... named as such
    if size == 0:
        raise AuditError(f"{path} is empty (0 bytes); {EXPECTED}.")
    return size


def available_memory() -> int | None:
    """Bytes of memory available to this process now (Linux MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


MAX_PICKLE_BYTES = 1 << 30


def check_fits_in_memory(path: Path, archive: ApprovedZip | None = None) -> None:
    """Refuse, before reading, a file that cannot fit in the memory available, rather
    than be killed by the kernel's out-of-memory killer half-way through.

    For a zip archive the need is what its members declare they inflate to, not the
    size on disk (a 2 MB file can declare gigabytes: a zip bomb), with every compressed
    member counted twice (its inflated bytes, then the tensor made from them) and the
    largest member once more (a member's bytes and the copy a parser makes of them).
    A pickle is the archive's table of contents, a few megabytes even for a large model:
    one that declares more than :data:`MAX_PICKLE_BYTES` is refused outright."""
    size = path.stat().st_size
    what = f"{size / 2**30:.1f} GiB"
    if archive is not None:
        entries = archive.entries
        for entry in entries:
            if entry.name.endswith(".pkl") and entry.size > MAX_PICKLE_BYTES:
                raise AuditError(
                    f"{path}: its member {entry.name} declares a {entry.size / 2**30:.1f} GiB pickle; a checkpoint's "
                    f"pickle lists tensors in a few megabytes (at most {MAX_PICKLE_BYTES >> 20} MiB are read)."
                )
        declared = archive.declared_size
        need = declared + sum(e.size for e in entries if e.compressed) + max((e.size for e in entries), default=0)
        if need > size:
            size, what = need, f"{size / 2**20:,.1f} MiB on disk but needs about {need / 2**30:.1f} GiB to read"
    available = available_memory()
    if available is None:
        return
    if size > 0.9 * available:
        raise AuditError(
            f"{path} is {what}, and only {available / 2**30:.1f} GiB of memory is available; "
            "run on a machine with more memory."
        )


@dataclass(frozen=True)
class FileStart:
    """What a format is recognised by: the first bytes, the size, the suffix, and the
    member names of an approved zip archive (None when the file is not one)."""

    head: bytes
    size: int
    suffix: str
    members: tuple[str, ...] | None


Recogniser = Callable[[FileStart], bool]


def open_archive(path: Path) -> ApprovedZip | None:
    """The approved zip archive of a zip-based checkpoint (open: close it), None for others."""
    check_readable_file(path)
    with open(path, "rb") as stream:
        is_zip = stream.read(4) == ZIP_MAGIC
    return ApprovedZip(path) if is_zip else None


def detect_format(path: Path, archive: ApprovedZip | None, recognisers: Mapping[str, Recogniser]) -> str:
    """The first format in ``recognisers`` (name -> test, in the order of audit.formats)
    that recognises the file, or AuditError. ``archive``: the file's approved zip (from
    :func:`open_archive`), whose members decide."""
    size = check_readable_file(path)
    with open(path, "rb") as stream:
        head = stream.read(64)
    suffix = path.suffix.lower()

    if head.startswith(ZIP_MAGIC) and archive is None:
        with ApprovedZip(path) as opened:
            return detect_format(path, opened, recognisers)
    start = FileStart(head, size, suffix, tuple(archive.names) if archive is not None else None)
    for name, recognises in recognisers.items():
        if recognises(start):
            return name
    if archive is not None:
        raise AuditError(f"{path} is a zip archive but not a PyTorch file (no data.pkl inside); {EXPECTED}.")
    if zipfile.is_zipfile(path):
        raise AuditError(
            f"{path} holds a zip archive with other bytes before it, which zip readers locate differently; "
            "it is refused. Re-save the checkpoint.",
            code="unsafe-file",
        )
    what = f"a {suffix} suffix but" if suffix else "no known suffix and"
    raise AuditError(
        f"{path} has {what} is not a format spectral-audit can read (first bytes {head[:8].hex(' ')}); {EXPECTED}."
    )
