"""The vendor's maintenance steps (bootstrap/maintenance.py) against a model of two DB nodes:
systemd as systemd 252 answers a line naming a unit that does not exist (verified on the lab's
Debian 12 nodes: ``disable`` exits 0 and skips it, ``stop`` stops the others and exits 5,
``enable`` enables nothing and exits 1), keepalived handing the VIP to the peer when it restarts
at a lower priority. On the lab: HA-SURV-009 and its mutation ``skip-slave-start-on-db2``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from bootstrap import maintenance as mt

VIP = "10.9.0.100"
CONF = (
    f"vrrp_instance VI_DB {{\n    state BACKUP\n    priority 100\n    virtual_ipaddress {{\n        {VIP}\n    }}\n}}\n"
)


@dataclass
class Node:
    enabled: set[str] = field(default_factory=lambda: {"keepalived", "mariadb"})
    active: set[str] = field(default_factory=lambda: {"keepalived", "mariadb"})
    files: dict[str, str] = field(default_factory=lambda: {mt.DB_KEEPALIVED: CONF})
    vip: bool = False
    boots: int = 0


class Model:
    """Two DB nodes (db1 holds the VIP), answering the commands the procedure runs."""

    kube_units: tuple[str, ...] = mt.KUBE_UNITS

    def __init__(self) -> None:
        self.nodes = {"db1": Node(vip=True), "db2": Node()}
        self.commands: list[str] = []
        self.replicating = True
        self.cordoned = False

    def run(self, node: str, command: str, timeout: float = 30, stdin: str | None = None) -> str:
        self.commands.append(f"{node}: {command}")
        n = self.nodes[node]
        m = re.match(r"systemctl (disable|enable|stop|start|restart) ([\w -]+?)( 2>&1; echo rc=\$\?)?$", command)
        if m:
            return self._systemctl(node, m.group(1), m.group(2).split(), bool(m.group(3)))
        if "systemctl is-" in command:
            return self._states(n, command)
        if command.startswith("kubectl"):
            return self._kubectl(command)
        if command.startswith(("mkdir -p", "rm -rf")) or " && mv " in command:  # the kept state, a file written
            key = "state" if "STATE" in command or mt.STATE_DIR in command else command.rsplit(" ", 1)[1]
            n.files.pop(key, None) if command.startswith("rm") else n.files.__setitem__(key, stdin or "")
            return ""
        return self._read(node, n, command)

    def _read(self, node: str, n: Node, command: str) -> str:
        if "state.json" in command:
            return {"[": "yes\n", "c": n.files.get("state", "")}[command[0]] if "state" in n.files else ""
        answers = {
            "for u in": lambda: "\n".join(u for u in ("keepalived", "mariadb") if u in command),
            "[ -e ": lambda: "".join(f"{p}\n" for p in re.findall(r"\[ -e (\S+) \]", command) if p in n.files),
            "cat ": lambda: n.files[command.split()[1]],
            "hostname": lambda: node + "\n",
            "ip ": lambda: (
                f"2: host0    inet 10.9.0.{node[-1]}/24 scope global host0\n"
                + (f"2: host0    inet {VIP}/32 scope global host0\n" if n.vip else "")
            ),
            "mysql -E": lambda: "Slave_IO_Running: {0}\nSlave_SQL_Running: {0}\n".format(
                "Yes" if self.replicating else "No"
            ),
        }
        for prefix, answer in answers.items():
            if command.startswith(prefix):
                return answer()
        raise AssertionError(f"unexpected command {command!r}")

    def _kubectl(self, command: str) -> str:
        """A kubelet that registered db1 by its FQDN; the cordon kept per node."""
        verb, *rest = command.split()[1:]
        if verb in ("cordon", "uncordon"):
            self.cordoned = verb == "cordon"
            return f"node/{rest[0]} {verb}ed\n"
        status = "Ready,SchedulingDisabled" if self.cordoned else "Ready"
        return (
            "NAME               STATUS   ROLES    AGE   VERSION   INTERNAL-IP   EXTERNAL-IP\n"
            f"db1.example.com    {status}    <none>   5d    v1.28     10.9.0.1      <none>\n"
        )

    @staticmethod
    def _states(n: Node, command: str) -> str:
        query = "enabled" if "is-enabled" in command else "active"
        have = n.enabled if query == "enabled" else n.active
        other = "disabled" if query == "enabled" else "inactive"
        return "".join(
            f"{u}={query if u in have else other}\n" for u in re.findall(r"systemctl is-\w+ (\S+) ", command)
        )

    def _systemctl(self, node: str, verb: str, units: list[str], reports: bool) -> str:
        n = self.nodes[node]
        known = [u for u in units if u in ("keepalived", "mariadb")]
        missing = [u for u in units if u not in known]
        rc, said = 0, ""
        if verb == "enable" and missing:
            rc, said = 1, f"Failed to enable unit: Unit file {missing[0]}.service does not exist."
        elif verb in ("disable", "enable"):
            (n.enabled.update if verb == "enable" else n.enabled.difference_update)(known)
        else:
            if verb in ("start", "restart"):
                n.active.update(known)
            else:
                n.active.difference_update(known)
            if missing:
                rc, said = 5, f"Failed to {verb} {missing[0]}.service: Unit {missing[0]}.service not loaded."
            if (
                "keepalived" in known
                and verb in ("stop", "restart")
                and n.vip
                and "priority 1\n" in n.files[mt.DB_KEEPALIVED] + "\n"
            ):
                n.vip, self.nodes["db2" if node == "db1" else "db1"].vip = False, True
        if reports:
            return f"{said}\nrc={rc}\n"
        assert rc == 0, said  # a driver's run raises on a failed command
        return ""

    def vip_holders(self, vips: dict[str, str]) -> dict[str, list[str]]:
        return {name: [n for n, node in self.nodes.items() if node.vip] for name in vips}

    def reboot(self, node: str) -> None:
        n = self.nodes[node]
        n.boots += 1
        n.active = set(n.enabled)  # what is enabled starts at boot


def test_the_pages_spelling_leaves_mariadb_as_it_was_and_is_corrected() -> None:
    site = Model()
    found = mt.take_out(site, "db1", None)
    db1 = site.nodes["db1"]
    assert db1.boots == 1 and not db1.vip and site.nodes["db2"].vip  # the VIP moved on the lowered priority
    assert "priority 1\n" in db1.files[mt.DB_KEEPALIVED]
    assert "db1: systemctl disable keepalived maraidb 2>&1; echo rc=$?" in site.commands  # as the page writes it
    assert [d.finding for d in found] == [mt.MISSPELT_UNIT] * 2
    assert "step 4" in found[0].text and "left mariadb enabled" in found[0].text
    assert "exited 5" in found[1].text and "not loaded" in found[1].text
    assert not db1.enabled and not db1.active  # as meant, and nothing started at the maintenance's boot

    back = mt.bring_back(site, "db1")
    assert db1.enabled == db1.active == {"keepalived", "mariadb"}  # as before
    assert db1.files[mt.DB_KEEPALIVED] == CONF and "state" not in db1.files
    assert [d.finding for d in back] == [mt.MISSPELT_UNIT]  # the enable line failed as a whole
    assert "exited 1" in back[0].text and "keepalived disabled, mariadb disabled" in back[0].text
    starts = [c for c in site.commands if "start" in c and "mariadb" in c]
    assert starts[0] == "db1: systemctl start mariadb"  # the database first, as the page says
    assert mt.bring_back(site, "db1") == []  # nothing kept: nothing to do


def test_a_correctly_spelt_line_deviates_from_nothing() -> None:
    site = Model()
    units = {"kubelet": [], "docker": [], "keepalived": ["keepalived"], "maraidb": ["mariadb"]}
    assert mt.systemctl_line(site, "db2", "disable", units, step="step 4", log=mt.silent, page=False) == []
    assert site.nodes["db2"].enabled == set()


def test_replication_not_running_after_mariadb_started_is_a_deviation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mt, "REPLICATION_S", 0.3)
    site = Model()
    mt.take_out(site, "db2", None)
    site.replicating = False
    back = mt.bring_back(site, "db2")
    assert any("step 2" in d.text and "IO=No" in d.text and not d.finding for d in back)


def test_a_node_in_maintenance_is_not_taken_out_twice() -> None:
    site = Model()
    mt.take_out(site, "db2", None)
    with pytest.raises(ValueError, match="in maintenance already"):
        mt.take_out(site, "db2", None)


def test_lowered_priorities_in_both_files() -> None:
    manifest = "    - name: KEEPALIVED_PRIORITY\n      value: '100'\n"
    path = mt.layout.MANIFESTS[0]
    assert mt.lowered(manifest, path) == "    - name: KEEPALIVED_PRIORITY\n      value: '1'\n"
    assert "    priority 1\n" in mt.lowered(CONF, mt.DB_KEEPALIVED)
    with pytest.raises(ValueError, match="sets no priority"):
        mt.lowered("vrrp_instance x {}\n", mt.DB_KEEPALIVED)


def test_the_node_is_cordoned_by_its_name_in_kubernetes() -> None:
    """Its row found by the address it holds (a kubelet registered db1.example.com, not db1),
    cordoned for the maintenance and uncordoned after it."""
    site = Model()
    assert mt.kube_name(site, "db1", "db2") == "db1.example.com"
    found = mt.take_out(site, "db1", "db2")
    assert "db2: kubectl cordon db1.example.com" in site.commands and site.cordoned
    assert all(d.finding == mt.MISSPELT_UNIT for d in found)
    mt.bring_back(site, "db1")
    assert "db2: kubectl uncordon db1.example.com" in site.commands and not site.cordoned


class K3sModel(Model):
    """db1 a k3s server too: its pods outlive `systemctl stop k3s` until k3s-killall.sh runs."""

    UNITS = ("keepalived", "mariadb", "k3s")

    def __init__(self, killall: bool) -> None:
        super().__init__()
        db1 = self.nodes["db1"]
        db1.enabled.add("k3s")
        db1.active.add("k3s")
        if killall:
            db1.files[mt.K3S_KILLALL] = "#!/bin/sh\n"
        self.pods_running = True

    def run(self, node: str, command: str, timeout: float = 30, stdin: str | None = None) -> str:
        if command.startswith(f"if [ -x {mt.K3S_KILLALL} ]"):
            self.commands.append(f"{node}: {command}")
            if mt.K3S_KILLALL not in self.nodes[node].files:
                return ""
            self.pods_running = False
            return "ran\n"
        if command.startswith("for u in"):
            return "\n".join(u for u in self.UNITS if u in command)
        return super().run(node, command, timeout, stdin)

    def _systemctl(self, node: str, verb: str, units: list[str], reports: bool) -> str:
        n, k3s = self.nodes[node], "k3s" in units
        if k3s:
            (n.enabled.discard if verb == "disable" else n.enabled.add if verb == "enable" else lambda _: None)("k3s")
            (n.active.discard if verb == "stop" else n.active.add if verb == "start" else lambda _: None)("k3s")
        return super()._systemctl(node, verb, [u for u in units if u != "k3s"], reports)


@pytest.mark.parametrize("killall", [True, False])
def test_the_k3s_lines_containers_are_stopped_by_its_killall_script(killall: bool) -> None:
    """The page's "stop the containers" on the k3s line: k3s-killall.sh after `systemctl stop
    k3s` (docs.k3s.io, Stopping K3s), where the k3s installer wrote it; nothing run where not."""
    site = K3sModel(killall)
    mt.take_out(site, "db1", "db2")
    stop = next(i for i, c in enumerate(site.commands) if c.startswith("db1: systemctl stop") and "k3s" in c)
    ran = [i for i, c in enumerate(site.commands) if c.startswith(f"db1: if [ -x {mt.K3S_KILLALL} ]")]
    assert len(ran) == 1 and ran[0] > stop  # asked once, after the stop line
    assert site.pods_running is not killall
    mt.bring_back(site, "db1")
    assert {"k3s", "keepalived", "mariadb"} <= site.nodes["db1"].active
