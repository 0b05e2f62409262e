"""The stable window ended by evidence (suites/survival/settle.py): where no VIP may still move,
a few alike samples end it; where one may (a take-back pending, ranks unknown), the fixed span."""

from __future__ import annotations

import doctest
import ipaddress
import time
from typing import Any

from bootstrap import inventory as inv
from suites.checks.keepalived import vrrp_ranks
from suites.context import Context
from suites.runtime import SiteRuntime
from suites.survival import settle
from suites.survival.plan import PREEMPT_GRACE, STABLE_WINDOW
from suites.survival.workload import History, Op
from tests.test_layouts import CATALOG, db_conf, k3s_site, recorded

RANKS = {
    "platform": {"n1": (100, 1, True), "n2": (90, 2, True), "n3": (90, 3, True)},
    "db": {"d1": (100, 11, True), "d2": (99, 12, False)},
}


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(settle).failed == 0


def test_a_vip_off_its_top_ranked_member_or_split_or_unranked_may_still_move() -> None:
    assert settle.pending_moves({"platform": ("n1",), "db": ("d1",)}, RANKS) == []
    assert settle.pending_moves({"platform": ("n3",), "db": ("d1",)}, RANKS) == ["platform"]
    assert settle.pending_moves({"platform": ("n1", "n2"), "db": ("d1",)}, RANKS) == ["platform"]
    assert settle.pending_moves({"platform": (), "db": ("d2",)}, RANKS) == ["db", "platform"]
    assert settle.pending_moves({"platform": ("n1",)}, None) == ["platform"]
    assert settle.pending_moves({"platform": ("x9",)}, RANKS) == ["platform"]  # not a member


def test_equal_priorities_rank_by_the_higher_address() -> None:
    """VRRP's tie-break: on equal priority the higher primary address is MASTER."""
    ranks = {"db": {"d1": (99, 11, True), "d2": (99, 12, True)}}
    assert settle.pending_moves({"db": ("d2",)}, ranks) == []
    assert settle.pending_moves({"db": ("d1",)}, ranks) == ["db"]


def test_a_member_that_never_preempts_is_not_waited_for() -> None:
    """ocboot's DB VIP: both BACKUP, nopreempt: whoever holds it keeps it."""
    ranks = {"db": {"d1": (99, 11, False), "d2": (99, 12, False)}}
    assert settle.pending_moves({"db": ("d1",)}, ranks) == []


def history(now: float, samples: list[tuple[float, dict[str, tuple[str, ...]]]], ops: list[Op]) -> History:
    h = History(t0=time.monotonic() - now)
    h.vip_samples.extend(samples)
    h.ops.extend(ops)
    return h


def alike(start: float, end: float, held: dict[str, Any]) -> list[tuple[float, dict[str, Any]]]:
    return [(start + i * 0.3, held) for i in range(int((end - start) / 0.3) + 1)]


TOP = {"platform": ("n1",), "db": ("d1",)}


def test_evidence_ends_the_window_seconds_before_the_span_would() -> None:
    h = history(12.0, alike(10.0, 11.8, TOP), [Op("web", 10.5, 10.6, True)])
    assert settle.waiting(h, 10.0, 9.0, RANKS, first_returned=True) is None  # span: 10 + 11 s
    too_few = history(10.5, alike(10.0, 10.4, TOP), [])
    got = settle.waiting(too_few, 10.0, 9.0, RANKS, first_returned=False)
    assert got is not None and got.startswith("VIP holders not yet alike in 3 samples")


def test_a_failed_operation_restarts_the_window() -> None:
    """The samples must follow the last failure: a failure early in the window delays it, it
    does not keep it open for good (the site is settled once it has stayed so since)."""
    ops = [Op("db-write", 11.0, 11.5, False)]
    recent = history(12.0, alike(10.0, 11.8, TOP), ops)
    assert settle.waiting(recent, 10.0, 9.0, RANKS, first_returned=False) == "db-write failed 1.0 s ago"
    later = history(13.0, alike(10.0, 12.9, TOP), ops)
    assert settle.waiting(later, 10.0, 9.0, RANKS, first_returned=False) is None
    before = history(12.0, alike(10.0, 11.8, TOP), [Op("web", 9.5, 9.6, False)])  # before the members were healthy
    assert settle.waiting(before, 10.0, 9.0, RANKS, first_returned=False) is None


def test_samples_before_the_members_were_healthy_do_not_count() -> None:
    h = history(12.0, alike(5.0, 11.8, TOP), [])
    got = settle.waiting(h, 11.5, 9.0, RANKS, first_returned=False)
    assert got is not None and got.startswith("VIP holders not yet alike")


def test_a_pending_take_back_keeps_the_fixed_span_with_the_first_nodes_grace() -> None:
    backup = {"platform": ("n2",), "db": ("d1",)}
    early = history(10.0 + STABLE_WINDOW + 1, alike(10.0, 15.9, backup), [])
    assert settle.waiting(early, 10.0, 9.0, RANKS, first_returned=True) == (
        f"returned members healthy for less than {STABLE_WINDOW + PREEMPT_GRACE:g} s"
    )
    late = history(10.0 + STABLE_WINDOW + PREEMPT_GRACE + 0.5, alike(10.0, 21.4, backup), [])
    assert settle.waiting(late, 10.0, 9.0, RANKS, first_returned=True) is None  # no take-back: as before
    moved = history(17.0, alike(10.0, 14.0, backup) + alike(14.2, 16.9, {"platform": ("n1", "n2"), "db": ("d1",)}), [])
    assert (
        settle.waiting(moved, 10.0, 9.0, RANKS, first_returned=False)
        == f"VIP holders not yet stable for {STABLE_WINDOW:g} s"
    )


def test_unknown_ranks_keep_the_fixed_span() -> None:
    h = history(12.0, alike(10.0, 11.8, TOP), [])
    assert settle.waiting(h, 10.0, 9.0, None, first_returned=False) == (
        f"returned members healthy for less than {STABLE_WINDOW:g} s"
    )


def test_the_ranks_come_from_the_sites_own_keepalived_configuration() -> None:
    """The platform VIP's static pods (MASTER 100, BACKUP 90) and the DB VIP's keepalived.conf
    (the DB-HA page's 100/99); a DB node without the VIP's instance: no ranks at all."""
    inventory, facts = manual_db_ha_site()
    ranks = ranks_of(inventory, facts)
    assert ranks is not None
    addresses = {n.name: int(n.address) for n in inventory.nodes}
    platform = [n.name for n in inventory.nodes if "platform-ha" in [r.value for r in n.roles]]
    assert {n: p for n, (p, _, _) in ranks["platform"].items()} == dict(zip(platform, (100, 90, 90), strict=False))
    # the DB-HA page's: the first DB node MASTER (its nopreempt cleared), the second BACKUP nopreempt
    assert ranks["db"] == {"dba": (100, addresses["dba"], True), "dbb": (99, addresses["dbb"], False)}
    assert all(preempts for _, _, preempts in ranks["platform"].values())
    facts["dbb"]["keepalived_conf"] = ""
    assert ranks_of(inventory, facts) is None


def manual_db_ha_site() -> tuple[inv.Inventory, dict[str, dict[str, Any]]]:
    """The recorded k3s site with the DB-HA page's keepalived.conf on its two DB nodes."""
    data, facts = k3s_site()
    for i, n in enumerate(("dba", "dbb")):
        facts[n]["keepalived_conf"] = db_conf("manual", i)
    for node in facts.values():
        node.setdefault("keepalived_conf", "")
        node.setdefault("keepalived_manifest", "")
    inventory = inv.parse(data)
    return inventory, facts


def ranks_of(inventory: inv.Inventory, facts: dict[str, dict[str, Any]]) -> Any:
    rt = SiteRuntime.create(inventory, None, "postinstall", source=recorded(facts))
    ctx = Context(rt, CATALOG["HA-SURV-001"], None, "kill-node1")
    ctx.declared = frozenset(("keepalived_conf", "keepalived_manifest", "addr", "links"))
    return vrrp_ranks(ctx)


def test_the_tie_break_address_is_the_one_adverts_leave_from() -> None:
    """Equal priorities are broken by the advert's source address (RFC 5798 6.4.3): the instance
    interface's primary address (not the inventory's, if the interface lists another first), or
    unicast_src_ip where set, the bridge's where the interface is a bridge's port; an interface
    without an address of its own or its bridge's leaves the ranks unknown."""
    inventory, facts = manual_db_ha_site()
    dba = str(inventory.node("dba").address)
    facts["dba"]["addr"] = (
        "2: eth0    inet 10.127.190.250/24 brd 10.127.190.255 scope global eth0\n"
        f"2: eth0    inet {dba}/24 brd 10.127.190.255 scope global secondary eth0\n"
    )
    ranks = ranks_of(inventory, facts)
    assert ranks is not None and ranks["db"]["dba"][1] == int(ipaddress.IPv4Address("10.127.190.250"))
    facts["dba"]["keepalived_conf"] = db_conf("manual", 0).replace(
        "priority", "unicast_src_ip 10.127.190.3\n priority", 1
    )
    ranks = ranks_of(inventory, facts)
    assert ranks is not None and ranks["db"]["dba"][1] == int(ipaddress.IPv4Address("10.127.190.3"))
    facts["dba"]["addr"] = "2: eth1    inet 10.127.190.250/24 brd 10.127.190.255 scope global eth1"
    facts["dba"]["keepalived_conf"] = db_conf("manual", 0)
    assert ranks_of(inventory, facts) is None  # its instance's eth0 carries no address
    # The Host service's br0 took the node IP, eth0 is its port: the bridge's address.
    facts["dba"]["addr"] = f"4: br0    inet {dba}/24 brd 10.127.190.255 scope global br0"
    facts["dba"]["links"] = "2: eth0: <BROADCAST,MULTICAST,UP> mtu 1500 master br0 state UP\n4: br0: <UP> mtu 1500"
    ranks = ranks_of(inventory, facts)
    assert ranks is not None and ranks["db"]["dba"][1] == int(ipaddress.IPv4Address(dba))
