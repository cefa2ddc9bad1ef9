"""MkDocs hook: the command-line reference (docs/cli.md) from the program's own --help.

The page holds a marker; at build time it is replaced by the help of ``spectral-audit``
and of each of its commands, as a user's terminal prints it, so the reference cannot
drift from the options the program has.
"""

from __future__ import annotations

MARKER = "<!-- cli-reference -->"


def _help(arguments: list[str]) -> str:
    from typer.testing import CliRunner

    from audit.cli import app

    environment = {"COLUMNS": "96", "NO_COLOR": "1", "TERM": "dumb"}
    run = CliRunner().invoke(app, [*arguments, "--help"], env=environment, prog_name="spectral-audit")
    if run.exit_code != 0:
        raise RuntimeError(f"spectral-audit {' '.join(arguments)} --help failed: {run.output}")
    return run.output.rstrip()


def _commands() -> list[str]:
    import typer.main

    from audit.cli import app

    group = typer.main.get_command(app)
    return sorted(getattr(group, "commands", {}))


def reference() -> str:
    """Markdown: the program's help, then each command's, in fenced blocks."""
    parts = ["## spectral-audit\n\n```text\n" + _help([]) + "\n```\n"]
    for name in _commands():
        parts.append(f"## spectral-audit {name}\n\n```text\n" + _help([name]) + "\n```\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference())
