"""Bad input, the whole kind: each malformed or wrong input to a run is one usage error
(exit 4) before any check runs, with one short message naming the file, field and reason,
no traceback, and no secret in it. The messages are listed in docs/bad-input.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from suites.catalog import CATALOG
from tests.conftest import loopback_data

SECRET = "pw-$(touch /tmp/pwned);`id`|&>'\"x"  # a DB password full of shell metacharacters
PLUGINS = ("-p", "fixtures.plugin", "-p", "no:cacheprovider", "-p", "no:pytest11.testinfra")
MAX_LINES = 8


@dataclass(frozen=True)
class Case:
    id: str
    change: Callable[[dict[str, Any], Path], None]  # edits the inventory data; may write files
    expect: str  # a fragment of the one message
    args: tuple[str, ...] = ()
    raw: str | None = None  # the inventory file's text, instead of the edited data


def _set(path: str, value: Any) -> Callable[[dict[str, Any], Path], None]:
    def change(data: dict[str, Any], _: Path) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is DELETE:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return change


DELETE = object()


def _nothing(data: dict[str, Any], tmp: Path) -> None:
    pass


def _both(*changes: Callable[[dict[str, Any], Path], None]) -> Callable[[dict[str, Any], Path], None]:
    def change(data: dict[str, Any], tmp: Path) -> None:
        for c in changes:
            c(data, tmp)

    return change


def _password_file(content: str | None, *, directory: bool = False) -> Callable[[dict[str, Any], Path], None]:
    def change(data: dict[str, Any], tmp: Path) -> None:
        path = tmp / "db-password"
        if directory:
            path.mkdir()
        elif content is not None:
            path.write_text(content)
        data["db"] = {"user": "root", "password_file": str(path)}

    return change


def _ocboot_config(drop: str, value: Any = None) -> Callable[[dict[str, Any], Path], None]:
    """ocboot's config.yml (tests/data/ocboot/ha-5node.yml) without the key ``drop`` (or with
    ``value`` there)."""

    def change(_: dict[str, Any], tmp: Path) -> None:
        config = yaml.safe_load((Path(__file__).parent / "data" / "ocboot" / "ha-5node.yml").read_text())
        *parents, last = drop.split(".")
        target = config
        for p in parents:
            target = target[p]
        if value is None:
            del target[last]
        else:
            target[last] = value
        (tmp / "config.yml").write_text(yaml.safe_dump(config))

    return change


def _storage(data: dict[str, Any], _: Path) -> None:
    data["storage"] = {"endpoint": "http://127.0.0.100:9000", "access_key": "ak", "secret_key_env": "ACME_S3_UNSET"}


def _waivers(text: str) -> Callable[[dict[str, Any], Path], None]:
    def change(data: dict[str, Any], tmp: Path) -> None:
        (tmp / "waivers.yaml").write_text(text)

    return change


def _binary(data: dict[str, Any], tmp: Path) -> None:
    (tmp / "binary.yaml").write_bytes(b"\xff\xfe\x00 not text")


CASES = [
    Case("password-env-unset", _set("db.password_env", "ACME_UNSET_PASSWORD"),
         "db.password_env: environment variable ACME_UNSET_PASSWORD is not set"),
    Case("password-file-empty", _password_file(""), "db.password_file:"),
    Case("password-file-missing", _password_file(None), "db.password_file: cannot read"),
    Case("password-file-directory", _password_file(None, directory=True), "Is a directory"),
    Case("password-both-sources", _set("db.password_file", "/etc/hostname"),
         "db: give exactly one of password_env, password_file or password_ocboot"),
    Case("s3-secret-unset", _storage, "storage.secret_key_env: environment variable ACME_S3_UNSET is not set"),
    Case("bad-address", _set("nodes.1.address", "10.0.0.300"), "nodes[1].address:"),
    Case("duplicate-name", _set("nodes.1.name", "cp1"), "nodes[1].name: duplicate node name 'cp1'"),
    Case("node-twice-two-names", _set("nodes.2.address", "127.0.0.10"), "nodes[2].address: duplicate address"),
    Case("role-count", _set("nodes.4.roles", ["control"]), "nodes: 5node needs 2 node(s) with role 'db-ha', found 1"),
    Case("unknown-field", _set("ssh.passwrod", "x"), "ssh.passwrod: Extra inputs are not permitted"),
    Case("unknown-topology", _set("topology", "6node"), "topology: unknown topology '6node'"),
    Case("topology-mismatch", _nothing, "--topology 3node does not match the inventory's topology 5node",
         args=("--topology=3node",)),
    Case("ssh-port-range", _set("ssh.port", 70000), "ssh.port: Input should be less than or equal to 65535"),
    Case("db-port-range", _set("db.port", 0), "db.port: Input should be greater than or equal to 1"),
    Case("vip-is-node", _set("vips.db", "127.0.0.10"), "vips.db: 127.0.0.10 is also a node's address"),
    Case("vip-missing", _set("vips.db", DELETE), "vips.db: 5node needs a db VIP"),
    Case("unknown-profile", _set("profile", "vendor"), "profile: unknown profile 'vendor'"),
    Case("unknown-override", _set("profile_overrides", {"rto_bound": 3}), "unknown profile value(s): rto_bound"),
    Case("bad-kernel-pattern", _set("expect", {"kernel_pattern": "yn(2019"}), "expect.kernel_pattern: not a valid"),
    Case("key-missing", _set("ssh.key", "/nonexistent/id_rsa"), "ssh.key: /nonexistent/id_rsa is not a readable file"),
    Case("yaml-syntax", _nothing, "not valid YAML (line 3", raw="site: acme\nnodes: [\n"),
    Case("empty-file", _nothing, "the inventory must be a YAML mapping, not NoneType", raw=""),
    Case("list-not-mapping", _nothing, "the inventory must be a YAML mapping, not list", raw="- a\n- b\n"),
    Case("binary-inventory", _binary, "binary.yaml: not a text file (the inventory must be UTF-8 YAML)",
         args=("--inventory=binary.yaml",)),
    Case("waivers-yaml-syntax", _waivers("waivers:\n  - {requirement: HA-OS-002\n"),
         "waivers.yaml: not valid YAML (line 3, column 1)", args=("--waivers=waivers.yaml",)),
    Case("missing-inventory", _nothing, "cannot read inventory: No such file or directory",
         args=("--inventory=nowhere.yaml",)),
    Case("override-unknown", _nothing, "--override 'rto=3': give NAME=VALUE", args=("--override=rto=3",)),
    Case("override-not-number", _nothing, "--override 'rto_bound_s=fast': rto_bound_s takes a number",
         args=("--override=rto_bound_s=fast",)),
    Case("waiver-no-justification",
         _waivers("waivers:\n  - {requirement: HA-OS-002, expires: 2099-01-01}\n"), "--waivers:",
         args=("--waivers=waivers.yaml",)),
    Case("waiver-unknown-requirement",
         _waivers("waivers:\n  - {requirement: HA-OS-999, justification: ticket 1234 approved, expires: 2099-01-01}\n"),
         "HA-OS-999", args=("--waivers=waivers.yaml",)),
    Case("catalog-missing", _nothing, "--catalog: cannot read nowhere.yaml: No such file or directory",
         args=("--catalog=nowhere.yaml",)),
    Case("ocboot-and-inventory", _nothing, "--ocboot-config and --inventory: give one of them",
         args=("--inventory=site.yaml", "--ocboot-config=config.yml")),
    Case("ocboot-config-no-db-vip", _ocboot_config("mariadb_ha_nodes.db_vip"),
         "config.yml: mariadb_ha_nodes.db_vip: missing", args=("--ocboot-config=config.yml", "--ssh-key=/dev/null")),
    Case("ocboot-config-not-ha", _ocboot_config("primary_master_node.high_availability", False),
         "config.yml: primary_master_node.high_availability: not true",
         args=("--ocboot-config=config.yml", "--ssh-key=/dev/null")),
    Case("discover-unreachable", _nothing, "--discover: cp1: cp1 (127.0.0.10) is unreachable over SSH",
         args=("--discover",)),
    Case("profile-option", _nothing, "--profile: unknown profile 'vendor'", args=("--profile=vendor",)),
    Case("phase-option", _nothing, "--phase: unknown phase 'during'", args=("--phase=during",)),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    monkeypatch.setenv("ACME_DB_PASSWORD", SECRET)
    monkeypatch.delenv("ACME_UNSET_PASSWORD", raising=False)
    monkeypatch.delenv("ACME_S3_UNSET", raising=False)
    data = loopback_data(pytester.path)
    case.change(data, pytester.path)
    site = pytester.path / "site.yaml"
    site.write_text(case.raw if case.raw is not None else yaml.safe_dump(data))
    given = any(a.startswith(("--inventory", "--ocboot-config")) for a in case.args)
    args = case.args if given else ("--inventory=site.yaml", *case.args)
    # One case under xdist: the controller stops the run before any worker starts.
    xdist = ("-n", "2") if case.id == "password-env-unset" else ()
    result = pytester.runpytest_subprocess(*PLUGINS, *args, *xdist, timeout=60)
    out, err = result.stdout.str(), result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out[-2000:] + err[-2000:]
    assert case.expect in err, err
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) <= MAX_LINES, err
    assert SECRET not in out + err


def test_a_password_with_shell_metacharacters_is_data(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not an error: the password reaches no shell and no output (the nodes are unreachable here)."""
    monkeypatch.setenv("ACME_DB_PASSWORD", SECRET)
    data = loopback_data(pytester.path)
    (pytester.path / "site.yaml").write_text(yaml.safe_dump(data))
    result = pytester.runpytest_subprocess(
        *PLUGINS, "--inventory=site.yaml", str(CATALOG), "-m", "db", f"--report-dir={pytester.path / 'r'}", timeout=120
    )
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    assert SECRET not in result.stdout.str() + result.stderr.str()
    assert "cannot connect to MariaDB" in result.stdout.str()
    assert not Path("/tmp/pwned").exists()
    for path in (pytester.path / "r").iterdir():
        assert SECRET not in path.read_text(errors="replace"), path
