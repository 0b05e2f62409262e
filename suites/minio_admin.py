"""MinIO's own view of its drives, from its admin API's server information (issue 25).

``GET /minio/admin/v3/info`` (what ``mc admin info --json`` prints; minio-py's
``MinioAdmin.info()``), signed like any S3 request with the deployment's root keys (on a
Cloudpods site the Secret ``onecloud-minio/minio`` that ``--discover`` reads). Its shape is
madmin-go's ``InfoMessage`` (info-commands.go): ``servers[]`` with ``state`` ("online",
"offline", "initializing") and ``drives[]``, each with ``endpoint``, ``state`` ("ok", "offline",
"faulty", "unformatted", "corrupt", ...), ``healing``, ``pool_index`` and ``set_index``; and
``backend`` with ``standardSCParity`` and, per pool, ``totalDrivesPerSet``.

A pod Running and Ready (HA-K8S-003) says nothing of its drive: a drive MinIO took offline
(I/O errors, a volume remounted read-only, a replaced PVC not yet formatted) leaves the pod
Ready while the erasure set runs with less redundancy, and the next loss takes it below write
quorum. MinIO's quorum for an erasure set of N drives with parity P: data D = N - P drives;
writes need D drives (D + 1 when D == P), reads D (MinIO's erasure-coding document).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

OK, ONLINE = "ok", "online"


@dataclass(frozen=True)
class Drive:
    endpoint: str
    state: str
    healing: bool
    pool: int  # 0-based, as the API numbers them; -1 when the answer leaves it out
    erasure_set: int


@dataclass(frozen=True)
class Server:
    endpoint: str
    state: str
    drives: tuple[Drive, ...]


@dataclass(frozen=True)
class Info:
    servers: tuple[Server, ...]
    parity: int | None  # the standard storage class's parity drives per set; None: not given
    drives_per_set: tuple[int, ...]  # per pool
    backend: str = ""  # "Erasure", "FS", ...; "" when not given

    @property
    def drives(self) -> list[Drive]:
        return [d for s in self.servers for d in s.drives]


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _server(raw: Any) -> Server:
    if not isinstance(raw, dict):
        raise ValueError(f"a server entry is {type(raw).__name__}, not an object")
    drives = []
    for d in raw.get("drives") or []:
        if not isinstance(d, dict):
            raise ValueError(f"a drive entry of {raw.get('endpoint', '?')} is not an object")
        drives.append(
            Drive(
                endpoint=str(d.get("endpoint", "?")),
                state=str(d.get("state") or "unknown"),
                healing=bool(d.get("healing")),
                pool=_int(d.get("pool_index"), -1),
                erasure_set=_int(d.get("set_index"), -1),
            )
        )
    return Server(str(raw.get("endpoint", "?")), str(raw.get("state") or "unknown"), tuple(drives))


def parse_servers(raw: Any) -> tuple[Server, ...]:
    """``servers[]`` of the answer, or one server object (madmin-go's ``ServerProperties``).

    Raises ValueError when it is neither."""
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise ValueError("no servers in the answer")
    return tuple(_server(s) for s in raw)


def parse_info(text: str) -> Info:
    """The admin API's server information. Raises ValueError when it is not its JSON object
    with a ``servers`` list (e.g. an S3 error document from a server that is not MinIO)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at {exc.pos}): {text.strip()[:120]!r}") from None
    if not isinstance(data, dict) or not isinstance(data.get("servers"), list):
        raise ValueError("the answer has no servers list (not MinIO's server information)")
    backend = data.get("backend")
    if not isinstance(backend, dict):
        backend = {}
    parity = backend.get("standardSCParity")
    per_set = backend.get("totalDrivesPerSet") or []
    return Info(
        parse_servers(data["servers"]),
        parity if isinstance(parity, int) and not isinstance(parity, bool) else None,
        tuple(n for n in per_set if isinstance(n, int)),
        str(backend.get("backendType") or ""),
    )


def write_quorum(drives: int, parity: int) -> int:
    """Drives an erasure set of ``drives`` with ``parity`` parity drives needs to accept a write."""
    data = drives - parity
    return data + 1 if data == parity else data


def problems(info: Info) -> list[str]:
    """One line per server not online and per drive not "ok" (empty: every drive online)."""
    found = []
    for s in info.servers:
        if s.state != ONLINE:
            found.append(f"server {s.endpoint} is {s.state}")
        for d in s.drives:
            if d.state != OK:
                found.append(f"drive {d.endpoint} is {d.state}")
    return found


def quorum_lines(info: Info) -> list[str]:
    """Per erasure set with a drive not "ok": how many are online against its write quorum
    (where the answer gives the parity and the set's size)."""
    sets: dict[tuple[int, int], list[Drive]] = defaultdict(list)
    for d in info.drives:
        sets[(d.pool, d.erasure_set)].append(d)
    lines = []
    for (pool, es), drives in sorted(sets.items()):
        online = sum(d.state == OK for d in drives)
        if online == len(drives):
            continue
        size = info.drives_per_set[pool] if 0 <= pool < len(info.drives_per_set) else len(drives)
        where = f"pool {pool + 1} erasure set {es + 1}"
        if info.parity is None:
            lines.append(f"{where}: {online} of {size} drives online (parity not given)")
            continue
        need = write_quorum(size, info.parity)
        verdict = "keeps its write quorum" if online >= need else "is below its write quorum: writes are refused"
        lines.append(f"{where}: {online} of {size} drives online, {need} needed for a write: {verdict}")
    return lines


def evidence(info: Info) -> str:
    """Per server its state and its drives' states, as ``mc admin info`` summarises them."""
    out = []
    for s in info.servers:
        drives = ", ".join(f"{d.endpoint} {d.state}{' (healing)' if d.healing else ''}" for d in s.drives)
        out.append(f"{s.endpoint}: {s.state}; drives: {drives or 'none listed'}")
    return "\n".join(out)
