"""Who holds a VIP: the one reader of a node's IPv4 addresses (``ip -j -4 addr``).

A VIP may sit on any interface (eth0, a bond, the Host service's br0), so holders
are found by address, never by interface name.

>>> out = '[{"ifname": "br0", "addr_info": [{"family": "inet", "local": "10.0.0.5", "prefixlen": 32}]}]'
>>> addresses(out)
{'10.0.0.5': ('br0', 32)}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

# JSON where iproute2 has it; the one-line form where it does not (older iproute2 builds).
ADDR_COMMAND = "ip -j -4 addr show 2>/dev/null || ip -o -4 addr show"


def addresses(ip_output: str) -> dict[str, tuple[str, int]]:
    """``ip -j -4 addr`` (or ``ip -o -4 addr``) output -> {address: (interface, prefix length)};
    {} when unreadable.

    >>> addresses("2: eth0    inet 10.0.0.7/24 brd 10.0.0.255 scope global eth0")
    {'10.0.0.7': ('eth0', 24)}
    """
    return {addr: (ifname, prefix) for ifname, addr, prefix, _ in _entries(ip_output)}


def primary_address(ip_output: str, interface: str | None, exclude: Iterable[str] = ()) -> str | None:
    """The address VRRP advertisements leave ``interface`` from (keepalived's default source,
    and the tie-break between equal priorities, RFC 5798 6.4.3): the first IPv4 address ``ip``
    lists on it that is neither secondary nor one of ``exclude`` (the VIPs it may hold). None
    when the interface is unnamed or carries none.

    >>> out = ('[{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.0.0.9", "prefixlen": 32},'
    ...        ' {"family": "inet", "local": "10.0.0.7", "prefixlen": 24},'
    ...        ' {"family": "inet", "local": "10.0.0.8", "prefixlen": 24, "secondary": true}]}]')
    >>> primary_address(out, "eth0", exclude=["10.0.0.9"])
    '10.0.0.7'
    >>> primary_address("2: eth0    inet 10.0.0.8/24 brd 10.0.0.255 scope global secondary eth0", "eth0")
    >>> primary_address(out, "br0") is None and primary_address(out, None) is None
    True
    """
    if not interface:
        return None
    skip = set(exclude)
    for name, addr, _, secondary in _entries(ip_output):
        if name == interface and not secondary and addr not in skip:
            return addr
    return None


def _entries(ip_output: str) -> list[tuple[str, str, int, bool]]:
    """(interface, address, prefix length, secondary) in the order ``ip`` lists them."""
    text = (ip_output or "").strip()
    if not text.startswith("["):
        found = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) > 3 and parts[2] == "inet" and "/" in parts[3]:
                addr, _, prefix = parts[3].partition("/")
                found.append((parts[1].split("@")[0], addr, int(prefix), "secondary" in parts[4:]))
        return found
    try:
        links = json.loads(text)
    except ValueError:
        return []
    found = []
    for link in links if isinstance(links, list) else []:
        for info in link.get("addr_info", []):
            if info.get("family") == "inet" and "local" in info:
                entry = (str(info["local"]), int(info.get("prefixlen", 32)), bool(info.get("secondary")))
                found.append((str(link.get("ifname", "?")), *entry))
    return found


def holders(per_node: Mapping[str, str], vips: Mapping[str, str]) -> dict[str, list[str]]:
    """{node: ``ip -j -4 addr`` output} and {vip name: address} -> {vip name: [holders]}."""
    seen = {node: addresses(out) for node, out in per_node.items()}
    return {name: [node for node, addrs in seen.items() if addr in addrs] for name, addr in vips.items()}
