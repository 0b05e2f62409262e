"""A new requirement starts in three files, from one command, and cannot pass until written."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Any

import pytest

from suites import scaffold
from suites.catalog import load
from suites.context import CheckError


@pytest.fixture
def tree(repo_root: Path, tmp_path: Path) -> Path:
    for rel in ("suites/catalog.yaml", "suites/checks/host_os.py", "tests/mutations.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(repo_root / rel, tmp_path / rel)
    return tmp_path


def test_a_new_requirement_is_three_edits_that_cannot_pass(tree: Path) -> None:
    args = scaffold.parser().parse_args(
        ["HA-OS-099", "--title-en", "Chrony runs", "--title-zh", "chrony 正在运行", "--facts", "hostname"]
    )
    written = scaffold.scaffold("HA-OS-099", args, root=tree)
    assert [p.relative_to(tree).as_posix() for p in written] == [
        "suites/catalog.yaml", "suites/checks/host_os.py", "tests/mutations.py",
    ]  # fmt: skip
    load.cache_clear()
    entry = load(tree / "suites" / "catalog.yaml")["HA-OS-099"]
    assert entry.title.en == "Chrony runs" and entry.scope == "node"
    source = (tree / "suites" / "checks" / "host_os.py").read_text()
    ast.parse(source)
    ast.parse((tree / "tests" / "mutations.py").read_text())
    assert '"HA-OS-099",' in (tree / "tests" / "mutations.py").read_text()
    # The stub is an error, never a pass.
    stub = source[source.index('@check("HA-OS-099"') :]
    namespace: dict[str, Any] = {"check": lambda *a, **k: lambda fn: fn, "Context": object, "CheckError": CheckError}
    exec(stub, namespace)
    with pytest.raises(CheckError, match="not written yet"):
        namespace["check_ha_os_099"](None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["HA-XX-001"], "give an id HA-<AREA>-<NNN>"),
        (["HA-OS-001"], "HA-OS-001 is in the catalog already"),
        (["HA-OS-098", "--facts", "chronyy"], "--facts: unknown fact(s) chronyy"),
    ],
)
def test_bad_input_is_one_message(  # noqa: PLR0917  (pytest's fixtures and parameters)
    tree: Path,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    repo_root: Path,
) -> None:
    monkeypatch.setattr(scaffold, "ROOT", tree)
    assert scaffold.main([*argv, "--title-en", "x", "--title-zh", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert (tree / "suites" / "catalog.yaml").read_text() == (repo_root / "suites" / "catalog.yaml").read_text()
