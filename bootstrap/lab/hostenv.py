"""What the lab needs from the host it runs on, checked up front with one clear
message each: root, tools, a free subnet, a package mirror."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bootstrap import debian
from bootstrap.lab.config import BRIDGE


class LabError(RuntimeError):
    """A problem the user can act on; the CLI prints it without a traceback."""


# tool -> Debian package that provides it
HOST_TOOLS = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "mount": "mount",
    "umount": "mount",
    "setsid": "util-linux",
    "nsenter": "util-linux",
}
# What the VM driver needs besides (issue 26): QEMU, its image tool, mke2fs for the guest disk.
VM_TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "mke2fs": "e2fsprogs",
    "cloud-localds": "cloud-image-utils",  # a user's cloud image's seed (bootstrap/lab/cloud_seed.py)
    "isoinfo": "genisoimage",
}


def run(
    argv: Sequence[str], *, timeout: float = 60, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a host command with a timeout; failures become a LabError naming it."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input, check=False)
    except subprocess.TimeoutExpired:
        raise LabError(f"{argv[0]} did not finish within {timeout:g} s: {' '.join(argv)}") from None
    except FileNotFoundError:
        raise LabError(f"{argv[0]} is not installed on this host") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"{' '.join(argv)} failed (exit {proc.returncode})" + (f": {detail[-1]}" if detail else ""))
    return proc


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (it mounts overlays, creates a bridge and cgroups); run it as root")


def require_tools(tools: Sequence[str] = tuple(HOST_TOOLS)) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pkgs = sorted({{**HOST_TOOLS, **VM_TOOLS}.get(t, t) for t in missing})
        raise LabError(
            f"missing host tools: {', '.join(missing)}; install them with: apt-get install -y {' '.join(pkgs)}"
        )


def host_networks(exclude_dev: str = BRIDGE) -> list[tuple[ipaddress.IPv4Network, str]]:
    """Every IPv4 network the host routes or has an address in, but the lab's own."""
    found: list[tuple[ipaddress.IPv4Network, str]] = []
    routes = json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]")
    for route in routes:
        dst = route.get("dst", "")
        if (
            route.get("dev") == exclude_dev
            or dst in ("default", "")
            or route.get("type")
            in (
                "broadcast",
                "multicast",
            )
        ):
            continue
        try:
            net = ipaddress.IPv4Network(dst if "/" in dst else f"{dst}/32", strict=False)
        except ValueError:
            continue
        if net.is_loopback:
            continue
        found.append((net, f"route {dst} dev {route.get('dev', '?')}"))
    addrs = json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
    for link in addrs:
        if link.get("ifname") in (exclude_dev, "lo"):
            continue
        for info in link.get("addr_info", []):
            net = ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False)
            found.append((net, f"address {info['local']}/{info['prefixlen']} on {link['ifname']}"))
    return found


def check_subnet(subnet: ipaddress.IPv4Network) -> None:
    if subnet.prefixlen != 24:
        raise LabError(f"lab subnet {subnet}: must be a /24")
    if not subnet.is_private:
        raise LabError(f"lab subnet {subnet}: must be a private range (RFC 1918)")
    for net, what in host_networks():
        if net.overlaps(subnet):
            raise LabError(
                f"lab subnet {subnet} overlaps the host's {what}; choose another with --subnet or HA_LAB_SUBNET"
            )


def apt_mirror(root: Path = Path("/etc/apt")) -> str:
    """The host's own Debian mirror for the lab's suite (bootstrap/debian.py); LabError when
    there is none."""
    try:
        return debian.apt_mirror(root)
    except debian.NoMirror as exc:
        raise LabError(str(exc)) from None


def ssh_banner(address: str, timeout: float = 0.5) -> bool:
    """Whether an SSH server greets on ``address``:22 within ``timeout`` seconds."""
    try:
        with socket.create_connection((address, 22), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def console_tail(path: Path, lines: int = 10) -> str:
    """The last ``lines`` of a machine's console log."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no console log)"


def benchmark_main(main: Callable[[], int]) -> None:
    """Run a VM benchmark's ``main`` and exit with its status: a LabError is one line on stderr
    (exit 1); SIGTERM and SIGINT unwind through its ``finally`` blocks and context managers, so
    the VMs and bridges it made are removed (SIGINT also where the shell started it ignoring it)."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        sys.exit(main())
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
