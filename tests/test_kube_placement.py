"""Where the platform's pods may run (suites/kube_placement.py) and the two checks built on it:
HA-K8S-005 (no workload stranded by one node's loss) and HA-K8S-006 (the other control nodes
start the platform's pods without the First Node). The cluster objects come from the lab's
kubectl stand-in (so its JSON is held against the parser) or are written in the API's shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bootstrap.lab.standin import kubectl as standin
from suites import kube_placement as kp
from suites.checks.kubernetes import images_without_first_node, stranded_problems

NODES = [
    {"name": n, "address": f"10.213.47.{i + 11}", "version": "v1.28.10+k3s1", "roles": "control-plane,etcd,master",
     "labels": {"onecloud.yunion.io/controller": "enable"}}
    for i, n in enumerate(("node1", "node2", "node3"))
]  # fmt: skip
REG = "private-registry.onecloud:5000/yunion"


def lab_state(**extra: Any) -> dict[str, Any]:
    pods = [
        {"namespace": "onecloud-minio", "name": f"minio-{i}", "node": f"node{i + 1}", "owner": ["StatefulSet", "minio"],
         "claims": [f"export-minio-{i}"], "images": [f"{REG}/minio:RELEASE.2023-03-24T21-41-23Z"]}
        for i in range(3)
    ]  # fmt: skip
    pods.append({"namespace": "onecloud", "name": "default-region-6c8d7b9f5-m7p2r", "node": "node1",
                 "owner": ["ReplicaSet", "default-region-6c8d7b9f5"], "hash": "6c8d7b9f5",
                 "selector": {"onecloud.yunion.io/controller": "enable"},
                 "images": [f"{REG}/region:v3.11.12"]})  # fmt: skip
    volumes = [{"name": f"pvc-{i}", "namespace": "onecloud-minio", "claim": f"export-minio-{i}", "node": f"node{i + 1}"}
               for i in range(3)]  # fmt: skip
    state = {"nodes": NODES, "pods": pods, "volumes": volumes, "created": 0.0}
    for key, more in extra.items():
        state[key] = state[key] + more
    return state


def cluster_of(state: dict[str, Any]) -> kp.Cluster:
    """The stand-in's answer to ``get nodes,pods,pv -A -o json``, read as the fact reads it."""
    ready = {n["name"]: True for n in state["nodes"]}
    return kp.cluster(json.loads(standin.listing(state, ready, ["nodes", "pods", "pv"])))


def test_the_lab_cluster_strands_nothing_and_minio_pods_are_each_bound_to_their_node() -> None:
    found = cluster_of(lab_state())
    minio = {p.name: p for p in found.pods if p.name.startswith("minio-")}
    assert minio["minio-1"].eligible == {"node2"}
    assert minio["minio-1"].pinned_by == ("volume pvc-1 (local-path) of claim export-minio-1",)
    assert minio["minio-1"].workload == "StatefulSet onecloud-minio/minio"
    region = next(p for p in found.pods if p.name.startswith("default-region"))
    assert region.workload == "Deployment onecloud/default-region"
    assert region.eligible == {"node1", "node2", "node3"}
    assert kp.stranded(found) == {}
    assert stranded_problems(found) == []


def test_a_single_replica_on_a_local_path_volume_is_stranded_by_its_node() -> None:
    """The vendor's k3s replacement document: victoria-metrics on a local-path claim stays
    Pending after its node's loss."""
    vm = {"namespace": "onecloud-monitoring", "name": "victoria-metrics-7f8d9c-abcde", "node": "node2",
          "owner": ["ReplicaSet", "victoria-metrics-7f8d9c"], "hash": "7f8d9c", "claims": ["vm-data"]}  # fmt: skip
    pv = {"name": "pvc-vm", "namespace": "onecloud-monitoring", "claim": "vm-data", "node": "node2"}
    found = cluster_of(lab_state(pods=[vm], volumes=[pv]))
    assert set(kp.stranded(found)) == {"node2"}
    (problem,) = stranded_problems(found)
    assert problem.startswith(
        "losing node2 strands Deployment onecloud-monitoring/victoria-metrics (victoria-metrics-7f8d9c-abcde: "
        "volume pvc-vm (local-path) of claim vm-data): no other node may run them"
    )


def _pod(name: str, spec: dict[str, Any], owner: str = "StatefulSet", phase: str = "Running") -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "onecloud",
            "ownerReferences": [{"kind": owner, "name": name.rsplit("-", 1)[0], "controller": True}]},
            "spec": spec, "status": {"phase": phase}}  # fmt: skip


def _nodes(*labelled: dict[str, str]) -> list[dict[str, Any]]:
    return [{"kind": "Node", "metadata": {"name": f"n{i}", "labels": labels}} for i, labels in enumerate(labelled)]


def test_a_node_selector_only_one_node_matches_strands_the_workload() -> None:
    """cloudpods-operator selects its controllers by a label: one labelled node is a SPOF."""
    items = _nodes({"onecloud.yunion.io/controller": "enable"}, {}, {})
    items.append(_pod("glance-0", {"nodeSelector": {"onecloud.yunion.io/controller": "enable"}}))
    found = kp.cluster({"items": items})
    assert set(kp.stranded(found)) == {"n0"}
    assert found.pods[0].pinned_by == ("nodeSelector onecloud.yunion.io/controller=enable",)


def test_required_affinity_terms_are_ored_and_expressions_anded() -> None:
    nodes = {"a": {"zone": "1", "disk": "ssd"}, "b": {"zone": "1"}, "c": {"zone": "2", "cpu": "8"}}
    sel = {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["1"]},
                              {"key": "disk", "operator": "Exists"}]},
        {"matchExpressions": [{"key": "cpu", "operator": "Gt", "values": ["4"]}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]},
    ]}  # fmt: skip
    assert kp.selector_nodes(sel, nodes) == {"a", "b", "c"}
    sel["nodeSelectorTerms"] = sel["nodeSelectorTerms"][:1]
    assert kp.selector_nodes(sel, nodes) == {"a"}
    not_in = {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["1"]},
                                                          {"key": "gpu", "operator": "DoesNotExist"}]}]}  # fmt: skip
    assert kp.selector_nodes(not_in, nodes) == {"c"}
    assert kp.selector_nodes(None, nodes) is None
    assert kp.selector_nodes({"nodeSelectorTerms": []}, nodes) is None


def test_daemonsets_static_pods_jobs_and_ended_pods_are_never_stranded() -> None:
    pin = {"nodeSelector": {"kubernetes.io/hostname": "n0"}}
    items = _nodes({"kubernetes.io/hostname": "n0"}, {"kubernetes.io/hostname": "n1"})
    items += [
        _pod("host-agent-x", pin, owner="DaemonSet"),
        _pod("kube-apiserver-n0", pin, owner="Node"),
        _pod("migrate-x", pin, owner="Job"),
        _pod("done-0", pin, phase="Succeeded"),
    ]
    assert kp.stranded(kp.cluster({"items": items})) == {}


def test_a_statefulset_whose_pods_sit_on_different_nodes_is_not_stranded_but_on_one_node_is() -> None:
    items = _nodes({"kubernetes.io/hostname": "n0"}, {"kubernetes.io/hostname": "n1"})
    items += [_pod("etcd-0", {"nodeSelector": {"kubernetes.io/hostname": "n0"}}),
              _pod("etcd-1", {"nodeSelector": {"kubernetes.io/hostname": "n1"}})]  # fmt: skip
    assert kp.stranded(kp.cluster({"items": items})) == {}
    items[-1]["spec"] = {"nodeSelector": {"kubernetes.io/hostname": "n0"}}
    assert [p.name for p in kp.stranded(kp.cluster({"items": items}))["n0"]] == ["etcd-0", "etcd-1"]


def test_a_volume_whose_affinity_matches_no_node_label_pins_to_no_node() -> None:
    """The hostname label is what a volume's affinity names, not the node's name: a cluster whose
    labels differ from the names (openebs/openebs#2695: names vm-..., hostname labels the node's
    address) leaves the pod schedulable nowhere, which HA-K8S-002 reports as Pending."""
    items = _nodes({"kubernetes.io/hostname": "192.168.243.210"})
    items.append({"kind": "PersistentVolume", "metadata": {"name": "pvc-509d"}, "spec": {
        "claimRef": {"namespace": "onecloud", "name": "data"}, "storageClassName": "openebs-hostpath",
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n0"]}]}]}}}})  # fmt: skip
    items.append(_pod("db-0", {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}))
    found = kp.cluster({"items": items})
    assert found.pods[0].eligible == frozenset()
    assert kp.stranded(found) == {}


def test_not_a_listing_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a kubectl listing"):
        kp.cluster({"kind": "Pod"})


@pytest.mark.parametrize(
    ("ref", "canonical"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("docker.io/nginx:1.25", "docker.io/library/nginx:1.25"),
        ("rancher/mirrored-pause:3.6", "docker.io/rancher/mirrored-pause:3.6"),
        (
            "private-registry.onecloud:5000/yunion/region:v3.11.12",
            "private-registry.onecloud:5000/yunion/region:v3.11.12",
        ),
        ("localhost/x", "localhost/x:latest"),
        ("quay.io/a/b@sha256:" + "0" * 64, "quay.io/a/b@sha256:" + "0" * 64),
    ],
)
def test_image_references_are_read_as_runtimes_store_them(ref: str, canonical: str) -> None:
    assert kp.canonical(ref) == canonical


def test_registry_host_drops_the_port() -> None:
    assert kp.registry_host(f"{REG}/region:v3") == "private-registry.onecloud"
    assert kp.registry_host("nginx") == "docker.io"


def test_runtime_images_from_crictl_json_and_docker_lines() -> None:
    digest = "docker.io/rancher/mirrored-pause@sha256:" + "a" * 64
    crictl = {"images": [{"id": "sha256:1", "repoTags": ["docker.io/rancher/mirrored-pause:3.6"],
                          "repoDigests": [digest], "size": "301463"}]}  # fmt: skip
    runtime, refs = kp.runtime_images("runtime k3s crictl\n" + json.dumps(crictl))
    assert runtime == "k3s crictl"
    assert refs == {"docker.io/rancher/mirrored-pause:3.6", digest}
    docker = "runtime docker\nnginx:1.25 nginx@<none>\n<none>:<none> <none>@<none>\n"
    assert kp.runtime_images(docker) == ("docker", frozenset({"docker.io/library/nginx:1.25"}))
    with pytest.raises(ValueError):
        kp.runtime_images("no runtime line")


def test_hosts_file_first_name_wins_and_comments_are_skipped() -> None:
    hosts = "127.0.0.1 localhost\n# 10.0.0.9 private-registry.onecloud\n10.0.0.1 private-registry.onecloud\n" \
            "10.0.0.2 private-registry.onecloud\n"  # fmt: skip
    assert kp.hosts_file(hosts)["private-registry.onecloud"] == "10.0.0.1"


def test_images_missing_on_a_node_fail_only_when_their_registry_is_the_first_node() -> None:
    found = cluster_of(lab_state())
    need = kp.images_for(found, "node2")
    assert set(need) == {f"{REG}/minio:RELEASE.2023-03-24T21-41-23Z", f"{REG}/region:v3.11.12"}
    present = frozenset({f"{REG}/minio:RELEASE.2023-03-24T21-41-23Z"})
    to_first = {"private-registry.onecloud": "10.213.47.11"}
    missing = images_without_first_node(need, present, to_first, {"10.213.47.11"})
    assert missing == [f"{REG}/region:v3.11.12 (for onecloud/default-region-6c8d7b9f5-m7p2r)"]
    # The registry elsewhere (another address, or not pinned in /etc/hosts): nothing to say.
    assert images_without_first_node(need, present, {"private-registry.onecloud": "10.0.0.99"}, {"10.213.47.11"}) == []
    assert images_without_first_node(need, present, {}, {"10.213.47.11"}) == []
    # minio-0 is bound to node1 by its volume: node2 never needs its image for that pod.
    assert "onecloud-minio/minio-0" not in need[f"{REG}/minio:RELEASE.2023-03-24T21-41-23Z"]


def test_nulls_where_the_api_leaves_a_field_out_are_no_constraint() -> None:
    """JSON null for a volume's nodeAffinity or a pod's affinity (as some clients write them)."""
    items = _nodes({"kubernetes.io/hostname": "n0"}, {"kubernetes.io/hostname": "n1"})
    items.append({"kind": "PersistentVolume", "metadata": {"name": "pv"},
                  "spec": {"claimRef": {"namespace": "onecloud", "name": "d"}, "nodeAffinity": None}})  # fmt: skip
    items.append(
        _pod("x-0", {"affinity": None, "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "d"}}]})
    )
    found = kp.cluster({"items": items})
    assert found.pods[0].eligible is None and kp.stranded(found) == {}
