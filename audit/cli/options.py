"""The command line's options, each declared once: its flag, its help, its range.

Options that several verbs share are ``Annotated`` types; options that travel together
(the probes', the gates', the spectral settings', the report's) are *flag groups*:
dataclasses whose fields are options. A command takes a group as one parameter,
:func:`with_flag_groups` lays its fields out as options for Typer and hands the command
the group back whole, which then builds the library's own object by keyword
(:meth:`ProbeFlags.options`, :meth:`GateFlags.policy`, :meth:`SpectralFlags.settings`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import typing
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer

from audit.errors import AuditError
from audit.formats import described

if TYPE_CHECKING:  # only for annotations: the command line imports torch when a command runs
    from audit.probes.stage import ProbeOptions
    from audit.rules.policy import Policy
    from audit.schema import SpectralSettings

PROBES_PANEL, GATES_PANEL = "Probes", "Gates"


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


HeatmapSamples = Annotated[
    int,
    typer.Option(
        "--heatmap-samples",
        metavar="N",
        min=1,
        rich_help_panel=PROBES_PANEL,
        help="Images used by the Fourier heat map.",
    ),
]

HeatmapStep = Annotated[
    Optional[int],
    typer.Option(
        "--heatmap-step",
        metavar="N",
        min=1,
        rich_help_panel=PROBES_PANEL,
        help="Fourier heat map: evaluate every N-th frequency per axis (1: all). Default: the finest step "
        "whose estimated time fits --heatmap-budget.",
    ),
]

HeatmapBudget = Annotated[
    float,
    typer.Option(
        "--heatmap-budget",
        metavar="SECONDS",
        min=1.0,
        rich_help_panel=PROBES_PANEL,
        help="Fourier heat map: the time it may take, estimated from the probes' measured speed; the "
        "frequency step is chosen to fit it (printed before it starts).",
    ),
]

HeatmapNorm = Annotated[
    Optional[float],
    typer.Option(
        "--heatmap-norm",
        metavar="L2",
        min=0.0,
        rich_help_panel=PROBES_PANEL,
        help="Fourier heat map: the perturbation's L2 norm. Default: Yin et al.'s 4 at 32 px and 15.7 at "
        "224 px, linear in the image side.",
    ),
]

PolicyPath = Annotated[
    Optional[Path],
    typer.Option(
        "--policy",
        metavar="FILE",
        rich_help_panel=GATES_PANEL,
        help="TOML policy of thresholds. Default: [tool.spectral-audit] in the nearest pyproject.toml.",
    ),
]

MinCleanAccuracy = Annotated[
    Optional[float],
    typer.Option(
        "--min-clean-accuracy",
        metavar="FRACTION",
        rich_help_panel=GATES_PANEL,
        help="Fail below this clean accuracy (fraction, e.g. 0.6).",
    ),
]

MaxHfer = Annotated[
    Optional[float],
    typer.Option("--max-hfer", metavar="HFER", rich_help_panel=GATES_PANEL, help="Fail above this network HFER."),
]

MaxLayerHfer = Annotated[
    Optional[float],
    typer.Option(
        "--max-layer-hfer", metavar="HFER", rich_help_panel=GATES_PANEL, help="Fail if any layer's HFER is above this."
    ),
]

MinSsr = Annotated[
    Optional[float],
    typer.Option(
        "--min-ssr",
        metavar="SSR",
        rich_help_panel=GATES_PANEL,
        help="Fail below this network SSR against the baseline.",
    ),
]

FailOnOption = Annotated[
    Optional[FailOn],
    typer.Option(
        "--fail-on",
        metavar="[error|warning|never]",
        rich_help_panel=GATES_PANEL,
        help="Finding severities that fail the run (default: error).",
    ),
]

GateModeOption = Annotated[
    Optional[GateMode],
    typer.Option(
        "--gate-mode",
        metavar="[significant|non-inferiority|point]",
        rich_help_panel=GATES_PANEL,
        help="Accuracy gates: significant (default) fails only when the whole 95% interval is past the limit; "
        "non-inferiority passes only when the whole interval is within it (a release gate that must show the "
        "model is no worse); point compares the measured values.",
    ),
]


# --- flag groups ----------------------------------------------------------------------------


class FlagGroup:
    """Marks a dataclass whose fields are command-line options that travel together."""


@dataclasses.dataclass(frozen=True)
class SpectralFlags(FlagGroup):
    """How spectra are measured (audit, profile, track)."""

    hfer_cutoff: Cutoff = 0.25
    fft_size: FftSize = None
    rings: Rings = False

    def settings(self) -> SpectralSettings:
        from audit.schema import SpectralSettings

        finite(self.hfer_cutoff, "--hfer-cutoff")
        if self.rings and self.fft_size is None:
            raise AuditError("--rings needs --fft-size N (rings have width 1/N).")
        return SpectralSettings(cutoff=self.hfer_cutoff, fft_size=self.fft_size, rings=self.rings)


@dataclasses.dataclass(frozen=True)
class ReportFlags(FlagGroup):
    """Where results go (audit, track, zoo): a report folder and a JSON file."""

    out: OutDir = None
    json_path: JsonPath = None
    pdf: Pdf = True
    html: Html = True

    def check(self, inputs: Sequence[Path], names: Sequence[str], *more: Path | None) -> None:
        """Refuse an output that is a folder, a link or one of the inputs before any work
        (an hour of probes); ``more``: other files the command writes (--junit)."""
        from audit.io import check_output_folder, check_output_path

        for path in (self.json_path, *more):
            if path is not None:
                check_output_path(path, inputs)
        if self.out is not None:
            check_output_folder(self.out, inputs, names=names)

    def write(self, write_report_into: Callable[..., list[Path]], result: Any, *also: Any) -> list[Path]:
        """The report folder (with --out), the --json file and the other outputs (``also``:
        (path, text) pairs such as --junit; a None path is skipped), replaced together or not
        at all; returns what was written."""
        from audit.io import write_all_atomic
        from audit.schema import to_json

        outputs = [(self.json_path, to_json(result))] if self.json_path is not None else []
        outputs += [item for item in also if item[0] is not None]
        if self.out is not None:
            return write_report_into(result, self.out, html=self.html, pdf=self.pdf, also=outputs)
        write_all_atomic(outputs)
        return [Path(path) for path, _ in outputs]


@dataclasses.dataclass(frozen=True)
class ProbeFlags(FlagGroup):
    """The robustness probes' options (audit and zoo): what data, how much, how run."""

    data: DataOption = None
    data_root: DataRoot = None
    download: Download = True
    samples: Samples = None
    probes: ProbesOption = "default"
    seed: Seed = 0
    batch_size: BatchSize = None
    resize: Resize = None
    crop: Crop = None
    workers: Workers = None
    memory_budget: MemoryBudget = None
    precision: PrecisionOption = Precision.fp32
    logits: Logits = None
    arch: Arch = None
    arch_args: ArchArgs = None
    num_classes: NumClasses = None
    input_size: InputSize = None
    mean: Mean = None
    std: Std = None
    stored_uint8: StoredUint8 = True

    def options(self, *, show_progress: bool, **more: Any) -> ProbeOptions:
        """The library's ProbeOptions, by keyword; ``more``: a verb's own probe options."""
        from audit.probes.architectures import parse_arch_args
        from audit.probes.stage import ProbeOptions

        if self.data is None:
            raise AuditError("the probes need data: pass --data (e.g. --data cifar10-sample).")
        fields = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        fields.update(
            data_root=str(self.data_root) if self.data_root else None,
            precision=self.precision.value,
            arch_args=parse_arch_args(self.arch_args),
            mean=floats(self.mean, "--mean"),
            std=floats(self.std, "--std"),
            memory_budget=finite(self.memory_budget, "--memory-budget"),
        )
        return ProbeOptions(**{**fields, **more}, show_progress=show_progress)


@dataclasses.dataclass(frozen=True)
class HeatmapFlags(FlagGroup):
    """The Fourier heat map's options (audit)."""

    heatmap_samples: HeatmapSamples = 256
    heatmap_step: HeatmapStep = None
    heatmap_budget: HeatmapBudget = 600.0
    heatmap_norm: HeatmapNorm = None

    def options(self) -> dict[str, Any]:
        """As ProbeOptions' keyword arguments."""
        return {
            "heatmap_samples": self.heatmap_samples,
            "heatmap_step": self.heatmap_step,
            "heatmap_budget": finite(self.heatmap_budget, "--heatmap-budget"),
            "heatmap_norm": finite(self.heatmap_norm, "--heatmap-norm"),
        }


@dataclasses.dataclass(frozen=True)
class GateFlags(FlagGroup):
    """The release gates (audit): a policy file, and flags that override its keys."""

    policy_path: PolicyPath = None
    min_clean_accuracy: MinCleanAccuracy = None
    max_hfer: MaxHfer = None
    max_layer_hfer: MaxLayerHfer = None
    min_ssr: MinSsr = None
    fail_on: FailOnOption = None
    gate_mode: GateModeOption = None

    def policy(self) -> Policy:
        """The policy file (or pyproject.toml's table) with the flags on top, each checked
        exactly as the same key in the file is: one constructor, one range check."""
        from audit.rules.policy import load_policy, overridden

        flags = {
            "min_clean_accuracy": self.min_clean_accuracy,
            "max_hfer": self.max_hfer,
            "max_layer_hfer": self.max_layer_hfer,
            "min_ssr": self.min_ssr,
            "fail_on": self.fail_on.value if self.fail_on is not None else None,
            "gate_mode": self.gate_mode.value if self.gate_mode is not None else None,
        }
        return overridden(load_policy(self.policy_path), flags)


Command = TypeVar("Command", bound=Callable[..., Any])


def with_flag_groups(command: Command) -> Command:
    """Lay out each flag-group parameter of ``command`` (one annotated with a FlagGroup
    dataclass) as that group's options, for Typer, which reads the signature; at run time
    the options are gathered back into the group and the command receives it whole."""
    signature = inspect.signature(command, eval_str=True)
    parameters: list[inspect.Parameter] = []
    groups: dict[str, tuple[type[Any], list[str]]] = {}
    for parameter in signature.parameters.values():
        group = parameter.annotation
        if not (isinstance(group, type) and issubclass(group, FlagGroup)):
            parameters.append(parameter)
            continue
        hints = typing.get_type_hints(group, include_extras=True)
        fields = dataclasses.fields(group)  # type: ignore[arg-type]
        groups[parameter.name] = (group, [field.name for field in fields])
        parameters += [
            inspect.Parameter(field.name, parameter.kind, default=field.default, annotation=hints[field.name])
            for field in fields
        ]
    names = [parameter.name for parameter in parameters]
    if len(names) != len(set(names)):
        raise TypeError(f"{command.__name__}: a flag group's option repeats a parameter name")

    @functools.wraps(command)
    def gathered(**arguments: Any) -> Any:
        for name, (group, fields) in groups.items():
            arguments[name] = group(**{field: arguments.pop(field) for field in fields})
        return command(**arguments)

    expanded = signature.replace(parameters=parameters)
    gathered.__signature__ = expanded  # type: ignore[attr-defined]
    gathered.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": signature.return_annotation}
    return typing.cast(Command, gathered)


# --- checks click does not make -------------------------------------------------------------


def finite(value: Optional[float], option: str) -> Optional[float]:
    """NaN and infinity pass click's range checks (every comparison with NaN is false), and
    a NaN std silently zeroes every drop: refuse them in every numeric option."""
    if value is not None and not math.isfinite(value):
        raise AuditError(f"{option} must be a finite number, got {value!r}.")
    return value


def floats(text: Optional[str], option: str) -> Optional[tuple[float, ...]]:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise AuditError(f"{option} expects comma-separated numbers, e.g. 0.4914,0.4822,0.4465; got {text!r}.")
    for value in values:
        finite(value, option)
    return values


def option_spellings(app: typer.Typer) -> dict[str, str]:
    """How the library's option names (``{data}`` in a hint) are spelled on this command
    line: every option's parameter name -> its long flag, read from the commands
    themselves, so a hint can only name an option that exists."""
    import typer.main

    group = typer.main.get_command(app)
    spelled: dict[str, str] = {}
    for command in getattr(group, "commands", {}).values():
        for parameter in command.params:
            if parameter.param_type_name != "option" or getattr(parameter, "hidden", False) or not parameter.name:
                continue
            long = [flag for flag in parameter.opts if flag.startswith("--")]
            if long:
                spelled.setdefault(parameter.name, long[0])
    return spelled


def inputs(*given: Any) -> list[Path]:
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
