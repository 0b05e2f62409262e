"""Debian facts the lab's root file system and the offline image share: the release they are
built from, and the host's own mirror of it (the project never names a mirror itself)."""

from __future__ import annotations

import os
import re
from pathlib import Path

SUITE = "bookworm"  # Debian 12


class NoMirror(RuntimeError):
    """The host's apt sources name no mirror of SUITE."""


_LIST_LINE = re.compile(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$")


def apt_mirror(root: Path = Path("/etc/apt")) -> str:
    """The host's own Debian mirror for the lab's suite, read from its apt sources.

    The project never names a mirror itself; HA_LAB_MIRROR overrides.
    """
    override = os.environ.get("HA_LAB_MIRROR")
    if override:
        return override
    candidates: list[tuple[str, list[str], list[str]]] = []  # uri, suites, components
    legacy = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list"))]
    for f in legacy:
        if not f.is_file():
            continue
        for line in f.read_text(errors="replace").splitlines():
            m = _LIST_LINE.match(line)
            if m:
                candidates.append((m.group(1), [m.group(2)], m.group(3).split()))
    for f in sorted((root / "sources.list.d").glob("*.sources")):
        for para in re.split(r"\n\s*\n", f.read_text(errors="replace")):
            fields: dict[str, str] = {}
            for line in para.splitlines():
                if line.startswith("#") or ":" not in line or line[0].isspace():
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                candidates.append((uri, fields.get("suites", "").split(), fields.get("components", "").split()))
    for uri, suites, comps in candidates:
        if SUITE in suites and "main" in comps and "security" not in uri:
            return uri
    raise NoMirror(f"no Debian {SUITE} mirror found in {root}/sources.list*; set HA_LAB_MIRROR to the URL of one")
