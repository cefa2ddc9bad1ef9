"""The ``spectral-audit`` command: parse options, call one library function, print.

``spectral-audit MODEL ...`` is short for ``spectral-audit audit MODEL ...``.
Exit codes: 0 success (every gate passed), 1 a gate failed, 2 bad input or usage,
130 interrupted (143 terminated).

Only the standard library, typer and rich are imported at the top: torch and the rest
come in when a command runs, inside :func:`_guarded`, so ``--help`` and ``--version``
stay fast and an interrupt at any moment ends with one line.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from audit.errors import AuditError, one_line, printable
from audit.formats import described

if TYPE_CHECKING:  # only for annotations: the command line imports torch when a command runs
    from audit.probes.stage import ProbeOptions
    from audit.schema import SpectralSettings
from audit.io import Interrupted, raise_if_interrupted

EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2

stdout = Console()
stderr = Console(stderr=True)

# How the library's option names (in error hints) are spelled on this command line.
FLAGS = {
    "trust_code": "--trust-code",
    "min_clean_accuracy": "--min-clean-accuracy",
    "max_hfer": "--max-hfer",
    "max_layer_hfer": "--max-layer-hfer",
    "min_ssr": "--min-ssr",
    "arch": "--arch",
    "arch_args": "--arch-args",
    "baseline": "--baseline",
    "checkpoint_key": "--checkpoint-key",
    "data": "--data",
    "data_root": "--data-root",
    "device": "--device",
    "fft_size": "--fft-size",
    "hfer_cutoff": "--hfer-cutoff",
    "input_size": "--input-size",
    "crop": "--crop",
    "resize": "--resize",
    "logits": "--logits",
    "num_classes": "--num-classes",
    "order": "--order",
    "probes": "--probes",
    "rings": "--rings",
    "samples": "--samples",
    "mean": "--mean",
    "std": "--std",
    "match": "--match",
    "baseline_arch": "--baseline-arch",
    "baseline_arch_args": "--baseline-arch-args",
    "calibration": "--calibration",
    "precision": "--precision",
    "fail_on": "--fail-on",
    "batch_size": "--batch-size",
    "gate_mode": "--gate-mode",
}


class _DefaultToAudit(TyperGroup):
    """Route ``spectral-audit MODEL`` to the ``audit`` verb (click groups want a verb first),
    and report usage errors (an unknown option, a value out of range) in one line."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except Exception as error:
            # click's UsageError/BadParameter (typer vendors click in some versions, so
            # they are recognised by what they have rather than by their class).
            if not (hasattr(error, "format_message") and hasattr(error, "exit_code")):
                raise
            context = getattr(error, "ctx", None)
            command = context.command_path if context is not None else "spectral-audit"
            _print_error(f"{error.format_message()} (see {command} --help)")
            if standalone_mode:
                sys.exit(EXIT_BAD_INPUT)
            raise
        if standalone_mode:
            sys.exit(result if isinstance(result, int) else 0)
        return result

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        group_options = {"--help", "-h", "--version", "--install-completion", "--show-completion"}
        if args and args[0] not in self.commands and args[0] not in group_options:
            args = ["audit", *args]
        return super().parse_args(ctx, args)


class _Command(TyperCommand):
    """Typer's plain help, without its internal type names (<list[Path]>) and with the
    usage line's placeholders as people write them (MODEL, CHECKPOINT...)."""

    def get_help(self, ctx: Any) -> str:
        text = super().get_help(ctx)
        text = re.sub(r" <list\[\w+\]>", lambda match: " " * len(match.group(0)), text)
        return re.sub(
            r"\{([A-Z_]+)(\.\.\.)?\}(\.\.\.)?", lambda m: m.group(1) + ("..." if m.group(2) or m.group(3) else ""), text
        )


app = typer.Typer(
    cls=_DefaultToAudit,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=(
        "Frequency-domain audit of trained CNN checkpoints.\n\n"
        f"spectral-audit MODEL loads a checkpoint ({described()}), measures the "
        "radial spectrum of every conv kernel and its high-frequency energy ratio (HFER), "
        "and compares it with a baseline as the Spectral Suppression Ratio "
        "SSR = HFER(baseline) / HFER(model): above 1 the model is more low-pass.\n\n"
        "With --data it also measures accuracy under noise, blur, low resolution and Fourier "
        "filtering; --out writes an HTML and PDF report; gates (--policy, --max-hfer...) set "
        "the exit code: 0 pass, 1 a gate failed, 2 bad input.\n\n"
        "Examples:\n\n"
        "\b\n"
        "  spectral-audit model.pt\n"
        "  spectral-audit model.ts.pt --baseline last.ts.pt --data cifar10 --out audit/\n"
        "  spectral-audit weights.pt --arch torchvision:resnet18 --num-classes 10 \\\n"
        "      --data cifar10-sample\n"
        "  spectral-audit profile last_release.pt --json ref.json\n"
        "  spectral-audit candidate.pt --baseline ref.json\n"
        "  spectral-audit track runs/exp1/ --out evolution/\n"
        "  spectral-audit zoo checkpoints/ --data cifar10-sample --out zoo/\n"
        "  spectral-audit report audit/result.json --out again/"
    ),
)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    never = "never"


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class Order(str, Enum):
    auto = "auto"
    epoch = "epoch"  # the name before 0.2: the same as auto
    given = "given"


class Match(str, Enum):
    full = "full"
    partial = "partial"


class GateMode(str, Enum):
    significant = "significant"
    non_inferiority = "non-inferiority"
    point = "point"


# --- options shared between verbs (one meaning per name) ------------------------------------

ModelPath = Annotated[
    Path,
    typer.Argument(
        metavar="MODEL",
        help=f"Checkpoint: {described()}.",
        show_default=False,
    ),
]
JsonPath = Annotated[
    Optional[Path], typer.Option("--json", metavar="PATH", help="Write the result as JSON (schema_version 1).")
]
OutDir = Annotated[
    Optional[Path],
    typer.Option("--out", "-o", metavar="DIR", help="Write the HTML and PDF report and the JSON result into DIR."),
]
Pdf = Annotated[bool, typer.Option("--pdf/--no-pdf", help="With --out: write the PDF.")]
Html = Annotated[bool, typer.Option("--html/--no-html", help="With --out: write the HTML.")]
Cutoff = Annotated[
    float,
    typer.Option(
        "--hfer-cutoff",
        metavar="CYCLES",
        min=0.0,
        max=0.7071,
        help="HFER counts energy at radius > this, in cycles/pixel (0.25 = half Nyquist).",
    ),
]
FftSize = Annotated[
    Optional[int],
    typer.Option(
        "--fft-size",
        min=2,
        max=512,
        metavar="N",
        help="Zero-pad kernels to an NxN grid to sample their frequency response finely. "
        "Default: the kernel's own grid.",
    ),
]
Rings = Annotated[
    bool,
    typer.Option("--rings", help="With --fft-size N, bin radii into rings of width 1/N instead of distinct radii."),
]
DeviceOption = Annotated[
    Device,
    typer.Option("--device", metavar="[auto|cpu|cuda]", help="Where to compute: auto uses CUDA when there is a GPU."),
]
TrustCode = Annotated[
    bool,
    typer.Option(
        "--trust-code",
        "--allow-pickle",
        help="Run code from the checkpoint: load TorchScript and .pt2 programs as runnable models (for "
        "probes) and unpickle whole nn.Module files. Only for files you trust. Off (default): programs "
        "are parsed for their weights, never run; torch.load(weights_only=True). "
        "--allow-pickle is an old name for it.",
    ),
]
CheckpointKey = Annotated[
    Optional[str],
    typer.Option(
        "--checkpoint-key",
        metavar="KEY",
        help="Entry of a checkpoint dict holding the weights (e.g. ema). "
        "Default: state_dict, model_state_dict, model, net... "
        "whichever is there.",
    ),
]
Quiet = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress on stderr (on a terminal a bar, in CI logs a line per probe)."),
]
MatchOption = Annotated[
    Match,
    typer.Option(
        "--match",
        metavar="[full|partial]",
        help="full: refuse to compare different architectures (conv layers must match by name and shape, or by "
        "shape in order when only the names differ); partial: compare the common layers, and say so everywhere.",
    ),
]
Debug = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]

PROBES_PANEL, GATES_PANEL = "Probes", "Gates"

# --- the probe options (audit and zoo) ------------------------------------------------------

DataOption = Annotated[
    Optional[str],
    typer.Option(
        "--data",
        metavar="NAME|PATH",
        rich_help_panel=PROBES_PANEL,
        help="Run the robustness probes on: cifar10, cifar10-sample (bundled, offline), cifar100, svhn, mnist, "
        "fashion-mnist, imagenet (val, with --data-root), an .npz (images, labels) or an image folder (one "
        "sub-folder per class).",
    ),
]

DataRoot = Annotated[
    Optional[Path],
    typer.Option(
        "--data-root",
        metavar="DIR",
        rich_help_panel=PROBES_PANEL,
        help="Where torchvision data sets are (and are downloaded to). Default: $SPECTRAL_AUDIT_DATA or "
        "~/.cache/torch/datasets.",
    ),
]

Download = Annotated[
    bool,
    typer.Option(
        "--download/--no-download", rich_help_panel=PROBES_PANEL, help="Download a missing torchvision data set."
    ),
]

Samples = Annotated[
    Optional[int],
    typer.Option(
        "--samples",
        metavar="N",
        min=1,
        rich_help_panel=PROBES_PANEL,
        help="Evaluate a fixed, seeded subset of N images. Default: all on a GPU, 1000 on the CPU.",
    ),
]

ProbesOption = Annotated[
    str,
    typer.Option(
        "--probes",
        metavar="NAMES",
        rich_help_panel=PROBES_PANEL,
        help="Comma-separated probes or presets: default (gaussian_noise, gaussian_blur, low_resolution, low_pass, "
        "high_pass), cifar10-c (CIFAR-10-C severities 1-5, for 32-px images), imagenet-c (ImageNet-C's constants "
        "for 224-px images), paper, fourier_heatmap (heavy), none (clean accuracy only), or single names (noise, "
        "blur, lowres...).",
    ),
]

Seed = Annotated[
    int,
    typer.Option(
        "--seed",
        metavar="N",
        rich_help_panel=PROBES_PANEL,
        help="Seed for the subset and the noise: the same command gives the same numbers.",
    ),
]

BatchSize = Annotated[
    Optional[int],
    typer.Option(
        "--batch-size",
        metavar="N",
        min=1,
        rich_help_panel=PROBES_PANEL,
        help="Images per batch. Default: by device and image size (256 for 32-px images on a CPU, 512 on a GPU, "
        "fewer for larger images); halved automatically on CUDA out-of-memory.",
    ),
]

Resize = Annotated[
    Optional[int],
    typer.Option(
        "--resize",
        metavar="N",
        min=1,
        rich_help_panel=PROBES_PANEL,
        help="Image folders and ImageNet: resize the shorter side to N before the crop (ImageNet default 256).",
    ),
]

Crop = Annotated[
    Optional[int],
    typer.Option(
        "--crop",
        metavar="N",
        min=1,
        rich_help_panel=PROBES_PANEL,
        help="Image folders and ImageNet: centre crop N x N (ImageNet default 224). A folder of mixed sizes gets "
        "256/224, as torchvision evaluates.",
    ),
]

Workers = Annotated[
    Optional[int],
    typer.Option(
        "--workers",
        metavar="N",
        min=0,
        rich_help_panel=PROBES_PANEL,
        help="Image folders: processes decoding images (default: the cores left after one, at most 8; none for "
        "small folders).",
    ),
]

MemoryBudget = Annotated[
    Optional[float],
    typer.Option(
        "--memory-budget",
        metavar="GB",
        min=0.0,
        rich_help_panel=PROBES_PANEL,
        help="Decoded images up to this size stay in memory; a larger image folder is streamed in chunks with the "
        "same numbers. Default: a quarter of the GPU's or the machine's memory.",
    ),
]

PrecisionOption = Annotated[
    Precision,
    typer.Option(
        "--precision",
        metavar="[fp32|bf16|fp16]",
        rich_help_panel=PROBES_PANEL,
        help="Inference precision; bf16/fp16 need CUDA.",
    ),
]

Logits = Annotated[
    Optional[str],
    typer.Option(
        "--logits",
        metavar="NAME|INDEX",
        rich_help_panel=PROBES_PANEL,
        help="Which model output holds the logits when it returns several (tuple index or dict key).",
    ),
]

Arch = Annotated[
    Optional[str],
    typer.Option(
        "--arch",
        metavar="SPEC",
        rich_help_panel=PROBES_PANEL,
        help="Architecture for a weights-only checkpoint: torchvision:resnet18, timm:convnext_tiny (timm installed), "
        "my_pkg.models:Net or models/net.py:Net.",
    ),
]

ArchArgs = Annotated[
    Optional[str],
    typer.Option(
        "--arch-args",
        metavar="K=V,...",
        rich_help_panel=PROBES_PANEL,
        help="Constructor arguments for --arch, e.g. width=64,num_classes=10.",
    ),
]

NumClasses = Annotated[
    Optional[int],
    typer.Option("--num-classes", metavar="N", min=1, rich_help_panel=PROBES_PANEL, help="num_classes for --arch."),
]

InputSize = Annotated[
    Optional[int],
    typer.Option(
        "--input-size",
        metavar="N",
        min=1,
        rich_help_panel=PROBES_PANEL,
        help="Resize images to N x N once, before probing.",
    ),
]

Mean = Annotated[
    Optional[str],
    typer.Option(
        "--mean",
        metavar="M1,M2,M3",
        rich_help_panel=PROBES_PANEL,
        help="Normalisation mean (default: the data set's preset).",
    ),
]

Std = Annotated[
    Optional[str],
    typer.Option(
        "--std",
        metavar="S1,S2,S3",
        rich_help_panel=PROBES_PANEL,
        help="Normalisation std (default: the data set's preset).",
    ),
]

StoredUint8 = Annotated[
    bool,
    typer.Option(
        "--cifar10c-uint8/--cifar10c-float",
        rich_help_panel=PROBES_PANEL,
        help="CIFAR-10-C probes: store each corrupted image as uint8 by truncation, as the published data set "
        "does (default), or keep floats.",
    ),
]


def _floats(text: Optional[str], option: str) -> Optional[tuple[float, ...]]:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise AuditError(f"{option} expects comma-separated numbers, e.g. 0.4914,0.4822,0.4465; got {text!r}.")
    for value in values:
        _finite(value, option)
    return values


def _finite(value: Optional[float], option: str) -> Optional[float]:
    """NaN and infinity pass click's range checks (every comparison with NaN is false), and
    a NaN std silently zeroes every drop: refuse them in every numeric option."""
    import math

    if value is not None and not math.isfinite(value):
        raise AuditError(f"{option} must be a finite number, got {value!r}.")
    return value


def _probe_options(
    *,
    data: str,
    data_root: Path | None,
    download: bool,
    samples: int | None,
    probes: str,
    seed: int,
    batch_size: int | None,
    precision: Precision,
    logits: str | None,
    arch: str | None,
    arch_args: str | None,
    num_classes: int | None,
    input_size: int | None,
    mean: str | None,
    std: str | None,
    stored_uint8: bool,
    quiet: bool,
    **more: Any,
) -> ProbeOptions:
    """The probe options of the command line (audit and zoo share them) as ProbeOptions,
    by name: seventeen positional arguments were one swap away from a silent mistake."""
    from audit.api import ProbeOptions
    from audit.probes.architectures import parse_arch_args

    _finite(more.get("memory_budget"), "--memory-budget")
    return ProbeOptions(
        data=data,
        data_root=str(data_root) if data_root else None,
        download=download,
        samples=samples,
        probes=probes,
        seed=seed,
        batch_size=batch_size,
        precision=precision.value,
        logits=logits,
        arch=arch,
        arch_args=parse_arch_args(arch_args),
        num_classes=num_classes,
        input_size=input_size,
        mean=_floats(mean, "--mean"),
        std=_floats(std, "--std"),
        show_progress=not quiet,
        stored_uint8=stored_uint8,
        **more,
    )


def _version(value: bool) -> None:
    if value:
        from audit import __version__

        stdout.print(f"spectral-audit {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Frequency-domain audit of trained CNN checkpoints."""


def _print_error(text: str) -> None:
    rank = f"rank {os.environ['RANK']}: " if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
    stderr.print(f"[bold red]error:[/bold red] {rank}{escape(one_line(text))}", highlight=False, soft_wrap=True)


def _guarded(action: Callable[[], int | None], debug: bool) -> None:
    """Run ``action``; turn user errors into one line on stderr and an exit code.

    Under torchrun the process joins the group first; ranks other than 0 compute their
    share silently (their errors still show, with the rank)."""
    from audit.io import secondary_rank, written

    written.clear()  # this run's outputs (in-process callers run several)
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if secondary_rank():
        stdout.quiet = True
    try:
        if launched:
            from audit.probes import distributed

            distributed.start()
        code = action() or 0
        raise_if_interrupted()  # an interrupt whose exception a finaliser swallowed still counts
    except Exception as error:
        # A signal that arrived while a library was importing or working can surface as that
        # library's error ("cannot load module more than once per process"): once a signal
        # came, whatever followed is the interruption, not a problem to report.
        if isinstance(error, AuditError) and not _signal_came():
            code = _bad_input(error, debug)
        elif (signal_number := _signal_came()) is not None:
            code = _interrupted(Interrupted(signal_number))
        else:
            code = _unforeseen(error, debug)
    except KeyboardInterrupt as interrupt:
        code = _interrupted(interrupt)
    finally:
        if launched:
            from audit.probes import distributed

            distributed.stop()
    raise typer.Exit(code)


def _signal_came() -> int | None:
    from audit.io import received_signal

    return received_signal()


def _bad_input(error: AuditError, debug: bool) -> int:
    if debug:
        raise error
    _print_error(error.render(FLAGS))
    return EXIT_BAD_INPUT


def _interrupted(interrupt: KeyboardInterrupt) -> int:
    from audit.io import written

    signal_code = interrupt.exit_code if isinstance(interrupt, Interrupted) else 130
    outcome = f"after writing {len(written)} file(s)" if written else "nothing was written"
    stderr.print("terminated" if signal_code == 143 else "interrupted", "; ", outcome, ".", sep="", highlight=False)
    return signal_code


def _unforeseen(error: Exception, debug: bool) -> int:
    if debug:
        raise error
    if isinstance(error, MemoryError):
        _print_error("ran out of memory: the machine (or a ulimit on this process) leaves too little for this run.")
    elif isinstance(error, ImportError):
        detail = one_line(str(error))[:200]
        why = " The process has too little memory or address space for it (ulimit -v?)." if "map" in detail else ""
        _print_error(f"a library spectral-audit needs could not be loaded ({detail}).{why}")
    else:  # a bug or an input we failed to foresee: still no traceback
        _print_error(
            f"unexpected {type(error).__name__}: {error} (re-run with --debug for the traceback, and please report it)"
        )
    return EXIT_BAD_INPUT


def _settings(hfer_cutoff: float, fft_size: Optional[int], rings: bool) -> SpectralSettings:
    from audit.schema import SpectralSettings

    _finite(hfer_cutoff, "--hfer-cutoff")

    if rings and fft_size is None:
        raise AuditError("--rings needs --fft-size N (rings have width 1/N).")
    return SpectralSettings(cutoff=hfer_cutoff, fft_size=fft_size, rings=rings)


def _command_line() -> list[str]:
    return ["spectral-audit", *sys.argv[1:]]


def _report_written(paths: Sequence[Path]) -> None:
    for path in paths:
        stdout.print(f"wrote {printable(str(path))}", markup=False, highlight=False)


@app.command("audit", cls=_Command, short_help="Audit a checkpoint (the default command).")
def audit_command(
    model: ModelPath,
    baseline: Annotated[
        str,
        typer.Option(
            "--baseline",
            "-b",
            metavar="REF",
            help="Compare with: white-noise (expected spectrum of i.i.d. weights), another checkpoint, or a JSON "
            "profile/result.",
        ),
    ] = "white-noise",
    json_path: JsonPath = None,
    out: OutDir = None,
    pdf: Pdf = True,
    html: Html = True,
    hfer_cutoff: Cutoff = 0.25,
    fft_size: FftSize = None,
    rings: Rings = False,
    device: DeviceOption = Device.auto,
    trust_code: TrustCode = False,
    checkpoint_key: CheckpointKey = None,
    data: DataOption = None,
    data_root: DataRoot = None,
    download: Download = True,
    samples: Samples = None,
    probes: ProbesOption = "default",
    seed: Seed = 0,
    batch_size: BatchSize = None,
    resize: Resize = None,
    crop: Crop = None,
    workers: Workers = None,
    memory_budget: MemoryBudget = None,
    precision: PrecisionOption = Precision.fp32,
    logits: Logits = None,
    old_output: Annotated[Optional[str], typer.Option("--output", hidden=True)] = None,
    arch: Arch = None,
    arch_args: ArchArgs = None,
    num_classes: NumClasses = None,
    baseline_arch: Annotated[
        Optional[str],
        typer.Option(
            "--baseline-arch",
            metavar="SPEC",
            rich_help_panel=PROBES_PANEL,
            help="Architecture of a weights-only baseline, when it is not --arch's.",
        ),
    ] = None,
    baseline_arch_args: Annotated[
        Optional[str],
        typer.Option(
            "--baseline-arch-args",
            metavar="K=V,...",
            rich_help_panel=PROBES_PANEL,
            help="Constructor arguments for --baseline-arch (default: --arch-args).",
        ),
    ] = None,
    stored_uint8: StoredUint8 = True,
    match: MatchOption = Match.full,
    calibration: Annotated[
        Optional[Path],
        typer.Option(
            "--calibration",
            metavar="ZOO.json",
            help="Your own `spectral-audit zoo --json` table: data-free forecasts then come from your models' "
            "correlations instead of the bundled zoo studies'.",
        ),
    ] = None,
    input_size: InputSize = None,
    mean: Mean = None,
    std: Std = None,
    heatmap_samples: Annotated[
        int,
        typer.Option(
            "--heatmap-samples",
            metavar="N",
            min=1,
            rich_help_panel=PROBES_PANEL,
            help="Images used by the Fourier heat map.",
        ),
    ] = 256,
    heatmap_step: Annotated[
        Optional[int],
        typer.Option(
            "--heatmap-step",
            metavar="N",
            min=1,
            rich_help_panel=PROBES_PANEL,
            help="Fourier heat map: evaluate every N-th frequency per axis (1: all). Default: the finest step "
            "whose estimated time fits --heatmap-budget.",
        ),
    ] = None,
    heatmap_budget: Annotated[
        float,
        typer.Option(
            "--heatmap-budget",
            metavar="SECONDS",
            min=1.0,
            rich_help_panel=PROBES_PANEL,
            help="Fourier heat map: the time it may take, estimated from the probes' measured speed; the "
            "frequency step is chosen to fit it (printed before it starts).",
        ),
    ] = 600.0,
    heatmap_norm: Annotated[
        Optional[float],
        typer.Option(
            "--heatmap-norm",
            metavar="L2",
            min=0.0,
            rich_help_panel=PROBES_PANEL,
            help="Fourier heat map: the perturbation's L2 norm. Default: Yin et al.'s 4 at 32 px and 15.7 at "
            "224 px, linear in the image side.",
        ),
    ] = None,
    policy_path: Annotated[
        Optional[Path],
        typer.Option(
            "--policy",
            metavar="FILE",
            rich_help_panel=GATES_PANEL,
            help="TOML policy of thresholds. Default: [tool.spectral-audit] in the nearest pyproject.toml.",
        ),
    ] = None,
    min_clean_accuracy: Annotated[
        Optional[float],
        typer.Option(
            "--min-clean-accuracy",
            metavar="FRACTION",
            rich_help_panel=GATES_PANEL,
            help="Fail below this clean accuracy (fraction, e.g. 0.6).",
        ),
    ] = None,
    max_hfer: Annotated[
        Optional[float],
        typer.Option("--max-hfer", metavar="HFER", rich_help_panel=GATES_PANEL, help="Fail above this network HFER."),
    ] = None,
    max_layer_hfer: Annotated[
        Optional[float],
        typer.Option(
            "--max-layer-hfer",
            metavar="HFER",
            rich_help_panel=GATES_PANEL,
            help="Fail if any layer's HFER is above this.",
        ),
    ] = None,
    min_ssr: Annotated[
        Optional[float],
        typer.Option(
            "--min-ssr",
            metavar="SSR",
            rich_help_panel=GATES_PANEL,
            help="Fail below this network SSR against the baseline.",
        ),
    ] = None,
    fail_on: Annotated[
        Optional[FailOn],
        typer.Option(
            "--fail-on",
            metavar="[error|warning|never]",
            rich_help_panel=GATES_PANEL,
            help="Finding severities that fail the run (default: error).",
        ),
    ] = None,
    gate_mode: Annotated[
        Optional[GateMode],
        typer.Option(
            "--gate-mode",
            metavar="[significant|non-inferiority|point]",
            rich_help_panel=GATES_PANEL,
            help="Accuracy gates: significant (default) fails only when the whole 95% interval is past the limit; "
            "non-inferiority passes only when the whole interval is within it (a release gate that must show the "
            "model is no worse); point compares the measured values.",
        ),
    ] = None,
    junit: Annotated[
        Optional[Path],
        typer.Option(
            "--junit", metavar="PATH", rich_help_panel=GATES_PANEL, help="Write JUnit XML, one test case per gate."
        ),
    ] = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Spectra of every conv layer, HFER and SSR against a baseline; robustness probes with --data.

    Without --data the audit is data-free: it needs only the weights.
    """

    def action() -> int:
        from audit.api import run_audit
        from audit.io import append_text, check_output_folder, check_output_path
        from audit.probes.architectures import parse_arch_args
        from audit.report.ci import junit_xml, markdown_summary, summary_line
        from audit.report.html import REPORT_FILES, write_report
        from audit.report.terminal import print_result
        from audit.rules.policy import load_policy, overridden
        from audit.schema import to_json

        chosen_logits = _renamed_logits_option(logits, old_output)
        inputs = _inputs(model, baseline, policy_path, data, arch, baseline_arch, calibration)
        for path in (json_path, junit):
            if path is not None:
                check_output_path(path, inputs)  # refuse a folder, a link, an input before an hour of probes
        if out is not None:
            check_output_folder(out, inputs, names=REPORT_FILES)
        probe_options = None
        if data is not None:
            probe_options = _probe_options(
                data=data, data_root=data_root, download=download, samples=samples, probes=probes, seed=seed,
                batch_size=batch_size, precision=precision, logits=chosen_logits, arch=arch, arch_args=arch_args,
                num_classes=num_classes, input_size=input_size, mean=mean, std=std, stored_uint8=stored_uint8,
                quiet=quiet,
                heatmap_samples=heatmap_samples,
                heatmap_step=heatmap_step,
                heatmap_budget=_finite(heatmap_budget, "--heatmap-budget"),
                heatmap_norm=_finite(heatmap_norm, "--heatmap-norm"),
                resize=resize,
                crop=crop,
                workers=workers,
                memory_budget=memory_budget,
                baseline_arch=baseline_arch,
                baseline_arch_args=parse_arch_args(baseline_arch_args) if baseline_arch_args else None,
            )  # fmt: skip
        # Flags override the policy file, through the same checks as its keys.
        flags = {
            "min_clean_accuracy": min_clean_accuracy,
            "max_hfer": max_hfer,
            "max_layer_hfer": max_layer_hfer,
            "min_ssr": min_ssr,
            "fail_on": fail_on.value if fail_on is not None else None,
            "gate_mode": gate_mode.value if gate_mode is not None else None,
        }
        policy = overridden(load_policy(policy_path), flags)
        result = run_audit(
            model,
            baseline=baseline,
            settings=_settings(hfer_cutoff, fft_size, rings),
            device=device.value,
            trust_code=trust_code,
            checkpoint_key=checkpoint_key,
            probes=probe_options,
            policy=policy,
            command=_command_line(),
            match_mode=match.value,
            calibration_path=calibration,
            options=FLAGS,
        )
        gates = result.gates
        assert gates is not None  # the command line always passes a policy
        also = [(json_path, to_json(result))] if json_path is not None else []
        also += [(junit, junit_xml(gates))] if junit is not None else []
        written = _write_outputs(functools.partial(write_report, options=FLAGS), result, out, html, pdf, also)
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            append_text(os.environ["GITHUB_STEP_SUMMARY"], markdown_summary(result, gates), "GITHUB_STEP_SUMMARY")
        print_result(result, stdout)
        _report_written(written)
        for note in gates.notes:
            stdout.print(f"Note: {note}.", style="yellow", markup=False, highlight=False)
        stdout.print(
            summary_line(gates),
            style="bold green" if gates.passed else "bold red",
            markup=False,
            highlight=False,
        )
        return 0 if gates.passed else EXIT_GATE_FAILED

    _guarded(action, debug)


def _write_outputs(
    write_report_into: Callable[..., list[Path]],
    result: Any,
    out: Path | None,
    html: bool,
    pdf: bool,
    also: list[Any],
) -> list[Path]:
    """The report folder (with --out) and the other outputs (``also``: --json, --junit),
    replaced together or not at all; returns what was written."""
    from audit.io import write_all_atomic

    if out is not None:
        return write_report_into(result, out, html=html, pdf=pdf, also=also)
    write_all_atomic(also)
    return [Path(p) for p, _ in also]


def _inputs(*given: Any) -> list[Path]:
    """The files a run reads (models, baselines, a policy, data, an architecture file), for
    refusing an output that would replace one; folders contribute the files inside them."""
    found: list[Path] = []
    for item in given:
        if item is None:
            continue
        text = str(item)
        candidates = [Path(text)] + ([Path(text.rpartition(":")[0])] if ":" in text else [])  # --arch FILE.py:Class
        for path in candidates:
            if path.is_dir():
                found += [p for p in path.iterdir() if p.is_file()]
            elif path.is_file():
                found.append(path)
    return found


def _renamed_logits_option(logits: Optional[str], old_output: Optional[str]) -> Optional[str]:
    """``--output`` picked the logits before 0.2; it is kept as a hidden alias, but a value
    that looks like a file was surely meant as one, and would silently write nothing."""
    if old_output is None:
        return logits
    if old_output.lower().endswith((".json", ".html", ".pdf", ".xml")) or os.sep in old_output:
        raise AuditError(
            f"--output {old_output} does not write a file: it chose the model output that holds the logits, "
            "and is now called --logits. Write the JSON result with --json PATH, the report with --out DIR."
        )
    stderr.print("note: --output is now called --logits (which model output holds the logits).", highlight=False)
    return logits or old_output


@app.command("profile", cls=_Command, short_help="Save a spectral profile to use as a baseline.")
def profile_command(
    model: ModelPath,
    json_path: Annotated[
        Optional[Path],
        typer.Option("--json", metavar="PATH", help="Where to write the profile JSON.", show_default=False),
    ] = None,
    old_output: Annotated[Optional[Path], typer.Option("--output", "-o", hidden=True)] = None,
    hfer_cutoff: Cutoff = 0.25,
    fft_size: FftSize = None,
    rings: Rings = False,
    device: DeviceOption = Device.auto,
    trust_code: TrustCode = False,
    checkpoint_key: CheckpointKey = None,
    debug: Debug = False,
) -> None:
    """Save a model's spectral profile as JSON, to use later as --baseline.

    Keep the profile of the last release instead of its weights:
    spectral-audit profile release.pt --json release.json, then
    spectral-audit candidate.pt --baseline release.json.
    """

    def action() -> int:
        from audit.api import build_profile, save_result
        from audit.io import check_output_path

        path = json_path
        if path is None and old_output is not None:
            stderr.print(
                "note: profile -o/--output is now --json PATH (-o names a report folder elsewhere).", highlight=False
            )
            path = old_output
        if path is None:
            raise AuditError("profile needs --json PATH: where to write the profile.")
        check_output_path(path, _inputs(model))
        result = build_profile(
            model,
            settings=_settings(hfer_cutoff, fft_size, rings),
            device=device.value,
            trust_code=trust_code,
            checkpoint_key=checkpoint_key,
            command=_command_line(),
            options=FLAGS,
        )
        save_result(result, path)
        summary = result.spectral.summary
        described = (
            f" ({summary.layers} conv layers, network HFER {summary.hfer:.3f})" if summary.hfer is not None else ""
        )
        stdout.print(printable(f"Profile of {model}{described} written to {path}"), markup=False, highlight=False)
        return 0

    _guarded(action, debug)


@app.command("report", cls=_Command, short_help="Re-render a report from a saved result.")
def report_command(
    result_json: Annotated[
        Path, typer.Argument(metavar="RESULT_JSON", help="A result written by --json or --out.", show_default=False)
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", metavar="DIR", help="Folder for report.html and report.pdf.", show_default=False),
    ],
    pdf: Pdf = True,
    html: Html = True,
    debug: Debug = False,
) -> None:
    """Re-render the HTML/PDF report from a saved JSON result, without the model."""

    def action() -> int:
        from audit.api import load_result
        from audit.report.html import write_report

        _report_written(write_report(load_result(result_json), out, html=html, pdf=pdf, json=False, options=FLAGS))
        return 0

    _guarded(action, debug)


@app.command("track", cls=_Command, short_help="Spectra over the checkpoints of a run.")
def track_command(
    checkpoints: Annotated[
        list[Path],
        typer.Argument(
            metavar="CHECKPOINTS",
            help="Checkpoint files of one training run, or a folder of them.",
            show_default=False,
        ),
    ],
    order: Annotated[
        Order,
        typer.Option(
            "--order",
            metavar="[auto|given]",
            help="auto: each checkpoint's epoch/global_step/step key, else an explicit pattern in its name "
            "(epoch_07, ep12, step=3000), else the file order; given: keep the order on the command line.",
        ),
    ] = Order.auto,
    paper: Annotated[
        bool,
        typer.Option(
            "--paper",
            help="Also the seed paper's own SSR protocol: the first conv layer only, against the epoch-1 "
            "checkpoint, with its radial binning and compute_ssr.",
        ),
    ] = False,
    match: MatchOption = Match.full,
    out: OutDir = None,
    json_path: JsonPath = None,
    pdf: Pdf = True,
    html: Html = True,
    hfer_cutoff: Cutoff = 0.25,
    fft_size: FftSize = None,
    rings: Rings = False,
    device: DeviceOption = Device.auto,
    trust_code: TrustCode = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """How the weights' frequencies evolve over training: HFER per checkpoint and the
    SSR against the first checkpoint; with --paper, the seed paper's own protocol too.

    spectral-audit track runs/exp1/ --out evolution/
    """

    def action() -> int:
        from audit.api import run_track
        from audit.io import check_output_folder, check_output_path
        from audit.report.html import TRACK_FILES, write_track_report
        from audit.report.terminal import track_caption, track_table
        from audit.rules.verdict import track_verdict
        from audit.schema import to_json

        inputs = _inputs(*checkpoints)
        if json_path is not None:
            check_output_path(json_path, inputs)
        if out is not None:
            check_output_folder(out, inputs, names=TRACK_FILES)
        result = run_track(
            checkpoints,
            order="given" if order == Order.given else "auto",
            settings=_settings(hfer_cutoff, fft_size, rings),
            device=device.value,
            trust_code=trust_code,
            command=_command_line(),
            match_mode=match.value,
            paper=paper,
        )
        stdout.print(track_table(result))
        for line in track_caption(result):
            stdout.print(f"  [dim]{escape(line)}[/dim]", highlight=False)
        also = [(json_path, to_json(result))] if json_path is not None else []
        written = _write_outputs(write_track_report, result, out, html, pdf, also)
        _report_written(written)
        stdout.print(track_verdict(result), markup=False, highlight=False)
        return 0

    _guarded(action, debug)


@app.command("zoo", cls=_Command, short_help="Which spectral statistic predicts which probe, on your models.")
def zoo_command(
    checkpoints: Annotated[
        list[Path],
        typer.Argument(
            metavar="CHECKPOINTS",
            help="Checkpoints of the zoo (at least 3; files or folders of them), ideally of one architecture.",
            show_default=False,
        ),
    ],
    data: DataOption = None,
    init_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--init-dir",
            metavar="DIR",
            help="A folder with each model's initial weights under the same file name: adds SSR against "
            "initialisation to the statistics.",
        ),
    ] = None,
    cache: Annotated[
        Optional[Path],
        typer.Option(
            "--cache",
            metavar="DIR",
            help="Keep each model's audit in DIR; a rerun audits only new or changed checkpoints.",
        ),
    ] = None,
    recipes: Annotated[
        Optional[Path],
        typer.Option(
            "--recipes",
            metavar="FILE",
            help="JSON object: model name (file name without suffix) -> how it was trained; copied into the table.",
        ),
    ] = None,
    resamples: Annotated[
        int,
        typer.Option("--resamples", metavar="N", min=100, max=100000, help="Bootstrap resamples per interval."),
    ] = 2000,
    out: OutDir = None,
    json_path: JsonPath = None,
    pdf: Pdf = True,
    html: Html = True,
    hfer_cutoff: Cutoff = 0.25,
    device: DeviceOption = Device.auto,
    trust_code: TrustCode = False,
    data_root: DataRoot = None,
    download: Download = True,
    samples: Samples = None,
    probes: ProbesOption = "default",
    seed: Seed = 0,
    batch_size: BatchSize = None,
    resize: Resize = None,
    crop: Crop = None,
    workers: Workers = None,
    memory_budget: MemoryBudget = None,
    precision: PrecisionOption = Precision.fp32,
    logits: Logits = None,
    arch: Arch = None,
    arch_args: ArchArgs = None,
    num_classes: NumClasses = None,
    input_size: InputSize = None,
    mean: Mean = None,
    std: Std = None,
    stored_uint8: StoredUint8 = True,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Calibrate the spectral warnings on your own models: audit every checkpoint (spectral
    statistics and the probes), then rank-correlate each statistic with each probe's drop
    (Spearman, bootstrap 95% intervals, across models and within architectures).

    \b
    spectral-audit zoo runs/*/final.pt --arch models/net.py:Net \\
        --data cifar10 --out zoo/
    spectral-audit zoo checkpoints/ --data cifar10-sample \\
        --probes default,cifar10-c --cache zoo/cache
    """

    def action() -> int:
        import json as json_module

        from audit.api import run_zoo
        from audit.io import check_output_folder, check_output_path, read_text
        from audit.report.html import ZOO_FILES, write_zoo_report
        from audit.report.zoo import headline, zoo_table
        from audit.schema import to_json

        if data is None:
            raise AuditError("zoo needs accuracy drops to correlate with: pass --data (e.g. --data cifar10-sample).")
        inputs = _inputs(*checkpoints, init_dir, recipes, data, arch)
        if json_path is not None:
            check_output_path(json_path, inputs)
        if out is not None:
            check_output_folder(out, inputs, names=ZOO_FILES)
        named_recipes = None
        if recipes is not None:
            try:
                named_recipes = json_module.loads(read_text(recipes, "recipes file", 64 << 20))
            except ValueError as error:
                raise AuditError(f"{recipes}: not valid JSON ({error}).")
            if not isinstance(named_recipes, dict) or not all(isinstance(v, dict) for v in named_recipes.values()):
                raise AuditError(f"{recipes}: expected a JSON object of model name -> recipe object.")
        options = _probe_options(
            data=data, data_root=data_root, download=download, samples=samples, probes=probes, seed=seed,
            batch_size=batch_size, precision=precision, logits=logits, arch=arch, arch_args=arch_args,
            num_classes=num_classes, input_size=input_size, mean=mean, std=std, stored_uint8=stored_uint8,
            quiet=True,  # one progress line per model instead
            resize=resize, crop=crop, workers=workers, memory_budget=memory_budget,
        )  # fmt: skip

        timings: list[float] = []

        def report_model(index: int, total: int, name: str, seconds: float | None) -> None:
            if seconds is not None:
                timings.append(seconds)
            if quiet:
                return
            done = "from the cache" if seconds is None else f"audited in {seconds:.0f} s"
            eta = f", about {sum(timings) / len(timings) * (total - index):.0f} s left" if timings else ""
            stderr.print(f"zoo [{index}/{total}] {name}: {done}{eta}", markup=False, highlight=False, soft_wrap=True)

        result = run_zoo(
            checkpoints,
            probes=options,
            init_dir=init_dir,
            settings=_settings(hfer_cutoff, None, False),
            device=device.value,
            trust_code=trust_code,
            cache_dir=cache,
            recipes=named_recipes,
            resamples=resamples,
            command=_command_line(),
            on_model=report_model,
        )
        if any(c.within is not None for c in result.correlations):
            stdout.print(zoo_table(result))
        else:
            stdout.print("No correlation could be computed: the drops or the statistics do not vary across models.")
        for note in result.notes:
            stdout.print(f"  note: {escape(note)}", highlight=False)
        also = [(json_path, to_json(result))] if json_path is not None else []
        written = _write_outputs(write_zoo_report, result, out, html, pdf, also)
        _report_written(written)
        stdout.print(headline(result), markup=False, highlight=False)
        return 0

    _guarded(action, debug)


def run() -> None:
    """Run the command line (interrupt handlers are installed by ``audit.__main__``)."""
    app()
