"""A corpus of hostile and broken inputs, made in a folder, one case per way a file from a
stranger (or a clumsy user) can go wrong. Each case is a command line that must end with
exit 2 and one line on stderr, create nothing, change nothing, run no payload.

Payloads only ever touch ``MARKER`` inside the corpus folder, so a test can see whether
any ran.
"""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

MARKER = "PWNED"


@dataclass
class Case:
    name: str
    args: list[str]
    expect: str  # a fragment of the one error line


class Payload:
    """Unpickling this runs a command: the attack a checkpoint from a stranger carries."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _pt2(folder: Path) -> Path:
    clean = folder / "clean.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(nn.Sequential(nn.Conv2d(3, 8, 3)).eval(), (torch.randn(1, 3, 8, 8),))
        torch.export.save(program, clean)
    return clean


def _rewrite_zip(source: Path, target: Path, replace) -> Path:
    """A copy of a zip archive with some members replaced: ``replace(name, data) -> data``."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for name in original.namelist():
            copy.writestr(name, replace(name, original.read(name)))
    return target


def _pickled_torch_save(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels (a decompression bomb's header)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _npz(path: Path, images, labels) -> Path:
    np.savez(path, images=images, labels=labels)
    return path


def build(folder: Path, model: Path) -> list[Case]:
    """Make every hostile input in ``folder``; ``model`` is a good runnable checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    evil = Payload(marker)
    cases: list[Case] = []

    def add(name: str, args: list, expect: str) -> None:
        cases.append(Case(name, [str(a) for a in args], expect))

    # --- code execution attempts -----------------------------------------------------------
    torch.save({"conv.weight": torch.zeros(4, 3, 3, 3), "x": evil}, folder / "payload.pt")
    add("pickle payload in a torch.save zip", [folder / "payload.pt"], "posix.system")
    torch.save(
        {"conv.weight": torch.zeros(4, 3, 3, 3), "x": evil},
        folder / "legacy_payload.pt",
        _use_new_zipfile_serialization=False,
    )
    add("pickle payload in a legacy torch.save file", [folder / "legacy_payload.pt"], "posix.system")
    clean = _pt2(folder)
    payload = _pickled_torch_save(((evil,), {}))
    _rewrite_zip(
        clean, folder / "sample_inputs.pt2", lambda n, d: payload if n.endswith("data/sample_inputs/model.pt") else d
    )
    add(".pt2 payload in its sample inputs", [folder / "sample_inputs.pt2"], "allow-pickle")
    _rewrite_zip(clean, folder / "renamed.pt", lambda n, d: payload if n.endswith("data/sample_inputs/model.pt") else d)
    add(".pt2 payload renamed model.pt", [folder / "renamed.pt"], "allow-pickle")
    add(".pt2 payload as the baseline", [model, "--baseline", folder / "sample_inputs.pt2"], "allow-pickle")

    def pickled_weight(name: str, data: bytes) -> bytes:
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            for entry in config["config"].values():
                entry["use_pickle"] = True
            return json.dumps(config).encode()
        if "/data/weights/weight_" in name:
            return payload
        return data

    _rewrite_zip(clean, folder / "pickled_weight.pt2", pickled_weight)
    add(".pt2 payload as a pickled weight", [folder / "pickled_weight.pt2"], "allow-pickle")
    with zipfile.ZipFile(clean) as original:
        top = original.namelist()[0].split("/")[0]
    _rewrite_zip(clean, folder / "compiled.pt2", lambda n, d: d)
    with zipfile.ZipFile(folder / "compiled.pt2", "a") as archive:
        archive.writestr(f"{top}/data/aotinductor/model/model.so", b"\x7fELF" + b"\x00" * 60)
    add(".pt2 with compiled code", [folder / "compiled.pt2"], "compiled code")
    run = folder / "run"
    run.mkdir()
    torch.save({"conv.weight": torch.randn(4, 3, 3, 3)}, run / "model_epoch_01.pt")
    (run / "model_epoch_02.pt2").write_bytes((folder / "sample_inputs.pt2").read_bytes())
    add(".pt2 payload in a track folder", ["track", run], "allow-pickle")

    # --- devices, FIFOs, pseudo-files, sizes ---------------------------------------------------
    os.mkfifo(folder / "fifo.pt")
    add("a FIFO as the model", [folder / "fifo.pt"], "FIFO")
    os.mkfifo(folder / "policy.toml")
    add("a FIFO as --policy", [model, "--policy", folder / "policy.toml"], "FIFO")
    (folder / "zero.json").symlink_to("/dev/zero")
    add("report of a link to /dev/zero", ["report", folder / "zero.json", "--out", folder / "out"], "character device")
    add("/dev/urandom as the model", ["/dev/urandom"], "character device")
    add("a /proc file as --policy", [model, "--policy", "/proc/self/status"], "pseudo-file")
    with open(folder / "huge.json", "wb") as stream:
        stream.truncate(300 << 20)  # sparse: 300 MiB that take no disk
    add("a 300 MiB JSON baseline", [model, "--baseline", folder / "huge.json"], "MiB")
    bomb = folder / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data.pkl", b"\x80\x02}q\x00.")
        for index in range(16):
            archive.writestr(f"bomb/data/{index}", b"\x00" * 1024)
    # Make its members declare 4 GiB each (64 GiB in all) without holding them: patch the
    # uncompressed-size fields of the local and central headers.
    data = bytearray(bomb.read_bytes())
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        position = data.find(signature)
        while position != -1:
            if data[position + name_at :].startswith(b"bomb/data/"):
                data[position + size_at : position + size_at + 4] = struct.pack("<I", 0xFFFFFFF0)
            position = data.find(signature, position + 4)
    bomb.write_bytes(bytes(data))
    add("a zip that declares gigabytes", [bomb], "declares")

    # --- malformed models ------------------------------------------------------------------
    torch.save({"conv.weight": torch.zeros(0, 3, 3, 3)}, folder / "zero_dim.pt")
    add("a conv weight with a zero dimension", [folder / "zero_dim.pt"], "zero dimension")
    import onnx
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [9], [0.1] * 9)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [weight],
    )
    onnx.save(helper.make_model(graph), folder / "rank1.onnx")
    add("an ONNX Conv with a rank-1 weight", [folder / "rank1.onnx"], "rank 1")
    (folder / "empty.pt").write_bytes(b"")
    add("an empty file", [folder / "empty.pt"], "empty")
    (folder / "random.onnx").write_bytes(os.urandom(2048))
    add("random bytes named .onnx", [folder / "random.onnx"], "")

    # --- data -------------------------------------------------------------------------------
    _npz(folder / "no_images.npz", np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, np.int64))
    add("an npz with 0 images", [model, "--data", folder / "no_images.npz"], "no images")
    labels = np.zeros(4, np.float64)
    labels[2] = np.nan
    _npz(folder / "nan_labels.npz", np.zeros((4, 32, 32, 3), np.uint8), labels)
    add("NaN labels", [model, "--data", folder / "nan_labels.npz"], "index 2")
    _npz(folder / "negative_labels.npz", np.zeros((4, 32, 32, 3), np.uint8), np.array([0, 1, -3, 2]))
    add("negative labels", [model, "--data", folder / "negative_labels.npz"], "index 2")
    _npz(folder / "fractional_labels.npz", np.zeros((4, 32, 32, 3), np.uint8), np.array([0, 1.5, 2, 3]))
    add("fractional labels", [model, "--data", folder / "fractional_labels.npz"], "index 1")
    for name, content in (
        ("bomb", _png_header_only(16000, 16000)),
        ("corrupt", b"\x89PNG\r\n\x1a\n" + os.urandom(200)),
    ):
        images = folder / f"{name}_images" / "cat"
        images.mkdir(parents=True)
        (images / "a.png").write_bytes(content)
        add(
            f"a {name} PNG in an image folder",
            [model, "--data", images.parent],
            "MP" if name == "bomb" else "could not be decoded",
        )
    add("--input-size 100000", [model, "--data", "cifar10-sample", "--input-size", "100000"], "100000")

    # --- policies ---------------------------------------------------------------------------
    for name, text, expect in (
        ("deep", "x = " + "[" * 5000 + "]" * 5000 + "\n", "deeply"),
        ("negative_ssr", "min_ssr = -1\n", "min_ssr"),
        ("percentage", "min_clean_accuracy = 60\n", "percentage"),
        ("unknown_key", "max_hfr = 0.5\n", "max_hfr"),
    ):
        (folder / f"{name}.toml").write_text(text)
        add(f"policy: {name}", [model, "--policy", folder / f"{name}.toml"], expect)
    for name, text, expect in (
        ("tool_scalar", "tool = 3\n", "'tool'"),
        ("table_scalar", "[tool]\nspectral-audit = 1\n", "not a table"),
    ):
        project = folder / name
        project.mkdir()
        (project / "pyproject.toml").write_text(text)
        add(f"pyproject: {name}", [model, "--policy", project / "pyproject.toml"], expect)

    # --- outputs ----------------------------------------------------------------------------
    (folder / "a_folder").mkdir()
    add("--json naming a folder", [model, "--json", folder / "a_folder"], "folder")
    add("--out /dev", [model, "--out", "/dev"], "system folder")
    add("--json /dev/full (a full disk)", [model, "--json", "/dev/full"], "No space left")
    return cases
