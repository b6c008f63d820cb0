"""The layering (docs/architecture.md), checked on the source: the import contracts, and an engine
that never imports Qt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grit_desktop

PACKAGE = Path(grit_desktop.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_import_contracts_hold() -> None:
    """The rules in pyproject.toml's [tool.importlinter]: a headless engine, its rooms layered,
    a reader without torch, independent front ends."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True,
                         cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_engine_is_headless() -> None:
    """Also for imports inside functions and under TYPE_CHECKING, which a contract may skip."""
    files = sorted((PACKAGE / "engine").rglob("*.py"))
    assert files
    offenders = {
        str(f.relative_to(PACKAGE)): sorted(m for m in imported_modules(f)
                                            if m.split(".")[0] in {"PySide6", "PyQt5", "PyQt6", "shiboken6"}
                                            or m.startswith("grit_desktop.ui"))
        for f in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_engine_import_does_not_load_qt() -> None:
    code = ("import sys, grit_desktop.engine.grit.model, grit_desktop.cli; "
            "print(any(m.startswith('PySide6') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
