"""The cluster the lab's kubectl stand-in reports (lab only): the nodes and the platform's pods
as the lab places them, the volumes bound to their claims, and the images each control node's
container runtime stand-in holds. Written by the installer stand-in at deploy time; the
harness's mutations change the state file on a node."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bootstrap.topology import Role

if TYPE_CHECKING:
    from bootstrap.deploy.core import Deployment

KUBECTL_STATE = "/etc/ha-standin/k8s.json"
RUNTIME_IMAGES = "/etc/ha-standin/images"

# What each line's cluster reports as its nodes' version and roles (k3s: ocboot's k3s release;
# kubeadm: ocboot's kubeadm line, Kubernetes 1.15).
K8S_VERSION = {"k3s": "v1.28.10+k3s1", "kubeadm": "v1.15.12"}
K8S_CONTROL_ROLES = {"k3s": "control-plane,etcd,master", "kubeadm": "master"}


# The platform's images as ocboot's offline install names them (its private registry on the
# First Node, lib/service.py: private-registry.onecloud:5000/yunion), and their tag.
REGISTRY = "private-registry.onecloud:5000/yunion"
PLATFORM_TAG = "v3.11.12"
CONTROLLER_LABEL = "onecloud.yunion.io/controller"


def _pods(d: Deployment) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The platform's pods and the persistent volumes bound to their claims: MinIO's StatefulSet,
    one pod per control node each with its local-path volume there (spread: one node's loss keeps
    MinIO's write quorum); keystone and region, Deployments on any node labelled as controller
    (as cloudpods-operator selects them), running on the First Node; coredns anywhere."""
    control = d.nodes(Role.CONTROL)
    first = d.inventory.first_node().name
    controller = {CONTROLLER_LABEL: "enable"}
    pods: list[dict[str, object]] = []
    volumes: list[dict[str, object]] = []
    for i, n in enumerate(control):
        claim = f"export-minio-{i}"
        pods.append(
            {
                "namespace": "onecloud-minio",
                "name": f"minio-{i}",
                "node": n.name,
                "owner": ["StatefulSet", "minio"],
                "images": [f"{REGISTRY}/minio:RELEASE.2023-03-24T21-41-23Z"],
                "claims": [claim],
            }
        )
        volumes.append(
            {"name": f"pvc-{(i + 1) * 1111:08x}-minio", "namespace": "onecloud-minio", "claim": claim, "node": n.name}
        )
    for name, rs, pod in (("default-keystone", "7d9f6c5b8", "x2k4q"), ("default-region", "6c8d7b9f5", "m7p2r")):
        pods.append(
            {
                "namespace": "onecloud",
                "name": f"{name}-{rs}-{pod}",
                "node": first,
                "owner": ["ReplicaSet", f"{name}-{rs}"],
                "hash": rs,
                "selector": controller,
                "images": [f"{REGISTRY}/{name.removeprefix('default-')}:{PLATFORM_TAG}"],
            }
        )
    pods.append(
        {
            "namespace": "kube-system",
            "name": "coredns-6799fbcd5-5h2kx",
            "node": control[-1].name,
            "owner": ["ReplicaSet", "coredns-6799fbcd5"],
            "hash": "6799fbcd5",
            "images": [f"{REGISTRY}/coredns:1.10.1"],
        }
    )
    return pods, volumes


def cluster_state(d: Deployment, line: str) -> dict[str, object]:
    """The cluster as the lab places it: the control and compute nodes (named by hostname, as
    k3s and kubeadm name them: the lab's hostnames are the node names; control nodes labelled
    as the platform's controllers), the platform's pods with their owners, claims and images,
    and the volumes bound to the claims (_pods)."""
    nodes = [
        {"name": n.name, "address": str(n.address), "version": K8S_VERSION[line],
         "roles": K8S_CONTROL_ROLES[line] if n.has(Role.CONTROL) else "<none>",
         "labels": {CONTROLLER_LABEL: "enable"} if n.has(Role.CONTROL) else {}}
        for n in d.nodes(Role.CONTROL, Role.COMPUTE)
    ]  # fmt: skip
    pods, volumes = _pods(d)
    # cloudpods-operator's OnecloudCluster (ocboot names it onecloud/default): the release
    # every component follows, the repository its images come from, tags pinned per component.
    release = {
        "namespace": "onecloud",
        "name": "default",
        "version": PLATFORM_TAG,
        "repository": REGISTRY,
        "pinned": {},
    }
    return {"nodes": nodes, "pods": pods, "volumes": volumes, "release": release}


# Images of the offline bundle the lab runs no pod of (ocboot's load-images loads every image its
# versions.json lists, not only those of running pods).
BUNDLED = (f"{REGISTRY}/victoria-metrics:v1.95.1", f"{REGISTRY}/influxdb:1.7.7", f"{REGISTRY}/glance:{PLATFORM_TAG}")


def runtime_images(state: dict[str, object]) -> str:
    """What a control node's runtime holds: every image of the cluster's pods and the rest of
    the bundle (BUNDLED), one per line (ocboot's offline install loads them on each control
    node: utils/load-images)."""
    images = sorted({i for p in state["pods"] for i in p.get("images", [])} | set(BUNDLED))  # type: ignore[attr-defined]
    return "".join(f"{i}\n" for i in images)
