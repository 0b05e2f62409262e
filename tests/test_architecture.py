"""The package boundaries and sizes the architecture promises (docs/architecture.md): the engine
does not import its pytest front end, nothing outside the lab's package imports the lab (it is
reached through the driver registry), no product module over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGES = ("bootstrap", "suites", "fixtures")
MODULE_LIMIT = 400  # lines


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def modules(repo_root: Path, package: str) -> list[Path]:
    return sorted((repo_root / package).rglob("*.py"))


def test_the_engine_does_not_import_its_front_end(repo_root: Path) -> None:
    offenders = [
        str(p.relative_to(repo_root))
        for pkg in ("suites", "bootstrap")
        for p in modules(repo_root, pkg)
        if any(name == "fixtures" or name.startswith("fixtures.") for name in imports(p))
    ]
    assert offenders == []


def test_nothing_outside_the_lab_imports_the_lab(repo_root: Path) -> None:
    lab = repo_root / "bootstrap" / "lab"
    offenders = [
        str(p.relative_to(repo_root))
        for pkg in PACKAGES
        for p in modules(repo_root, pkg)
        if lab not in p.parents and any(n == "bootstrap.lab" or n.startswith("bootstrap.lab.") for n in imports(p))
    ]
    assert offenders == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_product_module_grows_past_the_limit(repo_root: Path, package: str) -> None:
    for path in modules(repo_root, package):
        rel = str(path.relative_to(repo_root))
        lines = len(path.read_text().splitlines())
        assert lines <= MODULE_LIMIT, f"{rel}: {lines} lines"


FUNCTION_LIMIT = 60  # lines


@pytest.mark.parametrize("package", PACKAGES)
def test_no_function_grows_past_the_limit(repo_root: Path, package: str) -> None:
    for path in modules(repo_root, package):
        rel = str(path.relative_to(repo_root))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= FUNCTION_LIMIT, f"{rel}:{node.name}: {length}"
