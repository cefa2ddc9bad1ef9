"""Benchmark: the probe suite's time over the bare forward passes it needs, and streaming
over resident, measured in one run.

    python benchmarks/bench_probes.py                                  # sample ResNet-8, 32 px
    python benchmarks/bench_probes.py --model resnet50 --images 256    # torchvision, 224 px
    python benchmarks/bench_probes.py --model timm:convnext_tiny --images 256 --stream

On the same images: (a) the bare forward passes the suite needs (clean images, one pass
per probe severity plus the clean one; no corruption, no bookkeeping) and (b) the whole
probe suite (corruptions, normalisation, per-image outcomes). The two alternate (a b b a
...) after one warm-up of each, so drift in machine load hits both; the median and the
spread of the ratios are printed. For 224-px models the images are a generated JPEG
folder decoded the way an audit decodes it (resize 256, crop 224); ``--stream`` also runs
the suite streamed from that folder in chunks and prints streamed / resident time.
Prints images/s, peak host memory (max RSS) and, on a GPU, peak device memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audit.api import resolve_device
from audit.loading import load_checkpoint
from audit.probes import datasets
from audit.probes.folders import image_folder
from audit.probes.registry import resolve_probes
from audit.probes.runners import TorchRunner, make_runner, run_in_fixed_batches
from audit.probes.stage import default_batch_size
from audit.probes.suite import run_probe_suite, run_probe_suite_parts

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


def timed(device, function, *args, **kwargs) -> float:
    synchronise(device)
    started = time.perf_counter()
    function(*args, **kwargs)
    synchronise(device)
    return time.perf_counter() - started


def make_runner_for(name: str, device: torch.device, precision: str, classes: int):
    if name == "sample":
        return make_runner(load_checkpoint(SAMPLES / "cifar_resnet8_l2.ts.pt"), device, precision=precision)
    if name.startswith("timm:"):
        import timm

        module = timm.create_model(name[5:], pretrained=False, num_classes=classes)
    elif name in ("resnet50", "resnet18"):
        import torchvision

        module = getattr(torchvision.models, name)(num_classes=classes)
    else:
        return make_runner(load_checkpoint(name), device, precision=precision)
    return TorchRunner(module.eval(), device, precision=precision)


def generated_folder(root: Path, count: int, classes: int, seed: int = 0) -> Path:
    """``count`` JPEG photos-sized images (random sizes 300-500 px) in ``classes`` folders."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for index in range(count):
        folder = root / f"class{index % classes:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        height, width = rng.integers(300, 500, 2)
        # Smooth random images compress like photos (pure noise would make huge JPEGs).
        small = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((width, height), Image.BILINEAR)
        image.save(folder / f"{index:05d}.jpg", quality=90)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sample", help="sample (CIFAR ResNet-8), resnet50, timm:NAME, or a path")
    parser.add_argument("--images", type=int, default=None, help="224-px models: generated images (default 256)")
    parser.add_argument("--samples", type=int, default=None, help="32-px: images of the bundled sample")
    parser.add_argument("--probes", default="default")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the audit's choice for the device")
    parser.add_argument("--pairs", type=int, default=3, help="bare/suite pairs measured after the warm-up")
    parser.add_argument("--stream", action="store_true", help="also time the suite streamed from the folder")
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: the audit's choice)")
    args = parser.parse_args()

    device = resolve_device(args.device)
    large = args.model != "sample"
    classes = 10
    work = tempfile.TemporaryDirectory()
    files = None
    if large:
        count = args.images or 256
        started = time.perf_counter()
        files = image_folder(
            generated_folder(Path(work.name), count, classes), resize=256, crop=224, workers=args.workers
        )
        dataset = files.decode()
        seconds = time.perf_counter() - started
        print(f"decoded {count} JPEGs (resize 256, crop 224, {files.workers} workers) in {seconds:.1f} s")
    else:
        dataset = datasets.take_subset(datasets.load_dataset("cifar10-sample"), args.samples, seed=0)
    runner = make_runner_for(args.model, device, args.precision, classes)
    _, height, width = dataset.shape
    batch_size = args.batch_size or default_batch_size(device, height, width)
    probes, _ = resolve_probes(args.probes)
    passes = 1 + sum(len(p.severities) for p in probes)
    runners = {"model": runner}
    warm = datasets.take_subset(dataset, min(len(dataset), 2 * batch_size), 0)

    def bare() -> float:
        return timed(device, bare_forward, runner, dataset, passes, batch_size)

    def suite() -> float:
        return timed(device, run_probe_suite, runners, dataset, probes, batch_size=batch_size)

    timed(device, bare_forward, runner, warm, passes, batch_size)
    timed(device, run_probe_suite, runners, warm, probes, batch_size=batch_size)
    bare_times, suite_times = [], []
    for pair in range(args.pairs):  # a b, b a, a b ...: neither always runs first
        order = (bare, suite) if pair % 2 == 0 else (suite, bare)
        for run in order:
            (bare_times if run is bare else suite_times).append(run())
    ratios = [s / b for s, b in zip(suite_times, bare_times)]
    images = len(dataset) * passes
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"{args.model} on {name}, {args.precision}: {len(dataset)} images of {height}x{width} x {passes} passes "
        f"({len(probes)} probes), batch {batch_size}"
    )
    bare_median, suite_median = statistics.median(bare_times), statistics.median(suite_times)
    print(f"  bare forward passes: {bare_median:8.2f} s  ({images / bare_median:,.0f} images/s)")
    print(f"  probe suite:         {suite_median:8.2f} s  ({images / suite_median:,.0f} images/s)")
    print(
        f"  suite / bare:        {statistics.median(ratios):8.3f}  (median of {len(ratios)} pairs, "
        f"{min(ratios):.3f}-{max(ratios):.3f}; target <= 1.10)"
    )
    if args.stream and files is not None:
        chunk = batch_size * max(1, 64 // batch_size)  # several chunks even for a small folder

        def streamed() -> float:
            parts = files.parts(0, len(files), chunk)
            return timed(
                device, run_probe_suite_parts, runners, parts, probes, total=len(files), label="", batch_size=batch_size
            )

        stream_times, resident_times = [], []
        for pair in range(args.pairs):
            for run in (streamed, suite) if pair % 2 == 0 else (suite, streamed):
                (stream_times if run is streamed else resident_times).append(run())
        stream_ratios = [s / r for s, r in zip(stream_times, resident_times)]
        print(
            f"  streamed / resident: {statistics.median(stream_ratios):8.3f}  (chunks of {chunk}, decoding included; "
            f"{min(stream_ratios):.3f}-{max(stream_ratios):.3f}; target <= 1.15)"
        )
    peak_host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"  peak host memory:    {peak_host:8.2f} GiB (max RSS)")
    if device.type == "cuda":
        print(f"  peak device memory:  {torch.cuda.max_memory_allocated(device) / 2**30:8.2f} GiB")


if __name__ == "__main__":
    main()
