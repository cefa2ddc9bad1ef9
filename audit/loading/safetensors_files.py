"""The safetensors format: an 8-byte header length, a JSON header, then raw tensors.
Data only: reading it runs nothing."""

from __future__ import annotations

import struct

from audit.errors import AuditError
from audit.loading.kernels import LoadedModel, ReadRequest
from audit.loading.sniff import FileStart
from audit.loading.state_dict import clean_state_dict
from audit.loading.torch_files import encodable, from_weights


def recognises(start: FileStart) -> bool:
    """An 8-byte little-endian header length that fits the file, then the JSON header."""
    if start.members is not None or len(start.head) < 9:
        return False
    (header_length,) = struct.unpack("<Q", start.head[:8])
    return 8 + header_length <= start.size and start.head[8:9] == b"{"


def read(request: ReadRequest) -> LoadedModel:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = request.path
    try:
        if encodable(path):
            state = load_file(str(path), device="cpu")
        else:
            from safetensors.torch import load

            state = load(path.read_bytes())
    except (SafetensorError, OSError, ValueError) as error:
        raise AuditError(f"{path} has a safetensors header but could not be read: {error}.")
    state, notes = clean_state_dict(state)
    return from_weights(request, state, notes)
