"""The runner on a node of the site (issue 23): which nodes are this host, and a scenario that
would power off, shut down or cut off the runner's own node refused before any fault."""

from __future__ import annotations

import copy

import pytest

from bootstrap import inventory as inv
from bootstrap.runner_host import net_admin_missing, off_segment, own_nodes
from suites.checks import survival
from suites.context import CheckError, SiteRuntime
from suites.errors import NotVerifiable
from suites.survival import clients
from suites.survival.clients import ClientViews
from suites.survival.plan import Scenario
from tests.conftest import VALID_INVENTORY
from tests.test_layouts import judge, k3s_site


def test_the_nodes_at_this_hosts_own_addresses_are_the_runners() -> None:
    data = copy.deepcopy(VALID_INVENTORY)
    data["nodes"][0]["address"] = "127.0.0.1"
    assert own_nodes(inv.parse(data)) == [data["nodes"][0]["name"]]
    assert own_nodes(inv.parse(VALID_INVENTORY)) == []


@pytest.mark.parametrize(
    ("scenario", "verb"),
    [
        (Scenario("kill", ("cp1", "dba")), "power off cp1"),
        (Scenario("stop", ("cp1",)), "shut down cp1"),
        (Scenario("partition", ("cp1",)), "cut off from the network cp1"),
        (Scenario("maintenance", ("cp1",)), "take out of service and reboot cp1"),
        (Scenario("reboot", ("cp1",)), "reboot cp1"),
    ],
)
def test_a_fault_on_the_runners_node_is_refused_saying_so(scenario: Scenario, verb: str) -> None:
    with pytest.raises(CheckError) as err:
        survival.refuse_runner_node(scenario, ["cp1"])
    assert str(err.value).startswith(f"refused before any fault: {scenario.name} would {verb}, the node this run")


def test_faults_elsewhere_and_service_faults_run() -> None:
    survival.refuse_runner_node(Scenario("kill", ("cp2",)), ["cp1"])
    survival.refuse_runner_node(Scenario("service", service="keepalived", vip="platform"), ["cp1"])
    survival.refuse_runner_node(Scenario("kill", ("cp1",)), [])


def test_the_refusal_comes_before_the_baseline_and_any_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        pytest.fail("a fault or the baseline was started")

    monkeypatch.setattr(survival, "own_nodes", lambda inventory: ["cp1"])
    monkeypatch.setattr(survival, "read_only_outcomes", never)
    monkeypatch.setattr(SiteRuntime, "faults", never)
    data, facts = k3s_site()
    got = judge(data, facts, "HA-SURV-001", subject="kill-cp1")
    assert got is not None and got.startswith("error: refused before any fault: kill-cp1 would power off cp1")


class RoutedRunner(ClientViews):
    """A runner off the VIPs' segment: its own neighbour table knows no node; the nodes' tables
    (a fake site) are all there is."""

    def __init__(self, tables: dict[str, str], holders: dict[str, list[str]]) -> None:
        self.inv = inv.parse(VALID_INVENTORY)
        self.vips = {"platform": str(self.inv.vips.platform)}
        self.tables, self.holders, self.flushed = tables, holders, []  # type: ignore[var-annotated]
        self.faults = self  # type: ignore[assignment]

    def run(self, node: str, command: str) -> str:
        if command.startswith("ip neigh flush"):
            self.flushed.append(node)
        return self.tables.get(node, "")

    def vip_holders(self, vips: dict[str, str]) -> dict[str, list[str]]:
        return self.holders


def test_a_routed_runner_still_judges_the_nodes_stale_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stale-announcement check learnt which node a MAC is from the runner's own table only:
    from a runner behind a router it could find nothing, a silent pass. Now the nodes' tables
    name the MACs too."""
    monkeypatch.setattr(clients, "runner_arp", dict)
    monkeypatch.setattr(clients, "off_segment", lambda address: f"it reaches {address} through the router 10.9.9.1")
    monkeypatch.setattr(clients, "net_admin_missing", lambda: None)
    data = inv.parse(VALID_INVENTORY)
    vip, (cp1, cp2) = str(data.vips.platform), [str(n.address) for n in data.nodes[:2]]
    tables = {
        "cp3": f"{vip} dev eth0 lladdr 02:00:00:00:00:02 STALE\n{cp1} dev eth0 lladdr 02:00:00:00:00:01 REACHABLE\n"
               f"{cp2} dev eth0 lladdr 02:00:00:00:00:02 REACHABLE",
    }  # fmt: skip
    views = RoutedRunner(tables, {"platform": ["cp1"]})
    (problem,) = views.stale_announcements()
    assert problem.startswith("after recovery cp3 still sends platform VIP traffic to cp2 while cp1 holds the VIP")
    assert views.flushed == ["cp3"]
    tables["cp3"] = tables["cp3"].replace(
        f"{vip} dev eth0 lladdr 02:00:00:00:00:02", f"{vip} dev eth0 lladdr 02:00:00:00:00:01"
    )
    assert RoutedRunner(tables, {"platform": ["cp1"]}).stale_announcements() == []


STATUS = "Name:\tpython3\nCapInh:\t0000000000000000\nCapEff:\t{}\nCapBnd:\t000001ffffffffff\n"


def test_a_runner_without_cap_net_admin_says_it_cannot_forget_its_entries() -> None:
    assert net_admin_missing(STATUS.format("000001ffffffffff")) is None  # root
    assert net_admin_missing(STATUS.format("0000000000001000")) is None  # only CAP_NET_ADMIN
    why = net_admin_missing(STATUS.format("00000000a80425fb"))  # docker's default set
    assert why is not None
    assert why.endswith("it cannot forget its own neighbour entries between scenarios (ip neigh flush)")
    assert net_admin_missing("Name:\tx\n") == "its capabilities are unreadable (no CapEff in /proc/self/status)"


@pytest.mark.parametrize(
    ("route", "why"),
    [
        ("10.213.47.100 dev halab0 src 10.213.47.1 uid 0 \n    cache", None),
        ("local 10.213.47.100 dev lo src 10.213.47.100 uid 0 \n    cache <local>", None),
        (
            "10.213.47.100 via 192.168.1.1 dev wlan0 src 192.168.1.23 uid 1000 \n    cache",
            "it reaches 10.213.47.100 through the router 192.168.1.1, so it holds no neighbour entry for it",
        ),
    ],
)
def test_a_runner_behind_a_router_is_off_the_vips_segment(route: str, why: str | None) -> None:
    assert off_segment("10.213.47.100", route) == why


def test_off_segment_asks_the_kernels_route_and_names_a_missing_one() -> None:
    assert off_segment("127.0.0.1") is None  # loopback: this host's own
    why = off_segment("not-an-address")
    assert why is not None and why.startswith("it has no route to not-an-address (")


class SegmentRunner(RoutedRunner):
    """A runner on the VIPs' segment whose own table names the old holder's MAC."""


def stale_site() -> tuple[dict[str, str], dict[str, str], dict[str, list[str]]]:
    data = inv.parse(VALID_INVENTORY)
    vip, (cp1, cp2) = str(data.vips.platform), [str(n.address) for n in data.nodes[:2]]
    arp = {vip: "02:00:00:00:00:02", cp1: "02:00:00:00:00:01", cp2: "02:00:00:00:00:02"}
    return arp, {}, {"platform": ["cp1"]}


def test_the_runners_stale_entry_is_judged_when_it_may_forget_its_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    arp, tables, holders = stale_site()
    monkeypatch.setattr(clients, "runner_arp", lambda: arp)
    monkeypatch.setattr(clients, "off_segment", lambda address: None)
    monkeypatch.setattr(clients, "net_admin_missing", lambda: None)
    views = SegmentRunner(tables, holders)
    (problem,) = views.stale_announcements()
    assert problem.startswith("after recovery the runner still sends platform VIP traffic to cp2 while cp1 holds")
    assert views.runner_view_notes() == []


def test_a_runner_that_cannot_judge_its_own_entry_says_so_and_does_not_touch_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without CAP_NET_ADMIN the runner's entry may be an earlier scenario's: it is left out of
    the verdict and reported as not verifiable, never a silent pass; no flush is attempted."""
    arp, tables, holders = stale_site()
    monkeypatch.setattr(clients, "runner_arp", lambda: arp)
    monkeypatch.setattr(clients, "off_segment", lambda address: None)
    monkeypatch.setattr(clients, "net_admin_missing", lambda: "it is not root: it cannot forget ...")

    def no_flush(*args: object, **kwargs: object) -> None:
        pytest.fail("the runner tried to flush its neighbour entries")

    monkeypatch.setattr(clients.subprocess, "run", no_flush)
    views = SegmentRunner(tables, holders)
    views.forget_vip_neighbours()
    assert views.stale_announcements() == []
    vip = views.vips["platform"]
    assert views.runner_view_notes() == [
        f"the runner's own neighbour entry for the platform VIP {vip} is not verifiable from this runner: "
        "it is not root: it cannot forget ...; the nodes' entries were judged"
    ]


def test_the_vendors_db_rebuild_is_not_run_on_a_site() -> None:
    rebuild = Scenario("rebuild", vip="db")
    with pytest.raises(NotVerifiable, match=r"halting the platform .* is not automated"):
        survival.lab_only(rebuild, managed=False)
    survival.lab_only(rebuild, managed=True)
    survival.lab_only(Scenario("kill", ("cp2",)), managed=False)
