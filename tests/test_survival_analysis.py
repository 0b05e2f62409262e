"""The survivability checkers on recorded histories: they must find what is there."""

from __future__ import annotations

import copy
import datetime as dt
import doctest
import ipaddress
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Any, cast

import pytest

import suites.survival.analysis
from bootstrap import inventory as inv
from bootstrap.faults import FROZEN, STATIC_POD, Fault, FaultError, Journal, service_commands
from bootstrap.lab.lab import Lab
from bootstrap.remote import NodeUnreachable, Pool, Result
from bootstrap.site_driver import SiteDriver as SiteFaults
from suites import catalog
from suites.checks.survival import undo_earlier_run
from suites.context import CheckError, Context
from suites.findings import HUNG_DATABASE, MISSPELT_UNIT, STALE_ANNOUNCEMENT, STALE_GTID_SLAVE_POS
from suites.survival import explain
from suites.survival import workload as workload_module
from suites.survival.analysis import audit_writes, outages, timeline, vip_moves
from suites.survival.plan import Outcome, Scenario, generate
from suites.survival.scenarios import Runner
from suites.survival.workload import History, Op, abort, abortive, first_wid
from suites.waivers import Waiver, load, match
from tests.conftest import VALID_INVENTORY


def ops(service: str, pattern: str, spacing: float = 0.1) -> list[Op]:
    """'#' success, '.' failure, one operation per character."""
    return [Op(service, i * spacing, i * spacing + 0.02, ch == "#") for i, ch in enumerate(pattern)]


def test_doctests() -> None:
    result = doctest.testmod(suites.survival.analysis)
    assert result.attempted > 0 and result.failed == 0


def test_outage_runs_from_last_success_to_a_stable_recovery() -> None:
    history = ops("web", "#####......##.#.######")
    # A lone success inside the outage is not a recovery: five in a row are.
    [(start, end)] = outages(history)
    assert start == pytest.approx(0.42)
    assert end == pytest.approx(1.6)


def test_no_failure_no_outage_and_never_recovering_is_infinite() -> None:
    assert outages(ops("web", "##########")) == []
    [(start, end)] = outages(ops("web", "###......."))
    assert start == pytest.approx(0.22) and end == float("inf")


def test_write_audit_finds_lost_duplicated_and_indeterminate_writes() -> None:
    history = [
        Op("db-write", 0.0, 0.1, True, 1),
        Op("db-write", 0.1, 0.2, True, 2),
        Op("db-write", 0.2, 0.3, True, 3),
        Op("db-write", 0.3, 1.3, None, 4),  # timed out: may have applied
        Op("db-write", 1.3, 1.4, False, 5),  # refused: must not appear
        Op("db-write", 1.4, 1.5, True, 6),
    ]
    audit = audit_writes(history, present=[1, 3, 3, 4, 5, 6])
    assert audit.acked == 4
    assert audit.lost == [2]
    assert audit.duplicates == [3]
    assert audit.failed_but_present == [5]
    assert audit.unknown_present == 1
    clean = audit_writes(history, present=[1, 2, 3, 6])
    assert (clean.lost, clean.duplicates, clean.failed_but_present) == ([], [], [])
    # A row this writer never wrote (an earlier workload's statement, delivered late) is stray,
    # not a duplicate and not this writer's loss.
    late = audit_writes(history, present=[1, 2, 3, 6, 1732900000000000])
    assert late.stray == [1732900000000000] and late.duplicates == [] and late.lost == []


def test_a_broken_connection_is_aborted_and_leaves_nothing_to_retransmit() -> None:
    """The soak's duplicated writes: a timed-out connection closed politely kept retransmitting
    its INSERT (FIN-WAIT-1, data queued) and delivered it minutes later into another scenario's
    table. Aborted, the peer sees a reset at once and nothing stays queued (loopback only)."""
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname(), timeout=5)
    peer, _ = server.accept()
    client.sendall(b"INSERT INTO t VALUES (68)")  # unread by the peer, as by a cut-off node

    class Conn:
        _sock = client
        forced = False

        def _force_close(self) -> None:
            self.forced = True
            self._sock.close()

    conn = Conn()
    abort(conn)
    assert conn.forced
    peer.settimeout(5)
    assert peer.recv(100) == b"INSERT INTO t VALUES (68)"
    with pytest.raises(ConnectionResetError):
        peer.recv(100)  # RST, not FIN: nothing left behind on the client
    peer.close()
    server.close()


def test_the_workloads_connections_are_abortive_from_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """pymysql closes a socket itself, politely, when a read times out (before the caller sees
    the error; the soak's flight record still showed FIN-WAIT-1 with an INSERT queued): so every
    workload connection is made abortive when it is opened, and any close of it is a reset."""
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname(), timeout=5)
    peer, _ = server.accept()

    class Conn:
        _sock = client

    assert abortive(Conn()) is not None
    assert struct.unpack("ii", client.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)) == (1, 0)
    client.sendall(b"INSERT INTO t VALUES (68)")
    client.close()  # as pymysql's own _force_close does on a timeout
    peer.settimeout(5)
    assert peer.recv(100) == b"INSERT INTO t VALUES (68)"
    with pytest.raises(ConnectionResetError):
        peer.recv(100)
    peer.close()
    server.close()
    made: list[Any] = []

    def fake_connect(*args: Any) -> Any:
        conn = Conn()
        conn._sock = socket.socket()  # a fresh, unconnected socket stands for pymysql's
        made.append(conn)
        return conn

    monkeypatch.setattr(workload_module, "connect", fake_connect)
    w = workload_module.Workload(History(), ("127.0.0.1", 1, "u", "p"), {}, None)
    w.stop_event.set()  # one round only
    w._loop = lambda body: body()  # type: ignore[method-assign]
    w._db_loop("db-read", lambda conn: (True, None, ""))
    assert made and struct.unpack("ii", made[0]._sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)) == (1, 0)
    made[0]._sock.close()


def test_each_workload_numbers_its_writes_apart_from_every_other() -> None:
    first = first_wid()
    time.sleep(0.002)
    assert first_wid() >= first + 1000  # a later workload starts past anything this one writes in 1 s


def test_vip_moves_and_timeline() -> None:
    h = History()
    h.vip_samples = [(0.0, {"db": ("db1",)}), (1.0, {"db": ()}), (4.0, {"db": ("db2",)}), (5.0, {"db": ("db2",)})]
    assert vip_moves(h) == {"db": [(0.0, ("db1",)), (1.0, ()), (4.0, ("db2",))]}
    h.ops = ops("web", "#####.....#####", spacing=1.0)
    picture = timeline(h, width=15)["web"]
    assert picture == "#####.....#####"


@pytest.mark.parametrize(("topology", "count"), [("3node", 17), ("4node", 20), ("5node", 50)])
def test_scenarios_follow_the_documented_promises(topology: str, count: int) -> None:
    plan = Lab.plan(topology, 0, ipaddress.IPv4Network("10.213.47.0/24"))
    data = {
        "site": "x",
        "topology": topology,
        "ssh": {"key": "/k"},
        "nodes": [{"name": n, **d.model_dump()} for n, d in plan.nodes.items()],
        "vips": {k: v for k, v in plan.vips.items() if k != "storage"},
        "db": {"password_env": "X"},
    }
    scenarios = generate(inv.parse(data))
    assert len(scenarios) == count
    names = {s.name for s in scenarios}
    if topology == "3node":
        assert {"kill-node1", "stop-node2", "partition-node1", "mariadb-on-db-vip-holder"} <= names
        assert "mariadb-frozen-on-db-vip-holder" in names
        assert not any("node3" in n for n in names)  # the document promises nothing for node 3
    if topology == "4node":
        assert "fatal-db1" in names and "kill-db1" not in names
        assert not any("frozen" in n for n in names)  # a single DB: no VIP to keep or move
    if topology == "5node":
        assert "kill-node2+db1" in names and "partition-node3+db2" in names
        assert not any("db1+db2" in n or "node1+node2" in n for n in names)
    orders = {s.order: s.nodes for s in scenarios if s.kind == "site"}
    everyone = tuple(n.name for n in inv.parse(data).nodes)
    assert orders["in-order"] == everyone and sorted(orders["shuffled"]) == sorted(everyone) != list(orders["shuffled"])
    db = [n for n in orders["db-last"] if n.startswith("db")] or ["node1", "node2"]  # 3node: DB HA on nodes 1-2
    assert orders["db-last"][-len(db) :] == tuple(db)
    assert {s.name for s in scenarios if s.kind == "site"} == {f"site-power-cut-{o}" for o in orders}
    reboots = sorted(s.nodes[0] for s in scenarios if s.kind == "reboot")
    assert reboots == sorted({n for s in scenarios if s.kind == "kill" for n in s.nodes})  # each node survived alone
    assert all(len(s.nodes) == 1 and s.requirement == "HA-SURV-006" for s in scenarios if s.kind == "reboot")


def test_journal_keeps_faults_until_undone(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "faults.json")
    a, b = Fault("kill", "node1"), Fault("service", "db1", "mariadb")
    journal.add(a)
    journal.add(b)
    journal.add(a)
    assert journal.load() == [a, b]
    journal.remove(a)
    assert Journal(tmp_path / "faults.json").load() == [b]


class LeftoverFaults:
    """A driver's journal and undo, no machines: what an earlier run killed outright left."""

    def __init__(self, journal: Journal, failing: str = "") -> None:
        self.journal, self.failing = journal, failing
        self.undone: list[Fault] = []

    def undo(self, fault: Fault) -> None:
        if fault.node == self.failing:
            raise FaultError(f"{fault.node} unreachable")
        self.undone.append(fault)
        self.journal.remove(fault)


def test_a_run_first_undoes_what_an_earlier_run_left(tmp_path: Path) -> None:
    """The first scenario undoes the journal's leftovers (newest first) and reports them; one that
    cannot be undone is an error naming it, never a scenario failing its wait for a healthy site."""
    journal = Journal(tmp_path / "faults.json")
    a, b = Fault("partition", "node2"), Fault("service", "db1", "mariadb")
    journal.add(a)
    journal.add(b)
    driver = LeftoverFaults(journal)
    ctx = Context(cast(Any, None), catalog.load()["HA-SURV-001"], None, "kill-node1")
    undo_earlier_run(ctx, cast(Any, driver))
    assert driver.undone == [b, a] and journal.load() == []
    assert ctx.figures["restored_before_run"] == ["service db1 (mariadb)", "partition node2"]
    clean = Context(cast(Any, None), catalog.load()["HA-SURV-001"], None, "kill-node1")
    undo_earlier_run(clean, cast(Any, driver))
    assert "restored_before_run" not in clean.figures
    journal.add(a)
    with pytest.raises(CheckError, match="earlier run could not be undone: node2 unreachable"):
        undo_earlier_run(ctx, cast(Any, LeftoverFaults(journal, failing="node2")))
    assert journal.load() == [a]


def test_real_site_faults_need_the_site_name_confirmed(tmp_path: Path) -> None:
    site = inv.parse(VALID_INVENTORY)
    for confirmed in (None, "acme-test"):
        with pytest.raises(FaultError, match="need --destructive and --confirm-site=acme-prod"):
            SiteFaults(site, tmp_path, confirmed, "127.0.0.1")
    assert SiteFaults(site, tmp_path, "acme-prod", "127.0.0.1").journal.load() == []


class ScriptedPool(Pool):
    """The run's connections, answering from a script: node -> (rc, stdout); no SSH."""

    def __init__(self, site: inv.Inventory, answers: dict[str, tuple[int, str]]) -> None:
        super().__init__(site)
        self.answers, self.calls, self.forgotten = answers, list[tuple[str, str]](), list[str]()

    def run(self, node: str, command: str, timeout: float = 30, stdin: str | None = None) -> Result:
        self.calls.append((node, command))
        if node not in self.answers:
            raise NodeUnreachable("no route to host", node)
        rc, out = self.answers[node]
        return Result(rc, out, "refused" if rc else "")

    def forget(self, node: str) -> None:
        self.forgotten.append(node)


def test_a_sites_faults_run_on_the_runs_connections(tmp_path: Path) -> None:
    site = inv.parse(VALID_INVENTORY)
    pool = ScriptedPool(site, {"cp1": (0, "")})
    driver = SiteFaults(site, tmp_path, "acme-prod", "127.0.0.1", pool=pool)
    driver.power_cut("cp1")
    assert pool.calls == [("cp1", "echo 1 > /proc/sys/kernel/sysrq; echo b > /proc/sysrq-trigger")]
    assert pool.forgotten == ["cp1"]  # its connection died with it: the next command logs in afresh
    assert driver.reachable("cp1") and not driver.reachable("cp2")
    with pytest.raises(FaultError, match=r"cp2: .*no route to host"):
        driver.run("cp2", "true")
    pool.answers["cp2"] = (1, "")
    with pytest.raises(FaultError, match="cp2: iptables -L: exited 1: refused"):
        driver.run("cp2", "iptables -L")


def test_a_named_finding_explains_only_its_own_problems() -> None:
    """The soak tells a root-caused finding from an unexplained failure by this split."""
    out = Outcome()
    out.problems.append("db-write was down 49.0 s (bound 30 s)")
    out.explain(["after recovery the runner still sends db VIP traffic to db2"], STALE_ANNOUNCEMENT)
    assert len(out.problems) == 2
    assert out.unexplained == ["db-write was down 49.0 s (bound 30 s)"]
    assert set(out.findings.values()) == {STALE_ANNOUNCEMENT}
    only_finding = Outcome()
    only_finding.explain(["stale"], STALE_ANNOUNCEMENT)
    assert only_finding.problems == ["stale"] and only_finding.unexplained == []


def test_a_static_pods_keepalived_is_stopped_by_moving_its_manifest_aside(tmp_path: Path) -> None:
    """As a kubelet sees it: the manifest gone (a dot-file is ignored) stops the pod; back, it runs."""
    manifest = tmp_path / "pod manifests" / "keepalived.yaml"
    manifest.parent.mkdir()
    manifest.write_text("kind: Pod\n")
    stop, start = service_commands(STATIC_POD + str(manifest))
    subprocess.run(["sh", "-c", stop], check=True)
    assert not manifest.exists() and (manifest.parent / ".keepalived.yaml.ha-conformance-paused").exists()
    subprocess.run(["sh", "-c", start], check=True)
    subprocess.run(["sh", "-c", start], check=True)  # undoing twice is harmless
    assert manifest.read_text() == "kind: Pod\n" and not list(manifest.parent.glob(".*"))
    assert service_commands("keepalived") == ("systemctl stop keepalived", "systemctl start keepalived")
    assert service_commands(FROZEN + "mariadb") == (
        "systemctl kill --signal=SIGSTOP mariadb",
        "systemctl kill --signal=SIGCONT mariadb",
    )


def test_a_findings_waiver_accepts_only_failures_wholly_explained_by_it() -> None:
    """A waiver naming a finding accepts a scenario's failure only when every problem in it is an
    instance of that finding; an unexplained problem, or another finding, still fails."""
    later = dt.date.today() + dt.timedelta(days=30)
    earlier = dt.date.today() - dt.timedelta(days=1)
    stale = Waiver(
        requirement="HA-SURV-003", finding=STALE_ANNOUNCEMENT, justification="ticket 5678, doc fix", expires=later
    )
    assert match([stale], "HA-SURV-003", None, (STALE_ANNOUNCEMENT,)) == stale
    assert match([stale], "HA-SURV-003", None, ()) is None  # some problem is unexplained
    assert match([stale], "HA-SURV-003", None, (STALE_ANNOUNCEMENT, "another-finding")) is None
    assert match([stale], "HA-SURV-001", None, (STALE_ANNOUNCEMENT,)) is None  # another requirement
    old = stale.model_copy(update={"expires": earlier})
    assert match([old], "HA-SURV-003", None, (STALE_ANNOUNCEMENT,)) == old  # returned, and reported expired
    assert match([old, stale], "HA-SURV-003", None, (STALE_ANNOUNCEMENT,)) == stale
    plain = Waiver(requirement="HA-SURV-003", justification="whole requirement waived", expires=later)
    assert match([plain], "HA-SURV-003", None, ()) == plain  # a plain waiver accepts any failure, as before


def test_the_shipped_document_waivers_name_only_the_finding_and_load() -> None:
    """waivers/document-configuration.yaml (the nightly gate's) waives the named findings and the
    DB-HA page's own contradiction, nothing else."""
    shipped = load(Path(__file__).parent.parent / "waivers" / "document-configuration.yaml", set(catalog.load()))
    assert shipped and not any(w.expired() for w in shipped)
    by_finding = [w for w in shipped if w.finding is not None]
    assert {w.finding for w in by_finding} == {STALE_ANNOUNCEMENT, HUNG_DATABASE, MISSPELT_UNIT, STALE_GTID_SLAVE_POS}
    assert all(w.requirement.startswith("HA-SURV-") for w in by_finding)
    # Whole requirements only for the DB-HA page's own contradiction, nothing else.
    assert [w.requirement for w in shipped if w.finding is None] == ["HA-KA-007"]


def test_a_duplicated_write_shows_where_each_row_came_from() -> None:
    """Odd seq: inserted on the first DB node, even: on the second (auto_increment_offset); the
    same client time twice is one statement executed twice."""
    history = History()
    asked: list[str] = []

    def query(host: str, sql: str) -> list[tuple[Any, ...]]:
        asked.append(sql)
        return [(17, 33, history.wall0 + 4.25), (17, 40, history.wall0 + 4.25)]

    got = explain.duplicate_rows(query, "db", [17], history)
    assert got == " (rows: wid 17: seq 33, at 4.25 s; wid 17: seq 40, at 4.25 s)"
    assert "WHERE wid IN (17)" in asked[0]


def test_a_frozen_databases_outage_is_the_named_finding_only_while_its_vip_stays() -> None:
    """The hung-database scenario: the DB services' outages are the finding when the DB VIP
    never left the frozen node; an outage of anything else stays unexplained; and where the VIP
    moved (a health check that runs a query), nothing is explained away."""
    h = History()
    h.vip_samples = [(0.0, {"db": ("db1",)}), (2.0, {"db": ("db1",)}), (20.0, {"db": ("db1",)})]
    out = Outcome()
    out.problems += ["db-write was down 18.2 s (bound 15 s)", "keystone was down 18.0 s (bound 15 s)"]
    out.problems.append("web was down 16.0 s (bound 15 s)")
    explain.hung_database(h, 1.0, 19.0, out)
    assert set(out.findings.values()) == {HUNG_DATABASE}
    assert out.unexplained == ["web was down 16.0 s (bound 15 s)"]
    assert any("the DB VIP stayed on db1 for the 18.0 s its MariaDB was frozen" in p for p in out.problems)
    moved = Outcome(problems=["db-write was down 18.2 s (bound 15 s)"])
    h.vip_samples.insert(2, (4.0, {"db": ("db2",)}))
    explain.hung_database(h, 1.0, 19.0, moved)
    assert moved.findings == {} and moved.unexplained == moved.problems


def test_after_recovery_each_vip_must_answer_from_every_node() -> None:
    """Each node asks each VIP's port itself (one command per node); a node that says "no" is
    named, one that does not answer over SSH is not judged."""
    answers = {"cp1": "platform ok\ndb ok\n", "cp2": "platform ok\ndb no\n", "cp3": None, "dba": "platform no\ndb no\n"}
    runner = Runner.__new__(Runner)
    runner.inv = inv.parse(copy.deepcopy(VALID_INVENTORY))
    runner.vips = {"platform": "10.127.190.100", "db": "10.127.190.101"}
    asked: list[str] = []

    class Shell:
        def run(self, node: str, command: str, timeout: float = 30) -> str:
            asked.append(command)
            answer = answers.get(node, "platform ok\ndb ok\n")
            if answer is None:
                raise FaultError(f"{node}: unreachable")  # cp3 does not answer over SSH
            return answer

    runner.faults = Shell()  # type: ignore[assignment]
    got = runner.unanswered_from_nodes()
    assert got == [
        "after recovery dba get no answer from the platform VIP 10.127.190.100:6443",
        "after recovery cp2, dba get no answer from the db VIP 10.127.190.101:3306",
    ]
    assert "</dev/tcp/10.127.190.101/3306" in asked[0] and "timeout 3" in asked[0]


def test_a_vip_taken_back_by_a_returning_node_is_marked() -> None:
    """The DB-HA page's first DB node takes its VIP back when it returns: an extra move, shown."""
    h = History()
    h.vip_samples = [(0.0, {"db": ("db1",)}), (3.0, {"db": ("db2",)}), (12.0, {"db": ("db1",)})]
    Runner.__new__(Runner)._mark_takebacks(h, ["db1"], 10.0)
    assert [what for _, what in h.events] == ["db1 took the db VIP back at 12.0 s on its return (an extra move)"]
    quiet = History()
    quiet.vip_samples = [(0.0, {"db": ("db1",)}), (3.0, {"db": ("db2",)})]
    Runner.__new__(Runner)._mark_takebacks(quiet, ["db1"], 10.0)
    assert quiet.events == []


def one_of_each_kind(scenarios: list[Scenario]) -> list[Scenario]:
    """A scenario of every kind (a service scenario per service, a site's power cut in one order),
    the k-th kind's taken from its k-th node in turn, so that the nodes alternate: CI's share of
    the matrix, which the main job runs whole."""
    kinds: dict[tuple[str, str | None], list[Scenario]] = {}
    for sc in scenarios:
        kinds.setdefault((sc.kind, sc.service), []).append(sc)
    return [group[i % len(group)] for i, group in enumerate(kinds.values())]


def test_one_of_each_kind_alternates_the_nodes() -> None:
    scs = [Scenario(k, (n,)) for k in ("kill", "stop") for n in ("node1", "node2")] + [Scenario("rebuild", vip="db")]
    assert [(s.kind, s.nodes) for s in one_of_each_kind(scs)] == [
        ("kill", ("node1",)), ("stop", ("node2",)), ("rebuild", ())
    ]  # fmt: skip
