"""ocboot's files, read: the ``config.yml`` a field engineer keeps for ocboot and the Ansible
inventory ocboot writes from it (``host_inventory.yml``), as host groups and their settings,
and the DB password they hold (read in memory, never copied). Shapes: bootstrap/ocboot_config.py
and docs/real-sites.md. Errors are ``OcbootFileError`` naming the file and the key.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootstrap import yamlfile

PRIMARY = "primary_master_node"
MASTERS = "master_nodes"
WORKERS = "worker_nodes"
DB_SINGLE = "mariadb_node"
DB_HA = "mariadb_ha_nodes"
GROUPS = (PRIMARY, MASTERS, WORKERS, DB_SINGLE, DB_HA)
# Groups whose settings carry the DB password, in the order ocboot's roles read it.
PASSWORD_GROUPS = (DB_HA, DB_SINGLE, PRIMARY)
DEFAULT_KEYS = ("id_ed25519", "id_rsa", "id_ecdsa")


class OcbootFileError(ValueError):
    """An ocboot file cannot be read; the message names the file and the key."""


@dataclass(frozen=True)
class Host:
    address: ipaddress.IPv4Address
    user: str
    port: int
    key: str  # where in the file, e.g. "master_nodes.hosts[1]"


@dataclass
class Group:
    hosts: list[Host] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    key: str = ""


def read_yaml(path: Path) -> dict[str, Any]:
    data = yamlfile.read(path, "ocboot config", OcbootFileError)
    if not isinstance(data, dict):
        raise OcbootFileError(f"{path}: an ocboot config must be a YAML mapping, not {type(data).__name__}")
    return data


def _mapping(path: Path, value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OcbootFileError(f"{path}: {key}: must be a mapping, not {type(value).__name__}")
    return value


def address(path: Path, value: Any, key: str) -> ipaddress.IPv4Address:
    """``value`` of ``key`` in the file at ``path`` as an IPv4 address; OcbootFileError naming
    the key otherwise."""
    try:
        return ipaddress.IPv4Address(str(value).strip())
    except ValueError:
        raise OcbootFileError(
            f"{path}: {key}: {value!r} is not an IPv4 address (the suite reaches nodes and VIPs by address)"
        ) from None


def port(path: Path, value: Any, key: str) -> int:
    """``value`` of ``key`` as a TCP port (1-65535; ocboot writes some as strings: "3306");
    OcbootFileError naming the key otherwise."""
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if not 1 <= number <= 65535:
        raise OcbootFileError(f"{path}: {key}: {value!r} is not a port number")
    return number


def _host(path: Path, entry: Any, key: str, ansible: bool = False) -> Host:
    entry = _mapping(path, entry, key)
    if ansible:
        target, user_key, port_key = entry.get("ansible_host"), "ansible_user", "ansible_port"
        where = f"{key}.ansible_host"
    else:
        target = entry.get("hostname", entry.get("host"))
        user_key, port_key = "user", "port"
        where = f"{key}.hostname"
        if target is None and entry.get("use_local"):
            raise OcbootFileError(
                f"{path}: {key}.use_local: a host given as use_local has no address the suite can reach; "
                "give its hostname or node_ip"
            )
    if entry.get("node_ip"):
        target, where = entry["node_ip"], f"{key}.node_ip"
    if target is None:
        raise OcbootFileError(f"{path}: {key}: no hostname (or host / node_ip) given")
    return Host(
        address=address(path, target, where),
        user=str(entry.get(user_key) or "root"),
        port=port(path, entry.get(port_key, 22), f"{key}.{port_key}"),
        key=key,
    )


def groups(path: Path, data: dict[str, Any]) -> dict[str, Group]:
    """The file's host groups, from either shape (config.yml or host_inventory.yml)."""
    found: dict[str, Group] = {}
    children = data.get("all", {}).get("children") if isinstance(data.get("all"), dict) else None
    if children is not None:  # host_inventory.yml
        children = _mapping(path, children, "all.children")
        for name in GROUPS:
            if name not in children:
                continue
            key = f"all.children.{name}"
            body = _mapping(path, children[name] or {}, key)
            hosts = _mapping(path, body.get("hosts") or {}, f"{key}.hosts")
            settings = dict(_mapping(path, body.get("vars") or {}, f"{key}.vars"))
            if "k8s_controlplane_host" in settings:
                settings.setdefault("controlplane_host", settings["k8s_controlplane_host"])
            group = Group(settings=settings, key=f"{key}.vars")
            for host, given in hosts.items():
                hostvars = dict(given or {})
                hostvars.setdefault("ansible_host", host)
                group.hosts.append(_host(path, hostvars, f"{key}.hosts.{host}", ansible=True))
            found[name] = group
        return found
    for name in GROUPS:
        if data.get(name) is None:
            continue
        body = _mapping(path, data[name], name)
        if name in (PRIMARY, DB_SINGLE):
            found[name] = Group([_host(path, body, name)], dict(body), name)
            continue
        entries = body.get("hosts")
        if not isinstance(entries, list) or not entries:
            raise OcbootFileError(f"{path}: {name}.hosts: a list of host entries is needed")
        found[name] = Group([_host(path, h, f"{name}.hosts[{i}]") for i, h in enumerate(entries)], dict(body), name)
    return found


def truthy(value: Any) -> bool:
    """An ocboot flag as Ansible reads it (true, "true", "yes", "1")."""
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


def db_password(path: Path) -> str:
    """The DB password ocboot's file holds (config.yml or host_inventory.yml), read now, in memory.

    Raises OcbootFileError naming the file and key when it is absent or empty."""
    found = groups(path, read_yaml(path))
    for name in PASSWORD_GROUPS:
        group = found.get(name)
        if group is None or "db_password" not in group.settings:
            continue
        value = group.settings["db_password"]
        if value is None or not str(value):
            raise OcbootFileError(f"{path}: {group.key}.db_password: empty")
        return str(value)
    raise OcbootFileError(f"{path}: db_password: found in none of {', '.join(PASSWORD_GROUPS)}")
