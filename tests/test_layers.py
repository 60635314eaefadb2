"""The layers stay honest: the import contract holds, and the engine neither renders nor prints.

The contract itself lives in pyproject.toml (``[tool.importlinter]``); scripts/check.sh runs
``lint-imports`` too, but running it here as well means that a plain ``pytest`` catches a layer
violation. The engine and the backends report through return values and callbacks only: the faces
(cli, api, web) decide what a person sees, so those packages never import ``rich`` or ``typer``, not
even through another module, and never write to the terminal.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "src" / "resguardo"

# Packages that must stay silent, and the terminal libraries they must not reach.
QUIET_PACKAGES = ("engine", "backends", "sources")
TERMINAL_LIBRARIES = ("rich", "typer")

# The order the layers contract must keep, top first; a layer may list more siblings than these.
EXPECTED_LAYER_ORDER = (
    {"resguardo.cli"},
    {"resguardo.engine", "resguardo.catalog"},
    {"resguardo.backends"},
    {"resguardo.core", "resguardo.clock"},
)


def _lint_imports_command() -> str:
    """Return the ``lint-imports`` executable of the running interpreter's environment."""
    beside_interpreter = Path(sys.executable).parent / "lint-imports"
    if beside_interpreter.exists():
        return str(beside_interpreter)
    found = shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is not installed; run 'bash scripts/bootstrap.sh'")
    return found


def _python_files(package: str) -> list[Path]:
    """Return the Python files of ``resguardo.<package>``, skipping the test if it is not written yet."""
    folder = PACKAGE_DIR / package
    if not folder.is_dir():
        pytest.skip(f"resguardo.{package} does not exist yet")
    return sorted(folder.rglob("*.py"))


def _layer_modules(layer: str) -> set[str]:
    """Return the module names of one entry of a layers contract ("a | b" lists independent siblings)."""
    return {name.strip().strip("()") for name in layer.replace(":", "|").split("|") if name.strip()}


def test_import_linter_contracts_hold() -> None:
    result = subprocess.run(
        [_lint_imports_command(), "--no-cache", "--no-logo", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert result.returncode == 0, f"lint-imports failed:\n{result.stdout}\n{result.stderr}"


def test_layers_contract_keeps_cli_over_engine_over_backends_over_core() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layer_contracts = [contract for contract in contracts if contract.get("type") == "layers"]
    assert layer_contracts, "pyproject.toml has no layers contract for import-linter"

    layers = [_layer_modules(layer) for layer in layer_contracts[0]["layers"]]
    positions = []
    for expected in EXPECTED_LAYER_ORDER:
        matching = [index for index, modules in enumerate(layers) if expected <= modules]
        assert matching, f"no layer lists {sorted(expected)} in {layer_contracts[0]['layers']}"
        positions.append(matching[0])
    assert positions == sorted(positions), f"layers out of order: {layer_contracts[0]['layers']}"
    assert len(set(positions)) == len(positions), "two expected layers were merged into one"


@pytest.fixture(scope="module")
def import_graph() -> grimp.ImportGraph:
    """Return resguardo's import graph, with the third-party packages it imports as single nodes."""
    return grimp.build_graph("resguardo", include_external_packages=True, cache_dir=None)


@pytest.mark.parametrize("package", QUIET_PACKAGES)
def test_quiet_packages_never_reach_terminal_libraries(package: str, import_graph: grimp.ImportGraph) -> None:
    _python_files(package)
    importer = f"resguardo.{package}"
    for library in TERMINAL_LIBRARIES:
        if library not in import_graph.modules:
            continue
        chain = import_graph.find_shortest_chain(importer=importer, imported=library, as_packages=True)
        assert chain is None, f"{importer} imports {library} through {' -> '.join(chain or ())}"


def _terminal_offences(path: Path, root: Path = ROOT) -> list[str]:
    """Return, as "file:line: what", every import of a terminal library and every write to the terminal.

    Docstrings and comments are not code, so parsing (rather than searching the text) ignores them.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(root)
    offences = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "sys":
                names += [f"sys.{alias.name}" for alias in node.names]
        else:
            names = []
        for name in names:
            if name.split(".")[0] in TERMINAL_LIBRARIES or name in ("sys.stdout", "sys.stderr"):
                offences.append(f"{where}:{node.lineno}: imports {name}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            offences.append(f"{where}:{node.lineno}: calls print()")
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "sys"
            and node.attr in ("stdout", "stderr", "__stdout__", "__stderr__")
        ):
            offences.append(f"{where}:{node.lineno}: uses sys.{node.attr}")
    return offences


@pytest.mark.parametrize("package", QUIET_PACKAGES)
def test_quiet_packages_neither_print_nor_import_terminal_libraries(package: str) -> None:
    offences = [offence for path in _python_files(package) for offence in _terminal_offences(path)]
    assert not offences, "the engine reports through callbacks, never to the terminal:\n" + "\n".join(
        offences
    )


def test_offence_finder_sees_print_and_terminal_imports_but_not_docstrings(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        '"""Calling print("x") in a docstring is fine."""\n'
        "import rich.console\n"
        "from sys import stderr\n"
        "import sys\n"
        "def shout() -> None:\n"
        "    print('loud')\n"
        "    sys.stdout.write('loud')\n",
        encoding="utf-8",
    )
    assert sorted(_terminal_offences(source, root=tmp_path)) == [
        "probe.py:2: imports rich.console",
        "probe.py:3: imports sys.stderr",
        "probe.py:6: calls print()",
        "probe.py:7: uses sys.stdout",
    ]
