"""The real zoo: the zoo study's statistics and probes on CIFAR-10 ResNets that other
people trained and published, to check which forecasts hold on real models.

    python benchmarks/real_zoo_study.py                     # ../shared/data/real_cifar10_resnets
    python benchmarks/real_zoo_study.py --models DIR --recipes recipes.json

Audits every checkpoint with the installed tool (``spectral-audit zoo``: nine spectral
statistics, the default probes and the CIFAR-10-C preset on the bundled 846 test images,
Spearman correlations across models and within architectures, bootstrap intervals, and
partial correlations with clean accuracy held fixed) and writes

    benchmarks/real_zoo_study.json       the zoo table (per model and per pair)
    benchmarks/real_zoo_study.md         its summary, quoted by the README
    audit/data/zoo_calibration_real.json the correlations a forecast must replicate in

A forecast is made only for a pair that the trained zoo (``benchmarks/zoo_study.py``) and
this real zoo both support with the same sign (see ``audit/rules/forecasts.py``).

The architecture is ``benchmarks/cifar_resnet_he.py`` (He et al.'s CIFAR ResNet, option A),
which takes its depth (20 or 56) from each checkpoint. The models were trained with
ImageNet's mean and std, which the audit uses. About 25 minutes on two CPU cores; a rerun
reuses every audit in ``--work``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = ROOT.parent / "shared" / "data" / "real_cifar10_resnets"
ARCH = f"{ROOT / 'benchmarks' / 'cifar_resnet_he.py'}:CifarResNetHe"
MEAN, STD = "0.485,0.456,0.406", "0.229,0.224,0.225"
TOOL = [sys.executable, "-m", "audit"]

# From the folder's README: which repository, and the recipe as that repository describes it.
DANSUN, MLR = "DanSun18/pytorch_resnet_cifar10", "antonioverdi/MLReproChallenge"
RECIPES = {
    "dansun_r20_run1": {"source": DANSUN, "depth": 20, "schedule": "multistep", "lr": 0.1},
    "dansun_r20_run5": {"source": DANSUN, "depth": 20, "schedule": "multistep", "lr": 0.1},
    "dansun_r20_run8-1": {"source": DANSUN, "depth": 20, "schedule": "plateau", "lr": 0.1},
    "dansun_r20_run8-5": {"source": DANSUN, "depth": 20, "schedule": "plateau", "lr": 0.1},
    "dansun_r20_run9-1": {"source": DANSUN, "depth": 20, "schedule": "plateau", "lr": 0.05},
    "dansun_r20_run9-2-1": {"source": DANSUN, "depth": 20, "schedule": "plateau", "lr": 0.15},
    "dansun_r20_test": {"source": DANSUN, "depth": 20, "schedule": "short test run", "lr": 0.1},
    "dansun_r56_run3": {"source": DANSUN, "depth": 56, "schedule": "multistep", "lr": 0.1},
    "dansun_r56_run6-1": {"source": DANSUN, "depth": 56, "schedule": "plateau", "lr": 0.2},
    "dansun_r56_run6-3": {"source": DANSUN, "depth": 56, "schedule": "plateau", "lr": 0.4},
    "mlr_ft020": {"source": MLR, "depth": 56, "pruned": 0.2, "after pruning": "fine-tuning"},
    "mlr_ft080": {"source": MLR, "depth": 56, "pruned": 0.8, "after pruning": "fine-tuning"},
    "mlr_lrr020": {"source": MLR, "depth": 56, "pruned": 0.2, "after pruning": "learning-rate rewinding"},
    "mlr_lrr080": {"source": MLR, "depth": 56, "pruned": 0.8, "after pruning": "learning-rate rewinding"},
}


def audit(models: Path, recipes: Path, work: Path, probes: str, resamples: int, samples: int | None) -> Path:
    table = work / "zoo.json"
    command = [
        *TOOL, "zoo", str(models), "--arch", ARCH, "--mean", MEAN, "--std", STD,
        "--data", "cifar10-sample", "--probes", probes, "--cache", str(work / "cache"),
        "--recipes", str(recipes), "--resamples", str(resamples), "--json", str(table), "--device", "auto",
    ]  # fmt: skip
    if samples is not None:
        command += ["--samples", str(samples)]
    subprocess.run(command, check=True)
    return table


def publish(table: Path, json_out: Path, markdown_out: Path, calibration_out: Path, seconds: float) -> None:
    from audit.report.zoo import zoo_markdown
    from audit.rules.forecasts import calibration_from_zoo
    from audit.schema import ZooResult, decode_result

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from zoo_study import _rounded

    data = json.loads(table.read_text())
    zoo = decode_result(ZooResult, data)
    json_out.write_text(json.dumps(_rounded(data), separators=(",", ":")) + "\n")
    description = f"the real zoo ({len(zoo.models)} CIFAR-10 ResNet-20/56 trained by others)"
    calibration_out.write_text(json.dumps(_rounded(calibration_from_zoo(zoo, description).to_dict()), indent=1) + "\n")
    accuracies = [m.clean_accuracy for m in zoo.models if m.clean_accuracy is not None]
    markdown = zoo_markdown(zoo, title="Real zoo: what the spectrum predicts on models trained by others")
    markdown += (
        "\n## How it was made\n\n"
        f"`python benchmarks/real_zoo_study.py` on {zoo.run.device if zoo.run else '?'} in {seconds / 60:.0f} min: "
        f"{len(zoo.models)} checkpoints from two public repositories ({DANSUN}: ResNet-20 and ResNet-56 with SGD, "
        f"multistep or plateau schedules; {MLR}: magnitude-pruned ResNet-56, fine-tuned or with learning-rate "
        "rewinding), read from `../shared/data/real_cifar10_resnets/` with He et al.'s CIFAR ResNet "
        "(`benchmarks/cifar_resnet_he.py`) and ImageNet's mean and std, as they were trained. Clean accuracy on "
        f"the 846 bundled test images {100 * min(accuracies):.1f}-{100 * max(accuracies):.1f}%. Each model was "
        "audited against the white-noise reference with the default probes and the CIFAR-10-C preset.\n\n"
        "Within architectures there are two groups (7 ResNet-20, 7 ResNet-56): intervals are wide, and a pair "
        "counts only where it also holds in the trained zoo (`benchmarks/zoo_study.md`).\n"
    )
    markdown_out.write_text(markdown)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="folder of checkpoints")
    parser.add_argument("--recipes", type=Path, help="JSON: model name -> recipe (default: the README's)")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".real_zoo_work")
    parser.add_argument("--probes", default="default,cifar10-c")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--samples", type=int, help="test images (default: all 846)")
    parser.add_argument("--publish", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    if not args.models.is_dir():
        raise SystemExit(f"{args.models}: no such folder of checkpoints")
    args.work.mkdir(parents=True, exist_ok=True)
    recipes = args.recipes
    if recipes is None:
        recipes = args.work / "recipes.json"
        recipes.write_text(json.dumps(RECIPES))
    started = time.perf_counter()
    table = audit(args.models, recipes, args.work, args.probes, args.resamples, args.samples)
    if args.publish:
        publish(
            table,
            ROOT / "benchmarks" / "real_zoo_study.json",
            ROOT / "benchmarks" / "real_zoo_study.md",
            ROOT / "audit" / "data" / "zoo_calibration_real.json",
            time.perf_counter() - started,
        )


if __name__ == "__main__":
    main()
