"""The platform's Kubernetes layer as ``kubectl get ... -o wide`` prints it (issue 25): its tables
read by their header, the nodes and pods in them, and MinIO's write quorum after a node's loss.

The suite reads kubectl's human table, not JSON: it is what the vendor's documents and the
field's issue reports show (tests/data/real/ replays them through these parsers), and it is small
on a site with hundreds of pods. kubectl aligns every column at its header's offset (Go's
tabwriter), so a cell is cut at the header's columns, which keeps cells with blanks whole
(RESTARTS "3 (2m ago)", OS-IMAGE "CentOS Linux 7 (Core)").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The platform's namespaces (cloudpods-operator's onecloud, its MinIO and monitoring; the
# cluster's own kube-system), whose pods the platform needs.
PLATFORM_NAMESPACES = ("onecloud", "onecloud-minio", "onecloud-monitoring", "kube-system")
MINIO_NAMESPACE = "onecloud-minio"
MINIO_POD = re.compile(r"^minio-\d+$")
# A pod STATUS that is a failure whatever its age (kubectl's printed reasons).
BAD_STATUS = (
    "CrashLoopBackOff",
    "Error",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
    "OOMKilled",
    "Unknown",
    "NodeLost",
)
# Pods that ended and stay listed: a Job's completed pod, and an evicted one (its controller has
# started another; kubectl keeps the old one until someone deletes it): history, not health.
ENDED = ("Completed", "Succeeded", "Evicted")
_AGE = re.compile(r"(\d+)([smhdy])")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}


def age_seconds(age: str) -> int:
    """kubectl's human age ("59m", "5h22m", "3d4h", "2y81d", "45s") in seconds.

    Raises ValueError for anything else ("<unknown>", "")."""
    parts = _AGE.findall(age)
    if not parts or "".join(n + u for n, u in parts) != age:
        raise ValueError(f"not a kubectl age: {age!r}")
    return sum(int(n) * _AGE_UNITS[u] for n, u in parts)


def table(text: str) -> list[dict[str, str]]:
    """kubectl's table (the header line first) -> one {column: cell} per row, cut at the
    header's column offsets; ``<none>`` stays as printed. Lines before the header (a warning)
    are skipped; "No resources found" gives no rows.

    Raises ValueError when no header line (starting with NAME or NAMESPACE) is found."""
    lines = [line.rstrip() for line in text.splitlines()]
    at = next((i for i, line in enumerate(lines) if re.match(r"^(NAMESPACE|NAME)\s", line)), None)
    if at is None:
        if any(line.startswith("No resources found") for line in lines):
            return []
        raise ValueError("no kubectl table header (NAME ...) in the output")
    header = lines[at]
    # Headers with a blank inside ("NOMINATED NODE", "READINESS GATES") are one column.
    names, cols = [], []
    for m in re.finditer(r"\S+(?: \S+)*", header):
        names.append(m.group())
        cols.append(m.start())
    rows = []
    for line in lines[at + 1 :]:
        if not line.strip():
            continue
        cells = {}
        for i, name in enumerate(names):
            end = cols[i + 1] if i + 1 < len(cols) else None
            cells[name] = line[cols[i] : end].strip()
        rows.append(cells)
    return rows


@dataclass(frozen=True)
class KubeNode:
    name: str
    status: str  # e.g. "Ready", "NotReady", "Ready,SchedulingDisabled"
    roles: str
    version: str
    internal_ip: str

    @property
    def ready(self) -> bool:
        return "Ready" in self.status.split(",")


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    ready: str  # "1/1"
    status: str  # kubectl's STATUS column: Running, Pending, CrashLoopBackOff, Terminating...
    restarts: str
    age_s: int | None  # None where kubectl printed no age it could tell
    node: str  # "" when not scheduled (<none>)

    @property
    def all_ready(self) -> bool:
        have, _, want = self.ready.partition("/")
        return bool(want) and have == want and want != "0"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def nodes(text: str) -> list[KubeNode]:
    """``kubectl get nodes [-o wide]`` -> KubeNode per row (internal_ip "" without -o wide).
    ValueError: not that table."""
    rows = table(text)
    if rows and not {"NAME", "STATUS", "ROLES"} <= rows[0].keys():
        raise ValueError(f"not kubectl's node table (columns {', '.join(rows[0])})")
    return [KubeNode(r["NAME"], r["STATUS"], r["ROLES"], r.get("VERSION", ""), r.get("INTERNAL-IP", "")) for r in rows]


def pods(text: str, namespace: str = "") -> list[Pod]:
    """``kubectl get pods [-A] -o wide`` -> Pod per row; ``namespace`` for a table without
    its NAMESPACE column (``-n NS``). ValueError: not that table."""
    rows = table(text)
    if rows and not {"NAME", "READY", "STATUS"} <= rows[0].keys():
        raise ValueError(f"not kubectl's pod table (columns {', '.join(rows[0])})")
    found = []
    for r in rows:
        try:
            age: int | None = age_seconds(r.get("AGE", ""))
        except ValueError:
            age = None
        node = r.get("NODE", "")
        found.append(
            Pod(
                r.get("NAMESPACE", namespace),
                r["NAME"],
                r["READY"],
                r["STATUS"],
                r.get("RESTARTS", ""),
                age,
                "" if node in ("<none>", "") else node,
            )
        )
    return found


def unhealthy(pod: Pod, settle_s: int) -> str | None:
    """Why ``pod`` is not healthy, or None: a failure status at any age; Pending, Terminating,
    or Running but not Ready once older than ``settle_s`` seconds (younger: still starting or
    being replaced). Ended pods (ENDED: a Job's, an evicted one) are not judged."""
    if pod.status in ENDED:
        return None
    if pod.status in BAD_STATUS or pod.status.startswith(("Init:Error", "Init:CrashLoopBackOff")):
        return f"{pod.status} (restarts {pod.restarts or '?'})"
    old = pod.age_s is None or pod.age_s > settle_s
    if pod.status != "Running":
        return f"{pod.status} for {pod.age_s if pod.age_s is not None else '?'} s" if old else None
    if not pod.all_ready:
        return f"Running but not Ready ({pod.ready})" if old else None
    return None


def minio_parity(drives: int) -> int:
    """MinIO's default STANDARD parity for an erasure set of ``drives`` drives (MinIO's
    erasure-coding documentation: 1 -> EC:0, 2-3 -> EC:1, 4-5 -> EC:2, 6-7 -> EC:3, 8-16 -> EC:4)."""
    if drives <= 1:
        return 0
    if drives <= 3:
        return 1
    if drives <= 5:
        return 2
    if drives <= 7:
        return 3
    return 4


def minio_write_quorum(drives: int) -> int:
    """Drives that must answer for a write: data shards, one more when parity is half the set."""
    parity = minio_parity(drives)
    return drives - parity + (1 if 2 * parity == drives else 0)


def minio_tolerates(pods_total: int, pods_lost: int) -> bool:
    """Whether MinIO still takes writes after losing ``pods_lost`` of its ``pods_total`` pods,
    one drive per pod (cloudpods-operator's StatefulSet mounts one volume per pod). Losing half
    its pods or more never keeps the write quorum, whatever the drives per pod."""
    return 2 * pods_lost < pods_total and pods_total - pods_lost >= minio_write_quorum(pods_total)
