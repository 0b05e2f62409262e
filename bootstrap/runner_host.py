"""Where the runner stands: whether an address is this host's own, and which of a site's nodes
this host is (field engineers run the suite on the First Node; issue 23)."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess

from bootstrap import inventory as inv


def local_address(address: str) -> bool:
    """Whether ``address`` is one of this host's own (binding to it succeeds; nothing is sent)."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        return False
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((address, 0))
        except OSError:
            return False
    return True


def own_nodes(inventory: inv.Inventory) -> list[str]:
    """The names of the inventory's nodes whose address is this host's own (none for a runner
    outside the site, as on the lab)."""
    return [n.name for n in inventory.nodes if local_address(str(n.address))]


# CAP_NET_ADMIN's bit in /proc/self/status CapEff (linux/capability.h): what `ip neigh flush` needs.
CAP_NET_ADMIN = 12


def net_admin_missing(status: str | None = None) -> str | None:
    """Why this runner may not change its own network state (flush its neighbour entries), or
    None when it may: it needs CAP_NET_ADMIN, which a non-root user, rootless podman and docker's
    default capabilities lack. ``status``: the text of /proc/self/status (read when None)."""
    if status is None:
        try:
            with open("/proc/self/status", encoding="ascii") as f:
                status = f.read()
        except OSError as exc:
            return f"its capabilities are unreadable ({exc})"
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            if int(line.split()[1], 16) >> CAP_NET_ADMIN & 1:
                return None
            who = "it is not root" if os.geteuid() != 0 else "it runs without CAP_NET_ADMIN (a container's default)"
            return f"{who}: it cannot forget its own neighbour entries between scenarios (ip neigh flush)"
    return "its capabilities are unreadable (no CapEff in /proc/self/status)"


def off_segment(address: str, route: str | None = None) -> str | None:
    """Why this runner is not on ``address``'s link-layer segment, or None when it is: the
    kernel's route to it (``ip -4 route get``: a lookup, nothing is sent) goes through a router,
    or cannot be read. ``route``: that command's output (run when None)."""
    if route is None:
        try:
            done = subprocess.run(
                ["ip", "-4", "route", "get", address], capture_output=True, text=True, timeout=5, check=False
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return f"its route to {address} is unreadable ({exc})"
        if done.returncode != 0:
            return f"it has no route to {address} ({(done.stderr or done.stdout).strip() or f'exit {done.returncode}'})"
        route = done.stdout
    words = route.split()
    if "via" in words:
        router = words[words.index("via") + 1]
        return f"it reaches {address} through the router {router}, so it holds no neighbour entry for it"
    return None


def runner_address_towards(address: str) -> str:
    """The runner's own source address for traffic to a node."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((address, 9))  # UDP connect sends nothing
        return str(s.getsockname()[0])
