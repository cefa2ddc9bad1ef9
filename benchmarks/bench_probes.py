"""Benchmark: probe-suite time over the time of the bare forward passes it needs.

    python benchmarks/bench_probes.py [--model sample|resnet18] [--samples 846] [--device auto]

Measured in one run on the same images: (a) the bare forward passes the suite needs
(clean images, one pass per probe severity plus the clean pass, no corruption, no
bookkeeping) and (b) the whole probe suite (corruptions, normalisation, prediction
bookkeeping). Prints both, their ratio (target <= 1.15) and images/s for the suite.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from audit import datasets
from audit.api import resolve_device
from audit.evaluation import run_probe_suite
from audit.loading import load_checkpoint
from audit.probes import resolve_probes
from audit.runners import TorchRunner, make_runner, run_in_fixed_batches

SAMPLES = Path(__file__).resolve().parent.parent / "sample_models"


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_forward(runner, dataset, passes: int, batch_size: int) -> None:
    device = runner.device
    images = dataset.images.to(device)
    mean = torch.tensor(dataset.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(dataset.std, device=device).view(1, -1, 1, 1)
    for start in range(0, len(images), batch_size):
        normalised = (images[start : start + batch_size].float() / 255 - mean) / std
        for _ in range(passes):
            run_in_fixed_batches(runner, normalised).argmax(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="sample", help="sample (CIFAR ResNet-8), resnet18 (torchvision), or a checkpoint path"
    )
    parser.add_argument("--data", default="cifar10-sample")
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--probes", default="default")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    device = resolve_device(args.device)
    if args.model == "sample":
        runner = make_runner(load_checkpoint(SAMPLES / "cifar_resnet8_l2.ts.pt"), device, precision=args.precision)
    elif args.model == "resnet18":
        import torchvision

        runner = TorchRunner(torchvision.models.resnet18(num_classes=10).eval(), device, precision=args.precision)
    else:
        runner = make_runner(load_checkpoint(args.model), device, precision=args.precision)
    dataset = datasets.take_subset(datasets.load_dataset(args.data), args.samples, seed=0)
    probes, _ = resolve_probes(args.probes)
    passes = 1 + sum(len(p.severities) for p in probes)
    runners = {"model": runner}

    run_probe_suite(runners, datasets.take_subset(dataset, 64, 0), probes, batch_size=args.batch_size)  # warm-up
    bare_times, suite_times = [], []
    for _ in range(args.repeat):  # interleaved, so drift in machine load hits both
        synchronise(device)
        start = time.perf_counter()
        bare_forward(runner, dataset, passes, args.batch_size)
        synchronise(device)
        bare_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        run_probe_suite(runners, dataset, probes, batch_size=args.batch_size)
        synchronise(device)
        suite_times.append(time.perf_counter() - start)
    bare, suite = statistics.median(bare_times), statistics.median(suite_times)
    images = len(dataset) * passes
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"{args.model} on {name}, {args.precision}: {len(dataset)} images x {passes} passes "
        f"({len(probes)} probes), batch {args.batch_size}"
    )
    print(f"  bare forward passes: {bare:8.2f} s  ({images / bare:,.0f} images/s)")
    print(f"  probe suite:         {suite:8.2f} s  ({images / suite:,.0f} images/s)")
    print(f"  ratio suite / bare:  {suite / bare:8.3f}  (target <= 1.15)")


if __name__ == "__main__":
    main()
