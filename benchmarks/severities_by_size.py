"""The default probes' applied parameters at each image size, and what each costs a model.

    python benchmarks/severities_by_size.py                      # the table only
    python benchmarks/severities_by_size.py --measure            # + a real ResNet-20 at 32 px
    python benchmarks/severities_by_size.py --measure --model m.pt --data imagenet:/val \\
        --arch timm:tf_efficientnet_lite0 --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5

The table follows :mod:`audit.probes.sweeps` (the rule per kind of parameter). With
``--measure`` the tool audits the model with the default probes and prints, for every
severity, the parameter applied at the data's image size, the accuracy and the points it
costs, and whether the mildest costs little and the harshest stays above twice chance.
The default model is ``dansun_r20_run1`` from ``../shared/data/real_cifar10_resnets``
(a CIFAR ResNet-20 trained by others, 92% on the bundled 846 test images).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from audit.probes.registry import PRESETS, PROBES
from audit.probes.sweeps import blur_sigma

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real_cifar10_resnets" / "dansun_r20_run1.th"
REAL_ARCH = f"{ROOT / 'benchmarks' / 'cifar_resnet_he.py'}:CifarResNetHe"
IMAGENET_MEAN, IMAGENET_STD = "0.485,0.456,0.406", "0.229,0.224,0.225"
SIZES = (32, 64, 96, 160, 224, 384)


def applied(name: str, size: int) -> str:
    values = PROBES[name].parameter_values(size)
    if name == "gaussian_blur":
        return ", ".join(f"{k:g} (σ {blur_sigma(k):.1f})" for k in values)
    return ", ".join(f"{v:g}" for v in values)


def print_table() -> None:
    print("| probe | " + " | ".join(f"{size} px" for size in SIZES) + " |")
    print("|---|" + "---|" * len(SIZES))
    for name in PRESETS["default"]:
        print(f"| {name} | " + " | ".join(applied(name, size) for size in SIZES) + " |")


def measure(arguments: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "audit.json"
        command = [sys.executable, "-m", "audit", str(arguments.model), "--data", arguments.data, "--json", str(out)]
        command += ["--arch", arguments.arch, "--mean", arguments.mean, "--std", arguments.std, "-q"]
        command += arguments.extra
        subprocess.run(command, check=False)
        if not out.exists():
            raise SystemExit("the audit wrote no result; see its message above")
        probes = json.loads(out.read_text())["probes"]
    size, chance = probes["image_shape"][-1], 1 / probes["num_classes"]
    clean = 100 * probes["clean_accuracy"]
    print(f"\n{arguments.model.name} at {size} px, clean {clean:.1f}% on {probes['samples']} images")
    print("| probe | applied | accuracy | costs (points) |")
    print("|---|---|---|---|")
    by_probe: dict[str, list[dict]] = {}
    for row in probes["results"]:
        by_probe.setdefault(row["probe"], []).append(row)
    for name, rows in by_probe.items():
        ordered = [rows[[r["severity"] for r in rows].index(s)] for s in PROBES[name].by_harshness()]
        for row in ordered:
            print(f"| {name} | {row['value']:g} | {100 * row['accuracy']:.1f}% | {100 * row['accuracy_drop']:.1f} |")
        mildest, harshest = ordered[0], ordered[-1]
        print(
            f"|   | mildest costs {100 * mildest['accuracy_drop']:.1f}; harshest leaves "
            f"{100 * harshest['accuracy']:.1f}% ({'above' if harshest['accuracy'] > 2 * chance else 'NOT above'} "
            f"twice chance) | | |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", action="store_true", help="audit a model and print what each severity costs")
    parser.add_argument("--model", type=Path, default=REAL)
    parser.add_argument("--arch", default=REAL_ARCH)
    parser.add_argument("--data", default="cifar10-sample")
    parser.add_argument("--mean", default=IMAGENET_MEAN)
    parser.add_argument("--std", default=IMAGENET_STD)
    parser.add_argument("extra", nargs="*", help="more options for spectral-audit (after --)")
    arguments = parser.parse_args()
    print_table()
    if arguments.measure:
        measure(arguments)


if __name__ == "__main__":
    main()
