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
    expect: str | None  # a fragment of the one error line; None: the file may be audited (data-free)


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

    def add(name: str, args: list, expect: str | None) -> None:
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
    add(".pt2 payload in its sample inputs", [folder / "sample_inputs.pt2"], None)
    _rewrite_zip(clean, folder / "renamed.pt", lambda n, d: payload if n.endswith("data/sample_inputs/model.pt") else d)
    add(".pt2 payload renamed model.pt", [folder / "renamed.pt"], None)
    add(".pt2 payload as the baseline", [model, "--baseline", folder / "sample_inputs.pt2"], "same architecture")

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
    add(".pt2 payload as a pickled weight", [folder / "pickled_weight.pt2"], "posix.system")
    with zipfile.ZipFile(clean) as original:
        top = original.namelist()[0].split("/")[0]
    _rewrite_zip(clean, folder / "compiled.pt2", lambda n, d: d)
    with zipfile.ZipFile(folder / "compiled.pt2", "a") as archive:
        archive.writestr(f"{top}/data/aotinductor/model/model.so", b"\x7fELF" + b"\x00" * 60)
    add(".pt2 with compiled code (never opened)", [folder / "compiled.pt2"], None)
    run = folder / "run"
    run.mkdir()
    torch.save({"conv.weight": torch.randn(4, 3, 3, 3)}, run / "model_epoch_01.pt")
    (run / "model_epoch_02.pt2").write_bytes((folder / "sample_inputs.pt2").read_bytes())
    add(".pt2 payload in a track folder", ["track", run], None)

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
    add("a zip that declares gigabytes", [bomb], "needs about")

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

    legacy = folder / "legacy_whole.pt"
    torch.save({"conv.weight": torch.randn(4, 3, 3, 3)}, legacy, _use_new_zipfile_serialization=False)
    for name, cut in (("legacy_half.pt", 0.5), ("legacy_head.pt", 0.02)):
        data = legacy.read_bytes()
        (folder / name).write_bytes(data[: max(8, int(len(data) * cut))])
        add(f"a truncated legacy file ({name})", [folder / name], "truncated")
    legacy.unlink()

    # --- policies ---------------------------------------------------------------------------
    for name, text, expect in (
        ("deep", "x = " + "[" * 5000 + "]" * 5000 + "\n", "deeply"),
        ("negative_ssr", "min_ssr = -1\n", "min_ssr"),
        ("percentage", "min_clean_accuracy = 60\n", "percentage"),
        ("unknown_key", "max_hfr = 0.5\n", "max_hfr"),
        ("huge_integer", "max_hfer = 1" + "0" * 400 + "\n", "401 digits"),
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
    cases += build_program_attacks(folder, model)
    return cases


# --- programs and zip structure (issue 18): parse, never run; one reader ----------------------


class FromFileInForward(nn.Module):
    """A TorchScript model whose forward writes a file (torch.from_file with shared=True)."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 10)
        self.marker = marker

    def forward(self, x):
        torch.from_file(self.marker, True, 1)
        return self.fc(self.conv(x).mean((2, 3)))


class FromFileInSetstate(nn.Module):
    """A TorchScript model whose __setstate__ writes a file: it runs at torch.jit.load."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.marker = marker

    def forward(self, x):
        return self.conv(x).mean((2, 3))

    @torch.jit.export
    def __getstate__(self):
        return (self.conv.weight, self.marker, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, str, bool]):
        self.marker = state[1]
        self.training = state[2]
        torch.from_file(self.marker, True, 1)


def raw_zip(
    entries: list[tuple[bytes, bytes]], prepend: bytes = b"", local_names: dict[int, bytes] | None = None
) -> bytes:
    """A stored zip written byte by byte, so that it can say what no zip library writes:
    duplicate or NUL-holding names, local headers that name another file, bytes before it."""
    import zlib

    local_names = local_names or {}
    body, directory = bytearray(prepend), bytearray()
    for index, (name, data) in enumerate(entries):
        offset = len(body) - len(prepend)  # offsets as if nothing preceded: what a reader that trusts them sees
        crc = zlib.crc32(data) & 0xFFFFFFFF
        local = local_names.get(index, name)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(local), 0)
        body += local + data
        directory += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            0,
            0,
            0,
            0,
            crc,
            len(data),
            len(data),
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        directory += name
    start = len(body) - len(prepend)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), start, 0)
    return bytes(body + directory + end)


def _members(path: Path) -> list[tuple[bytes, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(name.encode(), archive.read(name)) for name in archive.namelist()]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _json_edit(source: Path, target: Path, suffix: str, change) -> Path:
    """A copy of a zip with the JSON member ending in ``suffix`` changed by ``change(obj)``."""

    def replace(name: str, data: bytes) -> bytes:
        if name.endswith(suffix):
            value = json.loads(data)
            change(value)
            return json.dumps(value).encode()
        return data

    return _rewrite_zip(source, target, replace)


def build_program_attacks(folder: Path, model: Path) -> list[Case]:
    """TorchScript and .pt2 files that carry code, and zips that two readers read differently.

    ``expect`` None: a data-free audit may succeed (it parses the file and runs nothing);
    with ``--data`` and without ``--trust-code`` the same file is refused."""
    marker = folder / MARKER
    evil = Payload(marker)
    payload = _pickled_torch_save(evil)
    cases: list[Case] = []

    def add(name: str, args: list, expect: str | None) -> None:
        cases.append(Case(name, [str(a) for a in args], expect))

    data = ["--data", "cifar10-sample", "--samples", "8", "--probes", "blur"]
    clean = folder / "clean.pt2"
    with zipfile.ZipFile(clean) as original:
        top = original.namelist()[0].split("/")[0]
    weights = f"{top}/data/weights/"

    # .pt2: configs that point torch at a pickle while a checker sees raw bytes
    def twice(config):
        entry = dict(next(iter(config["config"].values())))
        entry["use_pickle"] = True
        config["config"]["extra.weight"] = entry

    twice_path = _json_edit(clean, folder / "named_twice.pt2", "model_weights_config.json", twice)
    twice_path = _rewrite_zip(
        twice_path, folder / "named_twice.pt2.tmp", lambda n, d: payload if n.endswith("/weight_0") else d
    )
    twice_path = twice_path.rename(folder / "named_twice.pt2")
    add(".pt2 config naming one member raw and pickled", [twice_path], "")

    members = _members(clean)
    add(
        ".pt2 path_name differing only in case",
        [_write(folder / "case.pt2", raw_zip(members + [(f"{weights}Weight_0".encode(), payload)]))],
        "name the same file",
    )
    extra_config = members + [
        (
            f"{weights}other_weights_config.json".encode(),
            json.dumps({"config": {"x": {"path_name": "../sample_inputs/model.pt", "use_pickle": False}}}).encode(),
        )
    ]
    extra_config = [(n, payload if n.endswith(b"sample_inputs/model.pt") else d) for n, d in extra_config]
    add(".pt2 second, unused weights config", [_write(folder / "unused_config.pt2", raw_zip(extra_config))], None)

    def escape(config):
        next(iter(config["config"].values()))["path_name"] = "../sample_inputs/model.pt"

    add(
        ".pt2 path_name leaving its folder",
        [_json_edit(clean, folder / "escape.pt2", "model_weights_config.json", escape)],
        "not there",
    )
    sample = f"{top}/data/sample_inputs/model.pt".encode()
    duplicated = [(n, d) for n, d in members] + [(sample, payload)]
    add(
        ".pt2 central directory naming sample inputs twice",
        [_write(folder / "dup.pt2", raw_zip(duplicated))],
        "appears twice",
    )
    first_payload = [(sample, payload)] + [(n, d) for n, d in members]
    add(".pt2 duplicate, payload first", [_write(folder / "dup_first.pt2", raw_zip(first_payload))], "appears twice")
    add(
        ".pt2 member name with a NUL",
        [_write(folder / "nul.pt2", raw_zip(members + [(sample + b"\x00.json", payload)]))],
        "NUL",
    )
    add(
        ".pt2 member named with ..",
        [_write(folder / "dotdot.pt2", raw_zip(members + [(f"{top}/../evil.pt".encode(), payload)]))],
        "leaves",
    )
    add(
        ".pt2 names equal once normalised",
        [_write(folder / "dot.pt2", raw_zip(members + [(f"{top}/data/./sample_inputs/model.pt".encode(), payload)]))],
        "name the same file",
    )
    add(
        ".pt2 local header naming another member",
        [_write(folder / "local.pt2", raw_zip(members, local_names={len(members) - 1: b"x" * len(members[-1][0])}))],
        "local header",
    )
    add(
        ".pt2 with bytes before the archive",
        [_write(folder / "prefixed.pt2", raw_zip(members, prepend=b"\x00" * 64))],
        "before",
    )

    # .pt2: models/model.json is code to torch (sympify of SymInt expressions, guards_code)
    command = f"__import__('os').system('touch {marker}')"

    def symint(program):
        graph = program["graph_module"]["graph"]
        for value in graph["tensor_values"].values():
            value["sizes"][0] = {"as_expr": {"expr_str": command, "hint": {"as_int": 1}}}

    sym = _json_edit(clean, folder / "symint.pt2", "models/model.json", symint)
    add(".pt2 SymInt expression payload, data-free", [sym], None)
    add(".pt2 SymInt expression payload, probed", [sym, *data], "--trust-code")

    def guards(program):
        program["guards_code"] = [f"import os; os.system('touch {marker}')"]

    guarded = _json_edit(clean, folder / "guards.pt2", "models/model.json", guards)
    add(".pt2 guards_code payload, data-free", [guarded], None)
    add(".pt2 guards_code payload, probed", [guarded, *data], "--trust-code")
    add(".pt2 sample-input payload, probed", [folder / "sample_inputs.pt2", *data], "--trust-code")
    add(
        ".pt2 payload as the baseline, probed",
        [model, "--baseline", guarded, "--arch", "torchvision:resnet18", *data],
        "",
    )

    # TorchScript: a program; its data.pkl is read without building its classes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forward = folder / "forward.ts.pt"
        torch.jit.save(torch.jit.script(FromFileInForward(str(marker))), forward)
        setstate = folder / "setstate.ts.pt"
        torch.jit.save(torch.jit.script(FromFileInSetstate(str(marker))), setstate)
    add("TorchScript forward payload, data-free", [forward], None)
    add("TorchScript forward payload, probed", [forward, *data], "--trust-code")
    add("TorchScript __setstate__ payload, data-free", [setstate], "holds no convolution")
    add("TorchScript __setstate__ payload, probed", [setstate, *data], "")
    add("TorchScript payload as the baseline, probed", [model, "--baseline", forward, *data], "")
    ts_members = _members(forward)
    pickled = [(n, pickle_payload(marker) if n.endswith(b"/data.pkl") else d) for n, d in ts_members]
    add("TorchScript data.pkl naming os.system", [_write(folder / "pickle.ts.pt", raw_zip(pickled))], "posix.system")
    storage = [
        (n, d.replace(b"X\x01\x00\x00\x000", b"X\x01\x00\x00\x00/") if n.endswith(b"/data.pkl") else d)
        for n, d in ts_members
    ]
    add("TorchScript storage key that is a path", [_write(folder / "storage_key.ts.pt", raw_zip(storage))], "")
    data_pkl = next(n for n, _ in ts_members if n.endswith(b"/data.pkl"))
    add(
        "TorchScript data.pkl twice",
        [_write(folder / "twice.ts.pt", raw_zip(ts_members + [(data_pkl, pickle_payload(marker))]))],
        "appears twice",
    )
    track = folder / "ts_track"
    track.mkdir()
    for index, source in enumerate((forward, setstate, folder / "symint.pt2")):
        (track / f"model_epoch_{index:02d}{''.join(source.suffixes)}").write_bytes(source.read_bytes())
    add("programs with payloads in a track folder", ["track", track], "")
    zoo = folder / "program_zoo"
    zoo.mkdir()
    for name in ("a", "b", "c"):
        (zoo / f"{name}.ts.pt").write_bytes(forward.read_bytes())
    add("TorchScript payloads in a zoo folder", ["zoo", zoo, *data[:4]], "--trust-code")
    init = folder / "program_init"
    init.mkdir()
    plain = folder / "plain_zoo"
    plain.mkdir()
    for name in ("a", "b", "c"):
        torch.save({"conv.weight": torch.randn(4, 3, 3, 3)}, plain / f"{name}.pt")
        (init / f"{name}.pt").write_bytes((folder / "dup.pt2").read_bytes())
    add("an ambiguous zip under --init-dir", ["zoo", plain, "--init-dir", init, *data[:4]], "")

    # ONNX: operators outside the standard are named, and running them needs trust
    import onnx
    from onnx import TensorProto, helper

    for domain, op in (
        ("my.custom", "Payload"),
        ("ai.onnx.ml", "Normalizer"),
        ("ai.onnx.preview.training", "Gradient"),
    ):
        weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], [0.1] * 108)
        graph = helper.make_graph(
            [
                helper.make_node("Conv", ["x", "w"], ["y"], name="conv"),
                helper.make_node(op, ["y"], ["z"], domain=domain),
            ],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
            [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
            [weight],
        )
        opsets = [helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)]
        path = folder / f"{domain}.onnx"
        onnx.save(helper.make_model(graph, opset_imports=opsets), path)
        add(f"ONNX {domain} operator, data-free", [path], None)
        add(f"ONNX {domain} operator, probed", [path, *data], "--trust-code")

    # torch.save archives and .npz: the same reader
    state = folder / "state.pt"
    torch.save({"conv.weight": torch.randn(4, 3, 3, 3)}, state)
    state_members = _members(state)
    pkl = next(n for n, _ in state_members if n.endswith(b"/data.pkl"))
    add(
        "torch.save with data.pkl twice, payload last",
        [_write(folder / "state_dup.pt", raw_zip(state_members + [(pkl, pickle_payload(marker))]))],
        "appears twice",
    )
    add(
        "torch.save with bytes before it",
        [_write(folder / "state_prefixed.pt", raw_zip(state_members, prepend=b"#!/bin/sh\n"))],
        "before",
    )
    add(
        "torch.save with a case twin of data.pkl",
        [_write(folder / "state_case.pt", raw_zip(state_members + [(pkl.replace(b"data.pkl", b"DATA.pkl"), b"")]))],
        "name the same file",
    )
    add(
        "torch.save whose local header names another file",
        [_write(folder / "state_local.pt", raw_zip(state_members, local_names={0: b"y" * len(state_members[0][0])}))],
        "local header",
    )
    add(
        "torch.save as the baseline, duplicated",
        [model, "--baseline", folder / "state_dup.pt"],
        "appears twice",
    )
    images = np.zeros((4, 32, 32, 3), np.uint8)
    npz = _npz(folder / "plain.npz", images, np.zeros(4, np.int64))
    npz_members = _members(npz)
    add(
        "an .npz naming its images twice",
        [model, "--data", _write(folder / "npz_dup.npz", raw_zip(npz_members + [npz_members[0]]))],
        "appears twice",
    )
    return cases


def pickle_payload(marker: Path) -> bytes:
    import pickle

    return pickle.dumps(Payload(marker), protocol=2)
