"""Benchmark: spectra time and memory against loading the checkpoint, on one large conv
and on ResNet-50, measured in fresh processes.

    python benchmarks/bench_spectra.py [--threads N]

For each case, three fresh interpreters measure their peak RSS: (1) the interpreter with
torch imported (the baseline), (2) loading the checkpoint, (3) loading it and computing
every layer's spectrum. Prints load and spectra times (targets: spectra <= load) and
peak memory beyond the baseline against the largest layer (target <= 1.5x).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = r"""
import json, resource, sys, time
import torch
threads = int(sys.argv[3])
if threads:
    torch.set_num_threads(threads)
stage, path = sys.argv[1], sys.argv[2]
out = {}
if stage == "make":  # the checkpoints, written by a child so that the parent stays small
    import torchvision
    big = torch.nn.Conv2d(1024, 1024, 7, bias=False)  # 51 M weights, 205 MB
    torch.save({"weight": big.weight.detach()}, path + "/big.pt")
    torch.save(torchvision.models.resnet50().state_dict(), path + "/resnet50.pt")
    for name in ("big", "resnet50"):
        state = torch.load(path + f"/{name}.pt")
        out[name] = max(t.numel() * t.element_size() for t in state.values() if t.dim() == 4)
elif stage == "baseline":  # the interpreter with the tool's modules imported, nothing loaded
    import audit.loading, audit.spectral.profile  # noqa: E401, F401
else:
    from audit.loading import load_checkpoint
    started = time.perf_counter()
    loaded = load_checkpoint(path)
    out["load"] = time.perf_counter() - started
    if stage == "spectra":
        from audit.spectral.profile import measure_layers
        started = time.perf_counter()
        measure_layers(loaded.kernels)
        out["spectra"] = time.perf_counter() - started
out["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(out))
"""


def measure(stage: str, path: Path, threads: int) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, stage, str(path), str(threads)], capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, OMP_NUM_THREADS)")
    args = parser.parse_args()
    # A child's peak RSS starts from its parent's at fork: the parent must stay small, so
    # it imports no torch and a child writes the checkpoints.
    work = Path(tempfile.mkdtemp())
    largest = measure("make", work, args.threads)
    cases = {"one 1024x1024x7x7 conv": work / "big.pt", "torchvision resnet50": work / "resnet50.pt"}
    baseline = measure("baseline", work / "big.pt", args.threads)["rss"]
    for (name, path), layer in zip(cases.items(), (largest["big"], largest["resnet50"])):
        loaded = measure("load", path, args.threads)
        spectra = measure("spectra", path, args.threads)
        beyond = spectra["rss"] - baseline
        print(
            f"{name}: load {loaded['load']:.2f} s, spectra {spectra['spectra']:.2f} s "
            f"(spectra / load {spectra['spectra'] / loaded['load']:.2f}); peak RSS {spectra['rss'] / 2**20:.0f} MiB, "
            f"{beyond / 2**20:.0f} MiB beyond the interpreter's {baseline / 2**20:.0f} MiB = {beyond / layer:.2f}x "
            f"the largest layer ({layer / 2**20:.0f} MiB); file {path.stat().st_size / 2**20:.0f} MiB"
        )


if __name__ == "__main__":
    main()
