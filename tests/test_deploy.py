"""Deployment of each topology into the lab, asserted directly on the machines."""

from __future__ import annotations

import io
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
import requests
import urllib3
import yaml
from minio import Minio

from bootstrap import inventory as inv
from bootstrap.deploy import DeployError, deploy
from bootstrap.lab.lab import Lab
from bootstrap.layout import DEFAULT_LINE, LINES
from bootstrap.remote import Remote
from bootstrap.topology import Role

pytestmark = [pytest.mark.lab, pytest.mark.destructive]
pytestmark.append(pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"))


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = Lab()
    if lab.is_up():
        pytest.fail("a lab is already up on this host; the self-tests need it: python -m bootstrap.lab down")
    yield lab
    lab.down()


def bring_up(lab: Lab, topology: str) -> inv.Inventory:
    lab.down()
    lab.up(topology)
    return inv.load(lab.paths.inventory)


def sh(inventory: inv.Inventory, node: str, command: str) -> str:
    remote = Remote.for_node(inventory, node)
    try:
        return remote.run(command).stdout.strip()
    finally:
        remote.close()


def holders(inventory: inv.Inventory, vip: str) -> list[str]:
    found = []
    for node in inventory.nodes:
        addrs = sh(inventory, node.name, "ip -o -4 addr show | awk '{print $4}'").split()
        if f"{vip}/32" in addrs:
            found.append(node.name)
    return found


def db(inventory: inv.Inventory, host: str) -> pymysql.connections.Connection:  # type: ignore[type-arg]
    return pymysql.connect(
        host=host,
        port=inventory.db.port,
        user=inventory.db.user,
        password=inventory.db.password(),
        connect_timeout=3,
        read_timeout=5,
        autocommit=True,
    )


def s3(inventory: inv.Inventory) -> Minio:
    assert inventory.storage is not None
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=3), retries=False)
    return Minio(
        inventory.storage.endpoint.split("://", 1)[1],
        access_key=inventory.storage.access_key,
        secret_key=inventory.storage.secret_key(),
        secure=False,
        http_client=http,
    )


def until(what: str, fn: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return fn()
        except Exception as exc:
            last = exc
            time.sleep(0.5)
    raise AssertionError(f"{what} not reached in {timeout:g} s: {last}")


@pytest.mark.parametrize("topology", ["3node", "4node", "5node"])
def test_deploy_reaches_the_documented_state_and_is_idempotent(lab: Lab, topology: str) -> None:
    inventory = bring_up(lab, topology)
    extras = lab.installer()
    assert extras is not None
    log = io.StringIO()
    first = deploy(inventory, installer=extras, log=log)
    assert first, "a fresh lab needs changes"
    password = inventory.db.password()
    assert password not in log.getvalue()

    # Each VIP on exactly one node of its group, and on no other node. Read node by node, a
    # handover in progress (a higher-priority node that started last preempting) can read as
    # nobody: the state is asked until it holds (a liveness bound, not a speed goal).
    def settled(vip: str, group: set[str]) -> None:
        held = holders(inventory, vip)
        assert len(held) == 1 and held[0] in group, held

    until("platform VIP on one node", lambda: settled(str(inventory.vips.platform), {
        n.name for n in inventory.nodes_with(Role.PLATFORM_HA)}), timeout=30)  # fmt: skip
    if inventory.vips.db is not None:
        until("DB VIP on one node", lambda: settled(str(inventory.vips.db), {
            n.name for n in inventory.nodes_with(Role.DB_HA)}), timeout=30)  # fmt: skip

    # root@'%' with GRANT OPTION, through the DB VIP (or the DB node in 4node).
    db_host = str(inventory.vips.db or inventory.nodes_with(Role.DB)[0].address)
    conn = db(inventory, db_host)
    with conn.cursor() as cur:
        cur.execute("SHOW GRANTS FOR 'root'@'%'")
        grants = " ".join(row[0] for row in cur.fetchall())
        assert "GRANT ALL PRIVILEGES ON *.* TO `root`@`%`" in grants and "WITH GRANT OPTION" in grants
        cur.execute("SELECT @@max_connections, @@skip_name_resolve, @@innodb_file_per_table")
        max_conn, skip, per_table = cur.fetchone()
        assert (skip, per_table) == (1, 1)
        assert max_conn == (1000 if topology != "4node" else 300)

    if inventory.vips.db is not None:
        # Replication Yes/Yes both ways; a row written through the VIP is on both nodes.
        marker = uuid.uuid4().hex
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS ha_selftest")
            cur.execute("CREATE TABLE IF NOT EXISTS ha_selftest.t (id INT AUTO_INCREMENT PRIMARY KEY, v CHAR(32))")
            cur.execute("INSERT INTO ha_selftest.t (v) VALUES (%s)", (marker,))
        for node in inventory.nodes_with(Role.DB_HA):
            status = sh(inventory, node.name, "mysql -E -e 'SHOW SLAVE STATUS' | grep _Running:")
            assert "Slave_IO_Running: Yes" in status and "Slave_SQL_Running: Yes" in status, node.name

            def seen(addr: str = str(node.address)) -> None:
                with db(inventory, addr).cursor() as cur:
                    cur.execute("SELECT COUNT(*) FROM ha_selftest.t WHERE v=%s", (marker,))
                    assert cur.fetchone() == (1,)

            until(f"row on {node.name}", seen, timeout=10)
    conn.close()
    for node in inventory.nodes_with(Role.DB_HA):  # the lab's nc behaves as the page's platform's (CentOS 7)
        assert sh(inventory, node.name, "command -v nc; tail -n 1 /usr/local/bin/nc") == (
            '/usr/local/bin/nc\nexec ncat --send-only "$@"'
        )

    # The First Node reaches the other control nodes without a password and reads their hostname.
    first = inventory.first_node()
    for peer in inventory.nodes_with(Role.CONTROL):
        if peer.name != first.name:
            out = sh(inventory, first.name, f"ssh -o BatchMode=yes -o ConnectTimeout=3 root@{peer.address} hostname")
            assert out == peer.name
            admin = LINES[DEFAULT_LINE].admin_kubeconfig
            assert sh(inventory, peer.name, f"cmp {admin} /root/.kube/config && echo same") == "same"
    assert sh(inventory, first.name, "id -u yunion") != "0"
    assert "NOPASSWD: ALL" in sh(inventory, first.name, "cat /etc/sudoers.d/yunion")

    # The platform through its VIP.
    vip = inventory.vips.platform
    assert requests.get(f"https://{vip}:6443/healthz", verify=False, timeout=3).text == "ok"
    assert requests.get(f"https://{vip}:30500/ping", verify=False, timeout=5).text == "pong"
    assert "Cloudpods" in requests.get(f"https://{vip}/", verify=False, timeout=3).text

    # Idempotence: a second run changes nothing.
    again = io.StringIO()
    assert deploy(inventory, installer=extras, log=again) == []
    assert "done: 0 change(s)" in again.getvalue()


def test_storage_object_survives_the_death_of_its_node(lab: Lab) -> None:
    """Continues on the 5node lab of the test above."""
    inventory = inv.load(lab.paths.inventory)
    assert inventory.topology == "5node" and inventory.storage is not None
    client = s3(inventory)
    bucket = inventory.storage.bucket

    def put() -> None:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
        client.put_object(bucket, "survivor", io.BytesIO(b"still here"), 10)

    until("storage answers", put, timeout=60)
    holder = lab.status().vips["storage"].holders
    assert len(holder) == 1
    lab.kill(holder[0])
    try:
        body = until("object after failover", lambda: client.get_object(bucket, "survivor").read(), timeout=90)
        assert body == b"still here"
        now = lab.status().vips["storage"].holders
        assert len(now) == 1 and now != holder
    finally:
        lab.start(holder[0])


def test_unreachable_node_stops_the_deploy_before_any_change(lab: Lab) -> None:
    inventory = bring_up(lab, "4node")
    lab.kill("node3")
    log = io.StringIO()
    with pytest.raises(DeployError, match=r"node3: step 'connect': node3 \(10\.\d+\.\d+\.13\) is unreachable over SSH"):
        deploy(inventory, installer=lab.installer(), log=log)
    assert "change" not in log.getvalue().split("\n", 1)[1]
    # Nothing changed anywhere: the first step would have written this file.
    assert sh(inventory, "node1", "test -e /etc/selinux/config && echo changed || echo untouched") == "untouched"


def test_failing_step_names_node_step_and_error(lab: Lab) -> None:
    inventory = bring_up(lab, "4node")
    sh(inventory, "db1", "systemctl mask mariadb")
    with pytest.raises(DeployError) as err:
        deploy(inventory, installer=lab.installer(), log=io.StringIO())
    text = str(err.value)
    assert text.startswith("db1: step 'mariadb': db1: command failed")
    assert "systemctl enable mariadb" in text and "masked" in text


def test_passwords_never_reach_a_command_line(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    inventory = bring_up(lab, "3node")
    seen: list[str] = []
    original = Remote.run

    def spy(self: Remote, command: str, **kwargs: Any) -> Any:
        seen.append(command)
        return original(self, command, **kwargs)

    monkeypatch.setattr(Remote, "run", spy)
    log = io.StringIO()
    deploy(inventory, installer=lab.installer(), log=log)
    secrets = [inventory.db.password()]
    assert inventory.storage is not None
    secrets.append(inventory.storage.secret_key())
    assert len(seen) > 50
    for secret in secrets:
        assert not [c for c in seen if secret in c]
        assert secret not in log.getvalue()
    # and `ps` on a node shows no password while services run with it
    ps = sh(inventory, "node1", "ps -eo args")
    assert all(secret not in ps for secret in secrets)


# The lab's default line's (k3s) files, as its installer writes them.
INSTALLER_FILES = {
    "control": [
        "/etc/keepalived/keepalived.conf",
        LINES[DEFAULT_LINE].admin_kubeconfig,
        "/root/.kube/config",
    ],
    "platform-ha": [LINES[DEFAULT_LINE].keepalived_manifest],  # 3node's node3 runs no platform keepalived
    "compute": [LINES[DEFAULT_LINE].compute_join, LINES[DEFAULT_LINE].compute_kubeconfig],
    "db-ha": ["/etc/keepalived/keepalived.conf"],
}


def fingerprint(inventory: inv.Inventory) -> dict[str, str]:
    """sha256 of every file the installer owns (and the DB keepalived), and when keepalived started."""
    found = {}
    for node in inventory.nodes:
        files = [f for role, fs in INSTALLER_FILES.items() if node.has(Role(role)) for f in fs]
        out = sh(
            inventory,
            node.name,
            f"sha256sum {' '.join(files)} 2>&1; systemctl show -p ActiveEnterTimestamp keepalived",
        )
        found[node.name] = out
    return found


def deploy_cli(site: Any, *args: str) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "bootstrap.deploy", f"--inventory={site}", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_deployer_never_changes_an_installed_site(lab: Lab, tmp_path: Any) -> None:
    """The deployed lab presented as a customer's site (its inventory under another name):
    without confirmation the deployer refuses; with it, it finds the installed control plane
    and refuses too. Nothing the installer owns changes, byte for byte."""
    lab.down()
    lab.up("3node", 1)
    lab.deploy(log=io.StringIO())
    inventory = inv.load(lab.paths.inventory)
    data = yaml.safe_load(lab.paths.inventory.read_text())
    data["site"] = "acme-prod"
    site = tmp_path / "acme.yaml"
    site.write_text(yaml.safe_dump(data))
    before = fingerprint(inventory)
    assert all("No such file" not in out for out in before.values()), before

    refused = deploy_cli(site)
    assert refused.returncode == 1
    assert "--confirm-site=acme-prod" in refused.stderr and "Traceback" not in refused.stderr
    confirmed = deploy_cli(site, "--confirm-site=acme-prod")
    assert confirmed.returncode == 1, confirmed.stdout + confirmed.stderr
    assert "already runs a control plane" in confirmed.stderr
    assert f"{LINES[DEFAULT_LINE].admin_kubeconfig} exists" in confirmed.stderr
    assert f"compute1: {LINES[DEFAULT_LINE].compute_join} exists" in confirmed.stderr
    assert fingerprint(inventory) == before


def test_a_confirmed_site_gets_the_documents_preparation_only(lab: Lab, tmp_path: Any) -> None:
    """A site before its install (the lab after the document's preparation): with confirmation
    the deployer runs the document's steps (nothing left to change) and none of the installer's."""
    lab.down()
    lab.up("3node")
    lab.deploy(log=io.StringIO(), stage="prepare")
    data = yaml.safe_load(lab.paths.inventory.read_text())
    data["site"] = "acme-staging"
    site = tmp_path / "staging.yaml"
    site.write_text(yaml.safe_dump(data))
    done = deploy_cli(site, "--confirm-site=acme-staging")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 change(s)"
    inventory = inv.load(site)
    for node in inventory.nodes_with(Role.CONTROL):
        files = f"{LINES[DEFAULT_LINE].admin_kubeconfig} {LINES[DEFAULT_LINE].keepalived_manifest}"
        absent = sh(inventory, node.name, f"ls {files} 2>&1 || true")
        assert absent.count("No such file") == 2, absent
    for node in inventory.nodes_with(Role.DB_HA):  # the distribution's nc, nothing of the lab's own
        assert sh(inventory, node.name, "command -v nc; ls /usr/local/bin/nc 2>&1 || true").splitlines() == [
            "/usr/bin/nc",
            "ls: cannot access '/usr/local/bin/nc': No such file or directory",
        ]


def test_a_keepalived_conf_of_the_sites_own_is_never_replaced(lab: Lab, tmp_path: Any) -> None:
    """Before its install, a DB node of the site keeps a keepalived.conf the deployer did not
    write: with confirmation it still refuses, before changing anything anywhere."""
    lab.down()
    lab.up("3node")
    data = yaml.safe_load(lab.paths.inventory.read_text())
    data["site"] = "acme-staging"
    site = tmp_path / "staging.yaml"
    site.write_text(yaml.safe_dump(data))
    inventory = inv.load(site)
    own = "vrrp_instance VI_EIPGW {\n    state BACKUP\n}\n"
    sh(
        inventory,
        "node1",
        f"mkdir -p /etc/keepalived && printf '%s' {shlex.quote(own)} > /etc/keepalived/keepalived.conf",
    )
    refused = deploy_cli(site, "--confirm-site=acme-staging")
    assert refused.returncode == 1, refused.stdout
    assert "keeps a keepalived.conf of its own" in refused.stderr
    assert "node1: /etc/keepalived/keepalived.conf exists and was not written by this deployer" in refused.stderr
    assert sh(inventory, "node1", "cat /etc/keepalived/keepalived.conf") == own.strip()
    # Nothing changed elsewhere either: the first step would have written this file.
    assert sh(inventory, "node2", "test -e /etc/selinux/config && echo changed || echo untouched") == "untouched"
