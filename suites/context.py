"""What a check sees: the site, the node or VIP under test, expected values, and
facts gathered from nodes in as few round trips as possible (one batched shell
script per node, one SQL session per database node), cached per worker.

Checks are read-only: nothing here changes a node.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pymysql

from bootstrap import inventory as inv
from bootstrap.layout import Layout, detect_db_ha, detect_line, manifest_vips
from bootstrap.profiles import Profile, get_profile
from bootstrap.remote import CommandTimeout, NodeUnreachable, Remote, Result, tcp_reachable
from bootstrap.sitekind import SiteKind
from bootstrap.topology import TOPOLOGIES, Role, Topology, VipSpec
from bootstrap.vips import ADDR_COMMAND, holders
from suites.catalog import Requirement, resolve_expected
from suites.checks.keepalived_conf import instance_for as kc_instance_for
from suites.checks.keepalived_conf import scripts as kc_scripts
from suites.facts import PROBES, Fact, Unreadable, batch_script, batch_timeout, new_nonce, parse_batch
from suites.keepalived_log import failing_scripts, since_last_start, waiting_netcat

__all__ = [
    "ROOT_DB",
    "Blocked",
    "CheckError",
    "CheckFailed",
    "Context",
    "FactFailed",
    "FactNotVerifiable",
    "NodeUnreachable",
    "NotVerifiable",
    "SiteRuntime",
    "Skip",
    "root_ssh",
    "root_vip",
]


class CheckFailed(AssertionError):
    """The requirement does not hold; carries the evidence."""

    def __init__(
        self, message: str, evidence: list[tuple[str, str]] | None = None, findings: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.evidence = evidence or []
        # Non-empty only when every problem in the failure is an instance of one of these named
        # findings (suites/findings.py): what a finding's waiver may accept, and nothing more.
        self.findings = findings


class CheckError(RuntimeError):
    """The check could not be judged (a fact failed, a command timed out): an error
    outcome, not a failure of the requirement; the message names what and where."""


def root_ssh(node: str) -> str:
    """The root item every check on ``node`` depends on: SSH login."""
    return f"ROOT-SSH[{node}]"


def root_vip(name: str) -> str:
    """The root item every check through a VIP from the runner depends on."""
    return f"ROOT-VIP[{name}]"


VIP_PROBE_PORTS = {"platform": 6443, "db": 3306}  # a service every install runs behind the VIP
ROOT_DB = "ROOT-DB[site]"  # the root item every database check depends on: the inventory's DB login
DB_LOGIN_REFUSED = (1044, 1045)  # access denied to a database / for a user


class Blocked(CheckError):
    """The check could not run because a root cause it depends on failed (an error outcome
    that names the root item, e.g. ``blocked by ROOT-DB[site]: ...``)."""

    def __init__(self, root: str, why: str, code: int | None = None) -> None:
        super().__init__(f"blocked by {root}: {why}")
        self.root, self.code = root, code  # code: the server's error number, where one caused it


class Skip(Exception):
    """The check does not apply to this site as given (e.g. no storage section in the
    inventory): reported as skipped with the reason."""


class NotVerifiable(CheckError):
    """The check cannot be judged on this site: the suite may not see what it needs (a fact
    the SSH user may not read, a tool missing). Reported as "not verifiable" with the reason,
    never as a pass."""


class FactFailed(CheckError):
    """A fact the check declared is unreadable on a node (its probe failed): an error."""

    def __init__(self, node: str, fact: Fact) -> None:
        super().__init__(f"{node}: fact {fact.name!r} {fact.why()}")
        self.node, self.fact = node, fact


class FactNotVerifiable(FactFailed, NotVerifiable):
    """A fact the check declared may not be read on a node (sudo -n refused, no journal)."""


def unreadable(node: str, fact: Fact) -> FactFailed:
    """The exception for an unreadable fact: not verifiable where access was refused, else an error."""
    value = fact.value
    return (FactNotVerifiable if isinstance(value, Unreadable) and value.not_verifiable else FactFailed)(node, fact)


@dataclass
class NodeFacts:
    """Every probe's result on one node, and when the runner asked (its clock, seconds)."""

    node: str
    values: dict[str, Fact]
    runner_before: float
    runner_after: float


@dataclass
class FactView:
    """The facts of one node as one check sees them: only those it declared."""

    facts: NodeFacts
    declared: frozenset[str]
    check: str

    def fact(self, name: str) -> Fact:
        if name not in self.declared:
            raise CheckError(
                f"{self.check} reads fact {name!r} without declaring it (@check(..., facts=(...)) in suites/checks)"
            )
        fact = self.facts.values[name]
        if not fact.ok:
            raise unreadable(self.facts.node, fact)
        return fact

    def __getitem__(self, name: str) -> Any:
        """The fact's value (its parser's; suites/facts/values.py)."""
        return self.fact(name).value

    def unreadable(self) -> list[Fact]:
        """The declared facts that could not be read on this node."""
        return [self.facts.values[n] for n in sorted(self.declared) if not self.facts.values[n].ok]

    def evidence(self, *names: str) -> list[tuple[str, str]]:
        return [(self.fact(n).command, self.fact(n).output) for n in names]

    @property
    def runner_before(self) -> float:
        return self.facts.runner_before

    @property
    def runner_after(self) -> float:
        return self.facts.runner_after


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
    kind: SiteKind = SiteKind.SITE
    _remotes: dict[str, Remote] = field(default_factory=dict)
    _facts: dict[str, NodeFacts] = field(default_factory=dict)
    _db: dict[str, DbFacts] = field(default_factory=dict)
    _db_dead: dict[str, str] = field(default_factory=dict)
    _dead: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _secrets: set[str] = field(default_factory=set)
    _vip_reach: dict[str, str | None] = field(default_factory=dict)
    _prefetched: bool = False
    # Set by the plugin: how destructive steps may reach this site.
    options: dict[str, Any] = field(default_factory=dict)
    _samples: dict[str, list[tuple[float, tuple[str, ...]]]] | None = None
    _layout: Layout | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # the inventory's and the run's profile values
    _sample_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(
        cls,
        inventory: inv.Inventory,
        profile_name: str | None,
        phase: str,
        overrides: dict[str, Any] | None = None,
        kind: SiteKind = SiteKind.SITE,
    ) -> SiteRuntime:
        """``overrides`` (the run's ``--override`` values) win over the inventory's."""
        values = {**inventory.profile_overrides, **(overrides or {})}
        profile = get_profile(profile_name or inventory.profile).with_overrides(values)
        rt = cls(inventory=inventory, profile=profile, phase=phase, kind=kind, overrides=values)
        with contextlib.suppress(inv.InventoryError):
            rt._secrets |= inventory.secrets()
        return rt

    @property
    def topology(self) -> Topology:
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
                raise NodeUnreachable(self._dead[node.name], node.name)
            if node.name not in self._remotes:
                self._remotes[node.name] = Remote.for_node(self.inventory, node.name, self._secrets)
            return self._remotes[node.name]

    def run(self, node: inv.NodeEntry, command: str, timeout: float = 30) -> Result:
        """A read-only command on a node. Raises NodeUnreachable (remembered for the node:
        only a failed SSH connection makes a node unreachable) or CheckError (timed out)."""
        remote = self.remote(node)
        try:
            return remote.run(command, timeout=timeout, check=False)
        except NodeUnreachable as exc:
            with self._lock:
                self._dead[node.name] = str(exc)
            raise
        except CommandTimeout as exc:
            raise CheckError(str(exc)) from None

    def prefetch(self) -> None:
        """Ask every node its facts at once (parallel SSH), the first time any is needed."""
        if self._prefetched:
            return
        self._prefetched = True

        def one(node: inv.NodeEntry) -> None:
            with contextlib.suppress(NodeUnreachable, CheckError):
                self.facts(node)

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(self.inventory.nodes)) as pool:
            list(pool.map(one, self.inventory.nodes))

    def vip_samples(self, window: float) -> dict[str, list[tuple[float, tuple[str, ...]]]]:
        """Holders of every VIP, sampled together every 0.5 s over one window (shared by the VIP checks)."""
        with self._sample_lock:
            if self._samples is None:
                vips = {v.name: self.vip_address(v.name) for v in self.topology.vips}
                nodes = {n.name: n for v in self.topology.vips for n in self.vip_group(v.name)}
                samples: dict[str, list[tuple[float, tuple[str, ...]]]] = {name: [] for name in vips}
                start = time.monotonic()

                def addrs(node: inv.NodeEntry) -> tuple[str, str]:
                    try:
                        return node.name, self.run(node, ADDR_COMMAND, timeout=5).stdout
                    except (NodeUnreachable, CheckError):
                        return node.name, ""

                with concurrent.futures.ThreadPoolExecutor(max_workers=len(nodes)) as pool:
                    while True:
                        seen = dict(pool.map(addrs, nodes.values()))
                        at = time.monotonic() - start
                        for name, held in holders(seen, vips).items():
                            group = {n.name for n in self.vip_group(name)}
                            samples[name].append((at, tuple(h for h in held if h in group)))
                        if at >= window:
                            break
                        time.sleep(0.5)
                self._samples = samples
            return self._samples

    def vip_unreachable(self, name: str) -> str | None:
        """Why the runner gets no answer at all from the named VIP (a refused connection is an
        answer: something holds the address), or None. Asked once per worker."""
        with self._lock:
            if name not in self._vip_reach:
                addr, port = self.vip_address(name), VIP_PROBE_PORTS.get(name, 22)
                why = tcp_reachable(addr, port, 3)
                answered = why is None or why.endswith("Connection refused")
                self._vip_reach[name] = None if answered else f"the runner gets no answer from the {name} VIP: {why}"
            return self._vip_reach[name]

    def track_script_failures(self, name: str) -> tuple[str | None, list[tuple[str, str]]]:
        """Why the named VIP's keepalived may not hold it, from keepalived's own log on the
        VIP's group since it last started: ("track script X (exited with status 2) failing
        on db1, db2", evidence), or (None, evidence) when its log names no failing script.
        Only the scripts that keepalived.conf's instance for this VIP tracks count: the unit's
        log also speaks of its other instances. A static pod's keepalived is read from its
        container's log where a container runtime answers."""
        vip = self.vip_address(name)
        logs, evidence = {}, []
        for node in self.vip_group(name):
            with contextlib.suppress(NodeUnreachable, CheckError, KeyError):
                inst = kc_instance_for(self.value(node, "keepalived_conf"), vip)
                if inst is not None:
                    tracked = set(inst.track_scripts)
                    lines = [
                        ln
                        for ln in since_last_start(self.value(node, "keepalived_log"))
                        if any(f"({t})" in ln or f" {t} " in ln for t in tracked)
                    ]
                    where = "keepalived's log since its start, this VIP's track scripts"
                elif vip in manifest_vips(self.value(node, "keepalived_manifest")):
                    pod = self.value(node, "keepalived_pod_log")
                    if pod is None or pod.container is None:
                        continue
                    lines = [ln for ln in since_last_start(pod.log) if "VRRP_Script(" in ln]
                    where = f"{pod.runtime} logs {pod.container}: the static pod's track scripts since its start"
                else:
                    continue
                logs[node.name] = "\n".join(lines)
                evidence.append((f"{where} (on {node.name})", "\n".join(lines[-20:])))
        failing = failing_scripts(logs)
        if not failing:
            return None, evidence
        said = "; ".join(f"{script} on {', '.join(nodes)}" for script, nodes in failing.items())
        return f"keepalived reports its track script failing: {said}" + self._bash_only(failing), evidence

    def _bash_only(self, failing: dict[str, list[str]]) -> str:
        """Why a failing track script cannot work, where that is plain: a bash-only
        ``/dev/tcp`` redirection that keepalived hands to a /bin/sh that is not bash, or an
        ``nc`` that waits for the server to close (OpenBSD's or the traditional netcat: MariaDB
        closes a connection that sent no handshake only at connect_timeout, 10 s by default,
        after keepalived's script timeout), where CentOS 7's nc, for which the DB-HA page's
        chk_mysql was written, closes at once."""
        for label, nodes in failing.items():
            script = label.split(" (", 1)[0]
            for node_name in nodes:
                with contextlib.suppress(NodeUnreachable, CheckError, KeyError):
                    node = self.inventory.node(node_name)
                    command = kc_scripts(self.value(node, "keepalived_conf")).get(script, "")
                    sh = self.value(node, "bin_sh")
                    if "/dev/tcp/" in command and sh and not sh.endswith("bash"):
                        return (
                            f" (its command {command} is a bash redirection, and keepalived runs it "
                            f"through /bin/sh, which is {sh} on {node_name})"
                        )
                    body = self.value(node, "keepalived_scripts").get(command.split(" ")[0], "")
                    waits = waiting_netcat(self.value(node, "netcat") or "")
                    if waits and re.search(r"(^|[|;&\s])nc\s", body):
                        return (
                            f" (its script runs nc, which on {node_name} is {waits}: it waits for the server to "
                            "close the connection, and MariaDB closes one that sent no handshake only at "
                            "connect_timeout, 10 s by default, longer than keepalived lets the script run)"
                        )
        return ""

    def vip_holders_now(self) -> dict[str, list[str]]:
        """{VIP name: nodes holding it} at this moment (one read per node, unreachable: none)."""
        vips = {v.name: self.vip_address(v.name) for v in self.topology.vips}
        seen = {}
        for node in self.inventory.nodes:
            with contextlib.suppress(NodeUnreachable, CheckError):
                seen[node.name] = self.run(node, ADDR_COMMAND, timeout=5).stdout
        return holders(seen, vips)

    def layout(self) -> Layout:
        """The site's install line and DB-HA variant: the inventory's ``layout`` where it
        names them, else detected read-only from the facts (the line on the First Node, or
        the first control node that answers; the variant from the DB-HA nodes' keepalived).
        Never raises: an unanswered probe leaves the line undetected, saying why."""
        if self._layout is not None:
            return self._layout
        given = self.inventory.layout
        sources: list[tuple[str, str]] = []
        line: str | None = given.line
        if line is not None:
            sources.append(("line", "inventory layout.line"))
        else:
            candidates = [self.inventory.first_node()] + [
                n for n in self.inventory.nodes_with(Role.CONTROL) if not n.has(Role.FIRST)
            ]
            why = "no control node answered"
            for node in candidates:
                try:
                    fact = self.facts(node).values["layout"]
                except (NodeUnreachable, CheckError) as exc:
                    why = f"{node.name}: {exc}"
                    continue
                if not fact.ok:
                    why = f"{node.name}: the layout probe {fact.why()}"
                    continue
                line = detect_line(fact.value)
                marks = sorted(fact.value)
                why = f"{node.name}: " + (", ".join(marks) if marks else "neither line's marker files")
                break
            sources.append(("line", f"detected on {why}"))
        db_ha: str
        if given.db_ha is not None:
            db_ha = given.db_ha
            sources.append(("db_ha", "inventory layout.db_ha"))
        else:
            db_nodes = self.inventory.nodes_with(Role.DB_HA)
            confs = []
            for node in db_nodes:
                with contextlib.suppress(NodeUnreachable, CheckError, KeyError):
                    confs.append(self.value(node, "keepalived_conf"))
            db_ha = detect_db_ha(len(db_nodes), confs)
            where = ", ".join(n.name for n in db_nodes) or "the topology (no DB-HA nodes)"
            sources.append(("db_ha", f"detected from keepalived.conf on {where}" if db_nodes else where))
        self._layout = Layout(line, db_ha, tuple(sources))
        return self._layout

    def db_ha_profile(self) -> Profile:
        """The profile whose DB keepalived values apply: ocboot's where the DB-HA variant is
        ocboot's (``mariadb_ha_nodes``: both BACKUP 99, router id 92), with the run's and the
        inventory's overrides still winning; else the run's own profile."""
        if self.layout().db_ha == "ocboot" and self.profile.name != "ocboot":
            return get_profile("ocboot").with_overrides(self.overrides)
        return self.profile

    def facts(self, node: inv.NodeEntry) -> NodeFacts:
        """Every probe's result on the node, from one batch (one SSH round trip)."""
        if not self._prefetched:
            self.prefetch()
        if node.name not in self._facts:
            probes = list(PROBES.values())
            nonce = new_nonce()
            before = time.time()
            out = self.run(node, batch_script(probes, nonce), timeout=batch_timeout(probes)).stdout
            after = time.time()
            self._facts[node.name] = NodeFacts(node.name, parse_batch(out, nonce, probes), before, after)
        return self._facts[node.name]

    def value(self, node: inv.NodeEntry, name: str) -> Any:
        """A fact's value on ``node`` for diagnosis (not a verdict): raises CheckError (a
        FactFailed) where it is unreadable, NodeUnreachable where the node is."""
        fact = self.facts(node).values[name]
        if not fact.ok:
            raise unreadable(node.name, fact)
        return fact.value

    def connect_db(self, host: str, timeout: float = 5) -> pymysql.connections.Connection:
        """A session with the inventory's credentials. Raises Blocked (naming ROOT_DB) when
        MariaDB refuses those credentials, pymysql's errors otherwise."""
        try:
            return self._connect_db(host, timeout)
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] in DB_LOGIN_REFUSED:
                raise Blocked(ROOT_DB, self._redact(self.db_login_refused(host, exc)), exc.args[0]) from None
            raise

    def db_login_refused(self, host: str, exc: pymysql.MySQLError) -> str:
        where = next((n.name for n in self.inventory.nodes if str(n.address) == host), None)
        if where is None:
            where = "the DB VIP" if host == str(self.inventory.vips.db) else host
        return (
            f"MariaDB on {where} ({host}) refuses the inventory's credentials for user "
            f"{self.inventory.db.user!r} (error {exc.args[0]}): {exc.args[-1]}"
        )

    def db_endpoints(self) -> list[tuple[str, str]]:
        """(label, address) of every place the checks log in to MariaDB: the DB nodes, the DB VIP."""
        found = [(n.name, str(n.address)) for n in self.inventory.nodes if n.has(Role.DB) or n.has(Role.DB_HA)]
        if self.inventory.vips.db is not None:
            found.append(("vip-db", str(self.inventory.vips.db)))
        return found

    def _connect_db(self, host: str, timeout: float) -> pymysql.connections.Connection:
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

        first = str(self.inventory.first_node().address)
        return fl.for_run(
            self.kind,
            self.inventory,
            journal_dir=self.options.get("journal_dir"),
            confirmed_site=self.options.get("confirm_site"),
            runner_ip=fl.runner_address_towards(first),
        )

    def redact(self, text: str) -> str:
        """``text`` with every secret of the inventory replaced by <redacted>."""
        return self._redact(text)

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
    declared: frozenset[str] = frozenset()  # the facts the running check declared
    artifacts: list[str] = field(default_factory=list)  # files kept for this item, relative to the report dir

    @property
    def inventory(self) -> inv.Inventory:
        return self.rt.inventory

    @property
    def facts(self) -> FactView:
        """The node under test's facts (those the check declared)."""
        assert self.node is not None
        return self.facts_of(self.node)

    def facts_of(self, node: inv.NodeEntry) -> FactView:
        """Another node's facts (those the check declared)."""
        return FactView(self.rt.facts(node), self.declared, self.req.id)

    @property
    def layout(self) -> Layout:
        """The site's install line and DB-HA variant (SiteRuntime.layout)."""
        return self.rt.layout()

    def through_vip(self, name: str) -> None:
        """Before a check that goes through the named VIP from the runner: raise Blocked
        (naming ROOT-VIP[name]) when the runner gets no answer from the VIP at all."""
        why = self.rt.vip_unreachable(name)
        if why is not None:
            raise Blocked(root_vip(name), why)

    def expected(self, key: str, profile: Profile | None = None) -> Any:
        """An expected value named in the catalog entry, resolved through the profile (the
        run's unless given; names are checked when the catalog loads; an unknown key is a
        CheckError)."""
        try:
            return resolve_expected(self.req.expect[key], profile or self.rt.profile, self.inventory)
        except KeyError:
            raise CheckError(f"{self.req.id}: the catalog entry names no expected value {key!r}") from None

    def fail(
        self, message: str, evidence: list[tuple[str, str]] | None = None, findings: tuple[str, ...] = ()
    ) -> NoReturn:
        raise CheckFailed(message, evidence, findings)

    def require(
        self,
        condition: object,
        message: str,
        evidence: list[tuple[str, str]] | None = None,
        findings: tuple[str, ...] = (),
    ) -> None:
        if not condition:
            self.fail(message, evidence, findings)
