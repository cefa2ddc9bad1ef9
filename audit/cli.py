"""The ``spectral-audit`` command: parse options, call one library function, print.

``spectral-audit MODEL ...`` is short for ``spectral-audit audit MODEL ...``.
Exit codes: 0 success (every gate passed), 1 a gate failed, 2 bad input or usage,
130 interrupted.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from audit.errors import AuditError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

stdout = Console()
stderr = Console(stderr=True)


class _DefaultToAudit(TyperGroup):
    """Route ``spectral-audit MODEL`` to the ``audit`` verb (click groups want a verb first)."""

    def parse_args(self, ctx, args):
        group_options = {"--help", "-h", "--version", "--install-completion", "--show-completion"}
        if args and args[0] not in self.commands and args[0] not in group_options:
            args = ["audit", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DefaultToAudit,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    help=(
        "Frequency-domain audit of trained CNN checkpoints.\n\n"
        "[bold]spectral-audit MODEL[/bold] loads a checkpoint (state_dict .pt/.pth/.bin, "
        "Lightning .ckpt, TorchScript, torch.export .pt2, .safetensors, .onnx), measures the "
        "radial spectrum of every conv kernel and its high-frequency energy ratio (HFER), "
        "and compares it with a baseline as the Spectral Suppression Ratio "
        "SSR = HFER(baseline) / HFER(model): above 1 the model is more low-pass.\n\n"
        "With --data it also measures accuracy under noise, blur, low resolution and Fourier "
        "filtering; --out writes an HTML and PDF report; gates (--policy, --max-hfer...) set "
        "the exit code: 0 pass, 1 a gate failed, 2 bad input.\n\n"
        "Examples:\n\n"
        "  spectral-audit model.pt\n\n"
        "  spectral-audit model.ts.pt --baseline last_release.pt --data cifar10 --out audit/\n\n"
        "  spectral-audit weights.pt --arch torchvision:resnet18 --num-classes 10 --data cifar10-sample\n\n"
        "  spectral-audit profile last_release.pt -o ref.json; spectral-audit model.pt -b ref.json\n\n"
        "  spectral-audit track runs/exp1/ --out evolution/\n\n"
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


def _floats(text: Optional[str], option: str) -> Optional[tuple[float, ...]]:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise AuditError(f"{option} expects comma-separated numbers, e.g. 0.4914,0.4822,0.4465; got {text!r}.")


def _version(value: bool) -> None:
    if value:
        from audit import __version__

        stdout.print(f"spectral-audit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Frequency-domain audit of trained CNN checkpoints."""


def _guarded(action: Callable[[], int | None], debug: bool) -> None:
    """Run ``action``; turn user errors into one line on stderr and an exit code."""
    try:
        code = action() or 0
    except AuditError as error:
        if debug:
            raise
        stderr.print(f"[bold red]error:[/bold red] {escape(str(error))}", highlight=False, soft_wrap=True)
        code = error.exit_code
    except KeyboardInterrupt:
        stderr.print("interrupted; nothing was written.")
        code = EXIT_INTERRUPTED
    except Exception as error:  # a bug or an input we failed to foresee: still no traceback
        if debug:
            raise
        stderr.print(
            f"[bold red]error:[/bold red] unexpected {type(error).__name__}: {escape(str(error))} "
            "(re-run with --debug for the traceback, and please report it)",
            highlight=False, soft_wrap=True,
        )
        code = EXIT_BAD_INPUT
    raise typer.Exit(code)


def _settings(hfer_cutoff: float, fft_size: Optional[int], rings: bool):
    from audit.profile import SpectralSettings

    if rings and fft_size is None:
        raise AuditError("--rings needs --fft-size N (rings have width 1/N).")
    return SpectralSettings(cutoff=hfer_cutoff, fft_size=fft_size, rings=rings)


MODEL_HELP = "Checkpoint: .pt/.pth/.bin/.ckpt, TorchScript, torch.export .pt2, .safetensors or .onnx."
CUTOFF_OPTION = typer.Option(
    0.25, "--hfer-cutoff", min=0.0, max=0.7071, help="HFER counts energy at radius > this, in cycles/pixel (0.25 = half Nyquist)."
)
FFT_OPTION = typer.Option(
    None, "--fft-size", min=2, max=512, metavar="N",
    help="Zero-pad kernels to an NxN grid to sample their frequency response finely. Default: the kernel's own grid.",
)
RINGS_OPTION = typer.Option(False, "--rings", help="With --fft-size N, bin radii into rings of width 1/N instead of distinct radii.")
DEVICE_OPTION = typer.Option(Device.auto, "--device", help="Where to compute: auto uses CUDA when there is a GPU.")
PICKLE_OPTION = typer.Option(
    False, "--allow-pickle",
    help="Allow unpickling Python objects (whole nn.Module files). [bold]This runs code from the file[/bold]: only for files you trust. Off: torch.load(weights_only=True).",
)
KEY_OPTION = typer.Option(
    None, "--checkpoint-key", metavar="KEY",
    help="Entry of a checkpoint dict holding the weights (e.g. ema, or state_dict_ema). Default: state_dict, model_state_dict, model, net… whichever is there.",
)
DEBUG_OPTION = typer.Option(False, "--debug", help="Show the full traceback on errors.")
PDF_OPTION = typer.Option(True, "--pdf/--no-pdf", help="With --out: write the PDF.")
HTML_OPTION = typer.Option(True, "--html/--no-html", help="With --out: write the HTML.")


@app.command("audit")
def audit_command(
    model: Path = typer.Argument(..., help=MODEL_HELP, show_default=False),
    baseline: str = typer.Option(
        "white-noise", "--baseline", "-b", metavar="REF",
        help="Compare with: white-noise (expected spectrum of i.i.d. weights), another checkpoint, or a JSON profile/result.",
    ),
    json_path: Optional[Path] = typer.Option(None, "--json", metavar="PATH", help="Write the result as JSON (schema_version 1)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="DIR", help="Write DIR/report.html, DIR/report.pdf and DIR/result.json."),
    pdf: bool = PDF_OPTION,
    html: bool = HTML_OPTION,
    hfer_cutoff: float = CUTOFF_OPTION,
    fft_size: Optional[int] = FFT_OPTION,
    rings: bool = RINGS_OPTION,
    device: Device = DEVICE_OPTION,
    allow_pickle: bool = PICKLE_OPTION,
    checkpoint_key: Optional[str] = KEY_OPTION,
    data: Optional[str] = typer.Option(
        None, "--data", metavar="NAME|PATH", rich_help_panel="Probes",
        help="Run the robustness probes on: cifar10, cifar10-sample (bundled, offline), cifar100, svhn, mnist, fashion-mnist, an .npz (images, labels) or an image folder (one sub-folder per class).",
    ),
    data_root: Optional[Path] = typer.Option(None, "--data-root", metavar="DIR", rich_help_panel="Probes", help="Where torchvision data sets are (and are downloaded to). Default: $SPECTRAL_AUDIT_DATA or ~/.cache/torch/datasets."),
    download: bool = typer.Option(True, "--download/--no-download", rich_help_panel="Probes", help="Download a missing torchvision data set."),
    samples: Optional[int] = typer.Option(None, "--samples", min=1, rich_help_panel="Probes", help="Evaluate a fixed, seeded subset of N images. Default: all on a GPU, 1000 on the CPU."),
    probes: str = typer.Option(
        "default", "--probes", rich_help_panel="Probes",
        help="Comma-separated probes or presets: default (gaussian_noise, gaussian_blur, low_resolution, low_pass, high_pass), cifar10-c (CIFAR-10-C severities 1-5), fourier_heatmap (heavy), or single names (noise, blur, lowres...).",
    ),
    seed: int = typer.Option(0, "--seed", rich_help_panel="Probes", help="Seed for the subset and the noise: the same command gives the same numbers."),
    batch_size: int = typer.Option(512, "--batch-size", min=1, rich_help_panel="Probes", help="Images per batch (halved automatically on CUDA out-of-memory)."),
    precision: Precision = typer.Option(Precision.fp32, "--precision", rich_help_panel="Probes", help="Inference precision; bf16/fp16 need CUDA."),
    output: Optional[str] = typer.Option(None, "--output", metavar="NAME|INDEX", rich_help_panel="Probes", help="Which model output holds the logits when it returns several (tuple index or dict key)."),
    arch: Optional[str] = typer.Option(None, "--arch", rich_help_panel="Probes", help="Architecture for a weights-only checkpoint: torchvision:resnet18, my_pkg.models:Net or models/net.py:Net."),
    arch_args: Optional[str] = typer.Option(None, "--arch-args", metavar="K=V,...", rich_help_panel="Probes", help="Constructor arguments for --arch, e.g. width=64,num_classes=10."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", min=1, rich_help_panel="Probes", help="num_classes for --arch."),
    input_size: Optional[int] = typer.Option(None, "--input-size", min=1, rich_help_panel="Probes", help="Resize images to N x N once, before probing."),
    mean: Optional[str] = typer.Option(None, "--mean", metavar="M1,M2,M3", rich_help_panel="Probes", help="Normalisation mean (default: the data set's preset)."),
    std: Optional[str] = typer.Option(None, "--std", metavar="S1,S2,S3", rich_help_panel="Probes", help="Normalisation std (default: the data set's preset)."),
    heatmap_samples: int = typer.Option(256, "--heatmap-samples", min=1, rich_help_panel="Probes", help="Images used by the Fourier heat map."),
    policy_path: Optional[Path] = typer.Option(None, "--policy", metavar="FILE", rich_help_panel="Gates", help="TOML policy of thresholds. Default: [tool.spectral-audit] of the nearest pyproject.toml."),
    min_clean_accuracy: Optional[float] = typer.Option(None, "--min-clean-accuracy", rich_help_panel="Gates", help="Fail below this clean accuracy (fraction, e.g. 0.6)."),
    max_hfer: Optional[float] = typer.Option(None, "--max-hfer", rich_help_panel="Gates", help="Fail above this network HFER."),
    max_layer_hfer: Optional[float] = typer.Option(None, "--max-layer-hfer", rich_help_panel="Gates", help="Fail if any layer's HFER is above this."),
    min_ssr: Optional[float] = typer.Option(None, "--min-ssr", rich_help_panel="Gates", help="Fail below this network SSR against the baseline."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", rich_help_panel="Gates", help="Finding severities that fail the run (default: error)."),
    junit: Optional[Path] = typer.Option(None, "--junit", metavar="PATH", rich_help_panel="Gates", help="Write JUnit XML, one test case per gate."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary and verdict, not the per-layer table."),
    debug: bool = DEBUG_OPTION,
) -> None:
    """Spectra of every conv layer, HFER and SSR against a baseline; robustness probes with --data.

    Without --data the audit is data-free: it needs only the weights.
    """

    def action() -> int:
        from audit.api import ProbeOptions, run_audit
        from audit.architectures import parse_arch_args
        from audit.gates import EXIT_GATE_FAILED, EXIT_PASSED, junit_xml, load_policy, markdown_summary, summary_line
        from audit.report import write_report
        from audit.result import save_result, write_atomic
        from audit.terminal import print_result

        probe_options = None
        if data is not None:
            probe_options = ProbeOptions(
                data=data, data_root=str(data_root) if data_root else None, download=download,
                samples=samples, probes=probes, seed=seed, batch_size=batch_size,
                precision=precision.value, output=output, arch=arch, arch_args=parse_arch_args(arch_args),
                num_classes=num_classes, input_size=input_size, mean=_floats(mean, "--mean"),
                std=_floats(std, "--std"), heatmap_samples=heatmap_samples, show_progress=not quiet,
            )
        policy = load_policy(policy_path)
        for key, value in (("min_clean_accuracy", min_clean_accuracy), ("max_hfer", max_hfer),
                           ("max_layer_hfer", max_layer_hfer), ("min_ssr", min_ssr)):
            if value is not None:
                setattr(policy, key, value)  # flags override the policy file
        if fail_on is not None:
            policy.fail_on = fail_on.value
        result = run_audit(
            model,
            baseline=baseline,
            settings=_settings(hfer_cutoff, fft_size, rings),
            device=device.value,
            allow_pickle=allow_pickle,
            checkpoint_key=checkpoint_key,
            probes=probe_options,
            policy=policy,
            command=["spectral-audit", *sys.argv[1:]],
        )
        written = write_report(result, out, html=html, pdf=pdf) if out is not None else []
        if json_path is not None:
            save_result(result, json_path)
            written.append(json_path)
        if junit is not None:
            write_atomic(junit, junit_xml(result.gates))
            written.append(junit)
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as stream:
                stream.write(markdown_summary(result, result.gates))
        print_result(result, stdout, show_layers=not quiet)
        for path in written:
            stdout.print(f"wrote {path}", markup=False)
        stdout.print(summary_line(result.gates), style="bold green" if result.gates.passed else "bold red",
                     markup=False, highlight=False)
        return EXIT_PASSED if result.gates.passed else EXIT_GATE_FAILED

    _guarded(action, debug)


@app.command("profile")
def profile_command(
    model: Path = typer.Argument(..., help=MODEL_HELP, show_default=False),
    output: Path = typer.Option(..., "--output", "-o", metavar="PATH", help="Where to write the profile JSON."),
    hfer_cutoff: float = CUTOFF_OPTION,
    fft_size: Optional[int] = FFT_OPTION,
    rings: bool = RINGS_OPTION,
    device: Device = DEVICE_OPTION,
    allow_pickle: bool = PICKLE_OPTION,
    checkpoint_key: Optional[str] = KEY_OPTION,
    debug: bool = DEBUG_OPTION,
) -> None:
    """Save a model's spectral profile as JSON, to use later as --baseline.

    Keep the profile of the last release instead of its weights:
    spectral-audit profile release.pt -o release.json, then
    spectral-audit candidate.pt --baseline release.json.
    """

    def action() -> int:
        from audit.api import build_profile
        from audit.result import save_result

        result = build_profile(
            model,
            settings=_settings(hfer_cutoff, fft_size, rings),
            device=device.value,
            allow_pickle=allow_pickle,
            checkpoint_key=checkpoint_key,
            command=["spectral-audit", *sys.argv[1:]],
        )
        save_result(result, output)
        summary = result.spectral.summary
        stdout.print(
            f"Profile of {model} ({summary.layers} conv layers, network HFER "
            f"{summary.hfer:.3f}) written to {output}" if summary.hfer is not None
            else f"Profile of {model} written to {output}"
        )
        return 0

    _guarded(action, debug)


@app.command("report")
def report_command(
    result_json: Path = typer.Argument(..., metavar="RESULT_JSON", help="A result written by --json or --out.", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", metavar="DIR", help="Folder for report.html and report.pdf."),
    pdf: bool = PDF_OPTION,
    html: bool = HTML_OPTION,
    debug: bool = DEBUG_OPTION,
) -> None:
    """Re-render the HTML/PDF report from a saved JSON result, without the model."""

    def action() -> int:
        from audit.report import write_report
        from audit.result import load_result

        for path in write_report(load_result(result_json), out, html=html, pdf=pdf, json=False):
            stdout.print(f"wrote {path}")
        return 0

    _guarded(action, debug)


class Order(str, Enum):
    epoch = "epoch"
    given = "given"


@app.command("track")
def track_command(
    checkpoints: list[Path] = typer.Argument(..., metavar="CHECKPOINTS...", help="Checkpoint files of one training run, or a folder of them.", show_default=False),
    order: Order = typer.Option(Order.epoch, "--order", help="epoch: sort by the epoch number in each file name; given: keep the order on the command line."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="DIR", help="Write DIR/track.html, DIR/track.pdf and DIR/track.json."),
    json_path: Optional[Path] = typer.Option(None, "--json", metavar="PATH", help="Write the evolution as JSON."),
    pdf: bool = PDF_OPTION,
    html: bool = HTML_OPTION,
    hfer_cutoff: float = CUTOFF_OPTION,
    fft_size: Optional[int] = FFT_OPTION,
    rings: bool = RINGS_OPTION,
    device: Device = DEVICE_OPTION,
    allow_pickle: bool = PICKLE_OPTION,
    debug: bool = DEBUG_OPTION,
) -> None:
    """How the weights' frequencies evolve over training: HFER per checkpoint and the
    seed paper's SSR against the first checkpoint (0 for the first).

    spectral-audit track runs/exp1/ --out evolution/
    """

    def action() -> int:
        from rich.table import Table

        from audit.api import run_track
        from audit.report import track_verdict, write_track_report

        result = run_track(
            checkpoints, order=order.value, settings=_settings(hfer_cutoff, fft_size, rings),
            device=device.value, allow_pickle=allow_pickle, command=["spectral-audit", *sys.argv[1:]],
        )
        table = Table(title="Weight-frequency evolution", header_style="bold")
        for column in ("epoch", "checkpoint", "HFER", "SSR vs first", "paper SSR vs first"):
            table.add_column(column, justify="left" if column == "checkpoint" else "right")
        number = lambda v, d=3: "—" if v is None else f"{v:.{d}f}"  # noqa: E731
        for point in result.points:
            table.add_row("—" if point.epoch is None else str(point.epoch), escape(Path(point.path).name),
                          number(point.hfer), number(point.ssr, 2), number(point.paper_ssr))
        stdout.print(table)
        written = write_track_report(result, out, html=html, pdf=pdf) if out is not None else []
        if json_path is not None:
            from audit.result import write_atomic
            from audit.tracking import track_json

            write_atomic(json_path, track_json(result))
            written.append(json_path)
        for path in written:
            stdout.print(f"wrote {path}", markup=False)
        stdout.print(track_verdict(result), markup=False)
        return 0

    _guarded(action, debug)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
