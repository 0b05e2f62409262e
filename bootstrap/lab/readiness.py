"""When a lab machine is ready, and when it has gone down for a reboot: polled as each
machine's driver bears it (``boot_timeout``, ``banner_timeout``, ``poll_interval``)."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable

from bootstrap.lab.cloud_vm import CloudVm
from bootstrap.lab.hostenv import LabError, console_tail, ssh_banner
from bootstrap.lab.machine import Machine
from bootstrap.lab.vm import VmMachine
from bootstrap.poll import wait_until
from bootstrap.remote import Result

REBOOT_DOWN_S = 120.0  # a node's shutdown before its reboot (k3s' and MariaDB's stops included)


def wait_ready(machines: list[Machine], ssh: Callable[..., Result]) -> None:
    """Wait until every machine answers SSH and its systemd finished booting (each within its
    own ``boot_timeout`` seconds; ``ssh(node, command, timeout=)`` runs a command); a cloud
    image's VM also until cloud-init is done and synced (``CloudVm.settle``). Raises
    LabError naming the machine: exited while booting (with its console's tail), a boot
    failure its console shows, or not ready in time."""

    def ready(m: Machine) -> None:
        timeout = m.boot_timeout
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not m.populated():
                tail = console_tail(m.console_log)
                raise LabError(f"{m.name}: the machine exited while booting; console:\n{tail}")
            failed = m.boot_failure()
            if failed:
                raise LabError(failed)
            if ssh_banner(str(m.address), timeout=m.banner_timeout):
                proc = ssh(m.name, "systemctl is-system-running --wait", timeout=deadline - time.monotonic())
                last = proc.stdout.strip()
                if last in ("running", "degraded"):
                    if isinstance(m, CloudVm):
                        m.settle(deadline)
                    return
            time.sleep(m.poll_interval)
        raise LabError(f"{m.name}: not ready after {timeout:g} s (systemd: {last or 'no SSH'})")

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(machines))) as pool:
        for fut in [pool.submit(ready, m) for m in machines]:
            fut.result()


def wait_down(m: Machine) -> None:
    """Wait until a machine asked to reboot has gone down: a VM's sshd stops answering (QEMU
    runs on across the guest's reboot), a container's nspawn ends (exit 133). Raises LabError
    after REBOOT_DOWN_S seconds."""

    def gone() -> str | None:
        if isinstance(m, VmMachine):
            return "answering" if ssh_banner(str(m.address), timeout=m.banner_timeout) else None
        return "running" if m.populated() else None

    try:
        wait_until(f"{m.name} going down for its reboot", gone, REBOOT_DOWN_S, interval=m.poll_interval)
    except TimeoutError as exc:
        raise LabError(str(exc)) from None
