"""Host checks: the mirror comes from the host's apt sources; the subnet is free."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from bootstrap.lab import hostenv
from bootstrap.lab.hostenv import LabError, apt_mirror, check_subnet


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HA_LAB_MIRROR", raising=False)


def _apt(tmp_path: Path, sources: str = "", listfile: str = "") -> Path:
    (tmp_path / "sources.list.d").mkdir()
    if sources:
        (tmp_path / "sources.list.d" / "debian.sources").write_text(sources)
    if listfile:
        (tmp_path / "sources.list").write_text(listfile)
    return tmp_path


def test_mirror_from_deb822_sources_skips_security(tmp_path: Path) -> None:
    root = _apt(
        tmp_path,
        sources=(
            "Types: deb\nURIs: http://security.example.invalid/debian-security\n"
            "Suites: bookworm-security\nComponents: main\n\n"
            "Types: deb deb-src\n# a comment\nURIs: http://mirror.example.invalid/debian\n"
            "Suites: bookworm bookworm-updates\nComponents: main contrib\n"
        ),
    )
    assert apt_mirror(root) == "http://mirror.example.invalid/debian"


def test_mirror_from_legacy_list_with_options(tmp_path: Path) -> None:
    root = _apt(tmp_path, listfile="# x\ndeb [arch=amd64] http://legacy.example.invalid/debian bookworm main\n")
    assert apt_mirror(root) == "http://legacy.example.invalid/debian"


def test_no_mirror_is_one_clear_error(tmp_path: Path) -> None:
    root = _apt(tmp_path, listfile="deb http://x.example.invalid/debian bullseye main\n")
    with pytest.raises(LabError, match=r"no Debian bookworm mirror found .* set HA_LAB_MIRROR"):
        apt_mirror(root)


def test_mirror_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HA_LAB_MIRROR", "http://override.example.invalid/debian")
    assert apt_mirror(_apt(tmp_path)) == "http://override.example.invalid/debian"


def test_subnet_overlapping_a_host_route_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        hostenv,
        "host_networks",
        lambda exclude_dev="halab0": [(ipaddress.IPv4Network("10.213.0.0/16"), "route 10.213.0.0/16 dev eth9")],
    )
    with pytest.raises(LabError, match=r"overlaps the host's route 10.213.0.0/16 dev eth9; choose another"):
        check_subnet(ipaddress.IPv4Network("10.213.47.0/24"))
    check_subnet(ipaddress.IPv4Network("10.214.47.0/24"))


def test_real_host_routes_are_seen() -> None:
    nets = hostenv.host_networks()
    if not nets:
        pytest.skip("this host has no IPv4 route besides the default")
    net, _what = nets[0]
    with pytest.raises(LabError, match="overlaps the host's"):
        check_subnet(ipaddress.IPv4Network(f"{net.network_address}/24", strict=False))


@pytest.mark.parametrize(
    ("subnet", "message"),
    [("10.213.47.0/25", "must be a /24"), ("8.8.8.0/24", "must be a private range")],
)
def test_subnet_shape(subnet: str, message: str) -> None:
    with pytest.raises(LabError, match=message):
        check_subnet(ipaddress.IPv4Network(subnet))


def test_missing_tools_are_named_with_their_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LabError, match=r"missing host tools: systemd-nspawn, .*apt-get install -y .*systemd-container"):
        hostenv.require_tools()
