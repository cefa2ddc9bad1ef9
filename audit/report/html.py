"""The audit report: HTML (Jinja2, self-contained) and PDF (WeasyPrint) from a result.

The view data comes from :mod:`audit.report.view`; the templates in ``templates/``
(installed as the ``audit.templates`` package) only show it. Everything is rendered in
memory first and then written atomically, so a failure never leaves half a report where
a good one was.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from audit.errors import AuditError
from audit.io import check_output_folder, write_all_atomic
from audit.schema import AuditResult, TrackResult, ZooResult, to_json


def templates_folder() -> Path:
    """The installed ``audit.templates`` package (``templates/`` at the top of the repository)."""
    from importlib.resources import files

    try:
        folder = files("audit.templates")
    except ModuleNotFoundError:
        folder = None
    if folder is None or not folder.joinpath("report.html").is_file():
        raise AuditError("the report templates are missing from this installation; reinstall spectral-audit.")
    return Path(str(folder))


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(str(templates_folder())),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(result: AuditResult, options: Mapping[str, str] | None = None) -> str:
    """The report page; ``options`` spells the option names in its guide (the CLI's flags)."""
    from audit.report.view import report_context  # with the charts: matplotlib only when a report is made

    return _environment().get_template("report.html").render(**report_context(result, options))


def render_track_html(track: TrackResult) -> str:
    from audit.report.view import track_context

    return _environment().get_template("track.html").render(**track_context(track))


def render_zoo_html(zoo: ZooResult) -> str:
    from audit.report.zoo import zoo_context

    return _environment().get_template("zoo.html").render(**zoo_context(zoo))


def render_pdf(html: str) -> bytes:
    import logging

    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    return HTML(string=html, base_url=None).write_pdf()


def _write_rendered(
    folder: Path,
    stem: str,
    page: str | None,
    json_name: str,
    json_text: str,
    *,
    html: bool,
    pdf: bool,
    json: bool,
    extra: Sequence[tuple[str | os.PathLike[str], str | bytes]] = (),
) -> list[Path]:
    """Finish rendering (the PDF), then write each file atomically: STEM.html, STEM.pdf,
    ``json_name`` and any ``extra`` files. Nothing is written before everything has rendered."""
    outputs: list[tuple[Path, bytes]] = [(Path(p), c.encode() if isinstance(c, str) else c) for p, c in extra]
    if json:
        outputs.append((folder / json_name, json_text.encode()))
    if html or pdf:
        assert page is not None, "HTML and PDF are written from the rendered page"
        if html:
            outputs.append((folder / f"{stem}.html", page.encode()))
        if pdf:
            outputs.append((folder / f"{stem}.pdf", render_pdf(page)))
    write_all_atomic(outputs)
    return [path for path, _ in outputs]


REPORT_FILES = ("report.html", "report.pdf", "result.json")
TRACK_FILES = ("track.html", "track.pdf", "track.json")
ZOO_FILES = ("zoo.html", "zoo.pdf", "zoo.json", "zoo.md")

Outputs = Sequence[tuple[str | os.PathLike[str], str | bytes]]


def write_report(
    result: AuditResult,
    folder: str | os.PathLike[str],
    *,
    html: bool = True,
    pdf: bool = True,
    json: bool = True,
    also: Outputs = (),
    options: Mapping[str, str] | None = None,
) -> list[Path]:
    """Render, then write report.html, report.pdf and result.json into ``folder``, and the
    files ``also`` names (a --json or --junit elsewhere) with them; ``options`` as for
    :func:`render_html`.

    Nothing is written until everything has rendered; then every file is replaced, or
    none (:func:`audit.io.write_all_atomic`). Returns the paths written.
    """
    check_output_folder(folder, names=REPORT_FILES)
    page = render_html(result, options) if (html or pdf) else None
    return _write_rendered(
        Path(folder), "report", page, "result.json", to_json(result), html=html, pdf=pdf, json=json, extra=also
    )


def write_track_report(
    track: TrackResult,
    folder: str | os.PathLike[str],
    *,
    html: bool = True,
    pdf: bool = True,
    json: bool = True,
    also: Outputs = (),
) -> list[Path]:
    """track.html, track.pdf and track.json (and ``also``), rendered first, then written together."""
    check_output_folder(folder, names=TRACK_FILES)
    page = render_track_html(track) if (html or pdf) else None
    return _write_rendered(
        Path(folder), "track", page, "track.json", to_json(track), html=html, pdf=pdf, json=json, extra=also
    )


def write_zoo_report(
    zoo: ZooResult,
    folder: str | os.PathLike[str],
    *,
    html: bool = True,
    pdf: bool = True,
    json: bool = True,
    also: Outputs = (),
) -> list[Path]:
    """zoo.html, zoo.pdf, zoo.json and the Markdown summary zoo.md (and ``also``), rendered
    first, then written together."""
    from audit.report.zoo import zoo_markdown

    check_output_folder(folder, names=ZOO_FILES)
    page = render_zoo_html(zoo) if (html or pdf) else None
    summary = [(Path(folder) / "zoo.md", zoo_markdown(zoo).encode()), *also]
    return _write_rendered(
        Path(folder), "zoo", page, "zoo.json", to_json(zoo), html=html, pdf=pdf, json=json, extra=summary
    )
