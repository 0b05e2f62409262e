"""Parsers of the probes' raw output, each into the value the checks read, or Unreadable.
Each is unit-tested on raw outputs kept under ``tests/data/facts/`` (real commands' outputs
where public sources show them; ``tests/test_facts.py``).

>>> sysctls(0, "net.ipv4.ip_forward = 1\\nnet.ipv4.ip_nonlocal_bind = 0")
{'net.ipv4.ip_forward': '1', 'net.ipv4.ip_nonlocal_bind': '0'}
>>> unit_state(0, "LoadState=not-found\\nActiveState=inactive\\nUnitFileState=")
UnitState(load='not-found', enabled='', active='inactive')
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import ssl
from dataclasses import dataclass
from typing import Any

from bootstrap import vips
from suites import etcd_log, keepalived_history, mariadb_log
from suites.facts.core import ABSENT, Unreadable


def absent_or(parse: Any, absent: Any) -> Any:
    """A parser giving ``absent`` for status 3 (not on this node), else ``parse``'s value."""

    def read(rc: int, output: str) -> Any:
        return absent if rc == ABSENT else parse(rc, output)

    read.__doc__ = f"{absent!r} where absent, else {parse.__name__}"
    return read


def clock(rc: int, output: str) -> float:
    """``date +%s.%N`` -> seconds since the epoch (ValueError: unreadable)."""
    return float(output.strip())


def addresses(rc: int, output: str) -> str | Unreadable:
    """``ip -j -4 addr`` (or ``ip -o -4 addr``) output, which must name an address (every
    node has at least the loopback's)."""
    return output if vips.addresses(output) else Unreadable("named no IPv4 address")


SYSTEMD_STATES = {"active", "inactive", "failed", "activating", "deactivating", "reloading", "unknown",
                  "maintenance", "refreshing"}  # fmt: skip


def active_state(rc: int, output: str) -> str | Unreadable:
    """``systemctl is-active UNIT``'s word (0 active; 3 and 4 not active or no such unit)."""
    word = output.strip().splitlines()[-1].strip() if output.strip() else ""
    return word if word in SYSTEMD_STATES else Unreadable(f"is no unit state: {output.strip()[:120]!r}")


def swaps(rc: int, output: str) -> list[str]:
    """``cat /proc/swaps`` -> the active swap lines (the header must be there)."""
    lines = output.splitlines()
    if not lines or not lines[0].startswith("Filename"):
        raise ValueError("no /proc/swaps header")
    return [line for line in lines[1:] if line.strip()]


def sysctls(rc: int, output: str) -> dict[str, str]:
    """``sysctl NAME...`` -> {name: value}."""
    found = {}
    for line in output.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            found[name.strip()] = value.strip()
    if not found:
        raise ValueError("no name = value line")
    return found


@dataclass(frozen=True)
class UnitState:
    """A systemd unit as ``systemctl show`` gives it (``load`` not-found: no such unit)."""

    load: str
    enabled: str
    active: str

    def __str__(self) -> str:
        return f"LoadState={self.load} UnitFileState={self.enabled or '-'} ActiveState={self.active}"


def unit_state(rc: int, output: str) -> UnitState:
    """``systemctl show -p LoadState -p UnitFileState -p ActiveState UNIT`` -> UnitState."""
    props = dict(line.partition("=")[::2] for line in output.splitlines() if "=" in line)
    return UnitState(props["LoadState"], props.get("UnitFileState", ""), props["ActiveState"])


def markers(rc: int, output: str) -> frozenset[str]:
    """The marker files present (one path a line)."""
    return frozenset(line.strip() for line in output.splitlines() if line.strip().startswith("/"))


def framed(output: str, tag: str) -> list[tuple[str, str]]:
    """[(path, text)] from "@@<tag> <path>" lines, each followed by that file's text."""
    found = []
    for block in re.split(rf"^@@{tag} ", output, flags=re.M)[1:]:
        head, _, body = block.partition("\n")
        found.append((head.strip(), body))
    return found


def manifests(rc: int, output: str) -> list[tuple[str, str]]:
    """The keepalived static pods' manifests present: [(path, text)]."""
    return framed(output, "manifest")


def script_files(rc: int, output: str) -> dict[str, str]:
    """The track scripts' files: {path: text}; {} where there is no keepalived.conf."""
    return {} if rc == ABSENT else dict(framed(output, "script"))


def servers_by_file(rc: int, output: str) -> dict[str, list[str]]:
    """A kubeconfig fact ("file=PATH" lines, each followed by its ``server:`` lines) -> {path: servers}."""
    found: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("file="):
            current = line[5:].strip()
            found[current] = []
        elif current is not None:
            found[current] += re.findall(r"server:\s*(\S+)", line)
    return found


@dataclass(frozen=True)
class KubeConfig:
    """``$HOME/.kube/config``: its owner and mode, and the admin kubeconfigs it equals or not."""

    owner: str
    mode: str
    same_as: tuple[str, ...]
    differs_from: tuple[str, ...]


def kube_config(rc: int, output: str) -> KubeConfig | None:
    """None where there is no ``$HOME/.kube/config`` (status 3)."""
    if rc == ABSENT:
        return None
    head = re.search(r"owner=(\S+) mode=(\d+)", output)
    if head is None:
        raise ValueError("no owner= mode= line")
    return KubeConfig(
        head.group(1),
        head.group(2),
        tuple(re.findall(r"^same-as=(\S+)", output, re.M)),
        tuple(re.findall(r"^differs-from=(\S+)", output, re.M)),
    )


@dataclass(frozen=True)
class User:
    """A local user: ``id``'s line and what ``sudo -l -U`` lists for it (last lines)."""

    uid: int
    id_line: str
    sudo: str


def yunion(rc: int, output: str) -> User | None:
    """None where there is no user yunion (status 3)."""
    if rc == ABSENT:
        return None
    m = re.search(r"uid=(\d+)", output)
    if m is None:
        raise ValueError("no uid= in id's line")
    first, _, rest = output.partition("\n")
    return User(int(m.group(1)), first, rest)


@dataclass(frozen=True)
class Containers:
    """The keepalived static pod's running containers as the line's runtime lists them."""

    runtime: str
    running: tuple[str, ...]


def containers(rc: int, output: str) -> Containers | None:
    """None where the node has no static pod manifest (status 3: its runtime is not asked)."""
    if rc == ABSENT:
        return None
    m = re.search(r"^runtime (.+)$", output, re.M)
    if m is None:
        raise ValueError("no runtime line")
    return Containers(_runtime_name(m.group(1)), tuple(re.findall(r"^running (\S+)", output, re.M)))


def _runtime_name(command: str) -> str:
    """ "/usr/local/bin/k3s crictl" -> "k3s crictl"; "/usr/bin/docker" -> "docker"."""
    words = command.split()
    return " ".join([words[0].rsplit("/", 1)[-1], *words[1:]])


@dataclass(frozen=True)
class PodLog:
    """The keepalived static pod's container log: the runtime, the container (None: there is
    none) and its last lines."""

    runtime: str
    container: str | None
    log: str


def pod_log(rc: int, output: str) -> PodLog | None:
    """None where the node has no static pod manifest (status 3)."""
    if rc == ABSENT:
        return None
    runtime, _, rest = output.partition("\n")
    container, _, log = rest.partition("\n")
    if not runtime.startswith("runtime ") or not container.startswith("container"):
        raise ValueError("no runtime and container lines")
    return PodLog(_runtime_name(runtime.removeprefix("runtime ")), container.removeprefix("container").strip() or None,
                  log.strip("\n"))  # fmt: skip


NO_ENTRIES = "-- No entries --"


def journal(rc: int, output: str) -> str | Unreadable:
    """keepalived's unit journal since its last start ("" where the unit is not installed).
    Unreadable where journald keeps nothing the user may read, or where keepalived runs but
    its journal holds no line of this start (journald's Storage=none, a vacuumed journal)."""
    if rc == ABSENT:
        return ""
    active, log = _unit_head(output)
    lines = [line for line in log.splitlines() if line.strip() and line.strip() != NO_ENTRIES]
    if any("No journal files were found" in line for line in lines):
        return Unreadable("journalctl found no journal it may read (" + lines[0].strip() + ")", not_verifiable=True)
    if not lines and active in RUNNING_STATES:
        return Unreadable(
            f"keepalived is {active} but its journal holds no line of this start (journald keeps none here?)",
            not_verifiable=True,
        )
    return "\n".join(lines)


RUNNING_STATES = ("active", "activating", "reloading")


def _unit_head(output: str) -> tuple[str, str]:
    """(the unit's ActiveState, the journal's text) from "unit <LoadState> <ActiveState>" then
    the lines (the keepalived journal probes' shape). ValueError without the unit line."""
    head, _, log = output.partition("\n")
    m = re.match(r"unit (\S+) (\S+)$", head)
    if m is None:
        raise ValueError("no unit line")
    return m.group(2), log


PEM_CERT = r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----"


def certificates(rc: int, output: str) -> list[tuple[str, bytes]]:
    """ "@@cert PATH" + PEM blocks, "@@b64 PATH" + a kubeconfig's base64 client-certificate-data
    -> [(where, DER)] (a file may hold a chain: one entry each)."""
    found: list[tuple[str, bytes]] = []
    for part in re.split(r"^@@", output, flags=re.M)[1:]:
        head, _, body = part.partition("\n")
        kind, _, path = head.partition(" ")
        if kind == "b64":
            with contextlib.suppress(ValueError, binascii.Error):
                body = base64.b64decode(body.strip()).decode("ascii", "replace")
            path += " (client-certificate-data)"
        for i, der in enumerate(ssl.PEM_cert_to_DER_cert(m) for m in re.findall(PEM_CERT, body)):
            found.append((path + (f" #{i + 1}" if i else ""), der))
    return found


@dataclass(frozen=True)
class EtcdReply:
    """What this node's etcd answered on one endpoint: the body, or None and why not."""

    endpoint: str
    body: str | None
    why: str = ""

    def members(self) -> list[dict[str, Any]] | None:
        """The member list, or None where the body holds none."""
        with contextlib.suppress(ValueError, TypeError, KeyError):
            return list(json.loads(self.body or "")["members"])
        return None

    def healthy(self) -> bool | None:
        """etcd's own /health verdict, or None where the body holds none."""
        with contextlib.suppress(ValueError, TypeError, KeyError):
            return str(json.loads(self.body or "")["health"]).lower() == "true"
        return None

    def _json(self) -> dict[str, Any] | None:
        with contextlib.suppress(ValueError, TypeError):
            doc = json.loads(self.body or "")
            return doc if isinstance(doc, dict) else None
        return None

    def header(self, key: str) -> str | None:
        """A field of the reply's header (``cluster_id``, ``member_id``: uint64 as decimal text)."""
        doc = self._json()
        value = (doc or {}).get("header", {}).get(key) if doc else None
        return None if value is None else str(value)

    def leader(self) -> str | None:
        """The member id of the leader this member follows (maintenance/status), None if none."""
        doc = self._json()
        value = doc.get("leader") if doc else None
        return None if value in (None, "0", 0) else str(value)

    def alarms(self) -> list[tuple[str, str]] | None:
        """The cluster's alarms (maintenance/alarm) as (member id, alarm); None where the body
        is no JSON object."""
        doc = self._json()
        if doc is None:
            return None
        # etcd 3.4's gateway answers {} when no alarm is raised (empty fields are left out).
        return [(str(a.get("memberID", "")), str(a.get("alarm", ""))) for a in doc.get("alarms") or []]


def etcd_reply(rc: int, output: str) -> EtcdReply:
    """ "endpoint URL" then curl's body (status 0), or curl's message where etcd gave no answer."""
    head, _, body = output.partition("\n")
    if not head.startswith("endpoint "):
        raise ValueError("no endpoint line")
    endpoint = head.removeprefix("endpoint ").strip()
    if rc != 0:
        return EtcdReply(endpoint, None, f"curl exited {rc}: {' '.join(body.split())[:200]}")
    return EtcdReply(endpoint, body.strip())


def paths(rc: int, output: str) -> tuple[str, ...]:
    """Existing files, one path a line."""
    return tuple(line.strip() for line in output.splitlines() if line.strip())


def processes(rc: int, output: str) -> list[tuple[int, str]]:
    """Running keepalived processes: [(pid, their cgroup lines joined)]."""
    found = []
    for line in output.splitlines():
        m = re.match(r"pid=(\d+) cgroup=(.*)$", line)
        if m:
            found.append((int(m.group(1)), m.group(2).strip()))
    return found


def mariadb_log_lines(rc: int, output: str) -> list[tuple[float, str]] | None:
    """MariaDB's replication lines -> [(epoch s, line)]; None where MariaDB is not installed."""
    return None if rc == ABSENT else mariadb_log.timed(output)


def pod_history(rc: int, output: str) -> list[tuple[float, str]] | None:
    """The static pod's container log with the runtime's stamps -> [(epoch s, line)]; None
    where the node has no keepalived static pod (status 3)."""
    if rc == ABSENT:
        return None
    head, _, rest = output.partition("\n")
    if not head.startswith("runtime "):
        raise ValueError("no 'runtime' line")
    return keepalived_history.stamped_lines(rest)


def etcd_log_lines(rc: int, output: str) -> list[tuple[float, str]] | None:
    """etcd's election lines -> [(epoch s, line)]; None where etcd runs nowhere here (status 3)."""
    return None if rc == ABSENT else etcd_log.timed(output)


def timed_journal(rc: int, output: str) -> list[tuple[float, str]] | Unreadable | None:
    """keepalived's journal since boot -> [(epoch s, line)]; None where the unit is not
    installed. Unreadable where journald keeps nothing the user may read, or keepalived runs
    and its journal since boot holds no line."""
    if rc == ABSENT:
        return None
    active, log = _unit_head(output)
    if "No journal files were found" in log:
        return Unreadable("journalctl found no journal it may read", not_verifiable=True)
    lines = keepalived_history.timed_lines(log)
    if not lines and active in RUNNING_STATES:
        return Unreadable(f"keepalived is {active} but its journal since boot holds no line", not_verifiable=True)
    return lines
