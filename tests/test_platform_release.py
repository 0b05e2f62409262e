"""HA-K8S-007 (suites/platform_release.py): the platform's components against the release their
OnecloudCluster names, read from the lab's kubectl stand-in (its OnecloudCluster and pods held
against the parsers) or written in the API's shapes."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bootstrap.lab.standin import kubectl as standin
from suites import kube_placement as kp
from suites import platform_release as pr
from suites.checks.kubernetes import release_problems
from tests.test_kube_placement import REG, lab_state


def with_release(state: dict[str, Any], **pinned: str) -> dict[str, Any]:
    state = copy.deepcopy(state)
    state["release"] = {"namespace": "onecloud", "name": "default", "version": "v3.11.12", "repository": REG,
                        "pinned": pinned}  # fmt: skip
    return state


def read(state: dict[str, Any]) -> tuple[list[pr.Release], kp.Cluster]:
    ready = {n["name"]: True for n in state["nodes"]}
    releases = pr.releases(standin.listing(state, ready, ["onecloudclusters"]))
    return releases, kp.cluster(json.loads(standin.listing(state, ready, ["nodes", "pods", "pv"])))


def region_on(state: dict[str, Any], image: str) -> dict[str, Any]:
    next(p for p in state["pods"] if p["name"].startswith("default-region"))["images"] = [image]
    return state


def test_the_lab_runs_its_release_and_minio_of_another_namespace_is_not_judged() -> None:
    releases, found = read(with_release(lab_state()))
    assert releases == [pr.Release("onecloud", "default", "v3.11.12", REG, frozenset())]
    assert release_problems(releases, found) == []


def test_a_component_left_on_the_previous_release_is_named_with_both_versions() -> None:
    state = region_on(with_release(lab_state()), f"{REG}/region:v3.11.11")
    assert release_problems(*read(state)) == [
        "1 pod(s) of OnecloudCluster onecloud/default run v3.11.11 where its release is v3.11.12: "
        "default-region-6c8d7b9f5-m7p2r (region)"
    ]


@pytest.mark.parametrize(
    "image",
    [
        f"{REG}/region:v3.11.12-hotfix1",  # pinned in the OnecloudCluster's spec on purpose
        f"{REG}/host-image:v1.0.8",  # a version of its own (cloudpods-operator defaults.go)
        f"{REG}/etcd:3.5.12",  # default-etcd's (constants.go), and its init container's busybox
        f"{REG}/busybox:1.37.0-glibc",
        f"{REG}/onecloud-operator:v4.0.3",  # the operator: ocboot's chart versions it, not the cluster
        "registry.example/other/region:v3.10.0",  # another repository: not the operator's image
    ],
)
def test_pinned_tags_own_versions_and_other_repositories_are_no_skew(image: str) -> None:
    state = region_on(with_release(lab_state(), regionServer="v3.11.12-hotfix1"), image)
    assert release_problems(*read(state)) == []


def test_image_references_split_with_a_registry_port_and_a_digest() -> None:
    assert pr.split_image(f"{REG}/region:v3.11.12") == (REG, "region", "v3.11.12")
    assert pr.split_image("private-registry.onecloud:5000/yunion/region") == (REG, "region", "")
    assert pr.split_image(f"{REG}/region:v3.11.12@sha256:" + "0" * 64) == (REG, "region", "v3.11.12")


@pytest.mark.parametrize("text", ["", "{}", '{"items": [{"metadata": {"name": "default"}, "spec": {}}]}'])
def test_an_answer_without_a_release_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"not JSON|not a List|names no spec.version"):
        pr.releases(text)
