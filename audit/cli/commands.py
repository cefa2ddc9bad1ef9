"""The verbs of ``spectral-audit``: each parses its options, calls one library function
and prints what came back. ``spectral-audit MODEL ...`` is short for
``spectral-audit audit MODEL ...``.

Only the standard library, typer and rich are imported at the top: torch and the rest come
in when a command runs, inside :func:`_guarded`, so ``--help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from audit.cli import guard
from audit.cli.guard import EXIT_BAD_INPUT, EXIT_GATE_FAILED, print_error, stderr, stdout
from audit.cli.options import (
    PROBES_PANEL,
    CheckpointKey,
    Cutoff,
    Debug,
    Device,
    DeviceOption,
    GateFlags,
    HeatmapFlags,
    Html,
    Match,
    MatchOption,
    ModelPath,
    Order,
    Pdf,
    ProbeFlags,
    Quiet,
    ReportFlags,
    SpectralFlags,
    TrustCode,
    inputs,
    option_spellings,
    with_flag_groups,
)
from audit.errors import AuditError, printable
from audit.formats import described


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
            print_error(f"{error.format_message()} (see {command} --help)")
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


def _guarded(action: Callable[[], int | None], debug: bool) -> None:
    guard.guarded(action, debug, FLAGS)


def _command_line() -> list[str]:
    return ["spectral-audit", *sys.argv[1:]]


def _report_written(paths: Sequence[Path]) -> None:
    for path in paths:
        stdout.print(f"wrote {printable(str(path))}", markup=False, highlight=False)


@app.command("audit", cls=_Command, short_help="Audit a checkpoint (the default command).")
@with_flag_groups
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
    report: ReportFlags = ReportFlags(),
    spectral: SpectralFlags = SpectralFlags(),
    device: DeviceOption = Device.auto,
    trust_code: TrustCode = False,
    checkpoint_key: CheckpointKey = None,
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
    probe: ProbeFlags = ProbeFlags(),
    old_output: Annotated[Optional[str], typer.Option("--output", hidden=True)] = None,
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
    heatmap: HeatmapFlags = HeatmapFlags(),
    gates: GateFlags = GateFlags(),
    junit: Annotated[
        Optional[Path],
        typer.Option(
            "--junit", metavar="PATH", rich_help_panel="Gates", help="Write JUnit XML, one test case per gate."
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
        from audit.io import append_text
        from audit.probes.architectures import parse_arch_args
        from audit.report.ci import junit_xml, markdown_summary, summary_line
        from audit.report.html import REPORT_FILES, write_report
        from audit.report.terminal import print_result

        logits = _renamed_logits_option(probe.logits, old_output)
        read = inputs(model, baseline, gates.policy_path, probe.data, probe.arch, baseline_arch, calibration)
        report.check(read, REPORT_FILES, junit)
        probe_options = None
        if probe.data is not None:
            probe_options = probe.options(
                show_progress=not quiet,
                logits=logits,
                baseline_arch=baseline_arch,
                baseline_arch_args=parse_arch_args(baseline_arch_args) if baseline_arch_args else None,
                **heatmap.options(),
            )
        result = run_audit(
            model,
            baseline=baseline,
            settings=spectral.settings(),
            device=device.value,
            trust_code=trust_code,
            checkpoint_key=checkpoint_key,
            probes=probe_options,
            policy=gates.policy(),
            command=_command_line(),
            match_mode=match.value,
            calibration_path=calibration,
            options=FLAGS,
        )
        verdicts = result.gates
        assert verdicts is not None  # the command line always passes a policy
        write_into = functools.partial(write_report, options=FLAGS)
        junit_output = (junit, junit_xml(verdicts)) if junit is not None else (None, "")
        written = report.write(write_into, result, junit_output)
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            summary = markdown_summary(result, verdicts)
            append_text(os.environ["GITHUB_STEP_SUMMARY"], summary, "GITHUB_STEP_SUMMARY")
        print_result(result, stdout)
        _report_written(written)
        for note in verdicts.notes:
            stdout.print(f"Note: {note}.", style="yellow", markup=False, highlight=False)
        style = "bold green" if verdicts.passed else "bold red"
        stdout.print(summary_line(verdicts), style=style, markup=False, highlight=False)
        return 0 if verdicts.passed else EXIT_GATE_FAILED

    _guarded(action, debug)


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
@with_flag_groups
def profile_command(
    model: ModelPath,
    json_path: Annotated[
        Optional[Path],
        typer.Option("--json", metavar="PATH", help="Where to write the profile JSON.", show_default=False),
    ] = None,
    old_output: Annotated[Optional[Path], typer.Option("--output", "-o", hidden=True)] = None,
    spectral: SpectralFlags = SpectralFlags(),
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
        check_output_path(path, inputs(model))
        result = build_profile(
            model,
            settings=spectral.settings(),
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
@with_flag_groups
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
    report: ReportFlags = ReportFlags(),
    spectral: SpectralFlags = SpectralFlags(),
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
        from audit.report.html import TRACK_FILES, write_track_report
        from audit.report.terminal import track_caption, track_table
        from audit.rules.verdict import track_verdict

        report.check(inputs(*checkpoints), TRACK_FILES)
        result = run_track(
            checkpoints,
            order="given" if order == Order.given else "auto",
            settings=spectral.settings(),
            device=device.value,
            trust_code=trust_code,
            command=_command_line(),
            match_mode=match.value,
            paper=paper,
        )
        stdout.print(track_table(result))
        for line in track_caption(result):
            stdout.print(f"  [dim]{escape(line)}[/dim]", highlight=False)
        _report_written(report.write(write_track_report, result))
        stdout.print(track_verdict(result), markup=False, highlight=False)
        return 0

    _guarded(action, debug)


@app.command("zoo", cls=_Command, short_help="Which spectral statistic predicts which probe, on your models.")
@with_flag_groups
def zoo_command(
    checkpoints: Annotated[
        list[Path],
        typer.Argument(
            metavar="CHECKPOINTS",
            help="Checkpoints of the zoo (at least 3; files or folders of them), ideally of one architecture.",
            show_default=False,
        ),
    ],
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
    report: ReportFlags = ReportFlags(),
    hfer_cutoff: Cutoff = 0.25,
    device: DeviceOption = Device.auto,
    trust_code: TrustCode = False,
    probe: ProbeFlags = ProbeFlags(),
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
        from audit.api import run_zoo
        from audit.report.html import ZOO_FILES, write_zoo_report
        from audit.report.zoo import headline, zoo_table

        if probe.data is None:
            raise AuditError("zoo needs accuracy drops to correlate with: pass --data (e.g. --data cifar10-sample).")
        report.check(inputs(*checkpoints, init_dir, recipes, probe.data, probe.arch), ZOO_FILES)
        named_recipes = _recipes(recipes) if recipes is not None else None
        options = probe.options(show_progress=False)  # one progress line per model instead
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
            settings=SpectralFlags(hfer_cutoff=hfer_cutoff).settings(),
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
        _report_written(report.write(write_zoo_report, result))
        stdout.print(headline(result), markup=False, highlight=False)
        return 0

    _guarded(action, debug)


def _recipes(path: Path) -> dict[str, Any]:
    """The --recipes file: model name -> how it was trained."""
    import json

    from audit.io import read_text

    try:
        named = json.loads(read_text(path, "recipes file", 64 << 20))
    except ValueError as error:
        raise AuditError(f"{path}: not valid JSON ({error}).")
    if not isinstance(named, dict) or not all(isinstance(v, dict) for v in named.values()):
        raise AuditError(f"{path}: expected a JSON object of model name -> recipe object.")
    return named


# How the library's option names (in error hints: {data}) are spelled on this command line.
FLAGS = option_spellings(app)


def run() -> None:
    """Run the command line (interrupt handlers are installed by ``audit.__main__``)."""
    app()
