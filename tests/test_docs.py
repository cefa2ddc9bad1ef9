"""The documentation: every page is reachable, every link from the README lands, and the
command-line reference is generated from the program (so it names every option)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_docs_page_is_in_the_nav_and_every_readme_link_lands():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert pages == set(re.findall(r":\s+(\S+\.md)\s*$", nav, flags=re.M))
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]*)", readme)
    assert "docs/cli.md" in links
    for link in links:
        assert (ROOT / link).exists(), link


def test_the_command_line_reference_is_the_programs_help():
    sys.path.insert(0, str(ROOT / "docs" / "hooks"))
    try:
        import cli_reference
    finally:
        sys.path.pop(0)
    from audit.cli import FLAGS

    page = (ROOT / "docs" / "cli.md").read_text()
    rendered = cli_reference.on_page_markdown(page, None, None, None)
    assert cli_reference.MARKER in page and cli_reference.MARKER not in rendered
    for command in ("audit", "profile", "track", "zoo", "report"):
        assert f"## spectral-audit {command}" in rendered and f"Usage: spectral-audit {command}" in rendered
    for flag in FLAGS.values():
        assert flag in rendered, flag
