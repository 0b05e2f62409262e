"""HA-CP, HA-WEB, HA-ST, HA-UPG: the platform as its users reach it."""

from __future__ import annotations

import io
import re
import uuid

import requests
import urllib3

from bootstrap.topology import Role
from suites.context import Context
from suites.registry import check

TIMEOUT = (3, 5)  # connect, read


def _get(url: str) -> requests.Response:
    with urllib3.warnings.catch_warnings():
        urllib3.warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        return requests.get(url, verify=False, timeout=TIMEOUT)


def _fetch(ctx: Context, url: str) -> requests.Response:
    """GET through the VIP; a connection failure is the check's failure."""
    try:
        return _get(url)
    except requests.RequestException as exc:
        ctx.fail(f"GET {url} failed: {exc}")


@check("HA-CP-001")
def control_plane_members(ctx: Context) -> None:
    control = ctx.inventory.nodes_with(Role.CONTROL)
    ctx.require(len(control) in (1, 3, 5), f"{len(control)} control-plane nodes; the document allows 1, 3 or 5")
    if ctx.rt.phase == "preinstall":
        return  # nothing listens on 6443 before the install
    # Every member counts only when it is a working member: its own /healthz says ok.
    healthy, ev = [], []
    for node in control:
        url = f"https://{node.address}:6443/healthz"
        try:
            resp = _get(url)
            if resp.status_code == 200 and resp.text.strip() == "ok":
                healthy.append(node.name)
            ev.append((f"GET {url}", f"{resp.status_code} {resp.text[:80]}"))
        except requests.RequestException as exc:
            ev.append((f"GET {url}", str(exc)[:200]))
    ctx.require(
        len(healthy) == len(control),
        f"only {len(healthy)} of {len(control)} control-plane members are healthy on 6443: {', '.join(healthy)}",
        ev,
    )


@check("HA-CP-002")
def healthz_through_vip(ctx: Context) -> None:
    ctx.through_vip("platform")
    url = f"https://{ctx.inventory.vips.platform}:6443/healthz"
    resp = _fetch(ctx, url)
    ctx.require(
        resp.status_code == 200 and resp.text.strip() == "ok",
        f"GET {url} answered {resp.status_code} {resp.text.strip()[:80]!r}",
    )


def _servers(text: str) -> list[str]:
    return re.findall(r"server:\s*(\S+)", text)


@check("HA-CP-003", facts=("kube_config",))
def kubectl_configured(ctx: Context) -> None:
    state = ctx.facts["kube_config"]
    ev = ctx.facts.evidence("kube_config")
    ctx.require(state != "missing", f"{ctx.node.name} has no $HOME/.kube/config", ev)  # type: ignore[union-attr]
    ctx.require("same-as=" in state, "$HOME/.kube/config differs from the admin kubeconfig", ev)
    ctx.require("owner=root" in state, "$HOME/.kube/config is not owned by the user (root)", ev)


@check("HA-CP-004", facts=("admin_conf",))
def admin_conf_points_at_vip(ctx: Context) -> None:
    want = f"https://{ctx.inventory.vips.platform}:6443"
    text = ctx.facts["admin_conf"]
    ev = ctx.facts.evidence("admin_conf")
    servers = _servers(text)
    ctx.require(servers, f"{ctx.node.name} has no admin kubeconfig", ev)  # type: ignore[union-attr]
    ctx.require(all(s == want for s in servers), f"admin kubeconfig points at {', '.join(servers)}, not {want}", ev)


@check("HA-CP-005", facts=("kubelet_conf",))
def compute_joined_through_vip(ctx: Context) -> None:
    want = f"https://{ctx.inventory.vips.platform}:6443"
    first = str(ctx.inventory.first_node().address)
    text = ctx.facts["kubelet_conf"]
    ev = ctx.facts.evidence("kubelet_conf")
    servers = _servers(text)
    ctx.require(servers, f"{ctx.node.name} has no kubelet kubeconfig (not joined)", ev)  # type: ignore[union-attr]
    ctx.require(not any(first in s for s in servers), f"joined through the First Node's address {first}", ev)
    ctx.require(all(s == want for s in servers), f"kubelet points at {', '.join(servers)}, not {want}", ev)


@check("HA-WEB-001")
def web_console(ctx: Context) -> None:
    ctx.through_vip("platform")
    url = f"https://{ctx.inventory.vips.platform}/"
    resp = _fetch(ctx, url)
    ctx.require(resp.status_code < 400 and resp.content, f"GET {url} answered {resp.status_code}")


@check("HA-WEB-002")
def keystone_ping(ctx: Context) -> None:
    ctx.through_vip("platform")
    url = f"https://{ctx.inventory.vips.platform}:30500/ping"
    resp = _fetch(ctx, url)
    ctx.require(resp.text.strip() == "pong", f"GET {url} answered {resp.status_code} {resp.text.strip()[:80]!r}")


@check("HA-ST-001")
def storage_round_trip(ctx: Context) -> None:
    import pytest
    from minio import Minio
    from minio.error import S3Error

    st = ctx.inventory.storage
    if st is None:
        pytest.skip("the inventory has no storage section (endpoint and keys of the platform's S3 storage)")
    scheme, _, hostport = st.endpoint.partition("://")
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=3, read=5), retries=False)
    client = Minio(hostport, st.access_key, st.secret_key(), secure=scheme == "https", http_client=http)
    key, body = f"probe-{uuid.uuid4().hex}", uuid.uuid4().bytes
    created = False
    try:
        if not client.bucket_exists(st.bucket):
            client.make_bucket(st.bucket)
            created = True
        client.put_object(st.bucket, key, io.BytesIO(body), len(body))
        got = client.get_object(st.bucket, key).read()
        ctx.require(got == body, f"read back {len(got)} bytes that differ from the {len(body)} written")
        client.remove_object(st.bucket, key)
        if created:
            client.remove_bucket(st.bucket)
    except (S3Error, urllib3.exceptions.HTTPError) as exc:
        ctx.fail(f"S3 at {st.endpoint}: {exc}")


@check("HA-UPG-001", facts=("yunion",))
def yunion_user(ctx: Context) -> None:
    text = ctx.facts["yunion"]
    ev = ctx.facts.evidence("yunion")
    m = re.search(r"uid=(\d+)", text)
    ctx.require(m, f"{ctx.node.name} has no user yunion", ev)  # type: ignore[union-attr]
    assert m is not None
    ctx.require(m.group(1) != "0", "yunion has uid 0 (it must not be root)", ev)
    ctx.require("may run" in text and "ALL" in text, "yunion may not use sudo", ev)
