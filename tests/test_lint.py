"""The code base stays ruff-clean and mypy-clean (the style the project follows)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_ruff_is_clean(repo_root: Path) -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [ruff, "check", "."], cwd=repo_root, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout


def test_mypy_is_clean(repo_root: Path) -> None:
    mypy = Path(sys.executable).parent / "mypy"
    if not mypy.exists():
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    result = subprocess.run([str(mypy)], cwd=repo_root, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-5000:]
