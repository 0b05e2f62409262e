"""Parsers of the facts about the platform's Kubernetes layer (issue 25): kubectl's tables and
JSON on the First Node, a control node's container runtime images and /etc/hosts. Each takes
(exit status, output); ``ABSENT`` (status 3: no kubectl, no runtime) reads as None."""

from __future__ import annotations

import json

from suites import kube, kube_placement, platform_release
from suites.facts.core import ABSENT


def kube_nodes(rc: int, output: str) -> list[kube.KubeNode] | None:
    """``kubectl get nodes -o wide`` -> KubeNode per node; None where no kubectl (status 3)."""
    return None if rc == ABSENT else kube.nodes(output)


def kube_pods(rc: int, output: str) -> list[kube.Pod] | None:
    """``kubectl get pods -A -o wide`` -> Pod per pod; None where no kubectl (status 3)."""
    return None if rc == ABSENT else kube.pods(output)


def kube_objects(rc: int, output: str) -> kube_placement.Cluster | None:
    """``kubectl get nodes,pods,pv -A -o json`` -> Cluster; None where no kubectl (status 3)."""
    if rc == ABSENT:
        return None
    try:
        listing = json.loads(output)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    return kube_placement.cluster(listing)


def kube_release(rc: int, output: str) -> list[platform_release.Release] | None:
    """``kubectl get onecloudclusters -A -o json`` -> Release per OnecloudCluster; None where no
    kubectl (status 3)."""
    return None if rc == ABSENT else platform_release.releases(output)


def runtime_images(rc: int, output: str) -> tuple[str, frozenset[str]] | None:
    """The container runtime's images -> (runtime, canonical references); None where the node
    has no runtime the suite knows (status 3)."""
    if rc == ABSENT:
        return None
    try:
        return kube_placement.runtime_images(output)
    except json.JSONDecodeError as exc:
        raise ValueError(f"crictl printed no JSON: {exc}") from None


def etc_hosts(rc: int, output: str) -> dict[str, str]:
    """/etc/hosts -> {name (lower case): address}."""
    return kube_placement.hosts_file(output)
