"""The folder listing is the architecture: each stage imports only from stages before it,
and ``import audit`` (and the CLI module) imports no torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import audit

PACKAGE = Path(audit.__file__).resolve().parent

# The flow: foundation -> loading -> spectral -> probes -> rules (findings, forecasts from the
# bundled zoo studies, verdict, gates) -> zoo (a verb: the probes across many models) ->
# report -> entry points.
STAGES = [
    {"audit", "audit.errors", "audit.schema", "audit.io", "audit.formats"},
    {"audit.loading"},
    {"audit.spectral"},
    {"audit.probes"},
    {"audit.rules"},
    {"audit.zoo"},
    {"audit.report"},
    {"audit.api"},
    {"audit.cli", "audit.__main__"},
]


def stage_of(module: str) -> int:
    parts = module.split(".")
    for length in range(len(parts), 0, -1):
        prefix = ".".join(parts[:length])
        for index, stage in enumerate(STAGES):
            if prefix in stage:
                return index
    raise AssertionError(f"{module} belongs to no stage; add it to STAGES")


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        found.append((name, path))
    return found


def audit_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.startswith("audit")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("audit"):
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


@pytest.mark.parametrize("module,path", modules(), ids=[name for name, _ in modules()])
def test_imports_point_one_way(module, path):
    own = stage_of(module)
    for imported in audit_imports(path):
        if imported in ("audit.__version__",):
            continue
        target = stage_of(imported)
        assert target <= own, f"{module} (stage {own}) imports {imported} (stage {target}), a later stage"


def test_the_stage_list_covers_every_sub_package():
    packages = {f"audit.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    listed = set().union(*STAGES)
    assert packages <= listed | {"audit.templates"}


def test_import_audit_and_the_cli_module_import_no_torch():
    code = (
        "import sys, audit, audit.errors, audit.schema, audit.io, audit.cli; "
        "print(sorted(m for m in ('torch', 'numpy', 'weasyprint', 'matplotlib') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_a_data_free_audit_without_a_report_imports_no_matplotlib():
    """matplotlib (half a second of a 2.4 s run) draws reports: a data-free audit printed to
    the terminal, the commonest CI gate, does not import it."""
    model = Path(__file__).resolve().parent.parent / "sample_models" / "cifar_resnet8_l2.pt"
    code = (
        "import sys; from typer.testing import CliRunner; from audit.cli import app; "
        f"run = CliRunner().invoke(app, [{str(model)!r}, '-q']); print(run.exit_code, 'matplotlib' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["0", "False"]


def test_every_format_and_suffix_of_the_registry_is_in_the_docs_and_the_error_text():
    """Formats live in one table (audit/formats.py); what users read derives from it or is
    checked against it."""
    from audit.formats import CHECKPOINT_SUFFIXES, EXPECTED, FORMATS

    page = (Path(__file__).resolve().parent.parent / "docs" / "checkpoints.md").read_text()  # the checkout
    section = page[page.index("# Checkpoints it reads") : page.index("## Trust model")]
    for suffix in CHECKPOINT_SUFFIXES:
        assert f"`{suffix}`" in section, suffix
        assert suffix in EXPECTED, suffix
    for item in FORMATS:
        assert item.title in EXPECTED


def test_every_kind_of_finding_has_its_guide_entry():
    """A finding links to what it means and what to do (the report's guide): every id any
    rule raises is a kind in the registry (named by its constant, never a bare string),
    and no kind is left that nothing raises."""
    from audit.rules import kinds

    constants = {name: value for name, value in vars(kinds).items() if name.isupper() and isinstance(value, str)}
    assert set(constants.values()) == set(kinds.KINDS)
    raised, bare = set(), []
    for _, path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Finding" and node.args:
                first = node.args[0]
                for part in [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]:
                    if isinstance(part, ast.Attribute) and part.attr in constants:
                        raised.add(constants[part.attr])
                    else:
                        bare.append(ast.unparse(part))
    assert not bare, bare  # ids are the registry's constants
    assert {"chance-level-accuracy", "untrained-weights", "robustness-regression"} <= raised  # the scan works
    assert set(kinds.KINDS) <= raised, set(kinds.KINDS) - raised
    for kind in kinds.KINDS.values():
        assert kind.title and kind.meaning and kind.action


def _module_graph() -> dict[str, set[str]]:
    """Module -> the audit modules it imports anywhere (top level or inside a function)."""
    names = {name for name, _ in modules()}
    graph = {}
    for name, path in modules():
        imported = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                # "from audit.loading import sniff" imports the module sniff, not the package's __init__
                inner = [f"{node.module}.{alias.name}" for alias in node.names]
                imported += [m for m in inner if m in names] or [node.module]
        targets = set()
        for target in imported:
            while target and target not in names:
                target = target.rpartition(".")[0]
            if target and target.startswith("audit") and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def test_no_import_circles():
    """No module reaches itself through imports, deferred ones included: a circle means two
    modules hold one idea between them (the three there were: __main__/cli,
    probes/datasets/folders, report/charts/zoo)."""
    graph = _module_graph()
    circles = []
    for start in graph:
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for target in graph.get(node, ()):
                if target == start:
                    circles.append(" -> ".join([*path, start]))
                elif target not in seen and target != "audit":
                    seen.add(target)
                    stack.append((target, [*path, target]))
    assert not circles, circles[:5]


def test_every_sub_package_ships_in_the_wheel():
    """pyproject.toml lists the packages explicitly (templates/ ships as audit.templates):
    a new sub-package missing there would import here and be absent once installed."""
    from audit.rules.policy import tomllib  # tomllib, or tomli before Python 3.11

    checkout = Path(__file__).resolve().parent.parent  # the source tree, not the installed copy
    listed = set(tomllib.loads((checkout / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    source = checkout / "audit"
    packages = {"audit"} | {f"audit.{p.name}" for p in source.iterdir() if (p / "__init__.py").is_file()}
    assert packages <= listed, packages - listed


def test_every_format_has_one_reader():
    """A format is a line in audit/formats.py naming its module in audit/loading/, which
    recognises it and reads it; detection tries them in the table's order."""
    from audit.formats import FORMATS
    from audit.loading import READERS

    assert list(READERS) == [f.name for f in FORMATS]
    for item in FORMATS:
        module = READERS[item.name]
        assert module.__name__ == f"audit.loading.{item.reader}"
        assert callable(module.recognises) and callable(module.read), item.reader
