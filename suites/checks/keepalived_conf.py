"""A small reader of keepalived.conf: just what the checks ask about."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field


@dataclass
class Instance:
    name: str
    settings: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    vips: list[tuple[str, str | None]] = field(default_factory=list)  # (address, dev)
    track_scripts: list[str] = field(default_factory=list)
    # track_script entries' own weights ("chk weight -20" inside track_script { }), by script
    track_weights: dict[str, int] = field(default_factory=dict)
    auth_pass: str | None = None

    def get(self, key: str) -> str | None:
        return self.settings.get(key)


def _blocks(text: str) -> list[tuple[str, str]]:
    """Top-level blocks: (header, body)."""
    text = re.sub(r"[#!].*", "", text)
    result, depth, header, start = [], 0, "", 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "{":
            if depth == 0:
                line_start = text.rfind("\n", 0, i) + 1
                header, start = text[line_start:i].strip(), i + 1
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                result.append((header, text[start:i]))
        i += 1
    return result


def _sub_block(body: str, name: str) -> str | None:
    m = re.search(rf"\b{name}\s*\{{([^}}]*)\}}", body)
    return m.group(1) if m else None


def parse(text: str) -> list[Instance]:
    instances = []
    for header, body in _blocks(text):
        parts = header.split()
        if len(parts) != 2 or parts[0] != "vrrp_instance":
            continue
        inst = Instance(parts[1])
        flat = body
        for sub in ("authentication", "virtual_ipaddress", "track_script", "track_interface", "unicast_peer"):
            flat = re.sub(rf"\b{sub}\s*\{{[^}}]*\}}", "", flat)
        for line in flat.splitlines():
            words = line.split()
            if len(words) >= 2:
                inst.settings[words[0]] = words[1]
            elif len(words) == 1:
                inst.flags.add(words[0])
        auth = _sub_block(body, "authentication") or ""
        m = re.search(r"\bauth_pass\s+(\S+)", auth)
        inst.auth_pass = m.group(1) if m else None
        for line in (_sub_block(body, "virtual_ipaddress") or "").splitlines():
            words = line.split()
            if words:
                dev = words[words.index("dev") + 1] if "dev" in words and words.index("dev") + 1 < len(words) else None
                inst.vips.append((words[0].split("/")[0], dev))
        for line in (_sub_block(body, "track_script") or "").splitlines():
            words = line.split()
            if not words:
                continue
            inst.track_scripts.append(words[0])
            if "weight" in words[1:-1]:
                with contextlib.suppress(ValueError):
                    inst.track_weights[words[0]] = int(words[words.index("weight") + 1])
        instances.append(inst)
    return instances


def scripts(text: str) -> dict[str, str]:
    """vrrp_script name -> its script line."""
    found = {}
    for header, body in _blocks(text):
        parts = header.split()
        if len(parts) == 2 and parts[0] == "vrrp_script":
            m = re.search(r'\bscript\s+"?([^"\n]+)"?', body)
            found[parts[1]] = m.group(1).strip() if m else ""
    return found


def script_settings(text: str) -> dict[str, dict[str, str]]:
    """vrrp_script name -> its settings ({"script": ..., "interval": "1", "weight": "-20", ...})."""
    found: dict[str, dict[str, str]] = {}
    for header, body in _blocks(text):
        parts = header.split()
        if len(parts) == 2 and parts[0] == "vrrp_script":
            settings = {}
            for line in body.splitlines():
                words = line.split(None, 1)
                if len(words) == 2:
                    settings[words[0]] = words[1].strip().strip('"')
            found[parts[1]] = settings
    return found


def instance_for(text: str, vip: str) -> Instance | None:
    for inst in parse(text):
        if any(addr == vip for addr, _ in inst.vips):
            return inst
    return None
