"""A site's given hosts behind the driver interface (bootstrap/faults.py ``Driver``): delegated,
over SSH, refused unless the caller confirmed the site by name."""

from __future__ import annotations

import contextlib
from pathlib import Path

from bootstrap import inventory as inv
from bootstrap.faults import Driver, FaultError, Journal
from bootstrap.poll import WaitTimeout, wait_until
from bootstrap.remote import Pool, RemoteError
from bootstrap.vips import ADDR_COMMAND, holders

PARTITION_CHAIN = "HA_PARTITION"


class SiteDriver(Driver):
    """A site's given hosts over SSH (delegated); refused unless the caller confirmed the site.
    Its faults are the equivalents that come back by themselves: a power cut is an immediate
    reboot without sync (sysrq ``b``), a clean shutdown ``systemctl reboot``, a partition
    iptables rules with a self-removing timer."""

    name = "site"
    managed = False

    def __init__(
        self,
        inventory: inv.Inventory,
        journal_dir: Path,
        confirmed_site: str | None,
        runner_ip: str,
        pool: Pool | None = None,
    ) -> None:
        """``pool``: the run's connections (shared with the checks); a pool of its own if None."""
        if confirmed_site != inventory.site:
            raise FaultError(
                f"destructive steps on site {inventory.site!r} need --destructive and --confirm-site={inventory.site}"
            )
        self.inventory = inventory
        self.runner_ip = runner_ip
        self.journal = Journal(journal_dir / f"faults-{inventory.site}.json")
        self.pool = pool if pool is not None else Pool(inventory)

    def _last_words(self, node: str, command: str, timeout: float) -> None:
        """A command that takes the node (and its connection) down; the connection is dropped."""
        with contextlib.suppress(RemoteError):  # the connection dies with the node
            self.pool.run(node, command, timeout=timeout)
        self.pool.forget(node)

    def power_cut(self, node: str) -> None:
        self._last_words(node, "echo 1 > /proc/sys/kernel/sysrq; echo b > /proc/sysrq-trigger", 5)

    def stop(self, node: str) -> None:
        self._last_words(node, "systemctl reboot", 10)

    def reboot(self, node: str) -> None:
        self.stop(node)  # a site's clean shutdown is already its reboot
        self.start(node)

    def start(self, node: str) -> None:
        try:
            wait_until(f"{node} back after its reboot", lambda: None if self.reachable(node) else "no SSH login yet",
                       timeout=600, interval=5)  # fmt: skip
        except WaitTimeout as exc:
            raise FaultError(str(exc)) from None

    def partition(self, node: str) -> None:
        # Drop everything but SSH from the runner; the rules remove themselves after 10 minutes
        # should the runner die before it heals the node.
        c = PARTITION_CHAIN
        rules = (
            f"iptables -N {c} 2>/dev/null; iptables -F {c}; "
            f"iptables -A {c} -s {self.runner_ip} -p tcp --dport 22 -j RETURN; "
            f"iptables -A {c} -d {self.runner_ip} -p tcp --sport 22 -j RETURN; "
            f"iptables -A {c} -i lo -j RETURN; iptables -A {c} -o lo -j RETURN; iptables -A {c} -j DROP; "
            f"iptables -I INPUT -j {c}; iptables -I OUTPUT -j {c}; "
            f"nohup sh -c 'sleep 600; {self._heal_rules()}' >/dev/null 2>&1 &"
        )
        self.run(node, rules)

    def heal(self, node: str) -> None:
        # Each rule removed where present (a timer may have removed them already).
        c = PARTITION_CHAIN
        self.run(
            node,
            f"for t in INPUT OUTPUT; do if iptables -C $t -j {c} 2>/dev/null; then iptables -D $t -j {c}; fi; done; "
            f"if iptables -L {c} >/dev/null 2>&1; then iptables -F {c}; iptables -X {c}; fi",
        )

    def _heal_rules(self) -> str:
        c = PARTITION_CHAIN
        return f"iptables -D INPUT -j {c}; iptables -D OUTPUT -j {c}; iptables -F {c}; iptables -X {c}"

    def run(self, node: str, command: str, timeout: float = 30, stdin: str | None = None) -> str:
        try:
            res = self.pool.run(node, command, timeout=timeout, stdin=stdin)
        except RemoteError as exc:
            raise FaultError(f"{node}: {exc}") from None
        if not res.ok:
            raise FaultError(f"{node}: {command}: exited {res.rc}: {(res.stderr or res.stdout).strip()[-300:]}")
        return res.stdout

    def vip_holders(self, vips: dict[str, str]) -> dict[str, list[str]]:
        per_node = {}
        for node in self.inventory.nodes:
            with contextlib.suppress(RemoteError):
                per_node[node.name] = self.pool.run(node.name, ADDR_COMMAND, timeout=5).stdout
        return holders(per_node, vips)

    def reachable(self, node: str) -> bool:
        self.pool.forget(node)  # a fresh login: the node may have rebooted since
        try:
            return self.pool.run(node, "true", timeout=5).ok
        except RemoteError:
            return False
