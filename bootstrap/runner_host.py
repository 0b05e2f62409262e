"""Where the runner stands: whether an address is this host's own, and which of a site's nodes
this host is (field engineers run the suite on the First Node; issue 23)."""

from __future__ import annotations

import ipaddress
import socket

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
