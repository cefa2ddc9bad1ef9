"""Train the bundled sample models on real CIFAR-10 images, reproducibly.

    python sample_models/train.py --train ../shared/data/cifar10/cifar10_train_4660.npz

Trains three CifarResNet-8 (width 16) models with the same seed and recipe, differing
only in regularisation, as in the seed paper:

    cifar_resnet8_baseline   no weight decay, no dropout
    cifar_resnet8_l2         L2 weight decay (--weight-decay, default 5e-3)
    cifar_resnet8_dropout    dropout 0.5 before the classifier

Recipe: SGD lr 0.05, momentum 0.9, cosine schedule, batch 128, random crop (pad 4) and
horizontal flip, CIFAR-10 mean/std normalisation, --epochs epochs (default 30), seed 0.
Evaluated on the bundled 846-image test sample (the first 846 images of the official
test split). Writes per model a state_dict (.pt), a TorchScript archive (.ts.pt) and
an ONNX export (.onnx, BatchNorm not folded), keeps per-epoch state_dicts of the
baseline run under evolution/, and records accuracies in results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from cifar_resnet import CifarResNet  # noqa: E402

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
DEFAULT_TEST = HERE.parent / "audit" / "data" / "cifar10_test_846.npz"

VARIANTS = {
    "baseline": {"weight_decay": 0.0, "dropout": 0.0},
    "l2": {"weight_decay": None, "dropout": 0.0},  # None: --weight-decay
    "dropout": {"weight_decay": 0.0, "dropout": 0.5},
}


def load_npz(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    data = np.load(path)
    images = torch.from_numpy(data["images"]).permute(0, 3, 1, 2).contiguous()  # uint8 NCHW
    return images, torch.from_numpy(data["labels"]).long()


def normalise(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255.0 - MEAN) / STD


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop with 4-pixel zero padding and random horizontal flip, on uint8."""
    n = images.shape[0]
    padded = F.pad(images, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=generator)
    dx = torch.randint(0, 9, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(32))[:, None, :, None].expand(n, 3, 32, 40)
    cropped = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(32))[:, None, None, :].expand(n, 3, 32, 32)
    cropped = cropped.gather(3, cols)
    flip = torch.rand(n, generator=generator) < 0.5
    cropped[flip] = cropped[flip].flip(-1)
    return cropped


@torch.inference_mode()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), 256):
        logits = model(normalise(images[start : start + 256]))
        correct += int((logits.argmax(1) == labels[start : start + 256]).sum())
    return correct / len(images)


def train_variant(name: str, config: dict, args, train, test, out: Path) -> dict:
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    model = CifarResNet(width=args.width, dropout=config["dropout"])
    weight_decay = args.weight_decay if config["weight_decay"] is None else config["weight_decay"]
    optimiser = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=weight_decay)
    steps_per_epoch = -(-len(train[0]) // args.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, args.epochs * steps_per_epoch)
    stem = f"cifar_resnet8_{name}"
    evolution = out / "evolution"
    if name == "baseline":
        evolution.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), evolution / f"{stem}_epoch_00.pt")
    start = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(train[0]), generator=generator)
        for batch in order.split(args.batch_size):
            images = normalise(augment(train[0][batch], generator))
            loss = F.cross_entropy(model(images), train[1][batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
        if name == "baseline":
            torch.save(model.state_dict(), evolution / f"{stem}_epoch_{epoch:02d}.pt")
        if epoch % 5 == 0 or epoch == args.epochs:
            print(
                f"{stem} epoch {epoch:3d} loss {loss.item():.3f} test acc {accuracy(model, *test):.3f} "
                f"({time.time() - start:.0f}s)",
                flush=True,
            )
    model.eval()
    torch.save(model.state_dict(), out / f"{stem}.pt")
    example = torch.zeros(1, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(model, example), out / f"{stem}.ts.pt")
        batch = torch.export.Dim("batch", min=1, max=65536)
        program = torch.onnx.export(
            model,
            (example.expand(2, 3, 32, 32),),
            dynamo=True,
            optimize=False,
            verbose=False,
            dynamic_shapes=({0: batch},),
            input_names=["images"],
            output_names=["logits"],
        )
        program.save(str(out / f"{stem}.onnx"))
    return {
        "file": f"{stem}.pt",
        "weight_decay": weight_decay,
        "dropout": config["dropout"],
        "test_accuracy": round(accuracy(model, *test), 4),
        "train_accuracy": round(accuracy(model, *train), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="cifar10_train_4660.npz from ../shared/data/cifar10")
    parser.add_argument("--test", type=Path, default=DEFAULT_TEST)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--weight-decay", type=float, default=5e-3)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="baseline,l2,dropout")
    args = parser.parse_args()

    torch.set_num_threads(max(1, torch.get_num_threads()))
    train, test = load_npz(args.train), load_npz(args.test)
    results = {
        # File names only: the recipe should not depend on where the data lay.
        "recipe": {k: (v.name if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("out",)},
        "train_images": len(train[0]),
        "test_images": len(test[0]),
        "models": {},
    }
    for name in args.variants.split(","):
        results["models"][name] = train_variant(name, VARIANTS[name], args, train, test, args.out)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["models"], indent=2))


if __name__ == "__main__":
    main()
