"""Read the pickle inside a torch zip archive (TorchScript's ``data.pkl``, a torch.save
archive nested in a .pt2) without running anything the file names.

Python's unpickler imports whatever class a pickle names and calls it, and calls
``__setstate__`` of the objects it builds: that is how a checkpoint runs code. This reader
imports nothing. It knows a short list of names and gives each its own implementation:

- torch's tensor rebuild functions and storage types: tensors are made here from the raw
  bytes of the archive's ``data/<key>`` members, bounds checked by ``as_strided``;
- ``collections.OrderedDict`` and the list builders of ``torch.jit._pickle``;
- TorchScript's own classes (``__torch__.*``): each becomes a :class:`ScriptObject` that
  only *records* its state; no method of the file's class exists here, so none can run.

Every other name (``os.system``, ``builtins.eval``, a custom class...) stops the reading
with :class:`UnsafePickle`, which names it. BUILD is accepted only on a ScriptObject or a
dict, so no library object's ``__setstate__`` is reached either.
"""

from __future__ import annotations

import collections
import io
import pickle
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from audit.errors import AuditError
from audit.loading.zip_archive import ApprovedZip

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
}
_STORAGE_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")


class UnsafePickle(pickle.UnpicklingError):
    """The pickle names something this reader does not build."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class ScriptObject:
    """An object of one of the file's own classes, recorded, never run.

    ``qualified_name`` is the class the file names (``__torch__.torch.nn.modules.conv.Conv2d``);
    ``state`` is what the pickle would hand to its ``__setstate__`` (for a TorchScript module,
    a dict of its attributes); ``arguments`` what it would pass to the constructor.
    """

    qualified_name = ""
    state: Any = None
    arguments: tuple[Any, ...] = ()

    def __init__(self, *arguments: Any) -> None:
        self.arguments = arguments

    def __repr__(self) -> str:
        return f"<recorded {self.qualified_name}>"


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


def _rebuild_tensor(
    storage: torch.Tensor, offset: int, size: Sequence[int], stride: Sequence[int], *_ignored: Any
) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor):
        raise pickle.UnpicklingError("a tensor whose storage is not a storage")
    return storage.as_strided(tuple(size), tuple(stride), int(offset))


def _rebuild_parameter(data: torch.Tensor, *_ignored: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("a parameter that is not a tensor")
    return data


def _identity(value: Any, *_ignored: Any) -> Any:
    return value


_FUNCTIONS = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch.jit._pickle", "build_intlist"): _identity,
    ("torch.jit._pickle", "build_doublelist"): _identity,
    ("torch.jit._pickle", "build_boollist"): _identity,
    ("torch.jit._pickle", "build_tensorlist"): _identity,
    ("torch.jit._pickle", "build_genericlist"): _identity,
    ("torch.jit._pickle", "restore_type_tag"): _identity,
}


class _RecordingUnpickler(pickle._Unpickler):  # the pure-Python one: its opcodes can be replaced
    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)
    stack: list[Any]  # the pure-Python unpickler's value stack, which _build reads

    def __init__(self, data: bytes, archive: ApprovedZip, folder: str) -> None:
        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._folder = folder  # "archive/data/"
        self._storages: dict[str, torch.Tensor] = {}
        self._classes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _FUNCTIONS:
            return _FUNCTIONS[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "__torch__" or module.startswith("__torch__."):
            qualified = f"{module}.{name}"
            if qualified not in self._classes:
                self._classes[qualified] = type(name, (ScriptObject,), {"qualified_name": qualified})
            return self._classes[qualified]
        raise UnsafePickle(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"a persistent id of an unknown kind ({str(pid)[:60]})")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickle(f"storage type {storage_type!r}")
        if not isinstance(key, str) or not _STORAGE_KEY.fullmatch(key):
            raise pickle.UnpicklingError(f"a storage key that is not a plain name ({str(key)[:60]!r})")
        if key not in self._storages:
            member = self._folder + key
            if not self._archive.has(member):
                raise pickle.UnpicklingError(f"storage {key} has no member {member}")
            raw = bytearray(self._archive.read(member))
            itemsize = torch.empty((), dtype=storage_type.dtype).element_size()
            if not isinstance(numel, int) or numel < 0 or len(raw) < numel * itemsize:
                raise pickle.UnpicklingError(f"storage {key} holds {len(raw)} bytes, fewer than it declares")
            raw = raw[: numel * itemsize]
            flat = torch.frombuffer(raw, dtype=storage_type.dtype) if raw else torch.empty(0, dtype=storage_type.dtype)
            self._storages[key] = flat
        flat = self._storages[key]
        if flat.dtype != storage_type.dtype:
            raise pickle.UnpicklingError(f"storage {key} is read as two types")
        return flat

    def _build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, ScriptObject):
            inst.state = state
        elif isinstance(inst, dict):
            pass  # an OrderedDict's attributes (a state_dict's _metadata): not needed here
        else:
            raise pickle.UnpicklingError(f"a pickle sets the state of a {type(inst).__name__}")

    dispatch[pickle.BUILD[0]] = _build


def read_pickle(archive: ApprovedZip, member: str, data_folder: str) -> Any:
    """The object tree of the pickle ``member`` of ``archive``, tensors made from the
    members under ``data_folder``; UnsafePickle or UnpicklingError if it names anything else."""
    data = archive.read(member)
    return _RecordingUnpickler(data, archive, data_folder).load()


def read_torch_save_bytes(content: bytes, where: str) -> Any:
    """A torch.save zip archive held in memory (a .pt2 member), read by the same rules."""
    with ApprovedZip(where, content=content) as archive:
        prefix = archive.prefix
        if not archive.has(prefix + "data.pkl"):
            raise AuditError(f"{where} is not a torch.save archive (no data.pkl).")
        return read_pickle(archive, prefix + "data.pkl", prefix + "data/")
