"""Where the platform's pods may run, from ``kubectl get nodes,pods,pv -A -o json`` (issue 25):
which workloads one node's loss strands, and which images each pod needs.

A pod may run on the nodes that match its nodeSelector, its required node affinity, and the node
affinity of every PersistentVolume its claims are bound to (a local-path or local volume names
the one node holding its data: rancher/local-path-provisioner writes ``kubernetes.io/hostname In
[node]``). A Deployment or StatefulSet whose every pod may run on one node only is stranded when
that node is lost: its pods stay Pending until the node returns, or until someone deletes the
claims and pods and with them the data (the vendor's control-node replacement document,
cloudpods.org operations/ha/replace/k3s, does exactly that for minio, victoria-metrics and
default-etcd). cloudpods-operator gives victoria-metrics, influxdb and glance (unless switched to
S3) a ``local-path`` claim by default (pkg/apis/onecloud/v1alpha1/defaults.go).

Not modelled: taints and tolerations, preferred affinity, pod anti-affinity (they narrow where a
pod may go; leaving them out can only find fewer stranded workloads, never invent one).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from suites import kube

HOSTNAME_LABEL = "kubernetes.io/hostname"
# Owners whose pods belong to one node by design, or ended: never "stranded".
_PER_NODE_OWNERS = ("DaemonSet", "Node", "Job", "CronJob")


@dataclass(frozen=True)
class PlacedPod:
    """One pod of the cluster: ``workload`` "Deployment onecloud/glance" (None for a DaemonSet's,
    a static pod, a Job's, a bare pod), ``eligible`` the nodes it may run on (None: any node),
    ``pinned_by`` what narrowed them, ``images`` its containers' and init containers' images."""

    namespace: str
    name: str
    node: str
    phase: str
    workload: str | None
    eligible: frozenset[str] | None
    pinned_by: tuple[str, ...]
    images: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Cluster:
    """``nodes``: node name -> its labels; ``addresses``: node name -> the addresses its status
    lists (InternalIP, Hostname...); ``pods`` every pod listed."""

    nodes: Mapping[str, Mapping[str, str]]
    pods: tuple[PlacedPod, ...]
    addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def node_named(self, name: str, address: str) -> str | None:
        """The Kubernetes node of an inventory node: by address, else by name or hostname label."""
        for k, have in self.addresses.items():
            if address in have:
                return k
        return next((k for k, labels in self.nodes.items() if name in (k, labels.get(HOSTNAME_LABEL))), None)


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """One matchExpressions entry (In, NotIn, Exists, DoesNotExist, Gt, Lt) against labels."""
    key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
    has = key in labels
    simple = {
        "In": has and labels.get(key) in values,
        "NotIn": not has or labels.get(key) not in values,
        "Exists": has,
        "DoesNotExist": not has,
    }
    if op in simple:
        return simple[op]
    if op in ("Gt", "Lt") and has and values:
        try:
            have, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def _term_matches(term: Mapping[str, Any], name: str, labels: Mapping[str, str]) -> bool:
    """A nodeSelectorTerm: every matchExpressions entry on the labels, every matchFields entry
    on ``metadata.name`` (the only field Kubernetes allows there)."""
    fields = {"metadata.name": name}
    return all(_expression_matches(e, labels) for e in term.get("matchExpressions") or []) and all(
        _expression_matches(e, fields) for e in term.get("matchFields") or []
    )


def selector_nodes(selector: Mapping[str, Any] | None, nodes: Mapping[str, Mapping[str, str]]) -> frozenset[str] | None:
    """The nodes a NodeSelector (``{"nodeSelectorTerms": [...]}``, terms ORed) admits; None
    when there is no selector or no term (no constraint)."""
    terms = (selector or {}).get("nodeSelectorTerms") or []
    if not terms:
        return None
    return frozenset(n for n, labels in nodes.items() if any(_term_matches(t, n, labels) for t in terms))


def _narrow(current: frozenset[str] | None, by: frozenset[str] | None) -> frozenset[str] | None:
    if by is None:
        return current
    return by if current is None else current & by


def _workload(meta: Mapping[str, Any]) -> str | None:
    """The controller a pod belongs to, as "Kind namespace/name"; None for a DaemonSet's pod, a
    static (mirror) pod, a Job's pod or a bare pod. A ReplicaSet's pod names its Deployment (the
    ReplicaSet's name less the pod-template-hash label's suffix)."""
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("controller", True)]
    if not owners:
        return None
    kind, name = owners[0].get("kind", ""), owners[0].get("name", "")
    if kind in _PER_NODE_OWNERS:
        return None
    suffix = "-" + (meta.get("labels") or {}).get("pod-template-hash", "\0")
    if kind == "ReplicaSet" and name.endswith(suffix):
        kind, name = "Deployment", name[: -len(suffix)]
    return f"{kind} {meta.get('namespace', '')}/{name}"


def _volumes_by_claim(items: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    bound = {}
    for pv in items:
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if ref.get("name"):
            bound[(ref.get("namespace", ""), ref["name"])] = pv
    return bound


def _pod(item: Mapping[str, Any], nodes: Mapping[str, Mapping[str, str]], pvs: Mapping[Any, Any]) -> PlacedPod:
    meta, spec = item.get("metadata") or {}, item.get("spec") or {}
    ns = meta.get("namespace", "")
    eligible: frozenset[str] | None = None
    why: list[str] = []
    if spec.get("nodeSelector"):
        want = spec["nodeSelector"]
        eligible = frozenset(n for n, labels in nodes.items() if all(labels.get(k) == v for k, v in want.items()))
        why.append("nodeSelector " + ",".join(f"{k}={v}" for k, v in sorted(want.items())))
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))  # fmt: skip
    by_affinity = selector_nodes(required, nodes)
    if by_affinity is not None:
        eligible = _narrow(eligible, by_affinity)
        why.append("required node affinity")
    for vol in spec.get("volumes") or []:
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        pv = pvs.get((ns, claim)) if claim else None
        by_volume = selector_nodes((((pv or {}).get("spec") or {}).get("nodeAffinity") or {}).get("required"), nodes)
        if pv is not None and by_volume is not None:
            eligible = _narrow(eligible, by_volume)
            pv_class = (pv.get("spec") or {}).get("storageClassName") or "no storage class"
            why.append(f"volume {pv['metadata']['name']} ({pv_class}) of claim {claim}")
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    return PlacedPod(
        ns,
        meta.get("name", ""),
        spec.get("nodeName", ""),
        (item.get("status") or {}).get("phase", ""),
        _workload(meta),
        eligible,
        tuple(why),
        tuple(c["image"] for c in containers if c.get("image")),
    )


def cluster(listing: Mapping[str, Any]) -> Cluster:
    """``kubectl get nodes,pods,pv -A -o json`` (a List; also any mapping with ``items``) ->
    Cluster. Raises ValueError when it is not such a listing."""
    if not isinstance(listing, Mapping) or not isinstance(listing.get("items"), list):
        raise ValueError("not a kubectl listing (a JSON object with items)")
    by_kind: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for item in listing["items"]:
        if isinstance(item, Mapping):
            by_kind[item.get("kind", "")].append(item)
    nodes = {n["metadata"]["name"]: dict(n["metadata"].get("labels") or {}) for n in by_kind["Node"]}
    pvs = _volumes_by_claim(by_kind["PersistentVolume"])
    addresses = {
        n["metadata"]["name"]: tuple(a.get("address", "") for a in (n.get("status") or {}).get("addresses") or [])
        for n in by_kind["Node"]
    }
    return Cluster(nodes, tuple(_pod(p, nodes, pvs) for p in by_kind["Pod"]), addresses)


def stranded(found: Cluster, namespaces: Iterable[str] = kube.PLATFORM_NAMESPACES) -> dict[str, list[PlacedPod]]:
    """Per node: the pods of the workloads (in ``namespaces``) that may run only on that node,
    every pod of them (so the node's loss leaves the workload with no pod able to run).
    Ended pods (Succeeded, Failed) are left out; a workload whose pods may run nowhere is left
    to HA-K8S-002 (they are Pending already)."""
    wanted = set(namespaces)
    by_workload: dict[str, list[PlacedPod]] = defaultdict(list)
    for p in found.pods:
        if p.workload and p.namespace in wanted and p.phase not in ("Succeeded", "Failed"):
            by_workload[p.workload].append(p)
    per_node: dict[str, list[PlacedPod]] = defaultdict(list)
    for pods in by_workload.values():
        homes = {p.eligible for p in pods}
        if len(homes) == 1:
            home = next(iter(homes))
            if home is not None and len(home) == 1:
                per_node[next(iter(home))].extend(pods)
    return dict(per_node)


def canonical(ref: str) -> str:
    """An image reference as a container runtime stores it: the registry named (docker.io
    where none is), ``library/`` for Docker Hub's official images, ``:latest`` where no tag and no
    digest is given: "nginx" -> "docker.io/library/nginx:latest"; a digest reference keeps its
    digest ("repo@sha256:...")."""
    name, _, digest = ref.strip().partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    repo, tag = (name[:colon], name[colon + 1 :]) if colon > slash else (name, "")
    first = repo.split("/")[0]
    if "/" not in repo or not ("." in first or ":" in first or first == "localhost"):
        repo = "docker.io/" + repo
    if repo.startswith("index.docker.io/"):
        repo = "docker.io/" + repo.removeprefix("index.docker.io/")
    if repo.startswith("docker.io/") and repo.count("/") == 1:
        repo = "docker.io/library/" + repo.removeprefix("docker.io/")
    return f"{repo}@{digest}" if digest else f"{repo}:{tag or 'latest'}"


def registry_host(ref: str) -> str:
    """The host an image is pulled from (its registry, without a port): "docker.io" for Docker
    Hub, "private-registry.onecloud" for "private-registry.onecloud:5000/yunion/region:v3"."""
    return canonical(ref).split("/")[0].rsplit(":", 1)[0]


def runtime_images(output: str) -> tuple[str, frozenset[str]]:
    """The images fact ("runtime <cmd>" then crictl's ``images -o json`` or docker's ``images
    --format '{{.Repository}}:{{.Tag}} {{.Repository}}@{{.Digest}}'`` lines) -> (the runtime,
    every tag and digest it holds, canonical). Docker's "<none>" parts are left out.
    Raises ValueError when the answer is neither."""
    head, _, body = output.partition("\n")
    if not head.startswith("runtime "):
        raise ValueError("no 'runtime' line")
    runtime = head.removeprefix("runtime ").strip()
    refs: set[str] = set()
    if runtime == "docker":
        for word in body.split():
            if "<none>" not in word:
                refs.add(canonical(word))
    else:
        listing = json.loads(body)
        for image in listing.get("images") or []:
            refs.update(canonical(r) for r in (image.get("repoTags") or []) + (image.get("repoDigests") or []))
    return runtime, frozenset(refs)


def hosts_file(text: str) -> dict[str, str]:
    """/etc/hosts -> {name: address} (the first line naming it wins, as the resolver reads it)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        for name in words[1:]:
            found.setdefault(name.lower(), words[0])
    return found


def images_for(found: Cluster, node: str, namespaces: Iterable[str] = kube.PLATFORM_NAMESPACES) -> dict[str, list[str]]:
    """The images ``node`` needs to start the platform's workloads' pods that may move onto it
    (a Deployment's or StatefulSet's pod in ``namespaces`` whose constraints admit ``node``):
    {canonical image: the pods using it}. DaemonSets' and static pods are left out: each node
    runs its own already."""
    wanted = set(namespaces)
    need: dict[str, list[str]] = defaultdict(list)
    for p in found.pods:
        if p.workload and p.namespace in wanted and (p.eligible is None or node in p.eligible):
            for image in p.images:
                need[canonical(image)].append(p.key)
    return dict(need)
