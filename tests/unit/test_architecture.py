"""The domain imports nothing outside the standard library (import-linter covers layering)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


DOMAIN_FILES = sorted((SRC / "domain").rglob("*.py"))


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: p.name)
def test_domain_module_imports_only_the_standard_library(path: Path) -> None:
    allowed = set(sys.stdlib_module_names) | {"domain", "__future__"}
    outside = _imported_top_levels(path) - allowed
    assert outside == set(), f"{path.name} imports {sorted(outside)}"


APPLICATION_FILES = sorted((SRC / "application").rglob("*.py"))


@pytest.mark.parametrize("path", APPLICATION_FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_application_module_imports_no_adapter_or_framework(path: Path) -> None:
    allowed = set(sys.stdlib_module_names) | {"domain", "application", "__future__"}
    outside = _imported_top_levels(path) - allowed
    assert outside == set(), f"{path.name} imports {sorted(outside)}"


MAX_FUNCTION_LINES = 60
"""Issue 17: a function a newcomer can read on one screen; the decisions live in short steps."""
CORE_FILES = sorted([*(SRC / "domain").rglob("*.py"), *(SRC / "application").rglob("*.py")])


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{node.name} (line {node.lineno}, {node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_function_in_the_domain_or_application_is_over_sixty_lines(path: Path) -> None:
    assert _long_functions(path) == []
