"""After a scenario, the site as its clients meet it: every client's neighbour entry for each VIP
(the runner's and each node's), each VIP's service answering from every node, and a VIP taken
back by a returning node. Part of the runner (suites/survival/scenarios.py)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import subprocess

from bootstrap import inventory as inv
from bootstrap.faults import FaultError, Faults
from bootstrap.runner_host import net_admin_missing, off_segment
from suites.survival import analysis
from suites.survival.workload import History, mac_owners, runner_arp


class ClientViews:
    """What the runner's clients see; needs ``inv``, ``faults`` and ``vips`` of the runner."""

    inv: inv.Inventory
    faults: Faults
    vips: dict[str, str]

    @functools.cached_property
    def runner_unjudged(self) -> dict[str, str]:
        """{VIP name: why} for each VIP whose neighbour entry on the runner cannot be judged from
        this runner (it is off the VIP's segment, or may not forget its entries between scenarios,
        so an earlier scenario's entry would be blamed on this one). Asked once per run. The
        nodes' own entries are judged all the same."""
        admin = net_admin_missing()
        unjudged = {}
        for vip, addr in self.vips.items():
            why = off_segment(addr) or admin
            if why is not None:
                unjudged[vip] = why
        return unjudged

    def runner_view_notes(self) -> list[str]:
        """What this run could not verify from the runner, in words for the report."""
        return [
            f"the runner's own neighbour entry for the {vip} VIP {self.vips[vip]} is not verifiable from this "
            f"runner: {why}; the nodes' entries were judged"
            for vip, why in sorted(self.runner_unjudged.items())
        ]

    def forget_vip_neighbours(self) -> None:
        """Start each scenario as a fresh client would: drop the runner's own neighbour entries
        for the VIPs (the runner's state, not the site's), so that what an earlier scenario left
        in them is blamed on that scenario, not on this one. Needs CAP_NET_ADMIN: without it the
        runner's entries are not judged (runner_unjudged)."""
        if net_admin_missing() is not None:
            return
        for vip in self.vips.values():
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(["ip", "neigh", "flush", "to", vip], capture_output=True, timeout=5, check=False)

    def node_neighbours(self) -> dict[str, dict[str, str]]:
        """{node: {address: MAC}} for the VIPs and the other nodes, from each node's own neighbour
        table (read-only, all nodes at once; a node that does not answer has none)."""
        addresses = set(self.vips.values()) | {str(n.address) for n in self.inv.nodes}

        def one(node: str) -> dict[str, str]:
            found: dict[str, str] = {}
            try:
                table = self.faults.run(node, "ip -4 neigh show")
            except FaultError:
                return found  # a node that does not answer is no client to judge
            for line in table.splitlines():
                words = line.split()
                if words and words[0] in addresses and "lladdr" in words and "FAILED" not in words:
                    found[words[0]] = words[words.index("lladdr") + 1]
            return found

        names = [n.name for n in self.inv.nodes]
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(names)) as pool:
            return dict(zip(names, pool.map(one, names), strict=True))

    def stale_announcements(self) -> list[str]:
        """After recovery: every client's neighbour entry for each VIP (the runner's and each
        node's) carries its holder's MAC; entries found stale are then forgotten, so that no
        later scenario inherits them (the scenario restores what its fault left behind).

        A node that was MASTER during the fault announced the VIP (gratuitous ARP); when the
        fault healed, a holder that had stayed MASTER (it was the one cut off) never announced it
        again. Clients then send the VIP's traffic to the former backup, which forwards it
        (ip_forward=1, as the DB-HA page sets): all works, until that node fails and the VIP is
        unreachable for those clients until their neighbour entries expire (35-50 s measured,
        also for the platform's own services on the control nodes).
        """
        table, seen = runner_arp(), self.node_neighbours()
        # Which node a MAC is: from the runner's table and every node's, so that a runner off the
        # VIPs' segment (routed: it knows no node's MAC) still judges the nodes' entries.
        known = dict(table)
        for entries in seen.values():
            known.update(entries)
        owners = mac_owners(known, {n.name: str(n.address) for n in self.inv.nodes})
        vip_addresses = set(self.vips.values())
        judged = {self.vips[vip] for vip in self.vips if vip not in self.runner_unjudged}
        clients = {"the runner": {addr: mac for addr, mac in table.items() if addr in vip_addresses & judged}}
        clients.update({node: {a: m for a, m in e.items() if a in vip_addresses} for node, e in seen.items()})
        problems = []
        for vip, holders in self.faults.vip_holders(self.vips).items():
            addr = self.vips[vip]
            if len(holders) != 1:
                continue
            # Only a MAC known to be another node's is a stale announcement: an unknown one
            # (the client never talked to that node, or is routed to the VIP) proves nothing.
            stale: dict[str, list[str]] = {}
            for client, entries in clients.items():
                via = owners.get(entries.get(addr, ""))
                if via is not None and via != holders[0] and client != holders[0]:
                    stale.setdefault(via, []).append(client)
            for via, who in stale.items():
                verb = "sends" if len(who) == 1 else "send"
                problems.append(
                    f"after recovery {', '.join(who)} still {verb} {vip} VIP traffic to {via} while {holders[0]} "
                    f"holds the VIP: the VIP depends on {via} forwarding it, and losing {via} would cut the VIP off "
                    f"for them until their neighbour entries expire. {via} announced the VIP (gratuitous ARP) while "
                    f"it was MASTER during the fault; {holders[0]} stayed MASTER and never announced it again. "
                    "Remediation: keepalived global_defs vrrp_garp_lower_prio_repeat (re-announce when a "
                    "lower-priority advert arrives) or vrrp_garp_master_refresh"
                )
                for client in who:
                    if client != "the runner":
                        with contextlib.suppress(FaultError):  # gone since: it forgets them on its own
                            self.faults.run(client, f"ip neigh flush to {addr}")
        return problems

    def _mark_takebacks(self, history: History, returned: list[str], restore_at: float) -> None:
        """A VIP taken back by a node that returned (an extra move, e.g. the DB-HA page's first DB
        node, whose nopreempt keepalived clears: HA-KA-007) is marked in the scenario's events."""
        for vip, seq in analysis.vip_moves(history).items():
            for at, held in seq:
                if at > restore_at and len(held) == 1 and held[0] in returned:
                    history.mark(f"{held[0]} took the {vip} VIP back at {at:.1f} s on its return (an extra move)")
                    break

    def unanswered_from_nodes(self) -> list[str]:
        """After recovery, each VIP's service answers from every node, not only from the runner:
        a TCP connection to the DB VIP's port and the platform VIP's 6443, from each node at once
        (bash's /dev/tcp under a 3 s limit). A node that does not answer over SSH is not judged."""
        ports = {"platform": 6443, "db": self.inv.db.port}
        targets = [(vip, addr, ports[vip]) for vip, addr in self.vips.items() if vip in ports]
        command = "; ".join(
            f"if timeout 3 bash -c '</dev/tcp/{addr}/{port}' 2>/dev/null; "
            f"then echo '{vip} ok'; else echo '{vip} no'; fi"
            for vip, addr, port in targets
        )

        def one(node: str) -> list[str]:
            try:
                answer = self.faults.run(node, command)
            except FaultError:
                return []  # a node that does not answer over SSH is not judged
            return [line.split()[0] for line in answer.splitlines() if line.endswith(" no")]

        names = [n.name for n in self.inv.nodes]
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(names)) as pool:
            silent = dict(zip(names, pool.map(one, names), strict=True))
        problems = []
        for vip, addr, port in targets:
            who = [node for node, vips in silent.items() if vip in vips]
            if who:
                problems.append(f"after recovery {', '.join(who)} get no answer from the {vip} VIP {addr}:{port}")
        return problems
