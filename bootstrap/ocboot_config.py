"""ocboot's files as the site inventory: the ``config.yml`` a field engineer already keeps for
ocboot (or the Ansible inventory ocboot writes from it, ``host_inventory.yml``) read into a
site inventory (bootstrap/inventory.py).

    python -m bootstrap.inventory from-ocboot config.yml [--out site.yaml] [--ssh-key KEY]
        [--site NAME] [--db-nodes ADDR[,ADDR]]
    pytest --ocboot-config=config.yml [--ssh-key KEY] [--db-nodes ADDR[,ADDR]]

Shapes (docs/real-sites.md, from ocboot's ``lib/ocboot.py`` and its published examples):

- config.yml: top-level groups ``primary_master_node`` (a host entry with the platform's
  settings: ``controlplane_host``, ``high_availability``, ``db_host``, ``db_user``,
  ``db_password``, ``db_port``), ``master_nodes`` and ``worker_nodes`` (``hosts: [entries]``
  plus settings), ``mariadb_node`` (a host entry plus ``db_*``) or ``mariadb_ha_nodes``
  (``hosts`` plus ``db_vip``, ``db_nic``, ``db_*``). A host entry: ``hostname`` (or ``host``),
  ``user`` (root), ``port`` (22), ``node_ip`` (the hostname), ``use_local``.
- host_inventory.yml: ``all.children.<group>.hosts.<host>`` with ``ansible_host``,
  ``ansible_user``, ``ansible_port``, ``node_ip``, and the group's settings under
  ``all.children.<group>.vars`` (``k8s_controlplane_host`` for the VIP there).

Roles: the primary master is the First Node; primary and master nodes are control nodes, and
platform-HA members when ``high_availability`` is true (ocboot then runs the platform
keepalived static pod on every master); worker nodes are compute nodes; ``mariadb_ha_nodes``
hosts are DB-HA nodes (DB-HA variant ``ocboot``), a ``mariadb_node`` is the standalone DB
(``single``). The topology follows from the shape: 3 control nodes with the 2 DB-HA hosts among
them is 3node (ocboot's published example puts them on the master nodes), with 2 DB-HA hosts
of their own 5node, with a standalone DB host 4node. The HA document deploys the database
outside ocboot; then ``db_host`` names no host of the file and ``--db-nodes`` names the DB
node(s) (two: DB-HA nodes, manual variant, ``db_host`` their VIP; one: the standalone DB).
The install line is left to detection on the site.

The DB password stays in the file: the inventory's ``db.password_ocboot`` names the file and
the password is read from it in memory when needed, never copied anywhere.

Every error is an ``OcbootConfigError`` naming the file and the key.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import pymysql.cursors
import yaml

from bootstrap import inventory as inv
from bootstrap import ocboot_file
from bootstrap.inventory import InventoryError, parse
from bootstrap.ocboot_file import (
    DB_HA,
    DB_SINGLE,
    DEFAULT_KEYS,
    MASTERS,
    PRIMARY,
    WORKERS,
    Group,
    Host,
    OcbootFileError,
    db_password,
    groups,
    read_yaml,
)
from bootstrap.topology import Role


class OcbootConfigError(InventoryError):
    """The ocboot file cannot be read as a site; the message names the file and the key."""


def default_ssh_key() -> Path | None:
    """The current user's first private key of the usual names, as ssh itself would try them."""
    home = Path(os.path.expanduser("~")) / ".ssh"
    for name in DEFAULT_KEYS:
        if (home / name).is_file():
            return home / name
    return None


def replication_peers(host: str, port: int, user: str, password: str, timeout: float = 5.0) -> list[str]:
    """The DB nodes behind ``host`` (the DB VIP), read-only from MariaDB's replication status:
    master-master replication makes each DB-HA node name the other as ``Master_Host`` in
    ``SHOW SLAVE STATUS`` (MariaDB 5.5 and 10.x alike). Returns [the holder, its peer], or
    [host] when the server there replicates from nobody (a standalone DB).

    Raises OcbootConfigError (no key: the caller names it) when a server cannot be asked."""

    def master_of(address: str) -> str | None:
        try:
            conn = pymysql.connect(
                host=address, port=port, user=user, password=password, connect_timeout=timeout,
                read_timeout=timeout, write_timeout=timeout, cursorclass=pymysql.cursors.DictCursor,
            )  # fmt: skip
        except pymysql.MySQLError as exc:
            raise OcbootConfigError(f"MariaDB at {address}:{port} did not answer: {exc.args[-1]}") from None
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW SLAVE STATUS")
                row = cur.fetchone()
        except pymysql.MySQLError as exc:
            raise OcbootConfigError(f"SHOW SLAVE STATUS at {address}:{port} failed: {exc.args[-1]}") from None
        finally:
            conn.close()
        return str(row["Master_Host"]) if row and row.get("Master_Host") else None

    peer = master_of(host)
    if peer is None:
        return [host]
    holder = master_of(peer)
    if holder is None or holder == peer:
        raise OcbootConfigError(f"{peer} (the master of {host}) replicates from nobody: not a master-master pair")
    return [holder, peer]


Discover = Callable[[str, int, str, str], list[str]]


def inventory_data(path: Path, **kwargs: Any) -> dict[str, Any]:
    """The site inventory (as YAML data, validated) that ocboot's file describes; see the module
    docstring for the mapping and ``_inventory_data`` for the arguments. Raises
    OcbootConfigError naming the key when the file does not describe one of the document's HA
    topologies, and says why."""
    try:
        return _inventory_data(path, **kwargs)
    except OcbootFileError as exc:
        raise OcbootConfigError(str(exc)) from None


def _inventory_data(
    path: Path,
    *,
    ssh_key: Path | None = None,
    site: str | None = None,
    db_nodes: tuple[str, ...] = (),
    discover: Discover | None = None,
    known_hosts: Path | None = None,
) -> dict[str, Any]:
    """The site inventory (as YAML data, validated) that ocboot's file describes; see the module
    docstring for the mapping. ``discover``: how to learn the DB nodes when the file does not name
    them and ``db_nodes`` is empty (``replication_peers``; a network call, so only when asked).
    Raises OcbootConfigError naming the key when the file does not describe one of the
    document's HA topologies, and says why."""
    path = Path(path).resolve()
    found = groups(path, read_yaml(path))
    primary, platform_vip, controls = _control_plane(path, found)
    workers = found.get(WORKERS, Group()).hosts
    db = _database(path, found, primary, controls, db_nodes=db_nodes, discover=discover)
    topology = _topology(path, db, {h.address for h in controls})
    _one_ssh_login(path, controls + workers + db.ha_hosts + ([db.single] if db.single else []), controls[0])
    key = ssh_key or default_ssh_key()
    if key is None:
        raise OcbootConfigError(
            f"{path}: no SSH key: none of ~/.ssh/{', ~/.ssh/'.join(DEFAULT_KEYS)} exists; pass --ssh-key PATH"
        )
    data: dict[str, Any] = {
        "version": 1,
        "site": site or f"ocboot-{platform_vip}",
        "topology": topology,
        "ssh": {
            "user": controls[0].user,
            "port": controls[0].port,
            "key": str(key),
            **({"known_hosts": str(known_hosts)} if known_hosts else {}),
        },
        "nodes": _nodes(path, controls, db, workers),
        "vips": {"platform": str(platform_vip), **({"db": str(db.vip)} if db.vip else {})},
        "db": {
            "user": str(db.user),
            "port": ocboot_file.port(path, db.port, f"{db.key}.db_port"),
            "password_ocboot": str(path),
        },
        "layout": {"db_ha": db.variant},
    }
    parse(data, f"{path} (as a site inventory)")
    return data


def _control_plane(path: Path, found: dict[str, Group]) -> tuple[Group, ipaddress.IPv4Address, list[Host]]:
    """(the primary master's group, the platform VIP, the 3 control nodes, primary first)."""
    if PRIMARY not in found:
        raise OcbootConfigError(f"{path}: {PRIMARY}: missing; every ocboot install names its primary master")
    if DB_SINGLE in found and DB_HA in found:
        raise OcbootConfigError(f"{path}: {DB_SINGLE} and {DB_HA}: ocboot takes one or the other, never both")
    primary = found[PRIMARY]
    settings = primary.settings
    masters_ha = found.get(MASTERS, Group()).settings.get("high_availability")
    if not ocboot_file.truthy(settings.get("high_availability", masters_ha)):
        raise OcbootConfigError(
            f"{path}: {PRIMARY}.high_availability: not true: this is not an HA install "
            "(the document's topologies run the platform keepalived on the control nodes)"
        )
    vip_value = settings.get("controlplane_host", found.get(MASTERS, Group()).settings.get("controlplane_host"))
    if vip_value is None:
        raise OcbootConfigError(f"{path}: {primary.key}.controlplane_host: missing (the platform VIP)")
    platform_vip = ocboot_file.address(path, vip_value, f"{primary.key}.controlplane_host")
    controls = primary.hosts + found.get(MASTERS, Group()).hosts
    if len(controls) != 3:
        raise OcbootConfigError(
            f"{path}: {MASTERS}.hosts: the document's HA topologies have 3 control nodes "
            f"({PRIMARY} and 2 {MASTERS}); this file has {len(controls)}"
        )
    return primary, platform_vip, controls


@dataclass
class _Db:
    """Where the platform's database is, as the file (or the DB nodes' replication) says."""

    key: str  # the file's key errors about the database name
    variant: str  # layout.db_ha: ocboot, manual or single
    port: Any = 3306
    user: Any = "root"
    vip: ipaddress.IPv4Address | None = None
    ha_hosts: list[Host] = field(default_factory=list)
    single: Host | None = None


def _database(
    path: Path,
    found: dict[str, Group],
    primary: Group,
    controls: list[Host],
    *,
    db_nodes: tuple[str, ...],
    discover: Discover | None,
) -> _Db:
    if DB_HA in found:
        group = found[DB_HA]
        if len(group.hosts) != 2:
            raise OcbootConfigError(
                f"{path}: {DB_HA}.hosts: ocboot's DB HA has exactly 2 hosts, found {len(group.hosts)}"
            )
        if group.settings.get("db_vip") is None:
            raise OcbootConfigError(f"{path}: {group.key}.db_vip: missing (the DB VIP of {DB_HA})")
        vip = ocboot_file.address(path, group.settings["db_vip"], f"{group.key}.db_vip")
        return _Db(DB_HA, "ocboot", group.settings.get("db_port", 3306), group.settings.get("db_user", "root"),
                   vip, ha_hosts=group.hosts)  # fmt: skip
    if DB_SINGLE in found:
        group = found[DB_SINGLE]
        return _Db(DB_SINGLE, "single", group.settings.get("db_port", 3306), group.settings.get("db_user", "root"),
                   single=group.hosts[0])  # fmt: skip
    # The documented install: the database deployed by hand, only db_host in the file.
    settings = primary.settings
    key = f"{primary.key}.db_host"
    if settings.get("db_host") is None:
        raise OcbootConfigError(f"{path}: {key}: missing (where the platform's database is)")
    db_host = ocboot_file.address(path, settings["db_host"], key)
    db = _Db(key, "manual", settings.get("db_port", 3306), settings.get("db_user", "root"))
    if not db_nodes and discover is not None:
        try:
            port = ocboot_file.port(path, db.port, f"{primary.key}.db_port")
            db_nodes = tuple(discover(str(db_host), port, str(db.user), db_password(path)))
        except (OcbootConfigError, OcbootFileError) as exc:
            raise OcbootConfigError(
                f"{path}: {key}: cannot learn the DB nodes from MariaDB's replication status ({exc}); "
                "name them with --db-nodes"
            ) from None
    if not db_nodes:
        raise OcbootConfigError(
            f"{path}: {key}: {db_host} is the database of an install made outside ocboot (as the HA document "
            "deploys it): name its node(s) with --db-nodes ADDR,ADDR (DB-HA nodes) or --db-nodes ADDR (one DB node)"
        )
    addrs = [ocboot_file.address(path, a, "--db-nodes") for a in db_nodes]
    if len(addrs) == 2:
        db.ha_hosts = [Host(a, controls[0].user, controls[0].port, "--db-nodes") for a in addrs]
        db.vip = db_host
    elif len(addrs) == 1:
        db.single, db.variant = Host(addrs[0], controls[0].user, controls[0].port, "--db-nodes"), "single"
        if db_host != addrs[0]:
            raise OcbootConfigError(f"{path}: {key}: {db_host} is not the one DB node {addrs[0]} (--db-nodes)")
    else:
        raise OcbootConfigError(f"--db-nodes: one address (a standalone DB) or two (DB HA), not {len(addrs)}")
    return db


def _topology(path: Path, db: _Db, control_addrs: set[ipaddress.IPv4Address]) -> str:
    """The document's topology the shape makes: DB HA on two control nodes (3node), on two nodes
    of their own (5node), or one DB node of its own (4node); OcbootConfigError otherwise."""
    inside = [h for h in db.ha_hosts if h.address in control_addrs]
    if db.ha_hosts and len(inside) == 2:
        return "3node"
    if db.ha_hosts and not inside:
        return "5node"
    if db.ha_hosts:
        raise OcbootConfigError(
            f"{path}: {db.key}: one DB-HA host is a control node and the other is not: none of the document's "
            "topologies (3node: both on control nodes; 5node: both on nodes of their own)"
        )
    if db.single is not None and db.single.address in control_addrs:
        raise OcbootConfigError(
            f"{path}: {db.key}: the only database runs on control node {db.single.address} without HA: none of the "
            "document's HA topologies (4node keeps it on a node of its own)"
        )
    return "4node"


def _one_ssh_login(path: Path, everyone: list[Host], first: Host) -> None:
    """The suite logs in to every node with one user and port: the file's must agree."""
    users = {(h.user, h.port) for h in everyone if h.key != "--db-nodes"}
    if len(users) > 1:
        odd = next(h for h in everyone if (h.user, h.port) != (first.user, first.port))
        raise OcbootConfigError(
            f"{path}: {odd.key}: SSH as {odd.user}:{odd.port} where {first.key} uses {first.user}:{first.port}; "
            "the suite logs in to every node with one user and port (write a site inventory per user instead)"
        )


def _nodes(path: Path, controls: list[Host], db: _Db, workers: list[Host]) -> list[dict[str, Any]]:
    """The inventory's nodes: node1..3 (the primary first), db1/db2 or db1, compute1..N; a host
    on two of them merges its roles (3node's DB-HA nodes are control nodes)."""
    nodes: dict[ipaddress.IPv4Address, dict[str, Any]] = {}

    def add(host: Host, name: str, *roles: Role) -> None:
        entry = nodes.setdefault(host.address, {"name": name, "address": str(host.address), "roles": []})
        entry["roles"] += [r.value for r in roles if r.value not in entry["roles"]]

    add(controls[0], "node1", Role.FIRST, Role.CONTROL, Role.PLATFORM_HA)
    for i, h in enumerate(controls[1:], start=2):
        if h.address in nodes:
            raise OcbootConfigError(f"{path}: {h.key}: {h.address} is listed twice among the control nodes")
        add(h, f"node{i}", Role.CONTROL, Role.PLATFORM_HA)
    for i, h in enumerate(db.ha_hosts, start=1):
        add(h, f"db{i}", Role.DB_HA)
    if db.single is not None:
        add(db.single, "db1", Role.DB)
    for i, h in enumerate(workers, start=1):
        if h.address in nodes:
            raise OcbootConfigError(f"{path}: {h.key}: {h.address} is already a control or DB node")
        add(h, f"compute{i}", Role.COMPUTE)
    return list(nodes.values())


def main(argv: list[str]) -> int:
    """``python -m bootstrap.inventory from-ocboot PATH [--out FILE] ...``: print (or write) the
    site inventory ocboot's file describes. Exit 0, or 2 with one line naming the key."""
    ap = argparse.ArgumentParser(prog="python -m bootstrap.inventory")
    sub = ap.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("from-ocboot", help="a site inventory from ocboot's config.yml or host_inventory.yml")
    conv.add_argument("path", type=Path)
    conv.add_argument("--out", type=Path, help="write the inventory here (default: print it)")
    conv.add_argument(
        "--ssh-key", type=Path, help="private key for every node (default: ~/.ssh/id_ed25519, id_rsa, ...)"
    )
    conv.add_argument("--site", help="site name for reports (default: ocboot-<platform VIP>)")
    conv.add_argument("--db-nodes", default="", help="DB node address(es), when ocboot did not deploy the database")
    conv.add_argument(
        "--discover",
        action="store_true",
        help="learn the DB nodes the file does not name from MariaDB's replication status at db_host (read-only)",
    )
    args = ap.parse_args(argv)
    try:
        db_nodes = tuple(a for a in args.db_nodes.split(",") if a.strip())
        site = inv.parse(
            inventory_data(
                args.path,
                ssh_key=args.ssh_key,
                site=args.site,
                db_nodes=db_nodes,
                discover=replication_peers if args.discover else None,
            ),
            str(args.path),
        )
    except inv.InventoryError as exc:
        print(f"from-ocboot: {exc}", file=sys.stderr)
        return 2
    if args.out is None:
        data = site.model_dump(mode="json", exclude_none=True)
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100))
    else:
        try:
            inv.dump(site, args.out)
        except OSError as exc:
            print(f"from-ocboot: --out {args.out}: {exc.strerror}", file=sys.stderr)
            return 2
        print(f"{args.out}: {site.topology} site {site.site}, {len(site.nodes)} nodes; "
              f"the DB password stays in {args.path}")  # fmt: skip
    return 0
