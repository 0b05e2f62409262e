"""The runner that measures a scenario (suites/survival/plan.py generates them): a workload, the
fault, the recovery and the verdict from the history. Names of plan.py are re-exported here."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import pymysql
import requests

from bootstrap import inventory as inv
from bootstrap import layout
from bootstrap.faults import FROZEN, STATIC_POD, Fault, Faults
from bootstrap.poll import wait_until
from bootstrap.topology import TOPOLOGIES, Role
from suites import tls
from suites.findings import STALE_ANNOUNCEMENT
from suites.survival import analysis, explain, rebuild, settle
from suites.survival.clients import ClientViews
from suites.survival.phases import Phases
from suites.survival.plan import (
    DB_SERVICES,
    FROZEN_DB,
    Outcome,
    Scenario,
)
from suites.survival.workload import SCHEMA, TABLE, History, Workload, connect, prepare_table

# Where every promised service must go down, why, and what its return is counted from.
OUTAGE = {"fatal": "the document says the platform goes down", "site": "every node was powered off"}
RETURN = {"fatal": "the DB node returned", "site": "the power returned to every node"}


class Runner(ClientViews):
    def __init__(
        self, inventory: inv.Inventory, faults: Faults, bounds: dict[str, float],
        ranks: dict[str, dict[str, settle.Rank]] | None = None,
    ) -> None:  # fmt: skip
        """``ranks``: each VIP's VRRP members ranked as keepalived elects them (settle.py); None
        when the configuration could not be read (every stable window is then the fixed span)."""
        self.ranks = ranks
        self.inv = inventory
        self.faults = faults
        self.bounds = bounds
        self.password = inventory.db.password()
        self.db_host = str(inventory.vips.db or inventory.nodes_with(Role.DB)[0].address)
        self.vips = {v.name: str(getattr(inventory.vips, v.name)) for v in TOPOLOGIES[inventory.topology].vips}
        self.phases = Phases()  # the running scenario's (suites/survival/phases.py)

    # Site state ---------------------------------------------------------------------
    def _db(self, host: str) -> Any:
        return connect(host, self.inv.db.port, self.inv.db.user, self.password)

    def _query(self, host: str, sql: str) -> list[tuple[Any, ...]]:
        conn = self._db(host)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()

    def converged(self) -> str | None:
        """None when each VIP has one holder and replication runs both ways, else why not."""
        holders = self.faults.vip_holders(self.vips)
        for vip, held in holders.items():
            if len(held) != 1:
                return f"{vip} VIP held by {held or 'nobody'}"
        for node in self.inv.nodes_with(Role.DB_HA):
            try:
                conn = self._db(str(node.address))
                with conn.cursor(pymysql.cursors.DictCursor) as cur:
                    cur.execute("SHOW SLAVE STATUS")
                    st = cur.fetchone() or {}
                conn.close()
            except pymysql.MySQLError as exc:
                return f"{node.name}: {exc}"
            if (st.get("Slave_IO_Running"), st.get("Slave_SQL_Running")) != ("Yes", "Yes"):
                # The threads' own last errors: a SQL thread stopped on a duplicate key says which
                # write diverged, and a wait that times out on it says so.
                errors = [f"{t}: {st[f'Last_{t}_Error']}" for t in ("IO", "SQL") if st.get(f"Last_{t}_Error")]
                why = f" ({'; '.join(errors)})" if errors else ""
                running = f"IO={st.get('Slave_IO_Running')} SQL={st.get('Slave_SQL_Running')}"
                return f"{node.name}: replication {running}{why}"
        return None

    def wait(self, what: str, check: Any, timeout: float) -> float:
        """Seconds until ``check`` holds; raises TimeoutError (WaitTimeout) after ``timeout``."""
        return wait_until(what, check, timeout, swallow=(Exception,))

    # The scenario --------------------------------------------------------------------
    def run(self, sc: Scenario) -> Outcome:
        """The scenario, Jepsen's way: a workload recording every operation, the fault injected once
        every promised service answers, held until they are back (or their bound passes), undone
        (also on failure or Ctrl-C), the site left to converge, and the verdict from the history."""
        out = Outcome()
        phases = self.phases = Phases()
        phases.enter("warm-up")
        self.wait("a healthy site before the fault", self.converged, 60)
        prepare_table(self.db_host, self.inv.db.port, self.inv.db.user, self.password)
        self.forget_vip_neighbours()
        history = History()
        workload = self._workload(history)
        faults: list[Fault] = []
        workload.start()
        try:
            history.mark("warm-up")

            def ready() -> str | None:
                waiting = self._recovered(history, self._promised(sc), 0.0)
                return f"waiting for {', '.join(waiting)}" if waiting else None

            self.wait("every service answering before the fault", ready, 120)
            faults = self._faults_for(sc)
            fault_at = history.mark("fault: " + ", ".join(f.describe() for f in faults))
            phases.enter("fault")
            if sc.kind == "site":
                self.faults.inject_together(faults)
            else:
                for f in faults:
                    out.deviated(self.faults.inject(f, log=history.mark))
            phases.enter("hold")
            self._observe(history, sc, fault_at)
            restore_at = history.mark("restore")
            phases.enter("restore")
            with rebuild.halted(workload, history, out) if sc.kind == "rebuild" else contextlib.nullcontext():
                for f in reversed(faults):
                    out.deviated(self.faults.undo(f, log=history.mark))
                    if f.kind == "replication":  # the replica and its master, before the platform writes again
                        self._gtid_state(f.node, f.service or "", out)
            returned = [f.node for f in faults]
            faults = []
            phases.enter("members healthy")
            self._converge(history, sc, restore_at, returned, out)
            history.mark("end")
        finally:
            phases.enter("judge")
            workload.stop()
            for f in reversed(faults):  # the scenario failed midway: restore before anything else
                self.faults.undo(f)
        self._judge(sc, history, fault_at, restore_at, out)
        if sc.service == FROZEN_DB:
            explain.hung_database(history, fault_at, restore_at, out)
        if sc.kind == "rebuild":
            rebuild.judge(self._query, [str(n.address) for n in self.inv.nodes_with(Role.DB_HA)], self.db_host, out)
        out.figures["phases_s"] = phases.close()
        return out

    def _gtid_state(self, replica: str, master: str, out: Outcome) -> None:
        """rebuild.gtid_state on the rebuilt replica; a database error is a problem, not a crash."""
        try:
            rebuild.gtid_state(
                self._query, str(self.inv.node(replica).address), str(self.inv.node(master).address), out
            )
        except pymysql.MySQLError as exc:
            out.problems.append(f"{replica}'s mysql.gtid_slave_pos could not be judged after the rebuild: {exc}")

    def _converge(self, history: History, sc: Scenario, restore_at: float, returned: list[str], out: Outcome) -> None:
        """Wait for the site to settle (its figure ``convergence_s``), then the checks that need a
        converged site: stale announcements, the VIPs answering from every node, take-backs."""
        phases = self.phases
        try:
            settled = self._settled(history, sc, restore_at, returned)
            # site: back and converged within one bound
            limit = self.bounds["rto_bound_s"] if sc.kind == "site" else self.bounds.get("convergence_bound_s", 120.0)
            out.figures["convergence_s"] = round(self.wait("convergence", settled, limit), 2)
        except TimeoutError as exc:
            out.problems.append(f"the site did not converge after the nodes returned: {exc}")
        else:
            phases.enter("post-checks")
            out.explain(self.stale_announcements(), STALE_ANNOUNCEMENT)
            out.unverified += self.runner_view_notes()
            out.problems += self.unanswered_from_nodes()
            self._mark_takebacks(history, returned, restore_at)

    def _workload(self, history: History) -> Workload:
        """The workload through the VIPs: DB writes and reads, the platform's endpoints, storage."""
        vip = self.inv.vips.platform
        http = {
            "platform-api": f"https://{vip}:6443/healthz",
            "web": f"https://{vip}/",
            "keystone": f"https://{vip}:30500/ping",
        }
        storage = self.inv.storage.endpoint + "/" if self.inv.storage else None
        return Workload(
            history,
            (self.db_host, self.inv.db.port, self.inv.db.user, self.password),
            http,
            lambda: self.faults.vip_holders(self.vips),
            storage,
            arp_watch=self.vips,
            node_addresses={n.name: str(n.address) for n in self.inv.nodes},
        )

    def _faults_for(self, sc: Scenario) -> list[Fault]:
        """A service fault on the VIP's current holder, else the scenario's nodes' faults."""
        if sc.kind == "service":
            holder = self.faults.vip_holders(self.vips)[sc.vip or ""]
            return [Fault("service", holder[0], self._service_target(sc, holder[0]))]
        if sc.kind == "rebuild":  # the replica: the DB-HA node not holding the DB VIP
            master = self.faults.vip_holders(self.vips)["db"][0]
            replica = next(n.name for n in self.inv.nodes_with(Role.DB_HA) if n.name != master)
            return [Fault("replication", replica, master)]
        if sc.kind == "site":  # undone newest first: the power returns in the scenario's order
            return [Fault("cut", n) for n in reversed(sc.nodes)]
        if sc.kind == "maintenance":  # kubectl on another control node, if the node is a Kubernetes node
            node = self.inv.node(sc.nodes[0])
            via = next((n.name for n in self.inv.nodes_with(Role.CONTROL) if n.name != node.name), None)
            return [Fault("maintenance", node.name, via if node.has(Role.CONTROL) else None)]
        kind = "kill" if sc.kind == "fatal" else sc.kind
        return [Fault(kind, n) for n in sc.nodes]

    def _settled(
        self, history: History, sc: Scenario, restore_at: float, returned: list[str]
    ) -> Callable[[], str | None]:
        """Converged, and it has stayed so: no service failed and no VIP moved for a while. The
        window starts once the returned control-plane members are healthy again, since a returning
        MASTER takes its VIP back only then. The check says what it still waits for (None: done)."""
        members_ok_at: list[float] = []

        def settled() -> str | None:
            waiting = self._recovered(history, self._promised(sc), restore_at + 0.5)
            if waiting:
                return f"services not back: {', '.join(waiting)}"
            if not members_ok_at:
                unhealthy = self._unhealthy_members(returned)
                if unhealthy:
                    return f"returned control-plane members not healthy yet: {', '.join(unhealthy)}"
                members_ok_at.append(history.now())
                self.phases.enter("stable window")
            first_returned = self.inv.first_node().name in returned
            why = settle.waiting(history, members_ok_at[0], restore_at, self.ranks, first_returned)
            return why or self.converged()

        return settled

    def _service_target(self, sc: Scenario, node: str) -> str | None:
        """The platform VIP's keepalived is the install line's static pod where the node has
        its manifest (stopped by moving the manifest aside); else the keepalived unit."""
        if sc.service == "keepalived" and sc.vip == "platform":
            found = self.faults.existing(node, layout.MANIFESTS)
            if found:
                return STATIC_POD + found[0]
        if sc.service == FROZEN_DB:
            return FROZEN + "mariadb"
        return sc.service

    def _unhealthy_members(self, nodes: list[str]) -> list[str]:
        """Control nodes among ``nodes`` whose own /healthz does not answer ok."""
        bad = []
        for node in self.inv.nodes:
            if node.name not in nodes or not node.has(Role.CONTROL):
                continue
            try:
                resp = tls.get(f"https://{node.address}:6443/healthz", timeout=1.0)
                if resp.status_code == 200 and resp.text.strip() == "ok":
                    continue
            except requests.RequestException:
                pass
            bad.append(node.name)
        return bad

    def _settle(self, history: History, seconds: float) -> None:
        time.sleep(seconds)

    def _promised(self, sc: Scenario) -> list[str]:
        services = ["platform-api", "web", "keystone", "db-write", "db-read"]
        if self.inv.storage:
            services.append("storage")
        return services

    def _recovered(self, history: History, services: list[str], since: float) -> list[str]:
        """Services not yet answering in a stable run of operations that began after ``since``."""
        ops = history.by_service()
        waiting = []
        for s in services:
            after = [o for o in ops.get(s, []) if o.start > since]
            if len(after) < analysis.STABLE_OPS or not all(o.ok for o in after[-analysis.STABLE_OPS :]):
                waiting.append(s)
        return waiting

    def _observe(self, history: History, sc: Scenario, fault_at: float) -> None:
        """Hold the fault until the promised services are back, or their bound has passed."""
        if sc.kind in ("fatal", "site", "rebuild", "maintenance"):
            time.sleep(5.0)  # the outage (rebuild: writes the replica does not get; maintenance: the node out)
            return
        bound = max(self.bounds["rto_bound_s"], self.bounds["storage_rto_bound_s"] if self.inv.storage else 0)
        if sc.service == FROZEN_DB:  # storage does not depend on the database: its bound is the platform's
            bound = self.bounds["rto_bound_s"]
        deadline = time.monotonic() + bound + 3
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if history.now() - fault_at > 4.0 and not self._recovered(history, self._promised(sc), fault_at + 1.0):
                return

    def _judge(self, sc: Scenario, history: History, fault_at: float, restore_at: float, out: Outcome) -> None:
        ops = history.by_service()
        self._judge_outages(sc, ops, fault_at, restore_at, out)
        # Lost writes: read what every DB node holds once replication has caught up.
        try:
            present = self._final_rows(out)
        except pymysql.MySQLError as exc:
            # The database never came back: what was written cannot be audited.
            out.problems.append(f"cannot read the writes back through {self.db_host}: {exc}")
            out.figures["lost_writes"] = None
            out.figures["events"] = [[round(t, 2), what] for t, what in history.events]
            out.timeline = analysis.timeline(history)
            out.figures["span_s"] = round(max((o.end for o in history.ops), default=0.0), 2)
            return
        audit = analysis.audit_writes(ops.get("db-write", []), present)
        out.figures.update(
            writes_acked=audit.acked,
            lost_writes=len(audit.lost),
            duplicates=len(audit.duplicates),
            failed_but_present=len(audit.failed_but_present),
            unknown_applied=audit.unknown_present,
            stray_rows=len(audit.stray),
        )
        if audit.stray:  # an earlier workload's abandoned statement, delivered late: not this scenario's
            history.mark(f"{len(audit.stray)} stray row(s) from an earlier workload, e.g. wid {audit.stray[:3]}")
        if audit.lost:
            out.problems.append(f"{len(audit.lost)} acknowledged write(s) lost, e.g. wid {audit.lost[:10]}")
        if audit.duplicates:
            out.problems.append(
                f"{len(audit.duplicates)} write(s) duplicated, e.g. wid {audit.duplicates[:10]}"
                + explain.duplicate_rows(self._query, self.db_host, audit.duplicates[:5], history)
            )
        moves = analysis.vip_moves(history)
        out.figures["vip_moves"] = {vip: [[round(t, 2), list(h)] for t, h in seq] for vip, seq in moves.items()}
        out.figures["events"] = [[round(t, 2), what] for t, what in history.events]
        out.timeline = analysis.timeline(history)
        out.figures["span_s"] = round(max((o.end for o in history.ops), default=0.0), 2)
        self._drop_table()

    def _judge_outages(
        self, sc: Scenario, ops: dict[str, list[Any]], fault_at: float, restore_at: float, out: Outcome
    ) -> None:
        """Each service's worst outage against its bound (``rto_s``); where every promised service
        must go down (a fatal failure's DB services, a whole site's power cut), that it did and
        how long after the return it answered again (``back_after_return_s``)."""
        bound, storage_bound = self.bounds["rto_bound_s"], self.bounds["storage_rto_bound_s"]
        rto: dict[str, float] = {}
        back_after: dict[str, float | None] = {}
        for service, service_ops in ops.items():
            windows = [w for w in analysis.outages(service_ops) if w[1] > fault_at]
            worst = max((b - a for a, b in windows), default=0.0)
            rto[service] = round(worst, 2) if worst != float("inf") else float("inf")
            limit = storage_bound if service == "storage" and sc.kind != "site" else bound
            if sc.kind == "site" or (sc.kind == "fatal" and service in DB_SERVICES):
                if not [w for w in windows if w[0] < restore_at]:
                    out.problems.append(f"{service} stayed up although {OUTAGE[sc.kind]}")
                back = max((b - restore_at for _, b in windows if b > restore_at), default=0.0)
                back_after[service] = None if back == float("inf") else round(back, 2)
                if back > limit:
                    out.problems.append(f"{service} not back {limit:g} s after {RETURN[sc.kind]}")
                continue
            if worst > limit:
                shown = "never came back" if worst == float("inf") else f"was down {worst:.1f} s"
                out.problems.append(f"{service} {shown} (bound {limit:g} s)")
        out.figures["rto_s"] = {k: (None if v == float("inf") else v) for k, v in rto.items()}
        if back_after:
            out.figures["back_after_return_s"] = back_after

    def _final_rows(self, out: Outcome) -> list[int]:
        """Rows on the DB endpoint, after the DB-HA nodes agree (checksums equal)."""
        nodes = self.inv.nodes_with(Role.DB_HA)

        def agree() -> str | None:
            sums = {n.name: self._query(str(n.address), f"CHECKSUM TABLE {TABLE}")[0][1] for n in nodes}
            return None if len(set(sums.values())) <= 1 else f"checksums differ: {sums}"

        if nodes:
            try:
                self.wait("equal checksums on the DB nodes", agree, 30)
                out.figures["checksums_equal"] = True
            except TimeoutError as exc:
                out.figures["checksums_equal"] = False
                out.problems.append(str(exc))
        return [row[0] for row in self._query(self.db_host, f"SELECT wid FROM {TABLE}")]

    def _drop_table(self) -> None:
        with contextlib.suppress(pymysql.MySQLError):
            self._query(self.db_host, f"DROP DATABASE IF EXISTS {SCHEMA}")
