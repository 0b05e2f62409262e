"""What kind of site a run is pointed at, stated once at the start of the run.

``LAB``: the local lab this host brought up (or that lab's own inventory file): it
exists to be broken, so faults are the lab's own and destructive scenarios need no
confirmation. ``SITE``: anything else, an installed customer site above all: nothing
on it changes unless the user named it with ``--confirm-site``.

The kind is never guessed from an inventory's contents: a copy of the lab's inventory
under another name is a site.
"""

from __future__ import annotations

from enum import StrEnum


class SiteKind(StrEnum):
    LAB = "lab"
    SITE = "site"


def destruction_refused(kind: SiteKind, site: str, destructive: bool, confirm_site: str | None) -> str | None:
    """Why destructive steps may not run on this site, or None when they may.

    >>> destruction_refused(SiteKind.LAB, "lab-5node", False, None) is None
    True
    >>> destruction_refused(SiteKind.SITE, "acme", True, "acme") is None
    True
    >>> print(destruction_refused(SiteKind.SITE, "acme", True, "lab-5node"))
    destructive: runs on site acme only with --destructive --confirm-site=acme
    """
    if kind is SiteKind.LAB:
        return None
    if destructive and confirm_site == site:
        return None
    return f"destructive: runs on site {site} only with --destructive --confirm-site={site}"
