"""The docs a newcomer enters: a short README, the MkDocs site built strictly, and the catalog
page generated from the catalog itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from suites.catalog import load
from suites.catalog_page import markdown
from suites.model import json_schema

README_LIMIT = 10 * 1024  # bytes: the door; the house is docs/


def test_the_readme_is_the_door(repo_root: Path) -> None:
    text = (repo_root / "README.md").read_text()
    assert len(text.encode()) <= README_LIMIT, len(text.encode())
    lines = text.splitlines()
    assert lines[0] == "# Cloudpods HA conformance suite"
    commands = [ln for ln in lines[:10] if ln.startswith("bash bootstrap/setup-host.sh && ")]
    assert [c.split("#")[0].strip() for c in commands] == [
        "bash bootstrap/setup-host.sh && .venv/bin/pytest --topology=5node",
        "bash bootstrap/setup-host.sh && .venv/bin/pytest tests",
    ]


def test_the_docs_build_strictly(repo_root: Path, tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=repo_root, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "catalog" / "index.html").exists()


def test_the_catalog_page_is_the_catalog(repo_root: Path) -> None:
    page = (repo_root / "docs" / "catalog.md").read_text()
    assert page == markdown(load()), "run: python -m suites.catalog_page > docs/catalog.md"


def test_the_exported_results_schema_is_the_models(repo_root: Path) -> None:
    """docs/results.schema.json is what suites/model.py exports (run: python -m suites.model >
    docs/results.schema.json); every results.json the suite writes is validated against those
    models before it is written (fixtures/results.py)."""
    assert (repo_root / "docs" / "results.schema.json").read_text() == json_schema()
