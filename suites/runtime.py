"""A run's view of a site, per worker: the nodes over one pool of persistent SSH connections,
their facts from a FactSource (SSH, or recorded outputs in unit tests), the database sessions,
the VIPs' observation, and the layout as detected. Checks are read-only: nothing here changes a
node. Diagnosis (suites/diagnosis.py) and layout detection (suites/detect.py) live apart.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import pymysql

from bootstrap import faults as fl
from bootstrap import inventory as inv
from bootstrap.faults import Driver
from bootstrap.layout import Layout
from bootstrap.profiles import Profile, get_profile
from bootstrap.remote import CommandTimeout, NodeUnreachable, Pool, Result, tcp_reachable
from bootstrap.runner_host import runner_address_towards
from bootstrap.sitekind import SiteKind
from bootstrap.topology import TOPOLOGIES, Role, Topology, VipSpec
from bootstrap.vips import ADDR_COMMAND, holders
from suites import detect, diagnosis
from suites.dbsession import DbFacts, DbSessions
from suites.errors import VIP_PROBE_PORTS, CheckError, unreadable
from suites.factsource import FactSource, NodeFacts, SshFactSource


@dataclass
class SiteRuntime:
    """Per-worker view of the site: connections and facts, fetched once.

    ``source`` gives the nodes' facts (SSH by default); ``options`` are set by the plugin (how
    destructive steps may reach the site, the report directory, the run's waivers)."""

    inventory: inv.Inventory
    profile: Profile
    phase: str = "postinstall"
    kind: SiteKind = SiteKind.SITE
    options: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)  # the inventory's and the run's profile values
    secrets: set[str] = field(default_factory=set)
    source: FactSource | None = None
    pool: Pool | None = None
    # A VIP's answer to the runner, once per worker (None: answered); preset in unit tests.
    vip_reach: dict[str, str | None] = field(default_factory=dict)
    # Each node's facts as asked (one batch per node, once): its answer, or the error it gave.
    _facts: dict[str, concurrent.futures.Future[NodeFacts]] = field(default_factory=dict)
    _facts_lock: threading.Lock = field(default_factory=threading.Lock)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _prefetched: bool = False
    _samples: dict[str, list[tuple[float, tuple[str, ...]]]] | None = None
    _layout: Layout | None = None
    _sample_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.pool is None:
            self.pool = Pool(self.inventory, self.secrets)
        if self.source is None:
            self.source = SshFactSource(self.run)
        self.db = DbSessions(self.inventory, self.redact)

    @classmethod
    def create(  # noqa: PLR0917  (the plugin's and the tests' positional call)
        cls,
        inventory: inv.Inventory,
        profile_name: str | None,
        phase: str,
        overrides: dict[str, Any] | None = None,
        kind: SiteKind = SiteKind.SITE,
        source: FactSource | None = None,
    ) -> SiteRuntime:
        """``overrides`` (the run's ``--override`` values) win over the inventory's; ``source``
        replaces SSH as where the nodes' facts come from (recorded outputs in unit tests)."""
        values = {**inventory.profile_overrides, **(overrides or {})}
        profile = get_profile(profile_name or inventory.profile).with_overrides(values)
        secrets: set[str] = set()
        with contextlib.suppress(inv.InventoryError):
            secrets |= inventory.secrets()
        return cls(inventory=inventory, profile=profile, phase=phase, kind=kind, overrides=values, secrets=secrets,
                   source=source)  # fmt: skip

    def fresh(self, profile: Profile | None = None) -> SiteRuntime:
        """A new view of the same site: nothing cached, new connections (a node unreachable
        during a scenario is asked again), the same secrets and options."""
        return replace(self, profile=profile or self.profile, source=None, pool=None, vip_reach={}, _facts={},
                       _facts_lock=threading.Lock(), _lock=threading.Lock(), _prefetched=False, _samples=None,
                       _layout=None, _sample_lock=threading.Lock())  # fmt: skip

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
    def run(self, node: inv.NodeEntry, command: str, timeout: float = 30) -> Result:
        """A read-only command on a node. Raises NodeUnreachable (remembered for the node by the
        pool: only a failed SSH connection makes a node unreachable) or CheckError (timed out)."""
        assert self.pool is not None
        try:
            return self.pool.run(node.name, command, timeout)
        except CommandTimeout as exc:
            raise CheckError(str(exc)) from None

    def prefetch(self) -> None:
        """Ask every node its facts at once (one SSH batch per node, in parallel), the first time
        any is needed. Returns at once: ``facts`` waits for the node it is asked about only, so a
        check of a node that answered is judged while the slower nodes still answer."""
        with self._facts_lock:
            if self._prefetched:
                return
            self._prefetched = True
            for node in self.inventory.nodes:
                if node.name not in self._facts:
                    self._facts[node.name] = self._ask(node)

    def _ask(self, node: inv.NodeEntry) -> concurrent.futures.Future[NodeFacts]:
        """The node's fact batch, asked in a thread of its own: its future."""
        assert self.source is not None
        source = self.source
        future: concurrent.futures.Future[NodeFacts] = concurrent.futures.Future()

        def fetch() -> None:
            try:
                future.set_result(source.facts(node))
            except BaseException as exc:  # the asker gets it, whatever it is
                future.set_exception(exc)

        threading.Thread(target=fetch, name=f"facts-{node.name}", daemon=True).start()
        return future

    def facts(self, node: inv.NodeEntry) -> NodeFacts:
        """Every probe's result on the node (one SSH round trip), asked once: a node that did
        not answer raises the same error again without being asked again (nothing waited for
        twice; ``fresh`` asks anew). Raises NodeUnreachable (the login failed) or CheckError (the
        batch as a whole did not answer in time)."""
        self.prefetch()
        with self._facts_lock:
            if node.name not in self._facts:  # a node the inventory's list does not name
                self._facts[node.name] = self._ask(node)
            future = self._facts[node.name]
        return future.result()

    def value(self, node: inv.NodeEntry, name: str) -> Any:
        """A fact's value on ``node`` for diagnosis (not a verdict): raises CheckError (a
        FactFailed) where it is unreadable, NodeUnreachable where the node is."""
        fact = self.facts(node).values[name]
        if not fact.ok:
            raise unreadable(node.name, fact)
        return fact.value

    # VIPs ----------------------------------------------------------------------
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

    def start_vip_window(self) -> None:
        """Begin the VIP checks' observation window (``vip_samples`` over the profile's
        ``vip_observation_s``) now, in a background thread: the checks then find its samples
        (or wait for them) instead of starting a window of their own after the facts are read.
        A window that fails leaves nothing cached: the first VIP check samples again and judges
        the failure itself."""
        if not self.topology.vips:
            return

        def observe() -> None:
            with contextlib.suppress(Exception):
                self.vip_samples(self.profile.vip_observation_s)

        threading.Thread(target=observe, name="vip-window", daemon=True).start()

    def vip_unreachable(self, name: str) -> str | None:
        """Why the runner gets no answer at all from the named VIP (a refused connection is an
        answer: something holds the address), or None. Asked once per worker."""
        with self._lock:
            if name not in self.vip_reach:
                addr, port = self.vip_address(name), VIP_PROBE_PORTS.get(name, 22)
                why = tcp_reachable(addr, port, 3)
                if why is not None and not why.endswith("Connection refused"):
                    # Asked twice before it is a root cause: one lost handshake (a VIP moving, a
                    # neighbour entry being replaced) is no site whose VIP gives no answer at all.
                    time.sleep(1)
                    why = tcp_reachable(addr, port, 3)
                answered = why is None or why.endswith("Connection refused")
                self.vip_reach[name] = None if answered else f"the runner gets no answer from the {name} VIP: {why}"
            return self.vip_reach[name]

    def track_script_failures(self, name: str) -> tuple[str | None, list[tuple[str, str]]]:
        """Why the named VIP's keepalived may not hold it (suites/diagnosis.py)."""
        return diagnosis.track_script_failures(self, name)

    def vip_holders_now(self) -> dict[str, list[str]]:
        """{VIP name: nodes holding it} at this moment (one read per node, unreachable: none)."""
        vips = {v.name: self.vip_address(v.name) for v in self.topology.vips}
        seen = {}
        for node in self.inventory.nodes:
            with contextlib.suppress(NodeUnreachable, CheckError):
                seen[node.name] = self.run(node, ADDR_COMMAND, timeout=5).stdout
        return holders(seen, vips)

    # Layout and database -------------------------------------------------------
    def layout(self) -> Layout:
        """The site's install line and DB-HA variant (suites/detect.py), detected once."""
        if self._layout is None:
            self._layout = detect.detect_layout(self)
        return self._layout

    def layout_known(self) -> bool:
        """Whether the layout was detected already (no new round trip to learn it)."""
        return self._layout is not None

    def db_ha_profile(self) -> Profile:
        """The profile whose DB keepalived values apply: ocboot's where the DB-HA variant is
        ocboot's (``mariadb_ha_nodes``: both BACKUP 99, router id 92), with the run's and the
        inventory's overrides still winning; else the run's own profile."""
        if self.layout().db_ha == "ocboot" and self.profile.name != "ocboot":
            return get_profile("ocboot").with_overrides(self.overrides)
        return self.profile

    def connect_db(
        self, host: str, timeout: float = 5, query_timeout: float | None = None
    ) -> pymysql.connections.Connection:
        return self.db.connect_db(host, timeout, query_timeout)

    def db_endpoints(self) -> list[tuple[str, str]]:
        return self.db.db_endpoints()

    def db_facts(self, node: inv.NodeEntry) -> DbFacts:
        return self.db.db_facts(node)

    # Faults and secrets --------------------------------------------------------
    def faults(self) -> Driver:
        """The fault injector for this site: the lab's, or a confirmed real site's."""
        first = str(self.inventory.first_node().address)
        return fl.for_run(
            self.kind,
            self.inventory,
            journal_dir=self.options.get("journal_dir"),
            confirmed_site=self.options.get("confirm_site"),
            runner_ip=runner_address_towards(first),
            pool=self.pool,
        )

    def redact(self, text: str) -> str:
        """``text`` with every secret of the inventory replaced by <redacted>."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "<redacted>")
        return text

    def close(self) -> None:
        """Close the connections. A fact batch still under way (a node no check needed, or a run
        stopped by Ctrl-C) ends with its connection: nobody waits for it, so a stop is prompt."""
        assert self.pool is not None
        self.pool.close()
