"""ocboot's config.yml (and the host_inventory.yml it writes) read as a site inventory: each
example in tests/data/ocboot/ gives the inventory next to it, each malformed file one error
naming its key, and the DB password is read from the file in memory, never copied."""

from __future__ import annotations

import base64
import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bootstrap import discovery
from bootstrap import inventory as inv
from bootstrap.lab import config as lab_config
from bootstrap.lab import files as lab_files
from bootstrap.lab.lab import Lab
from bootstrap.ocboot_config import OcbootConfigError, inventory_data

DATA = Path(__file__).parent / "data" / "ocboot"
ROOT = Path(__file__).parent.parent
KEY = Path("/root/.ssh/id_ed25519")
SECRET = "placeholder-db-secret"


def expected(name: str, config: Path) -> dict[str, object]:
    text = (DATA / name).read_text().replace("<CONFIG>", str(config.resolve()))
    data: dict[str, object] = yaml.safe_load(text)
    return data


@pytest.mark.parametrize(
    ("config", "want", "db_nodes"),
    [
        ("ha-3node-published.yml", "ha-3node-published.expected.yaml", ()),
        ("ha-5node.yml", "ha-5node.expected.yaml", ()),
        ("ha-4node.yml", "ha-4node.expected.yaml", ()),
    ],
)
def test_each_published_shape_gives_its_inventory(config: str, want: str, db_nodes: tuple[str, ...]) -> None:
    got = inventory_data(DATA / config, ssh_key=KEY, db_nodes=db_nodes)
    assert inv.parse(got) == inv.parse(expected(want, DATA / config))


def test_the_ansible_inventory_ocboot_writes_gives_the_same_site() -> None:
    """host_inventory.yml, written by ocboot from ha-5node.yml: the same nodes, roles and VIPs."""
    from_ansible = inventory_data(DATA / "host_inventory-5node.yml", ssh_key=KEY)
    from_config = inventory_data(DATA / "ha-5node.yml", ssh_key=KEY)
    for key in ("topology", "nodes", "vips", "layout", "ssh", "site"):
        assert from_ansible[key] == from_config[key], key


def test_the_db_password_stays_in_the_file_and_is_read_in_memory(tmp_path: Path) -> None:
    for name in ("ha-5node.yml", "host_inventory-5node.yml", "ha-4node.yml"):
        data = inventory_data(DATA / name, ssh_key=KEY)
        assert SECRET not in yaml.safe_dump(data)
        assert inv.parse(data).db.password() == SECRET
    out = tmp_path / "site.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "bootstrap.inventory", "from-ocboot", str(DATA / "ha-5node.yml"), "--out", str(out),
         "--ssh-key", str(KEY)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "5node site ocboot-198.51.100.100, 7 nodes" in done.stdout
    assert SECRET not in out.read_text() and SECRET not in done.stdout + done.stderr
    assert inv.load(out).db.password() == SECRET


def test_a_database_deployed_outside_ocboot_is_named_with_db_nodes() -> None:
    """The HA document deploys MariaDB by hand: the file knows only db_host (the DB VIP)."""
    config = DATA / "manual-db.yml"
    with pytest.raises(OcbootConfigError, match=r"primary_master_node\.db_host: 192\.0\.2\.101 .*--db-nodes"):
        inventory_data(config, ssh_key=KEY)
    site = inv.parse(inventory_data(config, ssh_key=KEY, db_nodes=("192.0.2.21", "192.0.2.22")))
    assert site.topology == "5node" and site.layout.db_ha == "manual"
    assert [n.name for n in site.nodes_with(inv.Role.DB_HA)] == ["db1", "db2"]
    assert str(site.vips.db) == "192.0.2.101"
    shared = inv.parse(inventory_data(config, ssh_key=KEY, db_nodes=("192.0.2.11", "192.0.2.12")))
    assert shared.topology == "3node"  # the document's 3node: DB HA on nodes 1-2


BASE = (DATA / "ha-5node.yml").read_text()


def _edit(path: str, value: object) -> str:
    data = yaml.safe_load(BASE)
    *parents, last = path.split(".")
    target = data
    for p in parents:
        target = target[int(p)] if p.isdigit() else target[p]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return yaml.safe_dump(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("primary_master_node: [a, b", "not valid YAML (line 1"),
        ("- just\n- a list\n", "an ocboot config must be a YAML mapping, not list"),
        (_edit("primary_master_node", None), "primary_master_node: missing"),
        (_edit("primary_master_node.high_availability", False), "primary_master_node.high_availability: not true"),
        (
            _edit("primary_master_node.controlplane_host", "vip.example"),
            "primary_master_node.controlplane_host: 'vip.example' is not an IPv4",
        ),
        (
            _edit("master_nodes.hosts", [{"hostname": "198.51.100.12"}]),
            "master_nodes.hosts: the document's HA topologies have 3 control nodes "
            "(primary_master_node and 2 master_nodes); this file has 2",
        ),
        (_edit("master_nodes.hosts.1.hostname", "node-b"), "master_nodes.hosts[1].hostname: 'node-b' is not an IPv4"),
        (_edit("master_nodes.hosts.1.port", "ssh"), "master_nodes.hosts[1].port: 'ssh' is not a port number"),
        (
            _edit("master_nodes.hosts.1.user", "admin"),
            "master_nodes.hosts[1]: SSH as admin:22 where primary_master_node uses root:22",
        ),
        (
            _edit("mariadb_ha_nodes.hosts", [{"hostname": "198.51.100.21"}]),
            "mariadb_ha_nodes.hosts: ocboot's DB HA has exactly 2 hosts, found 1",
        ),
        (_edit("mariadb_ha_nodes.db_vip", None), "mariadb_ha_nodes.db_vip: missing"),
        (
            _edit("mariadb_ha_nodes.hosts.0.hostname", "198.51.100.12"),
            "mariadb_ha_nodes: one DB-HA host is a control node and the other is not",
        ),
        (_edit("mariadb_ha_nodes.db_vip", "198.51.100.11"), "vips.db: 198.51.100.11 is also a node's address"),
        (
            _edit("worker_nodes.hosts.0.hostname", "198.51.100.13"),
            "worker_nodes.hosts[0]: 198.51.100.13 is already a control or DB node",
        ),
        (
            _edit("mariadb_node", {"hostname": "198.51.100.40", "db_password": "x"}),
            "mariadb_node and mariadb_ha_nodes: ocboot takes one or the other",
        ),
        (_edit("master_nodes.hosts", "198.51.100.12"), "master_nodes.hosts: a list of host entries is needed"),
    ],
)
def test_each_malformed_file_gives_one_error_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "config.yml"
    config.write_text(text)
    with pytest.raises(inv.InventoryError) as caught:
        inventory_data(config, ssh_key=KEY)
    assert message in str(caught.value)
    assert SECRET not in str(caught.value)
    assert len(str(caught.value).splitlines()) <= 3


def test_a_missing_or_empty_password_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(_edit("mariadb_ha_nodes.db_password", ""))
    site = inv.parse(inventory_data(config, ssh_key=KEY))
    with pytest.raises(inv.InventoryError, match=r"db\.password_ocboot: .*mariadb_ha_nodes\.db_password: empty"):
        site.db.password()
    config.unlink()
    with pytest.raises(inv.InventoryError, match=r"db\.password_ocboot: .*config\.yml: cannot read"):
        site.db.password()


def test_the_command_line_names_the_key_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(_edit("mariadb_ha_nodes.db_vip", None))
    done = subprocess.run(
        [sys.executable, "-m", "bootstrap.inventory", "from-ocboot", str(config), "--ssh-key", str(KEY)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "mariadb_ha_nodes.db_vip: missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_db_nodes_are_learnt_from_replication_when_asked() -> None:
    """Each node of a master-master pair names the other as its master: the pair behind the VIP."""
    asked: list[tuple[str, int, str]] = []

    def replication(host: str, port: int, user: str, password: str) -> list[str]:
        asked.append((host, port, user))
        assert password == SECRET  # read from the file, in memory
        return ["192.0.2.21", "192.0.2.22"]

    site = inv.parse(inventory_data(DATA / "manual-db.yml", ssh_key=KEY, discover=replication))
    assert asked == [("192.0.2.101", 3306, "root")]
    assert [str(n.address) for n in site.nodes_with(inv.Role.DB_HA)] == ["192.0.2.21", "192.0.2.22"]

    def silent(host: str, port: int, user: str, password: str) -> list[str]:
        raise OcbootConfigError("MariaDB at 192.0.2.101:3306 did not answer: timed out")

    with pytest.raises(OcbootConfigError, match=r"db_host: cannot learn the DB nodes .*timed out.*--db-nodes"):
        inventory_data(DATA / "manual-db.yml", ssh_key=KEY, discover=silent)


@pytest.mark.parametrize(
    ("topology", "db_ha"), [("3node", "manual"), ("4node", "manual"), ("5node", "manual"), ("5node", "ocboot")]
)
def test_the_labs_ocboot_config_describes_the_same_site_as_its_inventory(
    tmp_path: Path, topology: str, db_ha: str
) -> None:
    """What `python -m bootstrap.lab inventory --ocboot` points at, read back, is the lab's own
    inventory: the same node names, addresses, roles and VIPs (the DB-HA variant follows from
    the file's groups where ocboot made the DB HA; the manual one is learnt from replication)."""
    lab = Lab()
    lab.paths = lab_config.LabPaths(home=tmp_path, cache=tmp_path)
    state = lab.plan(topology, 1, ipaddress.IPv4Network("10.213.47.0/24"), db_ha=db_ha)
    lab.paths.secrets_dir.mkdir(mode=0o700)
    for secret in (lab.paths.db_password_file, lab.paths.s3_secret_file):
        secret.write_text("lab-secret-xyz\n")
    lab_files.write_inventory(lab.paths, state)
    assert lab.paths.ocboot_config.stat().st_mode & 0o077 == 0  # it holds the DB password, as ocboot's does
    own = inv.load(lab.paths.inventory)
    db_ha_nodes = [str(n.address) for n in own.nodes_with(inv.Role.DB_HA)]
    got = inv.parse(
        inventory_data(
            lab.paths.ocboot_config,
            ssh_key=lab.paths.ssh_key,
            discover=lambda host, port, user, password: db_ha_nodes or [host],
        )
    )
    assert got.topology == own.topology
    want = [(n.name, n.address, sorted(n.roles)) for n in own.nodes]
    if topology == "3node":
        # The document installs node 3 "without HA"; ocboot's file has one high_availability for
        # all master nodes, and ocboot runs the platform keepalived on each: node 3 is a member.
        want[2] = (want[2][0], want[2][1], sorted([*want[2][2], inv.Role.PLATFORM_HA]))
    assert [(n.name, n.address, sorted(n.roles)) for n in got.nodes] == want
    assert (got.vips.platform, got.vips.db) == (own.vips.platform, own.vips.db)
    assert got.db.password() == "lab-secret-xyz"
    assert got.layout.db_ha == {"manual": "manual" if db_ha_nodes else "single", "ocboot": "ocboot"}[db_ha]


def test_discovered_storage_is_parsed_and_its_secret_stays_out_of_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """kubectl's answer about MinIO (service address:port, then the secret's base64 keys)."""
    secret = "s3-Secret-9f2e"
    b64 = [base64.b64encode(v.encode()).decode() for v in ("minio-ak", secret)]
    found = discovery.parse_storage(f"10.96.0.15:9000\n{b64[0]} {b64[1]}\n", "node1")
    assert (found.storage_endpoint, found.access_key, found.secret_key) == (
        "http://10.96.0.15:9000",
        "minio-ak",
        secret,
    )
    assert found.sources["storage.endpoint"] == "kubectl on node1: service onecloud-minio/minio"
    assert secret not in repr(found)
    for bad, why in (
        ("10.96.0.15:9000\n", r"answered 1 line\(s\)"),
        (f"none\n{b64[0]} {b64[1]}\n", "has no address:port"),
        (f"10.96.0.15:9000\n{b64[0]} not-base64!\n", "does not hold base64 keys"),
    ):
        with pytest.raises(discovery.DiscoveryError, match=why) as caught:
            discovery.parse_storage(bad, "node1")
        assert secret not in str(caught.value)
    monkeypatch.delenv(discovery.SECRET_ENV, raising=False)
    data = discovery.with_storage(inventory_data(DATA / "ha-5node.yml", ssh_key=KEY), found)
    site = inv.parse(data)
    assert site.storage is not None and site.storage.secret_key() == secret
    assert secret not in yaml.safe_dump(data)  # the inventory refers to the environment, never the value
