"""Files in and out, safely: checked reads, all-or-nothing writes, interrupts that count.

Reads: every path the tool reads goes through :func:`check_input_file` first, so a FIFO,
a device, a /proc file or a file far larger than its kind can be gets one line naming
what it is, in well under a second, instead of a hang or an out-of-memory kill.

Writes: outputs are rendered in memory, then :func:`write_all_atomic` stages each one
in a temporary file beside it and renames them all into place, so an interrupted or
failed run leaves the previous set intact. A destination that is not a regular file
(/dev/null, a FIFO, a terminal) is written in place; a folder or a block device is
refused: atomic replacement never turns a device into a file.

Interrupts: :func:`install_interrupt_handlers` makes SIGINT and SIGTERM raise
:class:`Interrupted` *and* remember that they came, because Python swallows an
exception raised inside a finaliser or weakref callback ("Exception ignored in...").
Writers call :func:`raise_if_interrupted` before their commit point.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from audit.errors import AuditError

# --- interrupts ----------------------------------------------------------------------------

_received_signal: int | None = None


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived. ``exit_code`` follows the shell's 128 + signal rule."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)


def _on_signal(signum: int, frame: Any) -> None:
    global _received_signal
    _received_signal = signum
    raise Interrupted(signum)


def install_interrupt_handlers() -> None:
    """SIGINT and SIGTERM raise :class:`Interrupted` and are remembered (main thread only)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):  # not the main thread, or no such signal
            signal.signal(signum, _on_signal)


def received_signal() -> int | None:
    """The signal that came during this run, if any (its exception may have been lost)."""
    return _received_signal


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` if a signal came earlier, even if its exception was lost."""
    if _received_signal is not None:
        raise Interrupted(_received_signal)


def reset_interrupts() -> None:
    global _received_signal
    _received_signal = None
    written.clear()


# Outputs replaced so far in this run: an interrupt after the commit point must not claim
# that nothing was written.
written: list[Path] = []


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back (where the platform can) while temporary files exist."""
    mask = {signal.SIGINT, signal.SIGTERM}
    blocked = hasattr(signal, "pthread_sigmask")
    if blocked:
        signal.pthread_sigmask(signal.SIG_BLOCK, mask)
    try:
        yield
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, mask)


def _signal_pending() -> bool:
    return hasattr(signal, "sigpending") and bool({signal.SIGINT, signal.SIGTERM} & signal.sigpending())


# --- scratch: libraries' caches, kept out of $HOME and $TMPDIR -----------------------------
#
# A CI tool must leave nothing outside its outputs. onnxruntime writes a session file to
# $TMPDIR and a telemetry folder under ~/.cache when it is imported; matplotlib writes its
# config and font cache under ~/.config and ~/.cache. Both are pointed at one private
# folder that is removed when the run ends (atexit, and explicitly before os._exit).

_scratch: Path | None = None


def scratch_folder() -> Path:
    """This process's private scratch folder (created on first use, removed at exit)."""
    global _scratch
    if _scratch is None:
        import atexit

        _scratch = Path(tempfile.mkdtemp(prefix="spectral-audit-"))
        atexit.register(remove_scratch)
    return _scratch


def remove_scratch() -> None:
    global _scratch
    if _scratch is not None:
        import shutil

        shutil.rmtree(_scratch, ignore_errors=True)
        _scratch = None


@contextlib.contextmanager
def home_and_tmp_in_scratch() -> Iterator[None]:
    """$HOME and $TMPDIR pointed at the scratch folder while a library sets itself up."""
    names = ("HOME", "TMPDIR", "TEMP", "TMP")
    saved = {name: os.environ.get(name) for name in names}
    folder = str(scratch_folder())
    try:
        for name in names:
            os.environ[name] = folder
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def use_private_matplotlib_config() -> None:
    """matplotlib's config and font cache in the scratch folder, unless the user chose a place."""
    if "MPLCONFIGDIR" not in os.environ:
        folder = scratch_folder() / "matplotlib"
        folder.mkdir(exist_ok=True)
        os.environ["MPLCONFIGDIR"] = str(folder)


# --- reads ---------------------------------------------------------------------------------

MiB = 1 << 20


def describe_special(mode: int) -> str | None:
    """'a FIFO', 'a character device'... for a file that is not regular, else None."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def check_input_file(path: str | os.PathLike[str], what: str, max_bytes: int | None = None) -> int:
    """Size of the regular file ``path``, or one clear AuditError naming what it is.

    what: the kind of input, for the message ("policy file", "JSON result"...).
    max_bytes: refuse anything larger (a sane cap for the kind of file).
    """
    path = Path(path)
    try:
        info = path.stat()  # follows symlinks: a link to /dev/zero is /dev/zero
    except FileNotFoundError:
        raise AuditError(f"{what} {path}: no such file.")
    except OSError as error:
        raise AuditError(f"{what} {path}: cannot read it ({error.strerror or error}).")
    special = describe_special(info.st_mode)
    if special:
        raise AuditError(f"{what} {path} is {special}, not a regular file.")
    resolved = str(path.resolve())
    if resolved == "/proc" or resolved.startswith(("/proc/", "/sys/")):
        raise AuditError(f"{what} {path} is a kernel pseudo-file ({resolved}), not a regular file.")
    if max_bytes is not None and info.st_size > max_bytes:
        raise AuditError(
            f"{what} {path} is {info.st_size / MiB:,.1f} MiB, more than any {what} spectral-audit "
            f"reads ({max_bytes / MiB:,.0f} MiB at most)."
        )
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise AuditError(f"{what} {path}: cannot read it ({error.strerror or error}).")
    return info.st_size


def read_text(path: str | os.PathLike[str], what: str, max_bytes: int) -> str:
    """The UTF-8 text of a small input file, checked first by :func:`check_input_file`."""
    check_input_file(path, what, max_bytes)
    try:
        with open(path, "rb") as stream:
            data = stream.read(max_bytes + 1)
    except OSError as error:
        raise AuditError(f"{what} {path}: cannot read it ({error.strerror or error}).")
    if len(data) > max_bytes:
        raise AuditError(f"{what} {path} grew past {max_bytes / MiB:,.0f} MiB while being read.")
    try:
        # A byte-order mark (Windows editors write one) is not part of the text.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise AuditError(f"{what} {path} is not UTF-8 text (byte {error.start}).")


# --- writes --------------------------------------------------------------------------------


def _error_text(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _existing_kind(path: Path) -> str | None:
    """None if ``path`` does not exist, 'regular', or a description of what it is."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise AuditError(f"cannot write {path}: {_error_text(error)}.")
    return "regular" if stat.S_ISREG(info.st_mode) else describe_special(info.st_mode)


def _writable_in_place(kind: str) -> bool:
    # What a user means by --json /dev/null, /dev/stdout or a FIFO: write into it.
    return kind in ("a FIFO (named pipe)", "a character device")


def _same_file(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(first) == os.path.realpath(second)


def _refuse_unsafe_destination(
    path: Path, inputs: Sequence[str | os.PathLike[str]] = (), folder_may_be_created: bool = False
) -> None:
    """A destination is never written through a symlink (a link committed in a pull request
    would make the report replace a file elsewhere), never one of the run's inputs, and
    never in a folder that does not exist (created silently, a typo would scatter files)."""
    if path.is_symlink():
        target = os.path.realpath(path)
        kind = _existing_kind(Path(target))
        if kind is None or not _writable_in_place(kind):  # /dev/stdout -> a device: written in place
            raise AuditError(
                f"cannot write {path}: it is a symbolic link (to {target}); spectral-audit never writes "
                "through a link, which could replace a file elsewhere. Remove the link or name another file."
            )
    for source in inputs:
        if source is not None and Path(source).exists() and _same_file(path, Path(source)):
            raise AuditError(f"cannot write {path}: it is an input of this run ({source}), which it would replace.")
    parent = path.parent
    if not parent.is_dir() and not (folder_may_be_created and parent.parent.is_dir()):
        raise AuditError(f"cannot write {path}: its folder {parent} does not exist.")


def check_output_path(path: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]] = ()) -> None:
    """Refuse, before any work, a destination that must not be written: a folder, a
    block device, a socket, a symlink to a file, one of ``inputs``, a file more than one
    missing folder deep (its folder is created as ``mkdir`` would, never ``mkdir -p``)."""
    path = Path(path)
    kind = _existing_kind(path)
    if kind is not None and kind != "regular" and not _writable_in_place(kind):
        raise AuditError(f"cannot write {path}: it is {kind}.")
    _refuse_unsafe_destination(path, inputs, folder_may_be_created=True)


SYSTEM_FOLDERS = ("/dev", "/proc", "/sys")


def check_output_folder(
    folder: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]] = (), names: Sequence[str] = ()
) -> None:
    """An output folder must be a folder (or not exist yet, in a folder that does: it is
    created as ``mkdir`` would, not ``mkdir -p``), not a symlink, and not one of the
    kernel's (/dev, /proc, /sys), where report.html would land among devices; the files
    ``names`` it will hold are checked as :func:`check_output_path` checks a file."""
    folder = Path(folder)
    if folder.is_symlink():
        raise AuditError(
            f"cannot write into {folder}: it is a symbolic link (to {os.path.realpath(folder)}); "
            "name the folder itself."
        )
    if not folder.exists() and not folder.parent.is_dir():
        what = "is not a folder" if folder.parent.exists() else "does not exist"
        raise AuditError(f"cannot write into {folder}: its parent {folder.parent} {what} (it is not created).")
    resolved = os.path.realpath(folder)
    if any(resolved == system or resolved.startswith(system + "/") for system in SYSTEM_FOLDERS):
        raise AuditError(f"cannot write a report into {folder}: it is a system folder ({resolved}).")
    kind = _existing_kind(folder)
    if kind is not None and kind != "a folder":
        raise AuditError(f"cannot write into {folder}: it is {'a file' if kind == 'regular' else kind}, not a folder.")
    if kind is not None:
        for name in names:
            check_output_path(folder / name, inputs)


def _stage(path: Path, content: bytes) -> Path:
    """Write ``content`` to a temporary file beside ``path``; the caller renames it."""
    try:
        path.parent.mkdir(exist_ok=True)  # the --out folder itself, never its parents
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise AuditError(f"cannot write {path}: {_error_text(error)}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        # mkstemp makes the file private (0600); give it the permissions of a normal file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise AuditError(f"cannot write {path}: {_error_text(error)}.")
        raise
    return Path(temporary)


def _write_in_place(path: Path, content: bytes) -> None:
    """Into a FIFO or a device. A FIFO is opened without blocking first: with nobody
    reading it, open() would wait forever."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ENXIO:
            raise AuditError(f"cannot write {path}: it is a FIFO that nobody is reading.")
        raise AuditError(f"cannot write {path}: {_error_text(error)}.")
    try:
        os.set_blocking(descriptor, True)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(content)
    except OSError as error:
        raise AuditError(f"cannot write {path}: {_error_text(error)}.")


def secondary_rank() -> bool:
    """A process of a torchrun launch other than rank 0: it computes, rank 0 writes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("RANK", "0")) != 0


def write_all_atomic(files: Sequence[tuple[str | os.PathLike[str], str | bytes]]) -> None:
    """Write several files so that either every regular file is replaced or none is.

    Each is first written to a temporary file beside it, with interrupts held back so
    that no temporary file outlives the call; if an interrupt came meanwhile, the
    temporary files are removed and :class:`Interrupted` is raised before anything is
    replaced. Special destinations (/dev/null, a FIFO) are written last, in place.
    """
    if secondary_rank():
        return  # rank 0 writes the same files
    planned: list[tuple[Path, bytes, bool]] = []
    seen: set[str] = set()
    for raw, content in files:
        path = Path(raw)
        if os.path.realpath(path) in seen:
            raise AuditError(f"cannot write {path}: two outputs of this run name the same file.")
        seen.add(os.path.realpath(path))
        data = content.encode("utf-8") if isinstance(content, str) else content
        kind = _existing_kind(path)
        # Again at write time: a link made during the run is refused too. A missing
        # folder is created here (one level, as mkdir does).
        _refuse_unsafe_destination(path, folder_may_be_created=True)
        if kind is None or kind == "regular":
            planned.append((path, data, True))
        elif _writable_in_place(kind):
            planned.append((path, data, False))
        else:
            raise AuditError(f"cannot write {path}: it is {kind}.")
    raise_if_interrupted()
    staged: list[tuple[Path, Path]] = []
    with _signals_deferred():
        try:
            for path, data, atomic in planned:
                if atomic:
                    staged.append((path, _stage(path, data)))
            if _signal_pending() or _received_signal is not None:
                raise Interrupted(_received_signal or signal.SIGINT)  # before the commit point
            # Devices and FIFOs next: if one fails (/dev/full, a FIFO nobody reads), no
            # regular file has been replaced yet, so it is all or nothing.
            for path, data, atomic in planned:
                if not atomic:
                    _write_in_place(path, data)
                    written.append(path)
            for path, temporary in staged:
                try:
                    os.replace(temporary, path)
                except OSError as error:
                    raise AuditError(f"cannot write {path}: {_error_text(error)}.")
                written.append(path)
            staged = []
        finally:
            for _, temporary in staged:
                temporary.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], content: str | bytes) -> None:
    """Write via a temporary file in the same folder, then rename: never half a file."""
    write_all_atomic([(path, content)])


def append_text(path: str | os.PathLike[str], text: str, what: str) -> None:
    """Append to a file someone else owns (a CI step summary); one clear line if we cannot."""
    path = Path(path)
    if secondary_rank():
        return
    kind = _existing_kind(path)
    if kind is not None and kind != "regular" and not _writable_in_place(kind):
        raise AuditError(f"cannot append to {what} {path}: it is {kind}.")
    try:
        # Without blocking: a FIFO nobody reads would otherwise hang the run for ever.
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o666)
        os.set_blocking(descriptor, True)
        with os.fdopen(descriptor, "a", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as error:
        if error.errno == errno.ENXIO:
            raise AuditError(f"cannot append to {what} {path}: it is a FIFO that nobody is reading.")
        raise AuditError(f"cannot append to {what} {path}: {_error_text(error)}.")
