"""HA-K8S-001..006: the platform's Kubernetes layer as kubectl on the First Node shows it (issue
25): the cluster's nodes, the platform's pods, MinIO's spread over the nodes. The judgements are
plain functions of kubectl's answer (suites/kube.py), replayed against real outputs from public
reports in tests/test_real_outputs.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from bootstrap.inventory import NodeEntry
from bootstrap.topology import Role
from suites import kube, kube_placement, platform_release
from suites.context import Context, NotVerifiable, Skip
from suites.findings import STRANDED_WORKLOADS
from suites.registry import check


def node_problems(found: Sequence[kube.KubeNode], wanted: dict[str, set[str]]) -> list[str]:
    """What is wrong with the cluster's nodes ``found`` against ``wanted`` ({inventory name:
    the addresses and names it may appear under}): a node missing, not Ready, or one no
    inventory node is."""
    matched: dict[str, kube.KubeNode] = {}
    extra: list[kube.KubeNode] = []
    for k in found:
        owner = next((name for name, keys in wanted.items() if {k.internal_ip, k.name} & keys), None)
        if owner is None or owner in matched:
            extra.append(k)
        else:
            matched[owner] = k
    problems = []
    missing = [n for n in wanted if n not in matched]
    if missing:
        problems.append(f"not in the cluster: {', '.join(missing)} (no Kubernetes node with its address or name)")
    not_ready = [f"{name} ({k.name}: {k.status})" for name, k in matched.items() if not k.ready]
    if not_ready:
        problems.append(f"not Ready: {', '.join(not_ready)}")
    if extra:
        problems.append(
            "Kubernetes nodes that are no control or compute node of the inventory: "
            + ", ".join(f"{k.name} ({k.internal_ip or 'no address shown'}, {k.status})" for k in extra)
            + " (a node replaced but never deleted with kubectl delete node, or one the inventory lacks)"
        )
    return problems


def version_skew(found: Sequence[kube.KubeNode]) -> str | None:
    """Which nodes run another Kubernetes version than the rest (the kubelet's, kubectl's VERSION
    column), or None when they all run one: "v1.28.10+k3s1 on node1, node2; v1.27.4+k3s1 on node3"."""
    by_version: dict[str, list[str]] = defaultdict(list)
    for k in found:
        by_version[k.version or "no version shown"].append(k.name)
    if len(by_version) <= 1:
        return None
    ordered = sorted(by_version.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return "; ".join(f"{version} on {', '.join(names)}" for version, names in ordered)


def pod_problems(pods: Sequence[kube.Pod], settle_s: int) -> list[str]:
    """The platform's pods (kube.PLATFORM_NAMESPACES) that are not healthy (kube.unhealthy)."""
    bad = []
    for p in pods:
        if p.namespace in kube.PLATFORM_NAMESPACES:
            why = kube.unhealthy(p, settle_s)
            if why:
                bad.append(f"{p.key} on {p.node or 'no node'}: {why}")
    return bad


def minio_problems(pods: Sequence[kube.Pod]) -> list[str]:
    """MinIO's pods (onecloud-minio/minio-N in ``pods``) not Running and Ready, and each node
    whose loss would take MinIO below its write quorum (kube.minio_tolerates). [] also when
    there is no MinIO pod: the caller decides what that means."""
    minio = [p for p in pods if p.namespace == kube.MINIO_NAMESPACE and kube.MINIO_POD.match(p.name)]
    problems = []
    down = [f"{p.name} ({p.status} {p.ready} on {p.node or 'no node'})" for p in minio
            if p.status != "Running" or not p.all_ready]  # fmt: skip
    if down:
        problems.append(f"MinIO pods not Running and Ready: {', '.join(down)}")
    by_node: dict[str, list[str]] = defaultdict(list)
    for p in minio:
        if p.node:
            by_node[p.node].append(p.name)
    total = len(minio)
    for node, names in sorted(by_node.items()):
        if not kube.minio_tolerates(total, len(names)):
            problems.append(
                f"losing {node} stops {' and '.join(sorted(names))}: {total - len(names)} of {total} MinIO pods "
                f"remain, below its write quorum of {kube.minio_write_quorum(total)} (one drive per pod, default "
                f"parity EC:{kube.minio_parity(total)}): uploads fail until {node} returns"
            )
    return problems


def _first(ctx: Context, fact: str) -> tuple[NodeEntry, Any]:
    """The First Node and its kubectl's answer for ``fact``; NotVerifiable where it has none."""
    first = ctx.inventory.first_node()
    value = ctx.facts_of(first)[fact]
    if value is None:
        raise NotVerifiable(
            f"the First Node {first.name} has no kubectl with an admin kubeconfig "
            "(/etc/kubernetes/admin.conf or /etc/rancher/k3s/k3s.yaml)"
        )
    return first, value


@check("HA-K8S-001", facts=("kube_nodes",))
def kube_nodes_ready(ctx: Context) -> None:
    """The cluster's nodes are exactly the inventory's control and compute nodes (matched by
    INTERNAL-IP, else by name: k3s and kubeadm name a node by its hostname), each Ready."""
    first, found = _first(ctx, "kube_nodes")
    kube_members = [n for n in ctx.inventory.nodes if n.has(Role.CONTROL) or n.has(Role.COMPUTE)]
    wanted = {n.name: {str(n.address), n.name} for n in kube_members}
    problems = node_problems(found, wanted)
    ctx.require(not problems, "; ".join(problems), ctx.facts_of(first).evidence("kube_nodes"))


@check("HA-K8S-002", facts=("kube_pods",))
def platform_pods_healthy(ctx: Context) -> None:
    """No pod of the platform's namespaces fails (CrashLoopBackOff, ImagePullBackOff, Error...),
    and none older than the profile's pod_settle_s is Pending, Terminating or not Ready."""
    first, found = _first(ctx, "kube_pods")
    settle = int(ctx.expected("settle_s"))
    bad = pod_problems(found, settle)
    more = f"; and {len(bad) - 12} more" if len(bad) > 12 else ""
    message = f"{len(bad)} platform pod(s) not healthy (settle time {settle} s): " + "; ".join(bad[:12]) + more
    ctx.require(not bad, message, ctx.facts_of(first).evidence("kube_pods"))


@check("HA-K8S-003", facts=("kube_pods",))
def minio_spread(ctx: Context) -> None:
    """MinIO's pods all Running and Ready, and no node holding so many that its loss leaves
    MinIO below its write quorum."""
    first, found = _first(ctx, "kube_pods")
    evidence = ctx.facts_of(first).evidence("kube_pods")
    if not any(p.namespace == kube.MINIO_NAMESPACE and kube.MINIO_POD.match(p.name) for p in found):
        if ctx.inventory.storage is None:
            raise Skip("no MinIO pods and no storage in the inventory")
        ctx.fail(f"no MinIO pod (minio-N) in namespace {kube.MINIO_NAMESPACE}", evidence)
    problems = minio_problems(found)
    ctx.require(not problems, "; ".join(problems), evidence)


@check("HA-K8S-004", facts=("kube_nodes",))
def kube_versions_agree(ctx: Context) -> None:
    """Every Kubernetes node runs one version: a node an upgrade left behind (ocboot upgrades all
    nodes from the First Node) shows another kubelet version."""
    first, found = _first(ctx, "kube_nodes")
    skew = version_skew(found)
    ctx.require(skew is None, f"the cluster's nodes run different Kubernetes versions: {skew}",
                ctx.facts_of(first).evidence("kube_nodes"))  # fmt: skip


def stranded_problems(found: kube_placement.Cluster) -> list[str]:
    """Per node, the platform's workloads that node's loss strands (kube_placement.stranded),
    with what pins each pod: "losing node2 strands Deployment onecloud-monitoring/victoria-metrics
    (victoria-metrics-5d8f-x: volume pvc-1 (local-path) of claim vm-data)"."""
    problems = []
    for node, pods in sorted(kube_placement.stranded(found).items()):
        by_workload: dict[str, list[str]] = defaultdict(list)
        for p in pods:
            by_workload[p.workload or p.key].append(f"{p.name}: {'; '.join(p.pinned_by)}")
        named = "; ".join(f"{w} ({', '.join(why)})" for w, why in sorted(by_workload.items()))
        problems.append(
            f"losing {node} strands {named}: no other node may run them, so they stay Pending until {node} "
            "returns or someone deletes their claims and pods, and the data with them"
        )
    return problems


def _placement_evidence(ctx: Context, first: NodeEntry, found: kube_placement.Cluster) -> list[tuple[str, str]]:
    """The JSON listing is large: its gist as evidence (each pinned pod and what pins it)."""
    lines = [f"nodes: {', '.join(sorted(found.nodes))}"]
    for p in found.pods:
        if p.eligible is not None:
            where = ", ".join(sorted(p.eligible)) or "no node"
            lines.append(f"{p.key} ({p.workload or 'no controller'}) may run on {where}: {'; '.join(p.pinned_by)}")
    free = sum(p.eligible is None for p in found.pods)
    lines.append(f"(and {free} pods without a node constraint)")
    return [(ctx.facts_of(first).fact("kube_objects").command, "\n".join(lines))]


@check("HA-K8S-005", facts=("kube_objects",))
def no_stranded_workloads(ctx: Context) -> None:
    """No Deployment or StatefulSet of the platform's namespaces may run on one node only (a
    local volume's node affinity, a nodeSelector or required affinity matching one node): that
    node's loss would leave it with no pod able to start."""
    first, found = _first(ctx, "kube_objects")
    problems = stranded_problems(found)
    ctx.require(
        not problems, "; ".join(problems), _placement_evidence(ctx, first, found), findings=(STRANDED_WORKLOADS,)
    )


def images_without_first_node(
    need: dict[str, list[str]], present: frozenset[str], hosts: dict[str, str], first_addresses: set[str]
) -> list[str]:
    """The images a node needs (kube_placement.images_for) that it lacks and can pull only from
    the First Node: their registry's name is the First Node's address in the node's /etc/hosts
    (ocboot's offline install: private-registry.onecloud), or the registry is that address."""
    missing = []
    for image, users in sorted(need.items()):
        if image in present:
            continue
        host = kube_placement.registry_host(image)
        via = hosts.get(host.lower(), host)
        if via in first_addresses:
            missing.append(f"{image} (for {', '.join(sorted(users)[:3])}{' ...' if len(users) > 3 else ''})")
    return missing


@check("HA-K8S-006", facts=("kube_objects", "runtime_images", "etc_hosts"))
def control_nodes_start_without_first(ctx: Context) -> None:
    """Every control node other than the First Node holds each image of the platform's workloads
    that may move onto it, or can pull it from a registry that is not the First Node: else, with
    the First Node down, a pod moved there cannot start (ImagePullBackOff)."""
    first, found = _first(ctx, "kube_objects")
    first_addresses = {str(first.address)}
    problems, evidence = [], []
    for node in ctx.inventory.nodes_with(Role.CONTROL):
        if node.name == first.name:
            continue
        view = ctx.facts_of(node)
        images, hosts = view["runtime_images"], view["etc_hosts"]
        if images is None:
            raise NotVerifiable(f"{node.name} has no container runtime the suite knows (k3s, docker, crictl)")
        held = f"{images[0]}: " + ", ".join(sorted(images[1]))
        evidence += [*view.evidence("etc_hosts"), (view.fact("runtime_images").command, held)]
        kube_name = found.node_named(node.name, str(node.address))
        if kube_name is None:
            problems.append(f"{node.name} is no node of the cluster (HA-K8S-001 says more)")
            continue
        need = kube_placement.images_for(found, kube_name)
        missing = images_without_first_node(need, images[1], hosts, first_addresses)
        if missing:
            problems.append(
                f"{node.name} lacks {len(missing)} image(s) it can pull only from the First Node "
                f"{first.name} ({first.address}): {'; '.join(missing[:8])}"
            )
    ctx.require(
        not problems,
        "; ".join(problems) + ": with the First Node down, a pod moved there cannot start",
        _placement_evidence(ctx, first, found) + evidence,
    )


def release_problems(releases: list[platform_release.Release], found: kube_placement.Cluster) -> list[str]:
    """Per OnecloudCluster, its components on another tag than its release, grouped by tag."""
    problems = []
    for rel in releases:
        for tag, pods in sorted(platform_release.skew(rel, found.pods).items()):
            shown = ", ".join(pods[:6]) + (f" and {len(pods) - 6} more" if len(pods) > 6 else "")
            problems.append(
                f"{len(pods)} pod(s) of OnecloudCluster {rel.namespace}/{rel.name} run {tag} "
                f"where its release is {rel.version}: {shown}"
            )
    return problems


@check("HA-K8S-007", facts=("kube_release", "kube_objects"))
def platform_release_agrees(ctx: Context) -> None:
    """Every component cloudpods-operator versions with the release runs the release the
    OnecloudCluster names (spec.version), or a tag its spec pins on purpose: an upgrade stopped
    midway, or a node the rollout has not reached, leaves components of two releases talking."""
    first, releases = _first(ctx, "kube_release")
    _, found = _first(ctx, "kube_objects")
    view = ctx.facts_of(first)
    if not releases:
        raise NotVerifiable(f"the cluster has no OnecloudCluster ({view.fact('kube_release').command})")
    named = "; ".join(
        f"{r.namespace}/{r.name}: version {r.version}, repository {r.repository or '(none)'}, "
        f"pinned tags {', '.join(sorted(r.pinned)) or 'none'}"
        for r in releases
    )
    images = sorted(
        {f"{p.key}: {', '.join(p.images)}" for p in found.pods if p.namespace in {r.namespace for r in releases}}
    )
    evidence = [(view.fact("kube_release").command, named), (view.fact("kube_objects").command, "\n".join(images))]
    problems = release_problems(releases, found)
    ctx.require(not problems, "; ".join(problems), evidence)
