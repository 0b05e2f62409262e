"""The checks on the product's real layouts (shared/docs/real-sites.md), judged on facts in
the shapes those layouts give: the k3s and kubeadm lines' static-pod keepalived and
kubeconfigs, a node address on br0. Each layout passes as installed and fails when broken."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
import subprocess
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bootstrap import inventory as inv
from bootstrap import layout
from bootstrap.lab.standin.installer import RUNTIME
from bootstrap.profiles import platform_auth_pass, platform_router_id
from fixtures.report import summary
from suites.catalog import load
from suites.checks import certificates as cert_checks
from suites.context import CheckError, CheckFailed, Context, DbFacts, NotVerifiable, SiteRuntime
from suites.engine import run_checks
from suites.facts import ABSENT, AS_ROOT, KA_CONF_CHAIN, POD_LOG_COMMAND, PROBES, Unreadable
from suites.factsource import RecordedFactSource
from suites.messages import defects
from suites.registry import load_checks
from tests.conftest import VALID_INVENTORY

VIP = "10.127.190.100"
CATALOG = load()
CHECKS = load_checks()


def addr(ip: str, dev: str = "eth0") -> str:
    return f"2: {dev}    inet {ip}/24 brd 10.127.190.255 scope global {dev}\\       valid_lft forever"


def manifest(state: str, priority: int, *, router: int | None = None, iface: str = "eth0", line: str = "k3s") -> str:
    env = {
        "KEEPALIVED_STATE": state,
        "KEEPALIVED_PRIORITY": str(priority),
        "KEEPALIVED_VIRTUAL_IPS": f"#PYTHON2BASH:['{VIP}']",
        "KEEPALIVED_ROUTER_ID": str(platform_router_id(VIP) if router is None else router),
        "KEEPALIVED_PASSWORD": platform_auth_pass(VIP, line),
        "KEEPALIVED_INTERFACE": iface,
    }
    if line == "k3s":  # the k3s line's installer gives the image its check_kube command (real-sites.md)
        env["CHECK_KUBE_CMD"] = "curl -k https://10.127.190.251:6443/healthz"
    text = layout.EXAMPLE_MANIFEST.split("    env:\n")[0] + "    env:\n"
    return text + "".join(f'    - {{name: {k}, value: "{v}"}}\n' for k, v in env.items())


K3S_POD = "pid=812 cgroup=0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-4f1.scope"
SYSTEMD_KA = "pid=640 cgroup=0::/system.slice/keepalived.service"


def k3s_site() -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """A 5node site on the k3s line as ocboot installs it, with one compute node."""
    data = copy.deepcopy(VALID_INVENTORY)
    data["nodes"].append({"name": "cn1", "address": "10.127.190.20", "roles": ["compute"]})
    facts: dict[str, dict[str, str]] = {}
    for i, node in enumerate(data["nodes"]):
        ip, name = node["address"], node["name"]
        f = {"addr": addr(ip), "links": "2: eth0: <BROADCAST,MULTICAST,UP> mtu 1500 state UP"}
        if "control" in node["roles"]:
            f["layout"] = f"{layout.K3S_SERVER_UNIT}\n{layout.LINES['k3s'].keepalived_manifest}"
            f["keepalived_manifest"] = f"@@manifest {layout.LINES['k3s'].keepalived_manifest}\n" + manifest(
                "MASTER" if i == 0 else "BACKUP", 100 if i == 0 else 90
            )
            f["keepalived_procs"] = K3S_POD
            f["keepalived_containers"] = "runtime /usr/local/bin/k3s crictl\nrunning 4f1c2a"
            f["admin_conf"] = "file=/etc/rancher/k3s/k3s.yaml\n    server: https://127.0.0.1:6443"
            f["keepalived_service"] = "LoadState=loaded\nActiveState=inactive\nUnitFileState=disabled"
        elif "compute" in node["roles"]:
            f["layout"] = layout.K3S_AGENT_UNIT
            f["kubelet_conf"] = (
                f"file={layout.LINES['k3s'].compute_kubeconfig}\n    server: https://127.0.0.1:6444\n"
                f"file={layout.K3S_AGENT_UNIT}\n    server: https://{VIP}:6443"
            )
        facts[name] = f
    return data, facts


# What an unspecified fact reads on a node of these sites: (status, raw output) in the probe's
# shape (suites/facts), "not on this node" where the probe allows it.
NEUTRAL: dict[str, tuple[int, str]] = {
    "hostname": (0, "node"),
    "kernel": (0, "6.1.0-28-amd64"),
    "swaps": (0, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"),
    "firewalld": (3, "inactive"),
    "date": (0, "0"),
    "keepalived_service": (0, "LoadState=not-found\nActiveState=inactive\nUnitFileState="),
    "sysctl": (0, "net.ipv4.ip_forward = 1\nnet.ipv4.ip_nonlocal_bind = 1"),
    "etcd_members": (7, "endpoint http://127.0.0.1:2379\ncurl: (7) Failed to connect to 127.0.0.1 port 2379"),
    "etcd_health": (7, "endpoint http://127.0.0.1:2379\ncurl: (7) Failed to connect to 127.0.0.1 port 2379"),
    "etcd_status": (7, "endpoint http://127.0.0.1:2379\ncurl: (7) Failed to connect to 127.0.0.1 port 2379"),
    "etcd_alarms": (7, "endpoint http://127.0.0.1:2379\ncurl: (7) Failed to connect to 127.0.0.1 port 2379"),
    "bin_sh": (0, "/usr/bin/bash"),
    "links": (0, "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 state UNKNOWN"),
}
JOURNAL = "unit loaded active\n"  # the keepalived_log probe's first line: the unit's state


def neutral(name: str) -> tuple[int | None, str]:
    return NEUTRAL.get(name, (ABSENT, "") if ABSENT in PROBES[name].expect else (0, ""))


def recorded(facts: dict[str, dict[str, Any]]) -> RecordedFactSource:
    """The nodes' facts from raw outputs (rc 0 unless given as (rc, output)), NEUTRAL or absent
    for the rest."""
    outputs = {node: {name: given if isinstance(given, tuple) else (0, given) for name, given in f.items()}
               for node, f in facts.items()}  # fmt: skip
    return RecordedFactSource(outputs, default=neutral)


def judge(data: dict[str, Any], facts: dict[str, dict[str, Any]], rid: str, node: str | None = None,
          subject: str | None = None, *, grants: list[str] | None = None,
          variables: dict[str, Any] | None = None,
          unreachable: dict[str, str] | None = None,
          vip_samples: dict[str, list[tuple[float, tuple[str, ...]]]] | None = None) -> str | None:  # fmt: skip
    """None when the check passes on these facts, else its failure message (and its evidence);
    "not verifiable: ..." or "error: ..." where the engine says so."""
    inventory = inv.parse(data)
    rt = SiteRuntime.create(inventory, None, "postinstall", source=recorded(facts))
    for n in inventory.nodes:
        rt.db.known[n.name] = DbFacts(dict(variables or {}), grants or [], {})
    rt.vip_reach.update(dict.fromkeys(("platform", "db")))  # answered: no traffic to the VIPs from a unit test
    rt.vip_reach.update(unreachable or {})
    rt._samples = vip_samples
    ctx = Context(rt, CATALOG[rid], inventory.node(node) if node else None, subject)
    assert CHECKS[rid], f"no check implements {rid}"
    try:
        run_checks(ctx, CHECKS[rid])
    except CheckFailed as exc:
        assert not defects(exc.message), f"{rid}: the message reads badly ({defects(exc.message)}): {exc.message!r}"
        return exc.message + "\n" + "\n".join(out for _, out in exc.evidence)
    except NotVerifiable as exc:
        return f"not verifiable: {exc}"
    except CheckError as exc:
        return f"error: {exc}"
    return None


CONTROL = ("cp1", "cp2", "cp3")


def test_a_vip_that_moved_is_told_in_the_order_it_moved() -> None:
    data, facts = k3s_site()
    held = [(0.3, ("cp2",)), (0.8, ("cp2",)), (1.3, ("cp1",)), (3.0, ("cp1",))]
    got = judge(data, facts, "HA-VIP-004", subject="platform", vip_samples={"platform": held, "db": []})
    assert got is not None and "moved during 3 s: held by cp2 at 0.3 s -> cp1 at 1.3 s\n" in got, got
    held = [(0.0, ("cp1",)), (3.0, ("cp1",))]
    assert judge(data, facts, "HA-VIP-004", subject="platform", vip_samples={"platform": held, "db": []}) is None


@pytest.mark.parametrize(
    ("rid", "targets", "subject"),
    [
        ("HA-KA-001", CONTROL, None),
        ("HA-KA-004", CONTROL, None),
        ("HA-KA-005", CONTROL, None),
        ("HA-CP-004", CONTROL, None),
        ("HA-CP-005", ("cn1",), None),
        ("HA-KA-002", (None,), "platform"),
    ],
)
def test_the_k3s_line_as_installed_passes(rid: str, targets: tuple[str | None, ...], subject: str | None) -> None:
    """The issue's false failures: HA-CP-004, HA-KA-004, HA-KA-002 (and on a real k3s site
    HA-KA-001, HA-KA-005, HA-CP-005), none of them deserved."""
    data, facts = k3s_site()
    for target in targets:
        assert judge(data, facts, rid, target, subject) is None, (rid, target)


def test_the_layout_is_detected_as_the_installer_tells_the_lines_apart() -> None:
    data, facts = k3s_site()
    rt = SiteRuntime.create(inv.parse(data), None, "postinstall", source=recorded(facts))
    lay = rt.layout()
    assert (lay.line, lay.db_ha) == ("k3s", "manual")
    assert "cp1" in dict(lay.sources)["line"] and layout.K3S_SERVER_UNIT in dict(lay.sources)["line"]
    doc = {"site": "acme-prod", "layout": lay.record(), "checks": []}
    assert any(line.startswith("layout: k3s line, DB HA manual") for line in summary.lines(doc, "high", "en"))
    # The inventory's word wins, and says so.
    data["layout"] = {"line": "kubeadm", "db_ha": "ocboot"}
    rt2 = SiteRuntime.create(inv.parse(data), None, "postinstall")
    assert (rt2.layout().line, rt2.layout().db_ha) == ("kubeadm", "ocboot")
    assert dict(rt2.layout().sources)["line"] == "inventory layout.line"


def test_db_ha_variants_are_told_apart_by_ocboots_template() -> None:
    ocboot = (
        'global_defs {\n  router_id oneclouddb\n}\nvrrp_script check_mariadb {\n  script "</dev/tcp/127.0.0.1/3306"\n}'
    )
    manual = 'global_defs {\n  router_id onecloud\n}\nvrrp_script chk_mysql {\n  script "/etc/keepalived/chk_mysql"\n}'

    assert layout.detect_db_ha(2, [ocboot, ocboot]) == "ocboot"
    assert layout.detect_db_ha(2, [manual, manual]) == "manual"
    assert layout.detect_db_ha(0, []) == "single"


def test_a_db_ha_variant_that_does_not_fit_the_topology_is_refused() -> None:
    data = copy.deepcopy(VALID_INVENTORY)
    data["layout"] = {"db_ha": "single"}
    with pytest.raises(inv.InventoryError, match=r"layout.db_ha: 'single' does not fit 5node"):
        inv.parse(data)


@pytest.mark.parametrize(
    ("rid", "target", "subject", "breakage", "message"),
    [
        ("HA-KA-001", "cp2", None, {"iface": "eth1"}, "listens on eth1, but 10.127.190.245 is on eth0"),
        ("HA-KA-002", None, "platform", {"router": 7}, "virtual_router_id differs within the platform group"),
        ("HA-KA-004", "cp2", None, {"state": "MASTER"}, "state MASTER (expected BACKUP)"),
        ("HA-KA-004", "cp3", None, {"priority": 100}, "priority 100 (expected 90)"),
    ],
)
def test_a_broken_static_pod_fails(rid: str, target: str | None, subject: str | None, breakage: dict[str, Any],
                                   message: str) -> None:  # fmt: skip
    data, facts = k3s_site()
    broken = target or "cp2"
    i = CONTROL.index(broken)
    kwargs = {"state": "MASTER" if i == 0 else "BACKUP", "priority": 100 if i == 0 else 90, **breakage}
    state, priority = kwargs.pop("state"), kwargs.pop("priority")
    facts[broken]["keepalived_manifest"] = f"@@manifest {layout.LINES['k3s'].keepalived_manifest}\n" + manifest(
        state, priority, **kwargs
    )
    got = judge(data, facts, rid, target, subject)
    assert got is not None and message in got


def test_a_static_pod_that_runs_no_keepalived_fails() -> None:
    data, facts = k3s_site()
    facts["cp2"]["keepalived_procs"] = ""
    got = judge(data, facts, "HA-KA-005", "cp2")
    assert got is not None and "runs no keepalived" in got
    facts["cp2"]["keepalived_procs"] = K3S_POD
    facts["cp2"]["keepalived_containers"] = "runtime /usr/local/bin/k3s crictl"
    got = judge(data, facts, "HA-KA-005", "cp2")
    assert got is not None and "k3s crictl: no running keepalived container" in got
    # A runtime that does not answer (sudo -n refused) is no pass: not verifiable, with the reason.
    facts["cp2"]["keepalived_containers"] = (4, "root-only files cannot be read as probe: sudo: a password is required")
    got = judge(data, facts, "HA-KA-005", "cp2")
    assert got is not None and got.startswith("not verifiable: cp2: fact 'keepalived_containers' exited 4: root-only")


def test_a_systemd_keepalived_is_still_judged_by_its_unit() -> None:
    data, facts = k3s_site()
    for n in ("dba", "dbb"):
        facts[n]["keepalived_conf"] = (
            "vrrp_instance VI_1 {\n state BACKUP\n interface eth0\n virtual_router_id 99\n priority 99\n"
            " virtual_ipaddress {\n  10.127.190.101\n }\n}\n"
        )
        facts[n]["keepalived_procs"] = SYSTEMD_KA
        facts[n]["keepalived_service"] = "LoadState=loaded\nActiveState=active\nUnitFileState=enabled"
    assert judge(data, facts, "HA-KA-005", "dba") is None
    facts["dbb"]["keepalived_service"] = "LoadState=loaded\nActiveState=failed\nUnitFileState=enabled"
    got = judge(data, facts, "HA-KA-005", "dbb")
    assert got is not None and "the db VIP's" in got


def test_a_non_first_k3s_kubeconfig_on_the_first_nodes_address_fails() -> None:
    data, facts = k3s_site()
    facts["cp2"]["admin_conf"] = "file=/etc/rancher/k3s/k3s.yaml\n    server: https://10.127.190.251:6443"
    got = judge(data, facts, "HA-CP-004", "cp2")
    assert got is not None and "points at https://10.127.190.251:6443, not this node's own apiserver" in got


def test_the_kubeadm_line_needs_admin_conf_at_the_vip() -> None:
    data, facts = k3s_site()
    facts["cp1"]["layout"] = layout.KUBEADM_MARK
    facts["cp1"]["admin_conf"] = f"file=/etc/kubernetes/admin.conf\n    server: https://{VIP}:6443"
    assert judge(data, facts, "HA-CP-004", "cp1") is None
    facts["cp1"]["admin_conf"] = "file=/etc/kubernetes/admin.conf\n    server: https://127.0.0.1:6443"
    got = judge(data, facts, "HA-CP-004", "cp1")
    assert got is not None and f"not https://{VIP}:6443" in got


def test_each_node_is_judged_by_its_own_lines_files() -> None:
    """A k3s node whose only admin kubeconfig is at kubeadm's path has none k3s's kubectl reads;
    the same file passes where the inventory says the site is on the kubeadm line."""
    data, facts = k3s_site()
    facts["cp1"]["admin_conf"] = f"file=/etc/kubernetes/admin.conf\n    server: https://{VIP}:6443"
    got = judge(data, facts, "HA-CP-004", "cp1")
    assert got is not None and got.startswith(
        "cp1 has no admin kubeconfig at /etc/rancher/k3s/k3s.yaml (found /etc/kubernetes/admin.conf, another line's)"
    )
    assert "rules of the k3s line on cp1 (this node's marker files)" in got
    data["layout"] = {"line": "kubeadm"}
    assert judge(data, facts, "HA-CP-004", "cp1") is None
    facts["cp1"]["admin_conf"] = "file=/etc/rancher/k3s/k3s.yaml\n    server: https://127.0.0.1:6443"
    got = judge(data, facts, "HA-CP-004", "cp1")  # the inventory's line selects kubeadm's rule
    assert got is not None and "no admin kubeconfig at /etc/kubernetes/admin.conf" in got


def test_a_node_without_markers_takes_the_sites_line_and_unread_markers_never_pass() -> None:
    data, facts = k3s_site()
    facts["cn1"]["layout"] = ""  # neither line's markers: the site's line (k3s, on the First Node)
    assert judge(data, facts, "HA-CP-005", "cn1") is None
    facts["cn1"]["layout"] = (4, "sudo: a password is required")
    got = judge(data, facts, "HA-CP-005", "cn1")
    assert got is not None and got.startswith("not verifiable") and "sudo: a password is required" in got


@pytest.mark.parametrize(
    ("kubelet_conf", "message"),
    [
        (f"file={layout.K3S_AGENT_UNIT}\n    server: https://10.127.190.251:6443", "First Node's address"),
        (f"file={layout.LINES['k3s'].compute_kubeconfig}\n    server: https://127.0.0.1:6444", "names no server"),
        (
            f"file={layout.LINES['k3s'].compute_kubeconfig}\n    server: https://10.127.190.245:6443\n"
            f"file={layout.K3S_AGENT_UNIT}\n    server: https://{VIP}:6443",
            "the kubelet talks to https://10.127.190.245:6443",
        ),
        ("file=/etc/kubernetes/kubelet.conf\n    server: https://10.127.190.9:6443", "not https://"),
    ],
)
def test_a_compute_node_joined_elsewhere_fails(kubelet_conf: str, message: str) -> None:
    data, facts = k3s_site()
    facts["cn1"]["kubelet_conf"] = kubelet_conf
    if "/etc/kubernetes/" in kubelet_conf:
        facts["cn1"]["layout"] = layout.KUBEADM_MARK  # a node of the kubeadm line
    got = judge(data, facts, "HA-CP-005", "cn1")
    assert got is not None and message in got


def test_a_node_address_on_br0_keeps_the_manifests_nic_as_its_port() -> None:
    """Once the Host service moves the node IP onto br0 the manifest still names eth0."""
    data, facts = k3s_site()
    facts["cp2"]["addr"] = addr("10.127.190.245", "br0")
    facts["cp2"]["links"] = (
        "2: eth0: <BROADCAST,MULTICAST,UP> mtu 1500 master br0 state UP\n4: br0: <BROADCAST,UP> mtu 1500 state UP"
    )
    assert judge(data, facts, "HA-KA-001", "cp2") is None
    facts["cp2"]["links"] = "2: eth0: <BROADCAST,MULTICAST,UP> mtu 1500 state UP\n4: br0: <BROADCAST,UP> mtu 1500"
    got = judge(data, facts, "HA-KA-001", "cp2")
    assert got is not None and "listens on eth0, but 10.127.190.245 is on br0" in got


def db_conf(variant: str, node_index: int) -> str:
    """The DB VIP's keepalived.conf as each variant's source writes it."""
    if variant == "ocboot":
        return (
            "global_defs {\n  router_id oneclouddb\n  enable_script_security 1\n  script_user root\n}\n"
            'vrrp_script check_interface {\n  script "/etc/keepalived/check_interface.sh"\n  interval 15\n}\n'
            'vrrp_script check_mariadb {\n  script "</dev/tcp/127.0.0.1/3306"\n  interval 1\n}\n'
            "vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 92\n  priority 99\n"
            "  advert_int 1\n  nopreempt\n  authentication {\n    auth_type PASS\n    auth_pass dbpass\n  }\n"
            "  virtual_ipaddress {\n    10.127.190.101\n  }\n  track_script {\n    check_mariadb\n  }\n}\n"
        )
    state, prio = ("MASTER", 100) if node_index == 0 else ("BACKUP", 99)
    return (
        "global_defs {\n  router_id onecloud\n}\n"
        'vrrp_script chk_mysql {\n  script "/etc/keepalived/chk_mysql"\n  interval 1\n}\n'
        f"vrrp_instance VI_1 {{\n  state {state}\n  interface eth0\n  virtual_router_id 99\n  priority {prio}\n"
        "  advert_int 1\n  nopreempt\n  authentication {\n    auth_type PASS\n    auth_pass onecloud\n  }\n"
        "  virtual_ipaddress {\n    10.127.190.101\n  }\n  track_script {\n    chk_mysql\n  }\n}\n"
    )


@pytest.mark.parametrize("variant", ["manual", "ocboot"])
def test_each_db_ha_variant_passes_as_its_source_writes_it(variant: str) -> None:
    data, facts = k3s_site()
    for i, n in enumerate(("dba", "dbb")):
        facts[n]["keepalived_conf"] = db_conf(variant, i)
        facts[n]["keepalived_scripts"] = (
            "@@script /etc/keepalived/chk_mysql\n#!/bin/bash\necho | nc 127.0.0.1 3306 &>/dev/null\n"
        )
    for n in ("dba", "dbb"):
        assert judge(data, facts, "HA-KA-003", n) is None, (variant, n)
    # The health check is found by its role: one that probes nothing is no health check.
    facts["dbb"]["keepalived_conf"] = (
        db_conf(variant, 1).replace("3306", "22").replace("/etc/keepalived/chk_mysql", "/bin/true")
    )
    got = judge(data, facts, "HA-KA-003", "dbb")
    assert got is not None and "no track_script that checks the database" in got
    if variant == "manual":  # the same name, a script that checks nothing
        facts["dbb"]["keepalived_conf"] = db_conf(variant, 1)
        facts["dbb"]["keepalived_scripts"] = "@@script /etc/keepalived/chk_mysql\n#!/bin/sh\nexit 0\n"
        got = judge(data, facts, "HA-KA-003", "dbb")
        assert got is not None and "no track_script that checks the database" in got


def test_ocboots_equal_db_priorities_are_the_named_finding_on_every_profile() -> None:
    """cloudpods#18484: ocboot's template gives both DB nodes priority 99; HA-KA-009 names it
    (accepted only by a waiver of the finding), while the DB-HA page's 100/99 passes."""
    data, facts = k3s_site()
    for i, n in enumerate(("dba", "dbb")):
        facts[n]["keepalived_conf"] = db_conf("manual", i)
    assert judge(data, facts, "HA-KA-009") is None
    for i, n in enumerate(("dba", "dbb")):
        facts[n]["keepalived_conf"] = db_conf("ocboot", i)
    got = judge(data, facts, "HA-KA-009")
    assert got is not None and got.startswith(
        "the DB VIP's keepalived has one priority on every DB-HA node (dba 99, dbb 99): which node holds "
        "10.127.190.101 is left to VRRP's tie-break on the higher address"
    )
    data["profile"] = "ocboot"  # the profile that accepts ocboot's values still names the finding
    assert judge(data, facts, "HA-KA-009") == got


def test_the_manual_variants_values_on_an_ocboot_site_are_still_judged_by_ocboots() -> None:
    """Detected as ocboot (its router_id), a node carrying the DB-HA page's MASTER 100 fails."""
    data, facts = k3s_site()
    facts["dba"]["keepalived_conf"] = db_conf("ocboot", 0).replace("state BACKUP", "state MASTER")
    facts["dbb"]["keepalived_conf"] = db_conf("ocboot", 1)
    got = judge(data, facts, "HA-KA-003", "dba")
    assert got is not None and "state MASTER (expected BACKUP)" in got


def test_root_grants_as_mariadb_55_quotes_them_pass_and_hashes_stay_out() -> None:
    """CentOS 7's MariaDB 5.5 quotes the account with single quotes, 10.x with backticks."""
    data, facts = k3s_site()
    hashed = "IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'"
    for account in ("'root'@'%'", "`root`@`%`"):
        grant = f"GRANT ALL PRIVILEGES ON *.* TO {account} {hashed} WITH GRANT OPTION"
        assert judge(data, facts, "HA-DB-004", "dba", grants=[grant]) is None, account
    got = judge(data, facts, "HA-DB-004", "dba", grants=[f"GRANT USAGE ON *.* TO 'root'@'%' {hashed}"])
    assert got is not None and "lacks ALL PRIVILEGES" in got
    assert "2470C0C0" not in got and "'<redacted>'" in got


def test_a_vip_nobody_holds_says_which_track_script_keepalived_reports_failing() -> None:
    """ocboot's check_mariadb under a keepalived whose /bin/sh cannot run it: one sentence."""
    data, facts = k3s_site()
    log = (
        "Starting Keepalived v2.2.7 (01/16,2022)\nRunning on Linux 6.1.0 #1 SMP\n"
        "VRRP_Script(check_interface) succeeded\nVRRP_Script(check_mariadb) failed (exited with status 2)\n"
        "(VI_1) Entering FAULT STATE\n"
    )
    for i, n in enumerate(("dba", "dbb")):
        facts[n]["keepalived_conf"] = db_conf("ocboot", i)
        started = "Starting Keepalived v2.2.7\nVRRP_Script(check_mariadb) succeeded\n"
        facts[n]["keepalived_log"] = JOURNAL + started + log
    got = judge(data, facts, "HA-VIP-001", None, "db")
    assert got is not None
    first = got.splitlines()[0]
    assert first == (
        "db VIP 10.127.190.101 is held by no node: keepalived reports its track script failing: "
        "check_mariadb (exited with status 2) on dba, dbb"
    ), first
    assert "VRRP_Script(check_mariadb) failed (exited with status 2)" in got
    # A failing script of another instance of the same keepalived is not this VIP's cause.
    for n in ("dba", "dbb"):
        facts[n]["keepalived_log"] = JOURNAL + (
            "Starting Keepalived v2.2.7\nVRRP_Script(chk_storage) failed (exited with status 1)\n"
        )
    got = judge(data, facts, "HA-VIP-001", None, "db")
    assert got is not None and got.splitlines()[0] == "db VIP 10.127.190.101 is held by no node"
    # Without a failing script in the log since keepalived's start, nothing is invented.
    for n in ("dba", "dbb"):
        facts[n]["keepalived_log"] = JOURNAL + "VRRP_Script(check_mariadb) failed\nStarting Keepalived v2.2.7\n"
    got = judge(data, facts, "HA-VIP-001", None, "db")
    assert got is not None and got.splitlines()[0] == "db VIP 10.127.190.101 is held by no node"


def test_track_scripts_that_cannot_move_the_vip_are_caught() -> None:
    """HA-KA-006 on the DB VIP's keepalived.conf and keepalived's own log: healthy as both
    variants write it; caught when keepalived reports the script failing or disabled it for its
    permissions, when a nopreempt instance's script has a weight, or a tracked script is undefined."""
    data, facts = k3s_site()
    verdicts = {"manual": "VRRP_Script(chk_mysql) succeeded\n",
                "ocboot": "VRRP_Script(check_interface) succeeded\nVRRP_Script(check_mariadb) succeeded\n"}  # fmt: skip
    for variant in ("manual", "ocboot"):
        for i, n in enumerate(("dba", "dbb")):
            facts[n]["keepalived_conf"] = db_conf(variant, i)
            facts[n]["keepalived_log"] = JOURNAL + "Starting Keepalived v2.2.7\n" + verdicts[variant]
        assert judge(data, facts, "HA-KA-006", "dba") is None, variant
        # A script keepalived gave no verdict for since its start is not judged: never a pass.
        facts["dba"]["keepalived_log"] = JOURNAL + "Starting Keepalived v2.2.7\n"
        got = judge(data, facts, "HA-KA-006", "dba")
        assert got is not None and got.startswith("not verifiable: dba: track scripts not judged: VI_1: keepalived "
                                                  "gives no verdict for"), got  # fmt: skip
    facts["dba"]["keepalived_conf"] = db_conf("manual", 0)
    facts["dba"]["keepalived_log"] = JOURNAL + (
        "Starting Keepalived v2.2.7\nVRRP_Script(chk_mysql) succeeded\n"
        "VRRP_Script(chk_mysql) failed (exited with status 1)\n"
    )
    got = judge(data, facts, "HA-KA-006", "dba")
    assert got is not None and "keepalived reports chk_mysql failing (exited with status 1)" in got
    assert "VRRP_Script(chk_mysql) failed" in got  # the log line is the evidence
    facts["dba"]["keepalived_log"] = JOURNAL + (
        "Starting Keepalived v2.2.7\nUnsafe permissions found for script '/etc/keepalived/chk_mysql' - disabling.\n"
    )
    got = judge(data, facts, "HA-KA-006", "dba")
    assert got is not None and "keepalived disabled chk_mysql: unsafe permissions on /etc/keepalived/chk_mysql" in got
    facts["dba"]["keepalived_log"] = JOURNAL + "Starting Keepalived v2.2.7\nVRRP_Script(chk_mysql) succeeded\n"
    weighted = db_conf("manual", 0).replace("  interval 1\n}", "  interval 1\n  weight -20\n}", 1)
    facts["dba"]["keepalived_conf"] = weighted
    got = judge(data, facts, "HA-KA-006", "dba")
    assert got is not None and "chk_mysql has weight -20 on a nopreempt instance" in got
    assert judge(data, {**facts, "dba": {**facts["dba"], "keepalived_conf": weighted.replace("  nopreempt\n", "")}},
                 "HA-KA-006", "dba") is None  # fmt: skip  # without nopreempt the weight can move it
    facts["dba"]["keepalived_conf"] = db_conf("manual", 0).replace("    chk_mysql\n", "    chk_mysql\n    chk_gone\n")
    got = judge(data, facts, "HA-KA-006", "dba")
    assert got is not None and "track_script chk_gone has no vrrp_script block" in got


def certificate(days: float, cn: str = "kube-apiserver") -> tuple[bytes, str]:
    """A self-signed certificate valid for ``days`` more days: (DER, PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=300))
        .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.DER), cert.public_bytes(serialization.Encoding.PEM).decode()


def test_certificates_close_to_expiry_are_named_with_their_not_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """HA-CP-007: the VIP's served certificates (read by TLS from the runner; replaced here, so
    no traffic leaves) and the control nodes' PKI files and kubeconfig client certificates."""
    served = {6443: certificate(300)[0], 443: certificate(300, "web")[0]}
    monkeypatch.setattr(cert_checks, "served_certificate", lambda host, port, timeout=5.0: served[port])
    data, facts = k3s_site()
    etcd, client = certificate(200, "etcd-server")[1], certificate(365, "system:admin")[1]
    facts["cp1"]["certs"] = (
        f"@@cert /var/lib/rancher/k3s/server/tls/etcd/server-client.crt\n{etcd}"
        f"@@b64 /etc/rancher/k3s/k3s.yaml\n{base64.b64encode(client.encode()).decode()}\n"
    )
    assert judge(data, facts, "HA-CP-007") is None
    served[6443] = certificate(2)[0]
    got = judge(data, facts, "HA-CP-007")
    assert got is not None and got.startswith("valid for less than 30 days: API server on 10.127.190.100:6443: ")
    assert "CN=kube-apiserver NotAfter" in got and "days left" in got
    served[6443] = certificate(300)[0]
    facts["cp1"]["certs"] += "@@b64 /etc/rancher/k3s/k3s.yaml\n" + base64.b64encode(
        certificate(-1, "system:admin")[1].encode()
    ).decode() + "\n"  # fmt: skip
    got = judge(data, facts, "HA-CP-007")
    assert got is not None and "cp1:/etc/rancher/k3s/k3s.yaml (client-certificate-data): CN=system:admin" in got
    assert "expired" in got


def test_the_nodes_certificate_files_are_judged_when_the_vip_gives_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """HA-CP-007 with the platform VIP silent: an expired file on a node still fails; valid
    files leave the item blocked by ROOT-VIP (what the VIP serves was not read), never passed."""
    monkeypatch.setattr(cert_checks, "served_certificate", lambda *a, **k: pytest.fail("the VIP was asked"))
    data, facts = k3s_site()
    down = {"platform": "the runner gets no answer from the platform VIP: 10.127.190.100:6443: timed out"}
    facts["cp2"]["certs"] = f"@@cert /var/lib/rancher/k3s/server/tls/server-ca.crt\n{certificate(-3, 'k3s-ca')[1]}"
    got = judge(data, facts, "HA-CP-007", unreachable=down)
    assert got is not None and got.startswith("valid for less than 30 days: cp2:/var/lib/rancher/k3s/server/tls/")
    facts["cp2"]["certs"] = f"@@cert /var/lib/rancher/k3s/server/tls/server-ca.crt\n{certificate(900, 'k3s-ca')[1]}"
    got = judge(data, facts, "HA-CP-007", unreachable=down)
    assert got is not None and got.startswith("error: blocked by ROOT-VIP[platform]: the runner gets no answer"), got
    assert "the nodes' 1 certificate file(s) are valid for 30 days or more" in got


def etcd_fact(
    members: list[dict[str, Any]] | None,
    healthy: bool | None = True,
    *,
    cluster: str = "7001",
    me: str = "10",
    leader: str = "10",
    alarms: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    """A control node's etcd facts' raw outputs, in the shapes etcd's v3 JSON gateway answers
    (None: that request got no answer)."""
    refused: tuple[int, str] = (7, "endpoint http://127.0.0.1:2379\ncurl: (7) Failed to connect to 127.0.0.1")
    head = "endpoint http://127.0.0.1:2379\n"
    header = {"cluster_id": cluster, "member_id": me, "raft_term": "2"}
    alarm_doc: dict[str, Any] = {"header": header}
    if alarms:
        alarm_doc["alarms"] = [{"memberID": m, "alarm": a} for m, a in alarms]
    answered = members is not None
    return {
        "etcd_members": head + json.dumps({"header": header, "members": members}) if answered else refused,
        "etcd_health": refused if healthy is None else head + json.dumps({"health": "true" if healthy else "false"}),
        "etcd_status": head + json.dumps({"header": header, "version": "3.5.9", "leader": leader}) if answered
        else refused,
        "etcd_alarms": head + json.dumps(alarm_doc) if answered else refused,
    }  # fmt: skip


def etcd_site() -> tuple[dict[str, Any], dict[str, dict[str, str]], list[dict[str, Any]], list[str]]:
    """A k3s site whose three control nodes' etcd agree: (data, facts, members, control names)."""
    data, facts = k3s_site()
    control = [(n["name"], n["address"]) for n in data["nodes"] if "control" in n["roles"]]
    good = [
        {"ID": str(10 + i), "name": name, "peerURLs": [f"https://{addr}:2380"], "clientURLs": [f"https://{addr}:2379"]}
        for i, (name, addr) in enumerate(control)
    ]
    for i, (name, _) in enumerate(control):
        facts[name].update(etcd_fact(good, me=str(10 + i)))
    return data, facts, good, [name for name, _ in control]


def test_etcd_quorum_membership_catches_stale_unstarted_and_missing_members() -> None:
    """HA-CP-008 from each control node's view of etcd (member list and its own health)."""
    data, facts, good, control = etcd_site()
    assert judge(data, facts, "HA-CP-008") is None
    stale = [*good, {"ID": "99", "peerURLs": ["https://10.127.190.99:2380"]}]  # added, never started
    for i, name in enumerate(control):
        facts[name].update(etcd_fact(stale, me=str(10 + i)))
    got = judge(data, facts, "HA-CP-008")
    # 4 voters: quorum 3, and only 3 started and healthy: one more failure loses the quorum.
    assert got is not None and "(4 voting members, quorum 3, 3 started and healthy: tolerating 0 failure(s))" in got
    assert "member ID 99 (https://10.127.190.99:2380) is no control node" in got and "has never started" in got
    for name in control:
        facts[name].update(etcd_fact(good[:2]))
    facts[control[2]].update(etcd_fact(None, None))
    got = judge(data, facts, "HA-CP-008")
    assert got is not None and f"control node(s) {control[2]} are no etcd member" in got
    assert f"etcd on {control[2]} does not answer healthy" in got
    for name in control:
        facts[name].update(etcd_fact(None, None))
    got = judge(data, facts, "HA-CP-008")
    assert got is not None and got.startswith("no control node's etcd answered with its member list")


def test_a_member_with_a_cluster_of_its_own_fails_though_it_answers_healthy() -> None:
    """One node's etcd restarted as a new one-member cluster (--force-new-cluster after a
    rejoin): healthy to its own /health, while the others still list it."""
    data, facts, good, control = etcd_site()
    facts[control[2]].update(etcd_fact([good[2]], cluster="9002", me="12", leader="12"))
    got = judge(data, facts, "HA-CP-008")
    assert got is not None and "the members do not agree on the cluster" in got
    assert f"{control[2]}: 9002" in got and "the members do not agree on the leader" in got
    assert "the members do not agree on the members" in got
    # Healthy to its own /health, it serves the others' cluster not at all: 2 of 3, none to spare.
    assert "(3 voting members, quorum 2, 2 started and healthy: tolerating 0 failure(s))" in got


def test_an_alarmed_cluster_tolerates_no_failure() -> None:
    data, facts, good, control = etcd_site()
    for i, name in enumerate(control):
        facts[name].update(etcd_fact(good, me=str(10 + i), alarms=(("10", "NOSPACE"), ("11", "NOSPACE"))))
    got = judge(data, facts, "HA-CP-008")
    assert got is not None and "3 started and healthy: tolerating 0 failure(s)" in got
    assert f"the cluster has alarm(s) raised: NOSPACE on {control[0]}, NOSPACE on {control[1]}" in got


def test_nopreempt_on_an_initial_master_is_the_db_ha_pages_own_contradiction() -> None:
    """HA-KA-007: the DB-HA page's first DB node (MASTER + nopreempt) fails, with keepalived's
    own line when its log has it; its BACKUP peer and ocboot's variant (both BACKUP) pass."""
    data, facts = k3s_site()
    for i, n in enumerate(("dba", "dbb")):
        facts[n]["keepalived_conf"] = db_conf("manual", i)
    assert judge(data, facts, "HA-KA-007", "dbb") is None
    got = judge(data, facts, "HA-KA-007", "dba")
    assert got is not None and "VI_1 (db VIP) has state MASTER with nopreempt" in got
    assert "dba takes the VIP back whenever it returns" in got
    facts["dba"]["keepalived_log"] = JOURNAL + (
        "Starting Keepalived v2.2.7\n(VI_1) Warning - nopreempt will not work with initial state MASTER - clearing\n"
    )
    got = judge(data, facts, "HA-KA-007", "dba")
    assert got is not None and "keepalived says so: (VI_1) Warning - nopreempt will not work" in got
    for i, n in enumerate(("dba", "dbb")):
        facts[n]["keepalived_conf"] = db_conf("ocboot", i)
        assert judge(data, facts, "HA-KA-007", n) is None


POD_LOG_OK = (
    "runtime k3s crictl\ncontainer 4f1c2a\nStarting Keepalived v2.0.29 (10/24,2020)\n"
    "VRRP_Script(check_kube) succeeded\n(VI_1) Entering BACKUP STATE\n"
)


def test_the_static_pods_track_scripts_are_read_from_its_container_log() -> None:
    """HA-KA-006 on the platform keepalived's static pod: its container's log (k3s crictl or
    docker) gives the image's scripts' verdicts; a failing or disabled one is named; where no
    runtime answers, the item is skipped as not verifiable (never passed)."""
    data, facts = k3s_site()
    facts["cp2"]["keepalived_pod_log"] = POD_LOG_OK
    assert judge(data, facts, "HA-KA-006", "cp2") is None
    facts["cp2"]["keepalived_pod_log"] = POD_LOG_OK + "VRRP_Script(check_kube) failed (exited with status 7)\n"
    got = judge(data, facts, "HA-KA-006", "cp2")
    assert got is not None, "a failing check_kube passed"
    assert got.splitlines()[0] == (
        f"cp2: static pod {layout.LINES['k3s'].keepalived_manifest}: keepalived reports the image's check_kube "
        "failing (exited with status 7): this node is unfit for the VIP"
    ), got
    assert "VRRP_Script(check_kube) failed (exited with status 7)" in got  # the log line is the evidence
    # A verdict before the container's last start no longer counts.
    facts["cp2"]["keepalived_pod_log"] = (
        "runtime docker\ncontainer 9a8b\nVRRP_Script(check_kube) failed (exited with status 7)\n"
        "Starting Keepalived v2.0.25\nVRRP_Script(check_kube) succeeded\n"
    )
    assert judge(data, facts, "HA-KA-006", "cp2") is None
    disabled = "Disabling track script check_route since not found"
    facts["cp2"]["keepalived_pod_log"] = f"runtime k3s crictl\ncontainer 4f1c2a\n{disabled}\n"
    got = judge(data, facts, "HA-KA-006", "cp2")
    assert got is not None and "keepalived disabled the image's check_route (since not found)" in got, got
    facts["cp2"]["keepalived_pod_log"] = (5, "no container runtime (k3s, docker) on PATH")
    got = judge(data, facts, "HA-KA-006", "cp2")
    assert got is not None and got.startswith("not verifiable: cp2: fact 'keepalived_pod_log' exited 5, a tool"), got
    # The probe's own reason reaches the verdict: the runtime is there, sudo -n was refused.
    facts["cp2"]["keepalived_pod_log"] = (4, "sudo: a password is required")
    got = judge(data, facts, "HA-KA-006", "cp2")
    assert got == "not verifiable: cp2: fact 'keepalived_pod_log' exited 4: sudo: a password is required", got
    facts["cp2"]["keepalived_pod_log"] = "runtime k3s crictl\ncontainer \n"
    got = judge(data, facts, "HA-KA-006", "cp2")  # no container, no log: HA-KA-005 fails it, this one cannot judge
    assert got is not None and got.startswith("not verifiable: cp2: track scripts not judged"), got
    # The kubeadm line's manifest gives no CHECK_KUBE_CMD: its instance tracks no script, and a
    # readable log without verdicts is nothing to judge.
    facts["cp2"]["keepalived_manifest"] = f"@@manifest {layout.LINES['kubeadm'].keepalived_manifest}\n" + manifest(
        "BACKUP", 90, line="kubeadm"
    )
    facts["cp2"]["keepalived_pod_log"] = "runtime docker\ncontainer 9a8b\nStarting Keepalived v2.0.25\n"
    assert judge(data, facts, "HA-KA-006", "cp2") is None


def test_a_platform_vip_nobody_holds_names_the_static_pods_failing_script() -> None:
    data, facts = k3s_site()
    for n in CONTROL:
        facts[n]["keepalived_pod_log"] = (
            "runtime k3s crictl\ncontainer 4f1c2a\nStarting Keepalived v2.0.29\n"
            "VRRP_Script(check_kube) failed (exited with status 7)\n(VI_1) Entering FAULT STATE\n"
        )
    for n in ("dba", "dbb"):
        facts[n]["addr"] += "\n" + addr("10.127.190.101")  # the DB VIP held, the platform one not
    got = judge(data, facts, "HA-VIP-001", None, "platform")
    assert got is not None
    assert got.splitlines()[0] == (
        f"platform VIP {VIP} is held by no node: keepalived reports its track script failing: "
        "check_kube (exited with status 7) on cp1, cp2, cp3"
    ), got
    assert "k3s crictl logs 4f1c2a" not in got.splitlines()[0]


@pytest.mark.parametrize("runtime", ["k3s", "docker"])
def test_the_pod_log_probe_reads_the_labs_runtime_stand_in(tmp_path: Any, runtime: str) -> None:
    """The probe's own command against the lab's runtime stand-in (as ``k3s crictl`` and as
    ``docker``), with a journal of two keepalived starts: the running container's id, and its
    log from the last start only; nothing running: no container, and the evidence says so."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / runtime).write_text(RUNTIME)
    (bin_dir / "journalctl").write_text(
        "#!/bin/sh\nprintf '%s\\n' 'Starting Keepalived v2.2.7' 'VRRP_Script(check_kube) failed (exited with status 7)'"
        " 'static pod: keepalived started' 'Starting Keepalived v2.2.7' 'VRRP_Script(check_kube) succeeded'\n"
    )
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    sleeper = subprocess.Popen(["sleep", "30"])  # the "container": a live pid in the pid file
    try:
        pidfile = tmp_path / "keepalived.pid"
        pidfile.write_text(f"{sleeper.pid}\n")
        env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "HA_STANDIN_PIDFILE": str(pidfile)}
        manifest = tmp_path / "keepalived.yaml"  # the static pod's manifest, at a test path
        command = POD_LOG_COMMAND.replace(AS_ROOT, 'asroot() { "$@"; }; ')  # as root, whoever runs the test
        for path in layout.MANIFESTS:
            command = command.replace(path, str(manifest))
        probe = PROBES["keepalived_pod_log"]

        def run() -> Any:
            done = subprocess.run(["sh", "-c", command], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=10, check=False)  # fmt: skip
            return probe.read(done.returncode, done.stdout.strip())  # dash, as /bin/sh on Debian

        assert run() is None  # a node without the pod: its runtime is not asked
        manifest.write_text("kind: Pod\n")
        got = run()
        assert got.runtime == ("k3s crictl" if runtime == "k3s" else "docker") and len(got.container) == 13
        assert got.log.splitlines() == ["Starting Keepalived v2.2.7", "VRRP_Script(check_kube) succeeded"], got
    finally:
        sleeper.kill()
        sleeper.wait()
    assert run().container is not None  # exited, still listed with -a (as its last container)
    pidfile.unlink()
    assert run().container is None
    # A runtime that does not answer (sudo -n refused, its socket down): unreadable, and the
    # checks that read it are not verifiable rather than passed with "no container".
    (bin_dir / runtime).write_text("#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n")
    got = run()
    assert isinstance(got, Unreadable) and got.not_verifiable and "sudo: a password is required" in got.reason


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_conf_probe_follows_includes_as_keepalived_does(tmp_path: Any, shell: str) -> None:
    """keepalived_conf: each included file after its "# @@include" line, a relative path taken
    from the including file's directory, globs expanded, nested includes followed, a loop cut
    after 4 levels; run by the login shells a site has (dash and bash)."""
    conf_dir, other = tmp_path / "keepalived", tmp_path / "other"
    (conf_dir / "conf.d").mkdir(parents=True)
    other.mkdir()
    (conf_dir / "keepalived.conf").write_text(f"global_defs {{\n}}\ninclude conf.d/*.conf\ninclude {other}/x.conf\n")
    (conf_dir / "conf.d" / "a.conf").write_text("vrrp_instance A {\n}\ninclude ../deep.conf\n")
    (conf_dir / "conf.d" / "b.conf").write_text("vrrp_instance B {\n}\n")
    (conf_dir / "deep.conf").write_text("vrrp_script deep {\n}\n")
    (other / "x.conf").write_text("include y.conf\n")
    (other / "y.conf").write_text("include x.conf\n")  # a loop
    command = KA_CONF_CHAIN.replace("/etc/keepalived", str(conf_dir))
    out = subprocess.run([shell, "-c", command], capture_output=True, text=True, timeout=10, check=True).stdout
    marks = [line.removeprefix("# @@include ") for line in out.splitlines() if line.startswith("# @@include ")]
    assert marks[:3] == [f"{conf_dir}/conf.d/a.conf", f"{conf_dir}/conf.d/../deep.conf", f"{conf_dir}/conf.d/b.conf"]
    assert marks[3:] == [f"{other}/x.conf", f"{other}/y.conf", f"{other}/x.conf", f"{other}/y.conf"], marks
    assert "vrrp_script deep" in out and out.startswith("global_defs {")


def test_the_pages_interface_switcher_needs_one_interface_line() -> None:
    """HA-KA-008: judged only where the switcher's cron file is; one `interface` line in
    keepalived.conf itself passes (an included file's lines do not count: the switcher greps
    keepalived.conf alone); a second instance, a comment with the word, or none fails."""
    data, facts = k3s_site()
    one = "vrrp_instance VI_DB {\n    interface eth0\n    track_interface {\n    }\n}\ninclude installer.conf\n"
    included = "\n# @@include /etc/keepalived/installer.conf\nvrrp_instance VI_S {\n    interface eth0\n}\n"
    cron = "/etc/cron.d/update_keepalived_interface\n/etc/keepalived/check_interface.sh"
    facts["dba"]["keepalived_conf"] = one + included
    facts["dba"]["interface_switcher"] = cron
    assert judge(data, facts, "HA-KA-008", "dba") is None
    for broken, shown in (
        (one + "# spare interface: eth1\n", "reads 2 lines with the word interface"),
        (one + "vrrp_instance VI_X {\n    interface eth0\n}\n", "('interface eth0'; 'interface eth0')"),
        ("vrrp_instance VI_DB {\n}\n", "reads 0 lines with the word interface"),
    ):
        facts["dba"]["keepalived_conf"] = broken + included
        got = judge(data, facts, "HA-KA-008", "dba")
        assert got is not None, broken
        assert "its sed cannot rewrite them and it restarts keepalived every 20 s" in got
        assert shown in got, got
    facts["dba"]["interface_switcher"] = ""  # no switcher: nothing it could break
    assert judge(data, facts, "HA-KA-008", "dba") is None


def test_a_db_vip_nobody_holds_names_a_netcat_that_waits_for_the_server() -> None:
    """The DB-HA page's chk_mysql (`echo | nc ...`) on a host whose nc is OpenBSD's netcat: it
    waits for MariaDB to close, which MariaDB does only at connect_timeout; the unheld VIP's
    cause says so. With nmap's ncat (CentOS 7's nc), nothing is invented."""
    data, facts = k3s_site()
    for i, n in enumerate(("dba", "dbb")):
        facts[n]["keepalived_conf"] = db_conf("manual", i)
        facts[n]["keepalived_scripts"] = (
            "@@script /etc/keepalived/chk_mysql\n#!/bin/bash\necho | nc 127.0.0.1 3306 &>/dev/null\n"
        )
        failed = "VRRP_Script(chk_mysql) failed (exited with status 1)\n"
        facts[n]["keepalived_log"] = JOURNAL + "Starting Keepalived\n" + failed
        facts[n]["netcat"] = "/usr/bin/nc.openbsd\nOpenBSD netcat (Debian patchlevel 1.219-1)"
    got = judge(data, facts, "HA-VIP-001", None, "db")
    assert got is not None
    assert "its script runs nc, which on dba is OpenBSD netcat: it waits for the server to close" in got, got
    for n in ("dba", "dbb"):
        facts[n]["netcat"] = "/usr/bin/ncat\nNcat: Version 7.93 ( https://nmap.org/ncat )"
    got = judge(data, facts, "HA-VIP-001", None, "db")
    assert got is not None and got.splitlines()[0].endswith("chk_mysql (exited with status 1) on dba, dbb"), got


# As MariaDB 10.11 (the lab's) and 5.5 (CentOS 7's) answer SELECT @@read_only, @@slave_skip_errors,
# @@slave_exec_mode through pymysql; MariaDB Enterprise documents "" as slave_skip_errors' default.
WRITABLE_STRICT = {"read_only": 0, "slave_skip_errors": "OFF", "slave_exec_mode": "STRICT"}


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({}, None),
        ({"slave_skip_errors": ""}, None),
        ({"read_only": 1}, "dbb: read_only is ON: it refuses writes once the DB VIP moves to it"),
        ({"slave_skip_errors": "1062,1032"}, "slave_skip_errors is 1062,1032: replication skips those errors"),
        ({"slave_skip_errors": "ALL"}, "slave_skip_errors is ALL"),
        ({"slave_exec_mode": "IDEMPOTENT"}, "slave_exec_mode is IDEMPOTENT: replication ignores missing"),
        ({"slave_exec_mode": None}, "not verifiable: dbb: MariaDB gave no value for slave_exec_mode"),
    ],
)
def test_a_db_node_that_refuses_writes_or_skips_errors_fails(changed: dict[str, Any], message: str | None) -> None:
    data, facts = k3s_site()
    got = judge(data, facts, "HA-DBHA-006", "dbb", variables={**WRITABLE_STRICT, **changed})
    assert got == message if message is None else (got is not None and message in got), got
