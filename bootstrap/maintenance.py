"""Rolling maintenance of one node as the vendor's "高可用集群" page writes it.

Source: cloudpods.org operations/ha/ha-cluster (yunionio/website
docs/shared/operations/ha/ha-cluster.md at f46ae47, 2025-12-10). Taking a node out ("高可用节点下线
维护步骤"): 1. a VIP it holds moved to a backup by lowering its keepalived priority and restarting
keepalived (the platform VIP's in the line's static-pod manifest, the DB VIP's in
/etc/keepalived/keepalived.conf); 2. virtual machines migrated (the lab has none; not part of
this); 3. ``kubectl cordon <node>``; 4. ``systemctl disable kubelet docker keepalived maraidb``;
5. the containers stopped; 6. ``systemctl stop kubelet docker keepalived maraidb``; 7. the
maintenance (here a clean reboot). Bringing it back ("高可用节点恢复上线步骤"): 1. ``systemctl start
mariadb``; 2. ``SHOW SLAVE STATUS`` (replication must run before anything else starts); 3.-4.
docker, then the kubelet; 5. the priority restored and keepalived started; 6. ``kubectl
uncordon``; 7. ``systemctl enable kubelet docker keepalived maraidb``.

The page's systemctl lines run as written, with two adaptations: the names of the node's own
Kubernetes units stand for "kubelet docker" (k3s on the k3s line; the driver's ``kube_units``),
and units the node does not have are left out. ``maraidb`` stays as the page spells it; after each
line the units it names are read back (``systemctl is-enabled`` / ``is-active``), and a unit the
line left as it was is a ``Deviation`` with the command's exit status and output, after which the
line is run as meant (a field engineer reads the error and corrects it).

What the node had before (its enabled and active units, its keepalived files, whether it was
cordoned) is kept on the node in ``STATE_DIR`` so that ``bring_back`` restores it also after an
interrupted run (the fault journal's undo).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bootstrap import layout
from bootstrap.db_rebuild import RebuildError, replicating
from bootstrap.poll import WaitTimeout, wait_until
from bootstrap.vips import ADDR_COMMAND, addresses

PAGE_UNITS = ("kubelet", "docker", "keepalived", "maraidb")  # the page's systemctl lines, in its order
MISSPELT = {"maraidb": "mariadb"}  # what the page's spelling means
MISSPELT_UNIT = "vendor-maintenance-misspells-mariadb"  # the named finding (suites/findings.py)
KUBE_UNITS = ("kubelet", "k3s", "k3s-agent")  # "kubelet" on the product's lines
# Written by the k3s installer, which ocboot's k3s line runs (yunionio/ocboot
# onecloud/roles/k3s/airgap/tasks/main.yml at 1153621: /usr/local/bin/k3s-install.sh with
# INSTALL_K3S_SKIP_DOWNLOAD and INSTALL_K3S_SKIP_START).
K3S_KILLALL = "/usr/local/bin/k3s-killall.sh"
DB_KEEPALIVED = "/etc/keepalived/keepalived.conf"
LOWERED = 1  # the lowest priority a VRRP backup may have: below every peer's
STATE_DIR = "/var/lib/ha-conformance/maintenance"
# systemctl's progress lines, left out of the evidence (its errors stay)
CHATTER = ("Synchronizing state of", "Executing: /lib/systemd/systemd-sysv-install", "Created symlink", "Removed ")
VIP_MOVE_S = 20.0  # how long a VIP may take to leave a node whose keepalived restarted at a lower priority
REPLICATION_S = 20.0  # how long MariaDB may take to replicate both ways after it started


class Site(Protocol):
    """What the procedure needs of a driver (bootstrap/faults.py ``Driver``)."""

    kube_units: tuple[str, ...]

    def run(self, node: str, command: str, timeout: float = 30, stdin: str | None = None) -> str: ...

    def vip_holders(self, vips: dict[str, str]) -> dict[str, list[str]]: ...

    def reboot(self, node: str) -> None: ...


@dataclass(frozen=True)
class Deviation:
    """A step that did not do what the page says it does: ``text`` the evidence, ``finding`` the
    named finding it is ("" if none names it)."""

    text: str
    finding: str = ""


Log = Callable[[str], object]


def silent(_: str) -> None:
    """A log that keeps nothing."""


def _units(site: Site, node: str) -> dict[str, list[str]]:
    """{page name: the node's units it means}, units the node lacks left out."""
    wanted = {"kubelet": list(site.kube_units), "docker": ["docker"], "keepalived": ["keepalived"],
              "maraidb": ["mariadb"]}  # fmt: skip
    every = " ".join(shlex.quote(u) for us in wanted.values() for u in us)
    have = set(site.run(node, f"for u in {every}; do systemctl cat $u.service >/dev/null 2>&1 && echo $u; done "
                              "|| true").split())  # fmt: skip
    return {page: [u for u in units if u in have] for page, units in wanted.items()}


def _written(units: dict[str, list[str]]) -> list[str]:
    """The page's unit list with the node's units for its names, ``maraidb`` as spelt."""
    return [page if page in MISSPELT else u for page in PAGE_UNITS for u in units[page]]


def _states(site: Site, node: str, query: str, units: list[str]) -> dict[str, str]:
    """{unit: ``systemctl is-enabled``/``is-active`` answer}."""
    out = site.run(node, "; ".join(f"echo {u}=$(systemctl {query} {u} 2>/dev/null)" for u in units) + "; true")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def systemctl_line(
    site: Site, node: str, verb: str, units: dict[str, list[str]], *, step: str, log: Log, page: bool = True
) -> list[Deviation]:
    """The page's ``systemctl <verb> ...`` line on the node (``page`` False: the units by their own
    names), its effect read back, and run as meant where it fell short. Returns the deviations."""
    meant = [u for us in units.values() for u in us]
    if not meant:
        return []
    written = " ".join(_written(units) if page else meant)
    log(f"{node}: {step}: systemctl {verb} {written}")  # step: "step 4", or what the line is for
    out = site.run(node, f"systemctl {verb} {written} 2>&1; echo rc=$?", timeout=120)
    rc = out.strip().rsplit("rc=", 1)[-1]
    query, wrong = ("is-enabled", "enabled") if verb in ("disable", "enable") else ("is-active", "active")
    states = _states(site, node, query, meant)
    short = [u for u in meant if (states.get(u) == wrong) == (verb in ("disable", "stop"))]
    if not short:
        return []
    lines = out.strip().rsplit("rc=", 1)[0].splitlines()
    said = " ".join(ln.strip() for ln in lines if not ln.startswith(CHATTER))[:300] or "no output"
    shown = ", ".join(f"{u} {states.get(u) or 'unknown'}" for u in short)
    # The page's spelling is why: the units left as they were are what it misspells, or the line
    # failed naming the misspelt unit.
    spelt = [p for p in MISSPELT if p in written.split()]
    misspelt = bool(spelt) and (set(short) <= {MISSPELT[p] for p in spelt} or any(p in said for p in spelt))
    text = (f"{node}: {step} `systemctl {verb} {written}` exited {rc} ({said}) and left {shown}"
            + ("; the page's `maraidb` names no unit (remedy: write mariadb)" if misspelt else ""))  # fmt: skip
    log(f"{node}: {step}: as meant: systemctl {verb} {' '.join(short)}")
    site.run(node, f"systemctl {verb} {' '.join(short)}", timeout=120)
    return [Deviation(text, MISSPELT_UNIT if misspelt else "")]


def _keepalived_files(site: Site, node: str) -> list[str]:
    """The node's keepalived configuration: the line's static-pod manifest, keepalived.conf and
    the files it includes."""
    paths = [*layout.MANIFESTS, DB_KEEPALIVED]
    found = site.run(node, " ".join(f"[ -e {p} ] && echo {p};" for p in paths) + " true").split()
    if DB_KEEPALIVED in found:
        text = site.run(node, f"cat {DB_KEEPALIVED}")
        found += [m for m in re.findall(r"^\s*include\s+(\S+)", text, re.M) if "*" not in m]
    return found


def _vips_in(text: str, path: str) -> list[str]:
    if path in layout.MANIFESTS:
        return layout.manifest_vips([(path, text)])
    block = re.findall(r"virtual_ipaddress\s*\{([^}]*)\}", text)
    return [m.split("/")[0] for b in block for m in re.findall(r"^\s*(\d+\.\d+\.\d+\.\d+\S*)", b, re.M)]


def lowered(text: str, path: str) -> str:
    """The configuration with every VRRP priority at ``LOWERED``. Raises ValueError if it has none."""
    if path in layout.MANIFESTS:
        new, n = re.subn(r"(name:\s*KEEPALIVED_PRIORITY\s*\n\s*value:\s*)['\"]?\d+['\"]?", rf"\g<1>'{LOWERED}'", text)
    else:
        new, n = re.subn(r"^(\s*priority\s+)\d+", rf"\g<1>{LOWERED}", text, flags=re.M)
    if not n:
        raise ValueError(f"{path} sets no priority")
    return new


def _save(site: Site, node: str, state: dict[str, Any]) -> None:
    site.run(node, f"mkdir -p {STATE_DIR} && cat > {STATE_DIR}/state.json", stdin=json.dumps(state))


def move_vips(site: Site, node: str, log: Log) -> tuple[dict[str, str], list[Deviation]]:
    """Step 1: each keepalived file naming a VIP the node holds gets the lowered priority and its
    keepalived restarts (keepalived.conf: the unit; the manifest: the kubelet restarts the pod
    when it changes). Returns ({path: original text}, deviations: a VIP that stayed)."""
    originals: dict[str, str] = {}
    moving: list[str] = []
    mine = addresses(site.run(node, ADDR_COMMAND, timeout=10))
    for path in _keepalived_files(site, node):
        text = site.run(node, f"cat {shlex.quote(path)}")
        held = [v for v in _vips_in(text, path) if v in mine]
        if held:
            originals[path] = text
            moving += held
    if not originals:
        return {}, []
    _save(site, node, {"files": originals})  # before the first edit: an interrupted run restores them
    for path, text in originals.items():
        log(f"{node}: step 1: priority {LOWERED} in {path}")
        _write(site, node, path, lowered(text, path))
    if any(p not in layout.MANIFESTS for p in originals):
        site.run(node, "systemctl restart keepalived", timeout=60)

    def moved() -> str | None:
        held = site.vip_holders({v: v for v in moving})
        stayed = [v for v in moving if node in held.get(v, [])]
        alone = [v for v in moving if len(held.get(v, [])) != 1]
        return f"{node} still holds {stayed}" if stayed else (f"not one holder: {alone}" if alone else None)

    try:
        wait_until(f"the VIPs {moving} moved off {node}", moved, VIP_MOVE_S, interval=0.5)
    except WaitTimeout as exc:
        return originals, [Deviation(f"{node}: step 1 (priority {LOWERED}, keepalived restarted): {exc}")]
    return originals, []


def _write(site: Site, node: str, path: str, text: str) -> None:
    """``text`` into ``path`` at once (a dot-file beside it renamed over it: a kubelet never reads
    half a manifest, nor takes the dot-file for a pod)."""
    d, _, base = path.rpartition("/")
    tmp = shlex.quote(f"{d}/.{base}.ha-conformance")
    site.run(node, f"cat > {tmp} && chmod --reference={shlex.quote(path)} {tmp} && mv {tmp} {shlex.quote(path)}",
             stdin=text)  # fmt: skip


def kubectl(site: Site, via: str, verb: str, name: str, log: Log) -> list[Deviation]:
    """``kubectl cordon|uncordon <name>`` on control node ``via``; its effect read back from
    ``kubectl get nodes`` (SchedulingDisabled in the node's STATUS)."""
    log(f"{via}: kubectl {verb} {name}")
    site.run(via, f"kubectl {verb} {shlex.quote(name)}", timeout=60)
    table = site.run(via, "kubectl get nodes", timeout=60).splitlines()
    status = next((row.split()[1] for row in table[1:] if row.split()[:1] == [name]), "absent")
    if ("SchedulingDisabled" in status) != (verb == "cordon"):
        return [Deviation(f"{via}: `kubectl {verb} {name}` left the node {status}")]
    return []


def kube_name(site: Site, node: str, via: str) -> str:
    """The node's name in Kubernetes: the row of ``kubectl get nodes -o wide`` (on ``via``) whose
    INTERNAL-IP the node holds (a kubelet may register an FQDN, or a name other than the host's),
    else its host name."""
    mine = set(addresses(site.run(node, ADDR_COMMAND, timeout=10)))
    table = site.run(via, "kubectl get nodes -o wide", timeout=60).splitlines()
    column = table[0].split().index("INTERNAL-IP") if table and "INTERNAL-IP" in table[0].split() else -1
    for row in table[1:]:
        cells = row.split()
        if 0 <= column < len(cells) and cells[column] in mine:
            return cells[0]
    return site.run(node, "hostname").strip()


def take_out(site: Site, node: str, via: str | None, log: Log = silent) -> list[Deviation]:
    """The page's steps to take ``node`` out, the maintenance a clean reboot; ``via``: the control
    node that runs kubectl (None: the node is no Kubernetes node). Returns the deviations; raises
    FaultError (the driver's) when a command fails outright."""
    if site.run(node, f"[ -e {STATE_DIR}/state.json ] && echo yes || true").strip():
        raise ValueError(f"{node} is in maintenance already ({STATE_DIR}): bring it back first")
    units = _units(site, node)
    meant = [u for us in units.values() for u in us]
    state: dict[str, Any] = {"via": via, "name": kube_name(site, node, via) if via else None}
    state["enabled"] = [u for u, s in _states(site, node, "is-enabled", meant).items() if s == "enabled"]
    state["active"] = [u for u, s in _states(site, node, "is-active", meant).items() if s == "active"]
    in_use = set(state["enabled"]) | set(state["active"])  # a unit installed but unused is not the page's
    units = {page: [u for u in us if u in in_use] for page, us in units.items()}
    meant = [u for us in units.values() for u in us]
    state["files"], found = move_vips(site, node, log)
    _save(site, node, state)
    if via:
        found += kubectl(site, via, "cordon", state["name"], log)
    found += systemctl_line(site, node, "disable", units, step="step 4", log=log)
    if units["docker"]:
        log(f"{node}: step 5: the containers stopped")
        site.run(node, "docker ps -q | xargs -r docker stop", timeout=300)
    found += systemctl_line(site, node, "stop", units, step="step 6", log=log)
    if {"k3s", "k3s-agent"} & set(units["kubelet"]):
        # The k3s line's "stop the containers": its pods outlive `systemctl stop k3s` (docs.k3s.io,
        # Stopping K3s); the installer's killall script stops them, where it is (one round trip).
        ran = site.run(node, f"if [ -x {K3S_KILLALL} ]; then {K3S_KILLALL} >/dev/null && echo ran; fi", timeout=300)
        if ran.strip():
            log(f"{node}: step 6: {K3S_KILLALL}, the k3s line's containers stopped")
    log(f"{node}: step 7: the maintenance: a clean reboot")
    site.reboot(node)
    started = [u for u, s in _states(site, node, "is-active", meant).items() if s == "active"]
    if started:
        found.append(Deviation(f"{node}: {', '.join(started)} started at boot although step 4 disabled them"))
    return found


def bring_back(site: Site, node: str, log: Log = silent) -> list[Deviation]:
    """The page's steps to bring ``node`` back, from what ``take_out`` kept on it (nothing kept:
    nothing to do). Afterwards every unit enabled or active before is so again. Returns the
    deviations (replication not running after MariaDB started, a line that fell short)."""
    kept = site.run(node, f"cat {STATE_DIR}/state.json 2>/dev/null || true").strip()
    if not kept:
        return []
    state = json.loads(kept)
    units = _units(site, node)
    before = {p: [u for u in us if u in state.get("active", [])] for p, us in units.items()}
    found: list[Deviation] = []
    if before["maraidb"]:
        log(f"{node}: return step 1: systemctl start mariadb")
        site.run(node, "systemctl start mariadb", timeout=120)
        found += _replicating(site, node, log)
    for page, step in (("docker", "3"), ("kubelet", "4")):
        if before[page]:
            log(f"{node}: return step {step}: systemctl start {' '.join(before[page])}")
            site.run(node, f"systemctl start {' '.join(before[page])}", timeout=120)
    for path, text in state.get("files", {}).items():
        log(f"{node}: return step 5: {path} as it was")
        _write(site, node, path, text)
    if before["keepalived"]:
        log(f"{node}: return step 5: systemctl start keepalived")
        site.run(node, "systemctl start keepalived", timeout=60)
    if state.get("via"):
        found += kubectl(site, state["via"], "uncordon", state["name"], log)
    enabled = {p: [u for u in us if u in state.get("enabled", [])] for p, us in units.items()}
    found += systemctl_line(site, node, "enable", enabled, step="return step 7", log=log)
    found += systemctl_line(site, node, "start", before, step="afterwards", log=log, page=False)
    site.run(node, f"rm -rf {STATE_DIR}")
    return found


def _replicating(site: Site, node: str, log: Log) -> list[Deviation]:
    """Return step 2: ``SHOW SLAVE STATUS`` until the IO and SQL threads run, as the page checks."""
    log(f"{node}: return step 2: SHOW SLAVE STATUS")
    try:
        replicating(site.run, node, REPLICATION_S, after=" after MariaDB started")
    except RebuildError as exc:
        return [Deviation(f"{node}: return step 2: {exc}")]
    return []
