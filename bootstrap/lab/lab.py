"""The lab as a whole: its machines, bridge, keys, inventory and state.

Used by the command line (``python -m bootstrap.lab``) and by the pytest
fixtures alike. All operations that change the lab hold one file lock, so
concurrent callers (pytest-xdist workers, a user in another shell) queue up.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import ipaddress
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from bootstrap import inventory as inv
from bootstrap.lab import config, files, host, readiness, rootfs, vm_image
from bootstrap.lab import state as labstate
from bootstrap.lab.cloud_vm import CloudVm, choose_firmware_accel, image_format
from bootstrap.lab.hostenv import LabError, check_subnet, require_root, require_tools
from bootstrap.lab.machine import Machine, State
from bootstrap.lab.state import LabState, LabStatus, NodeStatus, VipStatus
from bootstrap.lab.vm import VmMachine, choose_accel
from bootstrap.layout import DEFAULT_LINE
from bootstrap.remote import CommandTimeout, NodeUnreachable, Remote, Result, remote_for
from bootstrap.topology import Role
from bootstrap.vips import holders

if TYPE_CHECKING:
    from bootstrap.deploy.core import Log
    from bootstrap.lab.standin.installer import LabInstaller

TCG_NOTE = (
    "note: these VMs are emulated (TCG); on a host this small a guest spawns a process in about 0.4 s, so "
    "the document's 1 s track scripts time out and keepalived holds no VIP (docs/lab.md, VM machines)"
)

BOOT_ID = "cat /proc/sys/kernel/random/boot_id"  # a new one at every boot (nspawn: of the container)


class Lab:
    """The local lab on this host (there is at most one)."""

    def __init__(self) -> None:
        self.paths = config.paths()
        self._remotes: dict[str, Remote] = {}

    # State -------------------------------------------------------------------
    def state(self) -> LabState:
        """The state of the lab that is up; LabError when none is."""
        return labstate.require(self.paths)

    def is_up(self) -> bool:
        st = labstate.load(self.paths)
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

    def _machines(self, st: LabState) -> dict[str, Machine]:
        machines: dict[str, Machine] = {}
        for name, node in st.nodes.items():
            common: dict[str, Any] = {
                "name": name,
                "address": ipaddress.IPv4Address(node.address),
                "prefixlen": st.network.prefixlen,
                "bridge": st.bridge,
                "home": self.paths.nodes_dir / name,
                "binds": self._binds(node.roles),
                "host_bridge": st.host_bridge,
            }
            if st.image:
                over_ssh = functools.partial(self.ssh, name)  # (command, timeout): the lab's one SSH transport
                machines[name] = CloudVm(rootfs=Path("/nonexistent"), user_image=Path(st.image),
                                         accel=st.accel or "tcg", remote_run=over_ssh, **common)  # fmt: skip
            elif st.machines == "vm":
                machines[name] = VmMachine(rootfs=Path("/nonexistent"), image=Path(st.rootfs), accel=st.accel or "tcg",
                                           **common)  # fmt: skip
            else:
                machines[name] = Machine(rootfs=Path(st.rootfs), **common)
        return machines

    def _binds(self, roles: tuple[str, ...]) -> tuple[tuple[Path, str, bool], ...]:
        binds = [(self.paths.tools_dir, config.TOOLS_MOUNT, True)]
        if Role.CONTROL.value in roles:
            binds.append((self.paths.shared_dir, config.SHARED_MOUNT, False))
        return tuple(binds)

    def machine(self, name: str) -> Machine:
        machines = self._machines(self.state())
        if name not in machines:
            raise LabError(f"no node {name!r} in this lab; nodes: {', '.join(machines)}")
        return machines[name]

    # Up ----------------------------------------------------------------------
    plan = staticmethod(labstate.plan)

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
        machines: str = "nspawn",
        image: str = "",
    ) -> LabState:
        """Bring the lab to the given topology, install line (k3s, the product's default, or
        kubeadm), DB-HA variant, machine driver (nspawn containers, or QEMU VMs; with ``image``
        VMs booting that cloud image, left for the user's installer) and, with ``host_bridge``,
        each node's address on a bridge br0; idempotent and self-repairing.
        Raises LabError when another lab is up or the host lacks what the lab needs."""
        require_root()
        require_tools()
        subnet = subnet or config.default_subnet()
        want = self.plan(topology, compute, subnet, line=line, db_ha=db_ha, host_bridge=host_bridge, machines=machines,
                         image=image)  # fmt: skip
        with self._locked():
            current = self._reconcile(labstate.load(self.paths), want)
            check_subnet(subnet)
            want = want.model_copy(update=self._disk(want, log))
            if current is not None and current.rootfs != want.rootfs:
                if self._running(current):
                    raise LabError(
                        "the lab's root file system changed (package list or recipe); "
                        "take the lab down and up again: python -m bootstrap.lab down"
                    )
                host.teardown(self.paths, current)
            host.ensure_bridge(want)
            host.ensure_keys(self.paths)
            host.ensure_tools(self.paths)
            labstate.save(self.paths, want)
            self._start(self._machines(want).values(), want)
            files.write_inventory(self.paths, want)
            if not want.image:  # a user's image: nothing of the caches was used
                rootfs.prune(keep={Path(want.rootfs)})
                vm_image.prune(keep={Path(want.rootfs)})
            return want

    def _disk(self, want: LabState, log: Any) -> dict[str, str]:
        """What the machines boot from: the cached tree (nspawn), or the VMs' image and the
        accelerator that runs them."""
        if want.image:
            image_format(Path(want.image))  # names --image when it is no disk image
            return {"rootfs": want.image, "accel": choose_firmware_accel(config.paths().cache / "accel-firmware.json")}
        if want.machines != "vm":
            return {"rootfs": str(rootfs.build(log=log) if log else rootfs.build())}
        image = vm_image.build(log=log) if log else vm_image.build()
        return {"rootfs": str(image), "accel": choose_accel(image, config.paths().cache / "accel.json")}

    def _running(self, st: LabState) -> list[str]:
        return [n for n, m in self._machines(st).items() if m.populated()]

    def _reconcile(self, current: LabState | None, want: LabState) -> LabState | None:
        """Clear what of the current lab ``want`` cannot reuse; the state still standing, if any.
        Raises LabError when a lab of another layout is running."""
        if current is None:
            host.teardown(self.paths, None)  # leftovers of a crash before the state was written
            return None
        if not current.same_layout(want):
            running = self._running(current)
            if running:
                raise LabError(
                    f"a {current.describe()} is already up (running: {', '.join(running)}); "
                    "take it down first with: python -m bootstrap.lab down"
                )
            host.teardown(self.paths, current)
            return None
        for name, m in self._machines(current).items():  # maybe another --compute
            if name not in want.nodes:
                m.destroy()
        return current

    def _start(self, machines: Any, st: LabState, wait: bool = True) -> None:
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
            if m.name not in host_keys and m.host_key_pub.exists():
                host_keys[m.name] = m.host_key_pub.read_text().split()[1]
        files.write_ssh_files(self.paths, st, host_keys)
        to_boot = [m for m in machines if not m.populated()]
        for m in to_boot:
            m.boot()
        if wait:
            self._wait_ready(machines)

    def _wait_ready(self, machines: list[Machine]) -> None:
        readiness.wait_ready(machines, self.ssh)

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

    def ssh(self, node: str, command: str, timeout: float = 60, stdin: str | None = None) -> Result:
        """Run a shell command on a node over SSH (``stdin``: what it reads); never raises on its
        exit code (124: no exit within ``timeout`` seconds; 255: the node cannot be reached)."""
        try:
            return self.remote(node).run(command, timeout=timeout, check=False, stdin=stdin)
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
        from bootstrap.deploy import DeployError, deploy

        st = labstate.load(self.paths)
        if st is not None and st.image and stage == "install":
            raise DeployError(
                f"this lab's VMs boot your image {Path(st.image).name}: install the release with your own installer "
                "(its config.yml: python -m bootstrap.lab inventory --ocboot); the installer's stand-in needs the "
                "lab's own machines (stage prepare runs)"
            )
        try:
            return deploy(inv.load(self.paths.inventory), installer=self.installer(), log=log, stage=stage)
        except DeployError as exc:
            if st is not None and st.machines == "vm" and st.accel == "tcg":
                raise DeployError(f"{exc}\n{TCG_NOTE}") from None
            raise

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

    def start(self, node: str, wait: bool = True, **vm: Any) -> None:
        """Boot the node and wait for it (``wait``: else return once it is powered on, as a
        whole site's power returning does not wait for each node); ``vm``: VmMachine fields for
        this boot only (the real mutations': ``kernel="cloud"``, ``rtc_base``). Raises LabError
        on containers."""
        with self._locked():
            st = self.state()
            m = self.machine(node)
            if vm and not isinstance(m, VmMachine):
                raise LabError(f"{node} is a container: it boots the host's kernel and clock ({', '.join(vm)})")
            for name, value in vm.items():
                setattr(m, name, value)
            self._forget(node)
            self._start([m], st, wait=wait)

    def reboot(self, node: str) -> None:
        """The node reboots itself (``systemctl reboot``: its units stopped in order, its boot
        from the start); returns once it is ready again. A VM's QEMU runs on across the reboot;
        nspawn ends with the container's reboot (exit 133) and is started again, as
        systemd-nspawn@.service's RestartForceExitStatus=133 does. Raises LabError if it does
        not come back within the machine's boot_timeout."""
        m = self.machine(node)
        boot_id = self.ssh(node, BOOT_ID, timeout=10).stdout.strip()
        if not boot_id:
            raise LabError(f"{node}: does not answer; it cannot be asked to reboot")
        self.ssh(node, "systemctl reboot", timeout=10)
        self._forget(node)
        readiness.wait_down(m)
        if m.populated():
            self._wait_ready([m])
        else:
            self.start(node)
        if self.ssh(node, BOOT_ID, timeout=10).stdout.strip() in ("", boot_id):
            raise LabError(f"{node}: answered again without a new boot id: it did not reboot")

    def freeze(self, node: str, frozen: bool = True) -> None:
        """Freeze the node (a VM paused; a container's processes frozen) or thaw it."""
        self.machine(node).freeze(frozen)
        if not frozen:
            self._forget(node)

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
    def status(self) -> LabStatus:
        st = self.state()
        machines = self._machines(st)
        nodes = tuple(
            NodeStatus(
                name=name,
                address=st.nodes[name].address,
                roles=st.nodes[name].roles,
                state=m.state().value,
                memory_mib=round(m.memory_bytes() / 2**20, 1),
            )
            for name, m in machines.items()
        )
        held = self.vip_holders(st.vips, machines)
        shared = st.model_dump(include={"topology", "line", "db_ha", "host_bridge", "subnet", "bridge", "machines",
                                        "accel", "image"})  # fmt: skip
        vip_status = {name: VipStatus(address=addr, holders=tuple(held[name])) for name, addr in st.vips.items()}
        return LabStatus(**shared, inventory=str(self.paths.inventory), nodes=nodes, vips=vip_status)

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
            return host.teardown(self.paths, labstate.load(self.paths))

    def leftovers(self) -> list[str]:
        """Anything of the lab still present on the host (empty after down)."""
        return host.leftovers(self.paths)
