#!/usr/bin/python3
"""The lab's stand-in for kubectl (lab only; installed as /usr/local/bin/kubectl on the control
nodes). The lab has no Kubernetes API; this answers the questions the suite asks, from the lab's
own state, in kubectl's own output shapes:

- ``get service minio`` / ``get secret minio`` (what --discover reads): MinIO's address, port and
  keys from /etc/ha-standin/minio.env;
- ``get nodes,pods,pv -A -o json``: one List of the nodes (labels, addresses), the pods (owner,
  node selector, claims, images) and the local-path volumes bound to the claims, in the API's
  shapes (the fields the suite reads);
- ``cordon`` / ``uncordon NODE``: the node's record marked unschedulable (or not) in this
  control node's own file (the lab's stand-ins share no API server: cordon and read back on one
  node), shown as kubectl shows it (STATUS ``Ready,SchedulingDisabled``, ``spec.unschedulable``);
- ``get nodes [-o wide]`` and ``get pods (-A|--all-namespaces) [-o wide]``: the cluster as the
  lab placed it (/etc/ha-standin/k8s.json: the inventory's control and compute nodes, the
  platform's pods and the node each runs on; their age counts from the file's own time unless a
  record carries ``created``). A node is Ready when it answers on its SSH port
  within a second (a killed, stopped or cut-off node is NotReady at once, where a real node
  controller waits 40 s); a pod is Running and Ready when its node is, Running and not Ready
  otherwise. A pod's record may carry its own status, restarts and ready count (what the
  mutations set: a crash-looping or Pending pod).

Tables are printed the way kubectl's printer does: each column as wide as its widest cell plus
three blanks, the last one unpadded, ``<none>`` for an empty cell.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from typing import Any

STATE = "/etc/ha-standin/k8s.json"
MINIO_ENV = "/etc/ha-standin/minio.env"


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def age(seconds: float) -> str:
    """kubectl's human duration, coarsened: "45s", "59m", "5h", "3d" (apimachinery's
    HumanDuration also prints "5h22m" and "3d4h": the suite reads both)."""
    s = int(max(seconds, 0))
    for unit, size, below in (("s", 1, 120), ("m", 60, 180 * 60), ("h", 3600, 48 * 3600)):
        if s < below:
            return f"{s // size}{unit}"
    return f"{s // 86400}d"


def printed(header: list[str], rows: list[list[str]]) -> str:
    cells = [header] + [[c or "<none>" for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("".join(c.ljust(widths[i] + 3) if i < len(r) - 1 else c for i, c in enumerate(r)) for r in cells)


def up(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=1):
            return True
    except OSError:
        return False


def minio(args: str) -> None:
    env = {}
    with open(MINIO_ENV, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            env[key] = value
    if "get service minio" in args:
        print(f"{env['MINIO_ADDRESS']}:{env['MINIO_PORT']}", end="")
    else:
        print(f"{env['MINIO_ACCESSKEY_B64']} {env['MINIO_SECRETKEY_B64']}", end="")


def node_table(state: dict[str, Any], ready: dict[str, bool], wide: bool, now: float) -> str:
    header = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    if wide:
        header += ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    rows = []
    for n in state["nodes"]:
        status = ("Ready" if ready.get(n["name"]) else "NotReady") + (
            ",SchedulingDisabled" if n.get("unschedulable") else ""
        )
        row = [n["name"], status, n["roles"],
               age(now - n.get("created", state["created"])), n["version"]]  # fmt: skip
        if wide:
            row += [n["address"], "", n.get("os", "Debian GNU/Linux 12 (bookworm)"), os.uname().release,
                    n.get("runtime", "containerd://1.7.11-k3s2")]  # fmt: skip
        rows.append(row)
    return printed(header, rows)


def pod_table(state: dict[str, Any], ready: dict[str, bool], wide: bool, now: float, namespace: str | None) -> str:
    """Every pod (``namespace`` None: -A) or one namespace's; "" when there is none."""
    header = (["NAMESPACE"] if namespace is None else []) + ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    if wide:
        header += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    rows = []
    address = {n["name"]: n["address"] for n in state["nodes"]}
    for p in state["pods"]:
        if namespace is not None and p["namespace"] != namespace:
            continue
        node = p.get("node") or ""
        total = int(p.get("containers", 1))
        if "status" in p:
            status, have = p["status"], int(p.get("ready", 0))
        elif not node:
            status, have = "Pending", 0
        else:
            status, have = "Running", total if ready.get(node) else 0
        row = ([p["namespace"]] if namespace is None else []) + [
            p["name"], f"{have}/{total}", status, str(p.get("restarts", 0)),
            age(now - p.get("created", state["created"])),
        ]  # fmt: skip
        if wide:
            row += [address.get(node, "") if node else "", node, "", ""]
        rows.append(row)
    return printed(header, rows) if rows else ""


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def node_object(n: dict[str, Any], ready: bool, born: float) -> dict[str, Any]:
    """A Node as the API returns it (the fields the suite reads, in their places)."""
    labels = {"kubernetes.io/hostname": n["name"], "kubernetes.io/os": "linux", **n.get("labels", {})}
    for role in n["roles"].split(","):
        if role != "<none>":
            labels[f"node-role.kubernetes.io/{role}"] = "true"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": n["name"], "labels": labels, "creationTimestamp": _iso(n.get("created", born))},
        "spec": {"unschedulable": True} if n.get("unschedulable") else {},
        "status": {
            "addresses": [{"address": n["address"], "type": "InternalIP"}, {"address": n["name"], "type": "Hostname"}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}],
            "nodeInfo": {"kubeletVersion": n["version"]},
        },
    }


def pod_object(p: dict[str, Any], node_ready: bool, born: float) -> dict[str, Any]:
    """A Pod as the API returns it: owner, node selector, claims, images, phase."""
    kind, owner = p.get("owner", ["", ""])
    meta: dict[str, Any] = {
        "name": p["name"],
        "namespace": p["namespace"],
        "creationTimestamp": _iso(p.get("created", born)),
    }
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": kind,
                "name": owner,
                "controller": True,
                "blockOwnerDeletion": True,
                "uid": "00000000-0000-4000-8000-000000000000",
            }
        ]
    if p.get("hash"):
        meta["labels"] = {"pod-template-hash": p["hash"]}
    spec: dict[str, Any] = {
        "containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(p.get("images", []))],
        "volumes": [
            {"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(p.get("claims", []))
        ],
    }
    if p.get("node"):
        spec["nodeName"] = p["node"]
    if p.get("selector"):
        spec["nodeSelector"] = p["selector"]
    phase = "Pending" if not p.get("node") or p.get("status") == "Pending" else "Running"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if node_ready else "False"}]},
    }


def volume_object(v: dict[str, Any], born: float) -> dict[str, Any]:
    """A PersistentVolume as rancher/local-path-provisioner creates it: hostPath under k3s's
    storage directory, node affinity on the node's hostname label, bound to its claim."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": v["name"],
            "annotations": {"pv.kubernetes.io/provisioned-by": "rancher.io/local-path"},
            "creationTimestamp": _iso(born),
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "capacity": {"storage": "10Gi"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "name": v["claim"],
                "namespace": v["namespace"],
            },
            "hostPath": {
                "path": f"/var/lib/rancher/k3s/storage/{v['name']}_{v['namespace']}_{v['claim']}",
                "type": "DirectoryOrCreate",
            },
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "kubernetes.io/hostname", "operator": "In", "values": [v["node"]]}
                            ]
                        }
                    ]
                }
            },
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": "local-path",
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Bound"},
    }


def release_object(r: dict[str, Any], born: float) -> dict[str, Any]:
    """cloudpods-operator's OnecloudCluster: the release, the repository, components' own tags
    (``pinned``: {component: tag}, as ``spec.<component>.tag``)."""
    spec: dict[str, Any] = {"version": r["version"], "imageRepository": r["repository"]}
    for component, tag in r.get("pinned", {}).items():
        spec[component] = {"tag": tag, "replicas": 1}
    meta = {"name": r["name"], "namespace": r["namespace"], "creationTimestamp": _iso(born), "generation": 1}
    return {"apiVersion": "onecloud.yunion.io/v1alpha1", "kind": "OnecloudCluster", "metadata": meta, "spec": spec}


def listing(state: dict[str, Any], ready: dict[str, bool], kinds: list[str]) -> str:
    """``get nodes,pods,pv -A -o json``: one List of the kinds asked, in the order asked."""
    items: list[dict[str, Any]] = []
    born = state["created"]
    for kind in kinds:
        if kind in ("nodes", "node", "no"):
            items += [node_object(n, ready.get(n["name"], False), born) for n in state["nodes"]]
        elif kind in ("pods", "pod", "po"):
            items += [pod_object(p, ready.get(p.get("node") or "", False), born) for p in state["pods"]]
        elif kind in ("pv", "persistentvolumes", "persistentvolume"):
            items += [volume_object(v, born) for v in state.get("volumes", [])]
        elif kind in ("onecloudclusters", "onecloudcluster", "oc"):
            items += [release_object(state["release"], born)] if "release" in state else []
        else:
            fail(f"the lab's kubectl stand-in does not know 'get {kind}'")
    return json.dumps(
        {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}, indent=4
    )


def cordon(on: bool, name: str) -> None:
    """``kubectl cordon|uncordon NAME`` as kubectl answers it, the mark kept in STATE."""
    with open(STATE, encoding="utf-8") as f:
        state = json.load(f)
    node = next((n for n in state["nodes"] if n["name"] == name), None)
    if node is None:
        print(f'Error from server (NotFound): nodes "{name}" not found', file=sys.stderr)
        sys.exit(1)
    verb = "cordoned" if on else "uncordoned"
    if bool(node.get("unschedulable")) == on:
        print(f"node/{name} already {verb}")
        return
    node["unschedulable"] = on
    state.setdefault("created", os.stat(STATE).st_mtime)  # the cluster's birth, which the file's time was
    tmp = STATE + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(tmp, STATE)
    print(f"node/{name} {verb}")


def main(argv: list[str]) -> None:
    args = " ".join(argv)
    if "get service minio" in args or "get secret minio" in args:
        return minio(args)
    words = [w for w in argv if not w.startswith(("--kubeconfig", "--request-timeout"))]
    if words[:1] in (["cordon"], ["uncordon"]) and len(words) == 2:
        return cordon(words[0] == "cordon", words[1])
    if words[:1] != ["get"] or len(words) < 2:
        fail("the lab's kubectl stand-in answers only get nodes, get pods and MinIO's service and secret")
    with open(STATE, encoding="utf-8") as f:
        state = json.load(f)
    state.setdefault("created", os.stat(STATE).st_mtime)  # the deploy wrote it: the cluster's birth
    now = time.time()
    ready = {n["name"]: up(n["address"]) for n in state["nodes"]}
    wide = "wide" in words or "-owide" in words
    if "json" in words or "-ojson" in words:
        print(listing(state, ready, words[1].split(",")))
    elif words[1] in ("nodes", "node", "no"):
        print(node_table(state, ready, wide, now))
    elif words[1] in ("pods", "pod", "po"):
        every = "-A" in words or "--all-namespaces" in words
        namespace = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-n", "--namespace")), "default")
        table = pod_table(state, ready, wide, now, None if every else namespace)
        if table:
            print(table)
        else:
            print(f"No resources found in {namespace} namespace.", file=sys.stderr)
    else:
        fail(f"the lab's kubectl stand-in does not know 'get {words[1]}'")
    return None


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (OSError, KeyError, ValueError) as exc:
        fail(f"the lab's kubectl stand-in: {exc}")
