"""Benchmark: spectral analysis time against checkpoint load time, measured in one run.

    python benchmarks/bench_spectra.py [--arch resnet50] [--device auto] [--repeat 5]

Builds a torchvision architecture with random weights (no download), saves its
state_dict, then times (a) loading the checkpoint and (b) the spectral analysis of
every conv layer (native grid, and a zero-padded 16x16 grid). Prints medians and the
ratio analysis / load. The analysis should take well under a second beyond loading.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torchvision

from audit.api import resolve_device
from audit.loading import load_checkpoint
from audit.profile import SpectralSettings, measure_layers


def median_seconds(action, repeat: int, synchronise) -> float:
    times = []
    for _ in range(repeat):
        synchronise()
        start = time.perf_counter()
        action()
        synchronise()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    device = resolve_device(args.device)
    synchronise = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    model = getattr(torchvision.models, args.arch)(num_classes=1000)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{args.arch}.pt"
        torch.save(model.state_dict(), path)
        size_mb = path.stat().st_size / 1e6
        loaded = load_checkpoint(path)
        measure_layers(loaded.kernels, SpectralSettings(), device)  # warm-up (CUDA context, FFT plans)

        load = median_seconds(lambda: load_checkpoint(path), args.repeat, synchronise)
        native = median_seconds(
            lambda: measure_layers(loaded.kernels, SpectralSettings(), device), args.repeat, synchronise
        )
        padded = median_seconds(
            lambda: measure_layers(loaded.kernels, SpectralSettings(fft_size=16), device), args.repeat, synchronise
        )

    slices = sum(k.num_slices for k in loaded.kernels if k.has_2d_spectrum)
    print(
        f"{args.arch}: {len(loaded.kernels)} conv layers, {slices:,} 2-D slices, {size_mb:.0f} MB checkpoint, "
        f"device {device}"
    )
    print(f"  load checkpoint (sha256 + torch.load + kernel extraction): {load * 1000:8.1f} ms")
    print(
        f"  spectra, native grid:                                       {native * 1000:8.1f} ms   "
        f"ratio to load {native / load:.2f}"
    )
    print(
        f"  spectra, 16x16 zero-padded grid:                            {padded * 1000:8.1f} ms   "
        f"ratio to load {padded / load:.2f}"
    )


if __name__ == "__main__":
    main()
