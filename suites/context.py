"""What a check sees: the site, the node or VIP under test, expected values, and
facts gathered from nodes in as few round trips as possible (one batched shell
script per node, one SQL session per database node), cached per worker.

Checks are read-only: nothing here changes a node.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pymysql

from bootstrap import inventory as inv
from bootstrap.profiles import Profile, get_profile
from bootstrap.remote import Remote, RemoteError, Result
from bootstrap.topology import TOPOLOGIES, Role, VipSpec
from suites.catalog import Requirement


class CheckFailed(AssertionError):
    """The requirement does not hold; carries the evidence."""

    def __init__(self, message: str, evidence: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.evidence = evidence or []


class NodeUnreachable(RuntimeError):
    """The node could not be asked; every check on it reports this one message."""


# One shell script answers every node-level question: (name, command).
FACT_COMMANDS: tuple[tuple[str, str], ...] = (
    ("hostname", "hostname"),
    ("kernel", "uname -r"),
    ("selinux_config", "cat /etc/selinux/config 2>/dev/null || echo '(no /etc/selinux/config)'"),
    ("getenforce", "if command -v getenforce >/dev/null; then getenforce; else echo '(SELinux absent)'; fi"),
    ("swaps", "tail -n +2 /proc/swaps"),
    ("firewalld", "systemctl is-active firewalld 2>/dev/null || true"),
    ("date", "date +%s.%N"),
    ("addr", "ip -o -4 addr show"),
    ("keepalived_conf", "cat /etc/keepalived/keepalived.conf 2>/dev/null || true"),
    (
        "keepalived_service",
        "echo enabled=$(systemctl is-enabled keepalived 2>&1) active=$(systemctl is-active keepalived 2>&1)",
    ),
    ("sysctl", "sysctl -n net.ipv4.ip_forward net.ipv4.ip_nonlocal_bind 2>&1"),
    (
        "admin_conf",
        "for f in /etc/kubernetes/admin.conf /etc/rancher/k3s/k3s.yaml; do "
        "[ -f $f ] && { echo \"file=$f\"; grep -E '^[[:space:]]*server:' $f; }; done; true",
    ),
    (
        "kube_config",
        "if [ -f $HOME/.kube/config ]; then stat -c 'owner=%U mode=%a' $HOME/.kube/config; "
        "for f in /etc/kubernetes/admin.conf /etc/rancher/k3s/k3s.yaml; do [ -f $f ] && "
        '{ cmp -s $HOME/.kube/config $f && echo "same-as=$f" || echo "differs-from=$f"; }; done; '
        "else echo missing; fi",
    ),
    (
        "kubelet_conf",
        "for f in /etc/kubernetes/kubelet.conf /etc/rancher/k3s/agent/kubelet.kubeconfig; do "
        "[ -f $f ] && { echo \"file=$f\"; grep -E '^[[:space:]]*server:' $f; }; done; true",
    ),
    ("yunion", "id yunion 2>&1; sudo -n -l -U yunion 2>&1 | tail -n 5"),
)
MARK = "@@ha-fact@@"


def fact_script() -> str:
    return "\n".join(f"echo '{MARK} {name}'; {{ {cmd}; }} 2>&1" for name, cmd in FACT_COMMANDS)


def parse_facts(output: str) -> dict[str, str]:
    facts: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in output.splitlines():
        if line.startswith(MARK + " "):
            if current is not None:
                facts[current] = "\n".join(lines).strip()
            current, lines = line[len(MARK) + 1 :].strip(), []
        else:
            lines.append(line)
    if current is not None:
        facts[current] = "\n".join(lines).strip()
    return facts


COMMANDS = dict(FACT_COMMANDS)


@dataclass
class NodeFacts:
    values: dict[str, str]
    runner_before: float
    runner_after: float

    def __getitem__(self, name: str) -> str:
        return self.values.get(name, "")

    def evidence(self, *names: str) -> list[tuple[str, str]]:
        return [(COMMANDS[n], self[n]) for n in names]


DB_VARIABLES = (
    "skip_name_resolve",
    "expire_logs_days",
    "innodb_file_per_table",
    "max_connections",
    "server_id",
    "auto_increment_offset",
    "auto_increment_increment",
    "log_bin",
    "binlog_format",
    "log_slave_updates",
)


@dataclass
class DbFacts:
    variables: dict[str, Any]
    grants: list[str]
    slave: dict[str, Any]


@dataclass
class SiteRuntime:
    """Per-worker view of the site: connections and facts, fetched once."""

    inventory: inv.Inventory
    profile: Profile
    phase: str = "postinstall"
    # "paramiko" (one persistent connection per node, batched facts) or
    # "testinfra-ssh" (the benchmark's baseline); from $HA_TRANSPORT.
    transport: str = field(default_factory=lambda: os.environ.get("HA_TRANSPORT", "paramiko"))
    _remotes: dict[str, Remote] = field(default_factory=dict)
    _facts: dict[str, NodeFacts] = field(default_factory=dict)
    _db: dict[str, DbFacts] = field(default_factory=dict)
    _db_dead: dict[str, str] = field(default_factory=dict)
    _dead: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _secrets: set[str] = field(default_factory=set)
    _prefetched: bool = False
    # Set by the plugin: how destructive steps may reach this site.
    options: dict[str, Any] = field(default_factory=dict)
    _samples: dict[str, list[tuple[float, tuple[str, ...]]]] | None = None
    _sample_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, inventory: inv.Inventory, profile_name: str | None, phase: str) -> SiteRuntime:
        profile = get_profile(profile_name or inventory.profile).with_overrides(dict(inventory.profile_overrides))
        rt = cls(inventory=inventory, profile=profile, phase=phase)
        with contextlib.suppress(inv.InventoryError):
            rt._secrets.add(inventory.db.password())
        if inventory.storage is not None:
            with contextlib.suppress(inv.InventoryError):
                rt._secrets.add(inventory.storage.secret_key())
        return rt

    @property
    def topology(self) -> Any:
        return TOPOLOGIES[self.inventory.topology]

    def vip_spec(self, name: str) -> VipSpec:
        return next(v for v in self.topology.vips if v.name == name)

    def vip_group(self, name: str) -> list[inv.NodeEntry]:
        return self.inventory.nodes_with(self.vip_spec(name).holder_role)

    def vip_address(self, name: str) -> str:
        return str(getattr(self.inventory.vips, name))

    def db_endpoint(self) -> str:
        if self.inventory.vips.db is not None:
            return str(self.inventory.vips.db)
        return str(self.inventory.nodes_with(Role.DB)[0].address)

    # Nodes ---------------------------------------------------------------------
    def remote(self, node: inv.NodeEntry) -> Remote:
        with self._lock:
            if node.name in self._dead:
                raise NodeUnreachable(self._dead[node.name])
            if node.name not in self._remotes:
                ssh = self.inventory.ssh
                try:
                    with socket.create_connection((str(node.address), ssh.port), timeout=ssh.connect_timeout):
                        pass
                except OSError as exc:
                    why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
                    self._dead[node.name] = (
                        f"{node.name} ({node.address}) is unreachable over SSH: {node.address}:{ssh.port}: {why}"
                    )
                    raise NodeUnreachable(self._dead[node.name]) from None
                self._remotes[node.name] = Remote.for_node(self.inventory, node.name, self._secrets)
            return self._remotes[node.name]

    def run(self, node: inv.NodeEntry, command: str, timeout: float = 30) -> Result:
        if self.transport == "testinfra-ssh":
            return self._run_testinfra_ssh(node, command)
        remote = self.remote(node)
        try:
            return remote.run(command, timeout=timeout, check=False)
        except RemoteError as exc:
            with self._lock:
                self._dead[node.name] = str(exc)
            raise NodeUnreachable(str(exc)) from None

    def prefetch(self) -> None:
        """Ask every node its facts at once (parallel SSH), the first time any is needed."""
        if self._prefetched:
            return
        self._prefetched = True

        def one(node: inv.NodeEntry) -> None:
            with contextlib.suppress(NodeUnreachable):
                self.facts(node)

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(self.inventory.nodes)) as pool:
            list(pool.map(one, self.inventory.nodes))

    def vip_samples(self, window: float) -> dict[str, list[tuple[float, tuple[str, ...]]]]:
        """Holders of every VIP, sampled together every 0.5 s over one window (shared by the VIP checks)."""
        with self._sample_lock:
            if self._samples is None:
                groups = {v.name: (self.vip_address(v.name), self.vip_group(v.name)) for v in self.topology.vips}
                nodes = {n.name: n for _, group in groups.values() for n in group}
                samples: dict[str, list[tuple[float, tuple[str, ...]]]] = {name: [] for name in groups}
                start = time.monotonic()
                with concurrent.futures.ThreadPoolExecutor(max_workers=len(nodes)) as pool:
                    while True:

                        def addrs(node: inv.NodeEntry) -> tuple[str, str]:
                            try:
                                return node.name, self.run(node, "ip -o -4 addr show", timeout=5).stdout
                            except NodeUnreachable:
                                return node.name, ""

                        seen = dict(pool.map(addrs, nodes.values()))
                        at = time.monotonic() - start
                        for name, (vip, group) in groups.items():
                            held = tuple(n.name for n in group if f" {vip}/" in seen.get(n.name, ""))
                            samples[name].append((at, held))
                        if at >= window:
                            break
                        time.sleep(0.5)
                self._samples = samples
            return self._samples

    def facts(self, node: inv.NodeEntry) -> NodeFacts:
        if not self._prefetched and self.transport == "paramiko":
            self.prefetch()
        if node.name not in self._facts:
            before = time.time()
            if self.transport == "testinfra-ssh":  # one command per question, as plain testinfra suites do
                values = {name: self.run(node, f"{{ {cmd}; }} 2>&1").stdout.strip() for name, cmd in FACT_COMMANDS}
            else:
                values = parse_facts(self.run(node, fact_script()).stdout)
            after = time.time()
            self._facts[node.name] = NodeFacts(values, before, after)
        return self._facts[node.name]

    def _run_testinfra_ssh(self, node: inv.NodeEntry, command: str) -> Result:
        """Benchmark baseline: testinfra's plain ssh:// backend, a new connection per command."""
        import testinfra

        ssh = self.inventory.ssh
        extra = "-o BatchMode=yes"
        if ssh.known_hosts is not None:
            extra += f" -o UserKnownHostsFile={ssh.known_hosts} -o StrictHostKeyChecking=yes"
        host = testinfra.get_host(
            f"ssh://{ssh.user}@{node.address}:{ssh.port}",
            ssh_identity_file=str(ssh.key),
            ssh_extra_args=extra,
            controlpersist=0,
            timeout=int(ssh.connect_timeout),
        )
        out = host.run(command)
        if out.rc == 255:
            raise NodeUnreachable(f"{node.name} ({node.address}) is unreachable over SSH: {out.stderr.strip()}")
        return Result(out.rc, out.stdout, out.stderr)

    def connect_db(self, host: str, timeout: float = 5) -> pymysql.connections.Connection:  # type: ignore[type-arg]
        db = self.inventory.db
        return pymysql.connect(
            host=host,
            port=db.port,
            user=db.user,
            password=db.password(),
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            autocommit=True,
        )

    def db_facts(self, node: inv.NodeEntry) -> DbFacts:
        if node.name in self._db_dead:
            raise CheckFailed(self._db_dead[node.name])
        if node.name not in self._db:
            try:
                conn = self.connect_db(str(node.address), timeout=self.inventory.ssh.connect_timeout)
            except pymysql.MySQLError as exc:
                port = self.inventory.db.port
                self._db_dead[node.name] = f"{node.name}: cannot connect to MariaDB at {node.address}:{port}: {exc}"
                raise CheckFailed(self._db_dead[node.name]) from None
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT " + ", ".join(f"@@{v}" for v in DB_VARIABLES))
                    variables = dict(zip(DB_VARIABLES, cur.fetchone() or (), strict=False))
                    try:
                        cur.execute("SHOW GRANTS FOR 'root'@'%'")
                        grants = [row[0] for row in cur.fetchall()]
                    except pymysql.MySQLError as exc:
                        grants = [f"(none: {exc.args[-1]})"]
                with conn.cursor(pymysql.cursors.DictCursor) as cur:
                    cur.execute("SHOW SLAVE STATUS")
                    slave = cur.fetchone() or {}
            finally:
                conn.close()
            self._db[node.name] = DbFacts(variables, grants, slave)
        return self._db[node.name]

    def faults(self) -> Any:
        """The fault injector for this site: the lab's, or a confirmed real site's."""
        from bootstrap import faults as fl

        path = self.options.get("inventory_path")
        first = str(self.inventory.first_node().address)
        return fl.for_run(
            path,
            self.inventory,
            journal_dir=self.options.get("journal_dir"),
            confirmed_site=self.options.get("confirm_site"),
            runner_ip=fl.runner_address_towards(first),
        )

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "<redacted>")
        return text

    def close(self) -> None:
        for remote in self._remotes.values():
            remote.close()


@dataclass
class Context:
    """What one check item gets."""

    rt: SiteRuntime
    req: Requirement
    node: inv.NodeEntry | None = None
    subject: str | None = None  # the VIP name for vip-scoped requirements, the scenario's name for SURV
    figures: dict[str, Any] = field(default_factory=dict)  # measured figures for results.json

    @property
    def inventory(self) -> inv.Inventory:
        return self.rt.inventory

    @property
    def facts(self) -> NodeFacts:
        assert self.node is not None
        return self.rt.facts(self.node)

    def expected(self, key: str) -> Any:
        """An expected value from the catalog entry, resolved through the profile."""
        ref = self.req.expect[key]
        if isinstance(ref, str) and hasattr(self.rt.profile, ref):
            return getattr(self.rt.profile, ref)
        return ref

    def fail(self, message: str, evidence: list[tuple[str, str]] | None = None) -> NoReturn:
        raise CheckFailed(message, evidence)

    def require(self, condition: object, message: str, evidence: list[tuple[str, str]] | None = None) -> None:
        if not condition:
            self.fail(message, evidence)
