"""The DB-HA page's own scripts as the deployer writes them, run here against stand-ins for
keepalived.conf, ``ip`` and ``systemctl``: its chk_mysql line, and its interface switcher, which
follows the node address onto br0 and restarts keepalived, and which takes keepalived.conf's one
``interface`` line for granted (why the lab keeps its own VRRP instances in an included file)."""

from __future__ import annotations

import io
import ipaddress
import subprocess
from pathlib import Path

import pytest

from bootstrap import inventory as inv
from bootstrap.deploy import keepalived as keepalived_mod
from bootstrap.deploy.core import MARK, Deployment
from bootstrap.deploy.keepalived import (
    CHECK_INTERFACE2,
    INSTALLER_INCLUDE,
    INTERFACE_CRON_LINE,
    check_interface_page,
    chk_mysql,
    installer_keepalived,
    keepalived_config,
    vips_settled,
)
from bootstrap.lab.lab import Lab
from bootstrap.lab.standin.installer import LabInstaller
from bootstrap.profiles import get_profile
from suites.checks.track_scripts import switcher_words

NODE_IP = "10.213.47.21"
DB_INSTANCE = "vrrp_instance VI_DB {\n    state BACKUP\n    interface host0\n    virtual_router_id 99\n}\n"


def switcher(tmp: Path, conf: str, holder: str) -> tuple[str, str, str]:
    """Run the page's check_interface.sh once: (keepalived.conf after, systemctl calls, output)."""
    (tmp / "keepalived.conf").write_text(conf)
    (tmp / "ip").write_text(
        "#!/bin/sh\n"
        f"echo '2: {holder}    inet {NODE_IP}/24 brd 10.213.47.255 scope global {holder}'\n"
        "echo '2: host0    inet 10.213.47.101/32 scope global host0'\n"
    )
    (tmp / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {tmp}/systemctl.calls\n')
    for f in ("ip", "systemctl"):
        (tmp / f).chmod(0o755)
    script = (
        check_interface_page(NODE_IP)
        .replace("/etc/keepalived/keepalived.conf", str(tmp / "keepalived.conf"))
        .replace("/usr/sbin/ip", str(tmp / "ip"))
    )
    out = subprocess.run(
        ["bash", "-c", script], env={"PATH": f"{tmp}:/usr/bin:/bin"}, capture_output=True, text=True, timeout=10,
        check=False,
    )  # fmt: skip
    calls = tmp / "systemctl.calls"
    return (tmp / "keepalived.conf").read_text(), calls.read_text() if calls.exists() else "", out.stdout + out.stderr


def test_chk_mysql_is_the_pages_line() -> None:
    text = chk_mysql(3306)
    assert text.startswith("#!/bin/bash\n") and text.endswith("echo | nc 127.0.0.1 3306 &>/dev/null\n")
    assert chk_mysql(3307).endswith("nc 127.0.0.1 3307 &>/dev/null\n")


def test_the_switcher_is_inert_while_the_interface_holds_the_node_address(tmp_path: Path) -> None:
    conf = MARK + DB_INSTANCE + "include /etc/keepalived/installer.conf\n"
    after, calls, out = switcher(tmp_path, conf, "host0")
    assert after == conf and calls == "", out
    assert "no need to update the interface" in out


def test_the_switcher_follows_the_address_onto_br0(tmp_path: Path) -> None:
    after, calls, _ = switcher(tmp_path, MARK + DB_INSTANCE, "br0")
    assert "    interface br0\n" in after and "host0" not in after
    assert calls == "restart keepalived\n"


def test_a_second_interface_line_makes_the_switcher_restart_keepalived_every_run(tmp_path: Path) -> None:
    """The page's own hazard: two instances in keepalived.conf give its grep two words, its sed
    fails, and it restarts keepalived anyway, every 20 s (three runs a minute from cron)."""
    conf = MARK + DB_INSTANCE + DB_INSTANCE.replace("VI_DB", "VI_OTHER")
    after, calls, out = switcher(tmp_path, conf, "host0")
    assert after == conf, "sed cannot rewrite two words at once"
    assert calls == "restart keepalived\n", out


def test_cron_runs_the_switcher_three_times_a_minute() -> None:
    assert INTERFACE_CRON_LINE.endswith("* * * * * root /etc/keepalived/check_interface2.sh >/dev/null 2>&1\n")
    assert "for i in {1..3}" in CHECK_INTERFACE2 and "sleep 20" in CHECK_INTERFACE2


def lab_deployment(tmp_path: Path, topology: str) -> Deployment:
    """The deployer as it runs on the lab (k3s line), without connecting anywhere."""
    st = Lab.plan(topology, 0, ipaddress.IPv4Network("10.213.47.0/24"))
    for name, text in (("id", "key"), ("pw", "db-secret\n"), ("s3", "s3-secret\n")):
        (tmp_path / name).write_text(text)
    data = {
        "version": inv.SCHEMA_VERSION, "site": f"lab-{topology}", "topology": topology, "profile": "document",
        "ssh": {"user": "root", "key": str(tmp_path / "id")},
        "nodes": [{"name": n, "address": d.address, "roles": list(d.roles)} for n, d in st.nodes.items()],
        "vips": {k: v for k, v in st.vips.items() if k != "storage"},
        "db": {"user": "root", "password_file": str(tmp_path / "pw")},
        "storage": {"endpoint": f"http://{st.vips['storage']}:8333", "access_key": "ha-lab",
                    "secret_key_file": str(tmp_path / "s3")},
    }  # fmt: skip
    installer = LabInstaller(storage_vip=st.vips["storage"], s3_secret="s3-secret", line="k3s")
    return Deployment(inv.parse(data), installer=installer, log=io.StringIO())


def test_keepalived_conf_holds_the_db_instance_alone_as_the_page_writes_it(tmp_path: Path) -> None:
    """3node: the DB-HA nodes are control nodes, where the lab keeps its storage address too; that
    instance goes to the included file, so the page's switcher reads one interface line."""
    d = lab_deployment(tmp_path, "3node")
    node1 = d.inventory.node("node1")
    conf = keepalived_config(d, node1, "host0")
    extra = installer_keepalived(d, node1, "host0")
    assert "vrrp_instance VI_DB" in conf and "VI_STORAGE" not in conf
    assert f"include {INSTALLER_INCLUDE}" in conf
    assert extra is not None and "vrrp_instance VI_STORAGE" in extra and MARK in extra
    assert [word for _, word in switcher_words(conf)] == ["host0"]
    node3 = d.inventory.node("node3")  # a control node without DB HA: its storage instance only
    assert "VI_DB" not in keepalived_config(d, node3, "host0")
    assert "VI_STORAGE" in (installer_keepalived(d, node3, "host0") or "")
    prepare = Deployment(d.inventory, installer=d.installer, log=io.StringIO(), stage="prepare")
    assert installer_keepalived(prepare, node1, "host0") is None  # the document's preparation only
    assert "include" not in keepalived_config(prepare, node1, "host0")


def test_vips_are_settled_only_on_the_instance_that_takes_them_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One holder is not settled while the preempting, highest-priority instance has yet to take
    the VIP (the platform VIP on a backup while the First Node's check_kube still fails); where
    nopreempt and equal priorities leave it with whoever holds it (ocboot's DB profile), it is."""
    d = lab_deployment(tmp_path, "5node")
    st = Lab.plan("5node", 0, ipaddress.IPv4Network("10.213.47.0/24"))
    placed = {st.vips["db"]: ["db1"], st.vips["platform"]: ["node1"]}
    monkeypatch.setattr(keepalived_mod, "vip_holders", lambda _d, vip, _group: placed[vip])
    assert vips_settled(d) is None
    placed[st.vips["platform"]] = ["node2"]
    assert vips_settled(d) == (
        f"VIP {st.vips['platform']} held by node2, not yet by node1 (its preempting, highest-priority instance)"
    )
    placed[st.vips["platform"]] = ["node1", "node2"]
    assert vips_settled(d) == f"VIP {st.vips['platform']} held by ['node1', 'node2']"
    placed[st.vips["platform"]], placed[st.vips["db"]] = ["node1"], ["db2"]
    assert "not yet by db1" in (vips_settled(d) or "")  # the page's db1: MASTER, priority 100
    d.profile = get_profile("ocboot")  # BACKUP and 99 on both: db2 keeps it
    assert vips_settled(d) is None
