"""Facts that cannot pass by default: every probe's parser on raw outputs (tests/data/facts),
no probe hiding its status, and every check kept from passing when a fact it declares is
unreadable, judged on a recorded 5node lab (no machine, no network)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bootstrap import inventory as inv
from suites import etcd_log, mariadb_log
from suites import keepalived_history as kh
from suites.catalog import load
from suites.checks import certificates as cert_checks
from suites.context import CheckError, CheckFailed, Context, NotVerifiable, SiteRuntime, Skip
from suites.engine import run_checks
from suites.facts import PROBES, Unreadable
from suites.facts import values as v
from suites.factsource import NodeFacts, RecordedFactSource
from suites.registry import declared_facts, load_checks

DATA = Path(__file__).parent / "data" / "facts"
LAB = DATA / "lab-5node-k3s"
CATALOG = load()
CHECKS = load_checks()


def raw(path: Path) -> tuple[int | None, str]:
    """A recorded probe output: (status, output)."""
    head, _, out = path.read_text().partition("\n")
    rc = head.removeprefix("rc=")
    return (int(rc) if rc.isdigit() else None), out.rstrip("\n")


def read(path: Path) -> Any:
    fact = path.name.split("--")[0].removesuffix(".txt")
    return PROBES[fact].read(*raw(path))


# Parsers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("machine", ["node1", "node2", "node3", "db1", "db2"])
def test_every_fact_reads_on_the_deployed_lab_as_root(machine: str) -> None:
    values = {f.stem: read(f) for f in (LAB / machine).glob("*.txt")}
    assert set(values) == set(PROBES)
    assert not [n for n, val in values.items() if isinstance(val, Unreadable)], values
    control = machine.startswith("node")
    assert values["keepalived_service"] == v.UnitState("loaded", "enabled", "active")
    assert values["layout"] >= {"/etc/keepalived/keepalived.conf"}
    assert (values["keepalived_pod_log"] is None) is not control  # runtime asked only where the manifest is
    assert (values["keepalived_containers"] is None) is not control
    if control:
        assert values["keepalived_containers"].runtime == "k3s crictl" and values["keepalived_containers"].running
        assert "VRRP_Script(check_kube) succeeded" in values["keepalived_pod_log"].log
        assert values["etcd_health"].healthy() is True and len(values["etcd_members"].members()) == 3
    else:
        assert "VRRP_Script(chk_mysql) succeeded" in values["keepalived_log"]
        assert values["etcd_members"].body is None and "curl exited 7" in values["etcd_members"].why


@pytest.mark.parametrize("machine", ["node1", "db1"])
def test_a_user_without_sudo_reads_no_root_only_fact_and_says_so(machine: str) -> None:
    """The same batch as a user whose sudo -n is refused: every root-only fact is unreadable and
    not verifiable with sudo's own words; nothing root-only reads as empty or absent."""
    values = {f.stem: read(f) for f in (DATA / f"lab-5node-k3s-nosudo-{machine}").glob("*.txt")}
    root_only = {"keepalived_conf", "layout", "keepalived_manifest", "keepalived_containers", "keepalived_pod_log",
                 "keepalived_scripts", "keepalived_log", "certs", "etcd_members", "etcd_health", "admin_conf",
                 "kubelet_conf"}  # fmt: skip
    if machine == "node1":
        root_only |= {
            "yunion",
            "kube_nodes",
            "kube_pods",
            "kube_objects",
            "kube_release",
            "runtime_images",
        }  # kubectl, crictl as root
    root_only |= {"keepalived_history", "keepalived_pod_history", "etcd_history"}  # journals, container logs: as root
    if machine == "db1":
        root_only.add("mariadb_log")  # MariaDB's log, read as root
    unreadable = {n for n, val in values.items() if isinstance(val, Unreadable)}
    assert unreadable == root_only, unreadable ^ root_only
    for name in unreadable:
        assert values[name].not_verifiable and "sudo: a password is required" in values[name].reason, name


PUBLIC: dict[str, Any] = {
    "keepalived_log--journald-keeps-none": "unreadable: not verifiable",
    "keepalived_log--running-no-lines": "unreadable: not verifiable",
    "keepalived_log--sudo-refused": "unreadable: not verifiable",
    "keepalived_log--stopped-no-lines": "",
    "keepalived_log--no-unit": "",
    "firewalld--not-installed": "inactive",
    "firewalld--no-such-unit-status-4": "inactive",
    "firewalld--running": "active",
    "firewalld--no-systemd-bus": "unreadable: error",
    "getenforce--enforcing": "Enforcing",
    "sysctl--missing-key": "unreadable: error",
    "swaps--lvm-swap-on": ["/dev/dm-1                               partition\t8257532\t\t0\t\t-2"],
    "swaps--proc-not-mounted": "unreadable: error",
    "keepalived_containers--kubeadm-docker": v.Containers("docker", ("3f2a9b1c0d4e",)),
    "keepalived_containers--no-runtime": "unreadable: not verifiable",
    "etcd_members--untrusted-ca": "unreadable: error",
    "kube_config--missing": None,
    "date--no-nanoseconds-format": "unreadable: error",
}


@pytest.mark.parametrize("case", sorted(PUBLIC))
def test_outputs_in_real_nodes_shapes_read_as_they_mean(case: str) -> None:
    got, want = read(DATA / "public" / f"{case}.txt"), PUBLIC[case]
    if isinstance(want, str) and want.startswith("unreadable: "):
        assert isinstance(got, Unreadable), got
        assert got.not_verifiable is (want == "unreadable: not verifiable"), got
    else:
        assert got == want


def test_every_public_case_is_judged() -> None:
    assert {p.stem for p in (DATA / "public").glob("*.txt")} == set(PUBLIC) | {
        "keepalived_log--centos7-1.3.5",
        "etcd_members--refused",
        "yunion--sudoer",
    }
    assert "VRRP_Script(chk_mysql) succeeded" in read(DATA / "public" / "keepalived_log--centos7-1.3.5.txt")
    refused = read(DATA / "public" / "etcd_members--refused.txt")
    assert refused.body is None and refused.endpoint == "https://127.0.0.1:2379" and "Connection refused" in refused.why
    user = read(DATA / "public" / "yunion--sudoer.txt")
    assert user.uid == 1000 and "NOPASSWD: ALL" in user.sudo


def test_no_probe_hides_its_exit_status() -> None:
    for name, probe in PROBES.items():
        command = " ".join(probe.command.split())
        assert "; true" not in command and "|| true" not in command, name


def test_a_status_outside_the_declared_ones_is_unreadable_before_any_parser() -> None:
    probe = PROBES["hostname"]
    assert isinstance(probe.read(1, "node1"), Unreadable)
    assert probe.read(124, "").reason == "did not answer within 10 s"
    assert probe.read(None, "").reason.startswith("gave no result")


# The engine on a recorded lab -----------------------------------------------------------------------
def recorded_lab(swap: dict[str, dict[str, tuple[int | None, str]]] | None = None) -> SiteRuntime:
    """The deployed 5node lab as recorded (tests/data/facts/lab-5node-k3s), with ``swap``'s
    raw outputs ({node: {fact: (rc, output)}}) in place of the recorded ones; no SSH, no
    network: a command a check runs on a node is an error."""
    inventory = inv.parse(yaml.safe_load((LAB / "inventory.yaml").read_text()))
    source = RecordedFactSource.from_dir(LAB, at=1796207623.0)
    for node, outputs in (swap or {}).items():
        source.outputs[node].update(outputs)  # type: ignore[index]
    rt = SiteRuntime.create(inventory, None, "postinstall", source=source)
    rt.vip_reach.update(dict.fromkeys(("platform", "db")))

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise CheckError("a recorded lab runs no command")

    rt.run = no_network  # type: ignore[method-assign]
    return rt


def outcome(rt: SiteRuntime, rid: str, node: str | None, subject: str | None) -> str:
    ctx = Context(rt, CATALOG[rid], rt.inventory.node(node) if node else None, subject)
    try:
        run_checks(ctx, CHECKS[rid])
    except CheckFailed as exc:
        return f"failed: {exc.message}"
    except NotVerifiable as exc:
        return f"not verifiable: {exc}"
    except CheckError as exc:
        return f"error: {exc}"
    return "passed"


def subjects(rid: str, rt: SiteRuntime) -> Iterator[tuple[str | None, str | None]]:
    req = CATALOG[rid]
    if req.scope == "vip":
        yield from ((None, name) for name in req.vips)
    elif req.scope == "site":
        yield None, None
    else:
        for n in rt.inventory.nodes:
            if any(n.has(r) for r in req.roles) and not any(n.has(r) for r in req.exclude_roles):
                yield n.name, None


@pytest.fixture
def served_certs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The served certificates (HA-CP-007 and HA-CP-009 read them by TLS): a valid one that a
    client accepts, no traffic (tests/test_certificates.py makes real handshakes on loopback)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k3s")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256())
    )  # fmt: skip
    der = cert.public_bytes(serialization.Encoding.DER)
    monkeypatch.setattr(cert_checks, "served_certificate", lambda host, port, timeout=5.0: der)
    monkeypatch.setattr(cert_checks, "client_rejects", lambda host, port, ca, timeout=5.0: None)


# Checks judged on facts alone (those that also run commands or reach services are errors on a
# recorded lab, so their baseline is no pass to begin with).
FACT_CHECKS = sorted(
    rid
    for rid, fns in CHECKS.items()
    if any(declared_facts(fn) for fn in fns)
    and "postinstall" in CATALOG[rid].phases
    and rid not in ("HA-SSH-001", "HA-SSH-002")  # they run ssh on the First Node
)


@pytest.mark.usefixtures("served_certs")
def test_the_recorded_lab_passes_every_check_judged_on_facts() -> None:
    rt = recorded_lab()
    got = {f"{rid}[{node or subject}]": outcome(rt, rid, node, subject)
           for rid in FACT_CHECKS for node, subject in subjects(rid, rt)}  # fmt: skip
    # The lab is the DB-HA page's variant: its first DB node is MASTER with nopreempt (HA-KA-007's
    # finding, the page's own contradiction); its clock was read at capture time, long ago now.
    known = {"HA-KA-007[db1]", "HA-OS-006[node1]", "HA-OS-006[node2]", "HA-OS-006[node3]", "HA-OS-006[db1]",
             "HA-OS-006[db2]"}  # fmt: skip
    assert {k: o for k, o in got.items() if o != "passed" and k not in known} == {}
    assert all(got[k].startswith("failed") for k in known if k in got)


@pytest.mark.usefixtures("served_certs")
@pytest.mark.parametrize("fact", sorted(PROBES))
def test_no_check_passes_when_a_fact_it_declares_is_unreadable(fact: str) -> None:
    """Each fact made unreadable in turn on every node (as a refused sudo -n leaves it): no check
    that declares it passes; each says "not verifiable" or "error" with the fact's reason."""
    denied = (4, "root-only files cannot be read as probe: sudo: a password is required")
    rt = recorded_lab({n: {fact: denied} for n in ("node1", "node2", "node3", "db1", "db2")})
    declaring = [rid for rid in FACT_CHECKS if any(fact in declared_facts(fn) for fn in CHECKS[rid])]
    for rid in declaring:
        for node, subject in subjects(rid, rt):
            got = outcome(rt, rid, node, subject)
            assert got.startswith(("not verifiable", "error")), (rid, node, subject, got)
            if got.startswith("not verifiable"):
                assert "sudo: a password is required" in got, got


@pytest.mark.usefixtures("served_certs")
@pytest.mark.parametrize(
    "journal",
    [
        (4, "root-only files cannot be read as probe: sudo: a password is required"),
        (0, "unit loaded active\nNo journal files were found.\n-- No entries --"),
        (0, "unit loaded active\n-- No entries --"),
    ],
    ids=["sudo-refused", "no-journal-files", "journal-holds-none"],
)
def test_a_track_script_whose_verdict_cannot_be_read_is_never_a_pass(journal: tuple[int, str]) -> None:
    """The silent pass of issue 22: keepalived's journal that the SSH user cannot read (or that
    journald does not keep) made HA-KA-006 pass on a DB node; now it is not verifiable, saying why."""
    rt = recorded_lab()
    assert outcome(rt, "HA-KA-006", "db1", None) == "passed"
    rt = recorded_lab({"db1": {"keepalived_log": journal}})
    got = outcome(rt, "HA-KA-006", "db1", None)
    assert got.startswith("not verifiable: db1: fact 'keepalived_log'"), got


SPLIT = "2026-12-02T21:14:35+00:00"  # when db2 was cut off from the lab's bridge for 10 s, on purpose


def lab_at(when: str, replaced: dict[str, dict[str, str]] | None = None, **overrides: Any) -> SiteRuntime:
    """The recorded lab as if asked at ``when`` (its journals hold the split brain made at capture),
    with ``replaced`` outputs ({node: {fact: output}}, status 0)."""
    inventory = inv.parse(yaml.safe_load((LAB / "inventory.yaml").read_text()))
    source = RecordedFactSource.from_dir(LAB, at=dt.datetime.fromisoformat(when).timestamp())
    for node, facts in (replaced or {}).items():
        source.outputs[node] = {**source.outputs[node], **{f: (0, out) for f, out in facts.items()}}  # type: ignore[index]
    rt = SiteRuntime.create(inventory, None, "postinstall", overrides, source=source)
    rt.vip_reach.update(dict.fromkeys(("platform", "db")))
    return rt


def test_a_split_brain_in_the_journals_is_found_after_the_fact_with_its_lines_and_times() -> None:
    """The lab's db2 partitioned for 10 s and healed before the capture: both DB nodes were
    MASTER of VI_DB for 8 s; keepalived's own lines name when (issue 25's history)."""
    got = outcome(lab_at("2026-12-02T21:23:00+00:00"), "HA-KA-010", None, "db")
    assert got.startswith(
        "failed: db1 and db2 both held the db VIP 10.213.47.101 for 8 s, 2026-12-02T21:14:35Z to "
        "2026-12-02T21:14:43Z (db1: (VI_DB) Entering MASTER STATE at 2026-12-02T20:34:48Z; db2: (VI_DB) "
        "Entering MASTER STATE at 2026-12-02T21:14:35Z)"
    ), got
    # Asked before the split, the same journals hold no overlap; a window that starts after it neither.
    assert outcome(lab_at("2026-12-02T21:14:00+00:00"), "HA-KA-010", None, "db") == "passed"
    assert outcome(lab_at("2026-12-02T21:23:00+00:00", history_days=0.005), "HA-KA-010", None, "db") == "passed"
    # A window opening after db1 became MASTER (20:34:48) but before the split still sees it: the
    # holder's period opened before the window.
    since = dt.datetime.fromisoformat("2026-12-02T21:14:00+00:00").timestamp()
    got = outcome(lab_at("2026-12-02T21:23:00+00:00", history_since=since), "HA-KA-010", None, "db")
    assert got.startswith("failed: db1 and db2 both held the db VIP 10.213.47.101 for 8 s"), got
    skipped = lab_at("2026-12-02T21:23:00+00:00", history_days=0)
    with pytest.raises(Skip, match="history_days is 0"):
        run_checks(Context(skipped, CATALOG["HA-KA-010"], None, "db"), CHECKS["HA-KA-010"])


def test_a_platform_split_brain_in_the_static_pods_logs_is_found_after_the_fact() -> None:
    """HA-KA-012: VRRP dropped on arrival at node2 (the harness's vrrp-split-brain-platform, at
    capture): node2 MASTER with node1 for 9 s, read from the static pods' container logs with the
    runtime's stamps; the partition tried before it left node2 in FAULT (its apiserver lost
    etcd's quorum), no split brain."""
    got = outcome(lab_at("2026-12-03T00:30:00+00:00"), "HA-KA-012", None, "platform")
    assert got.startswith(
        "failed: node1 and node2 both held the platform VIP 10.213.47.100 for 9 s, 2026-12-03T00:22:38Z to "
        "2026-12-03T00:22:47Z (node1: (VI_1) Entering MASTER STATE at 2026-12-03T00:02:19Z; node2: (VI_1) "
        "Entering MASTER STATE at 2026-12-03T00:22:38Z)"
    ), got
    assert outcome(lab_at("2026-12-03T00:22:00+00:00"), "HA-KA-012", None, "platform") == "passed"


def test_a_keepalived_death_in_the_journal_is_found_after_the_fact() -> None:
    """HA-KA-011: the recorded journals hold starts and stops, no death; a SIGSEGV line as
    systemd 252 writes it, added to db2's, fails the check with its time and line."""
    when = "2026-12-02T21:23:00+00:00"
    assert outcome(lab_at(when), "HA-KA-011", "db2", None) == "passed"
    journal = raw(LAB / "db2" / "keepalived_history.txt")[1]
    line = "keepalived.service: Main process exited, code=dumped, status=11/SEGV"
    died = journal + f"\n2026-12-02T21:20:00+0000 db2 systemd[1]: {line}"
    got = outcome(lab_at(when, {"db2": {"keepalived_history": died}}), "HA-KA-011", "db2", None)
    assert got == (f"failed: keepalived died 1 time(s) on db2 since boot, the last at 2026-12-02T21:20:00Z: {line}"), (
        got
    )
    assert outcome(lab_at(when, {"db2": {"keepalived_history": died}}, history_days=0.001), "HA-KA-011", "db2",
                   None) == "passed"  # fmt: skip


def test_a_replication_stop_in_mariadbs_log_is_found_after_the_fact() -> None:
    """HA-DBHA-008: db2's MariaDB log (captured after the harness's replication-stopped-and-skipped
    mutation at 2026-12-03T00:12:49Z, a later capture than the recorded journals) holds the stop
    and its 1062; asked before it, or on db1, there is none."""
    got = outcome(lab_at("2026-12-03T00:20:00+00:00"), "HA-DBHA-008", "db2", None)
    assert got.startswith(
        "failed: replication stopped on an error 1 time(s) on db2 since boot, the last at 2026-12-03T00:12:49Z, on: "
        "Slave SQL: Could not execute Write_rows_v1 event on table ha_mutation_dup.t; Duplicate entry '1'"
    ), got
    assert outcome(lab_at("2026-12-03T00:12:00+00:00"), "HA-DBHA-008", "db2", None) == "passed"
    assert outcome(lab_at("2026-12-03T00:20:00+00:00"), "HA-DBHA-008", "db1", None) == "passed"


def test_overlaps_shorter_than_the_clock_skew_are_not_called() -> None:
    a = kh.Period("db1", 100.0, 110.0, "x", "y")
    b = kh.Period("db2", 108.5, None, "x", "")
    assert kh.overlaps([a, b], now=200.0, tolerance=2.0) == []
    assert kh.overlaps([a, b], now=200.0, tolerance=1.0) == [(a, b, 108.5, 110.0)]


def test_an_instance_whose_track_script_fails_from_the_start_is_in_fault() -> None:
    """keepalived 2.2.7 (the lab's static pod, seen 2026-12-03) logs no "Entering FAULT STATE"
    when check_kube fails before the instance's first state: the failed verdict stands for it."""
    start = [(0.0, "Starting Keepalived v2.2.7 (01/16,2022)"), (1.0, "Startup complete"),
             (2.0, "VRRP_Script(check_kube) failed (exited with status 1)")]  # fmt: skip
    assert kh.last_state(start, "")[:2] == (2.0, "FAULT")  # type: ignore[index]
    recovered = [*start, (3.0, "VRRP_Script(check_kube) succeeded"), (4.0, "(VI_1) Entering BACKUP STATE")]
    assert kh.last_state(recovered, "")[:2] == (4.0, "BACKUP")  # type: ignore[index]
    # ocboot's two track scripts: check_mariadb failing, check_interface succeeding after it (on
    # the lab's ocboot variant under dash): FAULT, for the failing one.
    two = [start[0], (1.0, "VRRP_Script(check_mariadb) failed (exited with status 2)"),
           (2.0, "VRRP_Script(check_interface) succeeded")]  # fmt: skip
    assert kh.last_state(two, "VI_1")[:3] == (1.0, "FAULT", two[1][1])  # type: ignore[index]
    # A new start forgets the old state until the new process logs one.
    assert kh.last_state([*recovered, (5.0, "Starting Keepalived v2.2.7 (01/16,2022)")], "") is None


def test_etcd_elections_are_one_per_term_and_four_in_15_minutes_are_a_storm() -> None:
    """Lines in the shapes public reports show (etcd 3.4's capnslog text on the lab and in
    etcd#9668, 3.5's JSON in etcd#13352); every member logs each election."""
    text = "raft2026/12/03 00:31:23 INFO: raft.node: 77db302c07cdd69f elected leader 11763299c3c5b5eb at term {t}"
    js = '{{"level":"info","msg":"raft.node: 27ecc6d4a68d02f lost leader 27ecc6d4a68d02f at term {t}"}}'
    lines = [(0.0, text.format(t=2)), (0.5, text.format(t=2)), (100.0, js.format(t=3)), (101.0, text.format(t=3)),
             (200.0, text.format(t=4)), (800.0, js.format(t=5))]  # fmt: skip
    found = etcd_log.elections(lines)
    assert [(e.term, e.leader, e.at) for e in found] == [
        (2, "11763299c3c5b5eb", 0.0), (3, "11763299c3c5b5eb", 100.0), (4, "11763299c3c5b5eb", 200.0), (5, "", 800.0)
    ]  # fmt: skip
    (storm,) = etcd_log.storms(found)
    assert [e.term for e in storm] == [2, 3, 4, 5]
    assert etcd_log.storms(found[:3]) == []
    assert etcd_log.storms([*found[:3], etcd_log.Election(901.0, "x", 6, "")]) == []  # 901 s apart: no storm


def test_mariadbs_own_log_file_is_read_in_the_nodes_zone() -> None:
    """The file branch (my.cnf's log-error, as the HA document and ocboot set it): MariaDB's own
    stamps, 10.x and 5.5 forms, in the zone the node reported; lines without a stamp are left out."""
    out = (
        "zone +0800\nfrom /var/log/mariadb/mariadb.log\n"
        "2026-12-03  8:12:49 14 [ERROR] Slave SQL: Could not execute Write_rows_v1 event; Duplicate entry '1'\n"
        "2026-12-03  8:12:49 14 [ERROR] Error running query, slave SQL thread aborted.\n"
        "  continuation without a stamp\n"
        "261203  8:12:50 [Note] Slave SQL thread initialized\n"
    )
    lines = PROBES["mariadb_log"].read(0, out)
    at = dt.datetime.fromisoformat("2026-12-03T00:12:49+00:00").timestamp()
    assert [t for t, _ in lines] == [at, at, at + 1]
    (stop,) = mariadb_log.stops(lines)
    assert stop.at == at and "Duplicate entry" in stop.cause


def test_each_node_is_asked_once_its_error_kept_and_a_slow_node_holds_up_only_its_own_checks() -> None:
    """SiteRuntime asks each node's batch once: a batch that did not answer raises the same
    error again without being asked again (each ask may wait its whole time limit), and a
    node's facts are there while a slower node's batch still runs."""
    recorded = RecordedFactSource.from_dir(LAB)
    release = threading.Event()
    asked: list[str] = []

    @dataclasses.dataclass
    class Source:
        def facts(self, node: inv.NodeEntry) -> NodeFacts:
            asked.append(node.name)
            if node.name == "db2":
                raise CheckError("db2: the fact batch did not finish in 300 s")
            if node.name == "node1":
                assert release.wait(10), "node1's batch was never let go"
            return recorded.facts(node)

    rt = recorded_lab()
    rt.source = Source()
    db1 = rt.inventory.node("db1")
    assert rt.facts(db1).node == "db1"  # node1's batch still under way
    for _ in range(3):
        with pytest.raises(CheckError, match="did not finish"):
            rt.facts(rt.inventory.node("db2"))
    release.set()
    assert rt.facts(rt.inventory.node("node1")).values["hostname"].value == "node1"
    concurrent.futures.wait(rt._facts.values(), timeout=10)
    assert sorted(asked) == sorted(n.name for n in rt.inventory.nodes)
