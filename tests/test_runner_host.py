"""The runner on a node of the site (issue 23): which nodes are this host, and a scenario that
would power off, shut down or cut off the runner's own node refused before any fault."""

from __future__ import annotations

import copy

import pytest

from bootstrap import inventory as inv
from bootstrap.runner_host import own_nodes
from suites.checks import survival
from suites.context import CheckError, SiteRuntime
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
    data = inv.parse(VALID_INVENTORY)
    vip, (cp1, cp2) = str(data.vips.platform), [str(n.address) for n in data.nodes[:2]]
    tables = {
        "cp3": f"{vip} dev eth0 lladdr 02:00:00:00:00:02 STALE\n{cp1} dev eth0 lladdr 02:00:00:00:00:01 REACHABLE\n"
               f"{cp2} dev eth0 lladdr 02:00:00:00:00:02 REACHABLE",
    }  # fmt: skip
    views = RoutedRunner(tables, {"platform": ["cp1"]})
    (problem,) = views.stale_announcements()
    assert problem.startswith("after recovery cp3 still send platform VIP traffic to cp2 while cp1 holds the VIP")
    assert views.flushed == ["cp3"]
    tables["cp3"] = tables["cp3"].replace(
        f"{vip} dev eth0 lladdr 02:00:00:00:00:02", f"{vip} dev eth0 lladdr 02:00:00:00:00:01"
    )
    assert RoutedRunner(tables, {"platform": ["cp1"]}).stale_announcements() == []
