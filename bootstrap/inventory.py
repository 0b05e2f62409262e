"""Site inventories: the YAML a field engineer writes for a real site, and the
lab writes for itself.

Validated with pydantic; every error names the field it is about::

    site: lab-5node
    topology: 5node
    ssh: {user: root, key: /root/.ssh/id_ed25519}
    nodes:
      - {name: node1, address: 10.127.190.251, roles: [first, control, platform-ha]}
      ...
    vips: {platform: 10.127.190.100, db: 10.127.190.101}
    db: {user: root, password_env: HA_DB_PASSWORD}
    expect: {kernel: 3.10.0-1062.4.3.el7.yn20191203.x86_64}

Passwords are never stored in the inventory, only where to read them from.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bootstrap import ocboot_file, yamlfile
from bootstrap.profiles import PROFILES, Profile
from bootstrap.topology import TOPOLOGIES, Role, get_topology

SCHEMA_VERSION = 1
NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class InventoryError(ValueError):
    """An inventory that cannot be used; the message names the file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SshSettings(_Strict):
    user: str = "root"
    key: Path = Field(description="Private key used to reach every node")
    port: int = Field(default=22, ge=1, le=65535)
    known_hosts: Path | None = Field(
        default=None, description="Pinned host keys; when absent, unknown keys are accepted"
    )
    connect_timeout: float = Field(default=5.0, gt=0, le=120)


class NodeEntry(_Strict):
    name: str = Field(pattern=NAME_RE)
    address: ipaddress.IPv4Address
    roles: list[Role] = Field(min_length=1)

    def has(self, role: Role) -> bool:
        return role in self.roles


class Vips(_Strict):
    platform: ipaddress.IPv4Address
    db: ipaddress.IPv4Address | None = None


class DbSettings(_Strict):
    user: str = "root"
    port: int = Field(default=3306, ge=1, le=65535)
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    password_file: Path | None = None
    # ocboot's config.yml or host_inventory.yml: its db_password, read in memory, never copied.
    password_ocboot: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DbSettings:
        given = [self.password_env, self.password_file, self.password_ocboot]
        if sum(v is not None for v in given) != 1:
            raise ValueError("give exactly one of password_env, password_file or password_ocboot")
        return self

    def password(self) -> str:
        """Read the password from where the inventory says; never logged.

        Raises InventoryError naming the field (and for ocboot's file, the file's key)."""
        if self.password_ocboot is not None:
            try:
                return ocboot_file.db_password(self.password_ocboot)
            except ocboot_file.OcbootFileError as exc:
                raise InventoryError(f"db.password_ocboot: {exc}") from None
        return _read_secret("db", "password", self.password_env, self.password_file)


def _read_secret(section: str, name: str, env: str | None, file: Path | None) -> str:
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise InventoryError(f"{section}.{name}_env: environment variable {env} is not set")
        if not value:
            raise InventoryError(f"{section}.{name}_env: environment variable {env} is empty")
        return value
    assert file is not None
    try:
        value = file.read_text().strip()
    except OSError as exc:
        raise InventoryError(f"{section}.{name}_file: cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InventoryError(f"{section}.{name}_file: {file} is not text") from None
    if not value:
        raise InventoryError(f"{section}.{name}_file: {file} is empty")
    return value


class StorageSettings(_Strict):
    """The S3 endpoint of the platform's shared object storage (MinIO's role)."""

    endpoint: str = Field(pattern=r"^https?://[^/\s]+$", description="http(s)://host:port")
    access_key: str
    secret_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    secret_key_file: Path | None = None
    bucket: str = Field(default="ha-conformance-probe", pattern=r"^[a-z0-9][a-z0-9.-]{2,62}$")
    admin_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://[^/\s]+$",
        description="MinIO's admin API (/minio/admin/v3) where endpoint does not route it; default: endpoint",
    )

    @model_validator(mode="after")
    def _one_source(self) -> StorageSettings:
        if (self.secret_key_env is None) == (self.secret_key_file is None):
            raise ValueError("give exactly one of secret_key_env or secret_key_file")
        return self

    def secret_key(self) -> str:
        return _read_secret("storage", "secret_key", self.secret_key_env, self.secret_key_file)


class Expectations(_Strict):
    kernel: str | None = None
    kernel_pattern: str | None = None

    @field_validator("kernel_pattern")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class LayoutSettings(_Strict):
    """The install line and DB-HA variant, when the site's own detection should not decide
    (bootstrap/layout.py). Absent values are detected read-only over SSH."""

    line: Literal["k3s", "kubeadm"] | None = None
    db_ha: Literal["manual", "ocboot", "single"] | None = None


class Inventory(_Strict):
    version: Literal[1] = 1  # SCHEMA_VERSION
    site: str = Field(pattern=NAME_RE)
    topology: str
    profile: str = "document"
    ssh: SshSettings
    nodes: list[NodeEntry] = Field(min_length=1)
    vips: Vips
    db: DbSettings
    storage: StorageSettings | None = None
    expect: Expectations = Expectations()
    layout: LayoutSettings = LayoutSettings()
    # Any profile value (bootstrap/profiles.py) the site differs in, e.g. max_connections_ha: 2000.
    profile_overrides: dict[str, int | float | str | list[int | str]] = Field(default_factory=dict)

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value not in PROFILES:
            raise ValueError(f"unknown profile {value!r}; choose one of: {', '.join(sorted(PROFILES))}")
        return value

    @field_validator("profile_overrides")
    @classmethod
    def _known_overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(Profile.__dataclass_fields__) - {"name"})
        if unknown:
            raise ValueError(f"unknown profile value(s): {', '.join(unknown)}")
        return value

    @field_validator("topology")
    @classmethod
    def _known_topology(cls, value: str) -> str:
        if value not in TOPOLOGIES:
            raise ValueError(f"unknown topology {value!r}; choose one of: {', '.join(sorted(TOPOLOGIES))}")
        return value

    @model_validator(mode="after")
    def _matches_topology(self) -> Inventory:
        topo = get_topology(self.topology)
        problems: list[str] = []
        seen_names: set[str] = set()
        seen_addrs: set[ipaddress.IPv4Address] = set()
        for i, node in enumerate(self.nodes):
            if node.name in seen_names:
                problems.append(f"nodes[{i}].name: duplicate node name {node.name!r}")
            if node.address in seen_addrs:
                problems.append(f"nodes[{i}].address: duplicate address {node.address}")
            seen_names.add(node.name)
            seen_addrs.add(node.address)
        counts: dict[Role, int] = {}
        for node in self.nodes:
            for role in node.roles:
                counts[role] = counts.get(role, 0) + 1
        for role, want in topo.role_counts().items():
            allowed = topo.allowed_counts(role)
            if counts.get(role, 0) not in allowed:
                many = f"{want}" if len(allowed) == 1 else f"{allowed.start} to {allowed.stop - 1}"
                problems.append(
                    f"nodes: {topo.name} needs {many} node(s) with role {role.value!r}, found {counts.get(role, 0)}"
                )
        for role, have in counts.items():
            if role is not Role.COMPUTE and role not in topo.role_counts():
                problems.append(f"nodes: role {role.value!r} has no place in {topo.name} ({have} node(s))")
        for vip in topo.vips:
            if getattr(self.vips, vip.name) is None:
                problems.append(f"vips.{vip.name}: {topo.name} needs a {vip.name} VIP")
        if self.layout.db_ha is not None:
            has_db_ha = bool(counts.get(Role.DB_HA))
            if (self.layout.db_ha == "single") == has_db_ha:
                problems.append(
                    f"layout.db_ha: {self.layout.db_ha!r} does not fit {topo.name}, which has "
                    + ("two DB-HA nodes (manual or ocboot)" if has_db_ha else "a single DB node (single)")
                )
        node_addrs = {n.address for n in self.nodes}
        for vip_name in ("platform", "db"):
            addr = getattr(self.vips, vip_name)
            if addr is not None and addr in node_addrs:
                problems.append(f"vips.{vip_name}: {addr} is also a node's address")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def secrets(self) -> set[str]:
        """Every secret the inventory names (DB password, S3 secret key), read now.

        Raises InventoryError naming the field when one cannot be read."""
        found = {self.db.password()}
        if self.storage is not None:
            found.add(self.storage.secret_key())
        return found

    # Convenience views -------------------------------------------------
    def node(self, name: str) -> NodeEntry:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def nodes_with(self, role: Role) -> list[NodeEntry]:
        return [n for n in self.nodes if n.has(role)]

    def nodes_by_role(self) -> dict[Role, list[str]]:
        return {role: [n.name for n in self.nodes_with(role)] for role in Role}

    def first_node(self) -> NodeEntry:
        return self.nodes_with(Role.FIRST)[0]


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ""
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        msg = err["msg"].removeprefix("Value error, ")
        if loc:
            lines.append(f"  {loc}: {msg}")
        else:  # cross-field problems already name their fields, one per line
            lines.extend(f"  {part}" for part in msg.splitlines())
    return f"{source}: invalid inventory\n" + "\n".join(lines)


def parse(data: Any, source: str = "inventory") -> Inventory:
    if not isinstance(data, dict):
        raise InventoryError(f"{source}: the inventory must be a YAML mapping, not {type(data).__name__}")
    try:
        return Inventory.model_validate(data)
    except ValidationError as exc:
        raise InventoryError(_format_errors(source, exc)) from None


def load(path: str | os.PathLike[str]) -> Inventory:
    """Read and validate an inventory file."""
    p = Path(path)
    return parse(yamlfile.read(p, "inventory", InventoryError), str(p))


def dump(inv: Inventory, path: str | os.PathLike[str]) -> None:
    data = inv.model_dump(mode="json", exclude_none=True)
    text = f"# Site inventory (schema version {SCHEMA_VERSION}); see docs/inventories.md.\n"
    text += yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
    tmp = Path(f"{path}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


if __name__ == "__main__":
    # ``python -m bootstrap.inventory from-ocboot ...``: the command lives with the conversion
    # (which imports this module; run as a script, this file is __main__, not bootstrap.inventory).
    import importlib
    import sys

    sys.exit(importlib.import_module("bootstrap.ocboot_config").main(sys.argv[1:]))
