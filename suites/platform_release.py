"""Which release the platform's components run, against the release the cluster names (issue 25).

cloudpods-operator builds every component's image as ``<repository>/<name>:<tag>``, the
repository and the tag from the OnecloudCluster's ``spec.imageRepository`` and
``spec.version`` unless the component's own spec sets ``repository`` or ``tag``
(pkg/apis/onecloud/v1alpha1/defaults.go, ``getImage``). A few components follow a version of
their own instead of the release (``OWN_VERSION``: defaults.go's ``Default*Tag`` and
``Default*Version`` constants). An upgrade (ocboot's ``upgrade``, the operator rolling each
component) that stops midway, or a DaemonSet pod on a node the rollout has not reached, leaves
components of the release's repository on another tag: version skew, which the platform's
services do not promise to tolerate (their APIs change between releases).

Read from ``kubectl get onecloudclusters -A -o json`` and the pods of
``kubectl get nodes,pods,pv -A -o json`` in the OnecloudCluster's namespace.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from suites import kube_placement

# Images whose tag is not the release (cloudpods-operator at f4a2691, 2026-07-20): a version of
# their own in defaults.go (OVN's openvswitch, host-image, host-health, influxdb, victoria-metrics,
# telegraf and its init and RAID plugin, guacd, echarts-ssr) or constants.go (the operator's etcd
# cluster, default-etcd, and its busybox init container); and the operator itself, deployed by
# ocboot's chart with its own tag, not by the OnecloudCluster.
OWN_VERSION = frozenset(
    {
        "etcd",
        "busybox",
        "onecloud-operator",
        "openvswitch",
        "host-image",
        "host-health",
        "influxdb",
        "victoria-metrics",
        "telegraf",
        "telegraf-init",
        "telegraf-raid-plugin",
        "guacd",
        "echarts-ssr",
    }
)


@dataclass(frozen=True)
class Release:
    """One OnecloudCluster: ``namespace``/``name``, its ``version`` and ``repository``, and the
    tags its spec sets on single components (``pinned``: chosen by the site, not skew)."""

    namespace: str
    name: str
    version: str
    repository: str
    pinned: frozenset[str]


def _tags(spec: Any) -> set[str]:
    """Every non-empty ``tag`` set anywhere under the spec (components' own tags)."""
    found: set[str] = set()
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "tag" and isinstance(value, str) and value:
                found.add(value)
            else:
                found |= _tags(value)
    elif isinstance(spec, list):
        for value in spec:
            found |= _tags(value)
    return found


def releases(text: str) -> list[Release]:
    """``kubectl get onecloudclusters -A -o json`` -> one Release per OnecloudCluster.

    Raises ValueError when it is not a List of objects with ``spec.version``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ValueError("not a List of OnecloudClusters")
    out = []
    for item in data["items"]:
        meta, spec = item.get("metadata") or {}, item.get("spec") or {}
        name = f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"
        version, repository = spec.get("version"), spec.get("imageRepository")
        if not isinstance(version, str) or not version:
            raise ValueError(f"OnecloudCluster {name} names no spec.version")
        out.append(
            Release(
                str(meta.get("namespace", "")),
                str(meta.get("name", "")),
                version,
                str(repository or "").rstrip("/"),
                frozenset(_tags(spec)),
            )
        )
    return out


def split_image(image: str) -> tuple[str, str, str]:
    """``private-registry.onecloud:5000/yunion/region:v3.11.12`` -> (repository, name, tag);
    the tag "" where the reference has none (or a digest)."""
    ref = image.split("@", 1)[0]
    path, _, tag = ref.rpartition(":")
    if "/" in tag or not path:  # the colon was a registry's port: no tag
        path, tag = ref, ""
    repository, _, name = path.rpartition("/")
    return repository, name, tag


def skew(release: Release, pods: Iterable[kube_placement.PlacedPod]) -> dict[str, list[str]]:
    """{tag: ["<pod> (<image name>)", ...]} for the pods of the release's namespace whose image
    comes from its repository, follows the release, and is on another tag (not one the spec
    pins). Empty: no skew."""
    found: dict[str, list[str]] = defaultdict(list)
    for p in pods:
        if p.namespace != release.namespace:
            continue
        for image in p.images:
            repository, name, tag = split_image(image)
            if repository.rstrip("/") != release.repository or name in OWN_VERSION:
                continue
            if tag != release.version and tag not in release.pinned:
                found[tag or "(no tag)"].append(f"{p.name} ({name})")
    return dict(found)
