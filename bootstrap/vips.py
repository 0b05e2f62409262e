"""Who holds a VIP: the one reader of a node's IPv4 addresses (``ip -j -4 addr``).

A VIP may sit on any interface (eth0, a bond, the Host service's br0), so holders
are found by address, never by interface name.

>>> out = '[{"ifname": "br0", "addr_info": [{"family": "inet", "local": "10.0.0.5", "prefixlen": 32}]}]'
>>> addresses(out)
{'10.0.0.5': ('br0', 32)}
"""

from __future__ import annotations

import json
from collections.abc import Mapping

# JSON where iproute2 has it; the one-line form where it does not (older iproute2 builds).
ADDR_COMMAND = "ip -j -4 addr show 2>/dev/null || ip -o -4 addr show"


def addresses(ip_output: str) -> dict[str, tuple[str, int]]:
    """``ip -j -4 addr`` (or ``ip -o -4 addr``) output -> {address: (interface, prefix length)};
    {} when unreadable.

    >>> addresses("2: eth0    inet 10.0.0.7/24 brd 10.0.0.255 scope global eth0")
    {'10.0.0.7': ('eth0', 24)}
    """
    text = (ip_output or "").strip()
    if not text.startswith("["):
        return _one_line_form(text)
    try:
        links = json.loads(text)
    except ValueError:
        return {}
    found: dict[str, tuple[str, int]] = {}
    for link in links if isinstance(links, list) else []:
        for info in link.get("addr_info", []):
            if info.get("family") == "inet" and "local" in info:
                found[info["local"]] = (str(link.get("ifname", "?")), int(info.get("prefixlen", 32)))
    return found


def holders(per_node: Mapping[str, str], vips: Mapping[str, str]) -> dict[str, list[str]]:
    """{node: ``ip -j -4 addr`` output} and {vip name: address} -> {vip name: [holders]}."""
    seen = {node: addresses(out) for node, out in per_node.items()}
    return {name: [node for node, addrs in seen.items() if addr in addrs] for name, addr in vips.items()}


def _one_line_form(text: str) -> dict[str, tuple[str, int]]:
    found: dict[str, tuple[str, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[2] == "inet" and "/" in parts[3]:
            addr, _, prefix = parts[3].partition("/")
            found[addr] = (parts[1].split("@")[0], int(prefix))
    return found
