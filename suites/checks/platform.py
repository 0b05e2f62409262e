"""HA-CP, HA-WEB, HA-ST, HA-UPG: the platform as its users reach it (the control plane's
certificates: certificates.py)."""

from __future__ import annotations

import io
import uuid

import requests
import urllib3

from bootstrap import layout
from bootstrap.topology import Role
from suites import tls
from suites.context import Context, Skip
from suites.errors import CheckError, NotVerifiable
from suites.messages import error_text
from suites.registry import check

TIMEOUT = (3, 5)  # connect, read


def _get(url: str) -> requests.Response:
    return tls.get(url, TIMEOUT)


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
    down = [n.name for n in control if n.name not in healthy]
    ctx.require(
        not down,
        f"only {len(healthy)} of {len(control)} control-plane members are healthy on 6443 "
        f"(not healthy: {', '.join(down)})",
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


@check("HA-CP-003", facts=("kube_config",))
def kubectl_configured(ctx: Context) -> None:
    state = ctx.facts["kube_config"]
    ev = ctx.facts.evidence("kube_config")
    ctx.require(state is not None, f"{ctx.node.name} has no $HOME/.kube/config", ev)  # type: ignore[union-attr]
    ctx.require(state.same_as, "$HOME/.kube/config differs from the admin kubeconfig", ev)
    ctx.require(state.owner == "root", "$HOME/.kube/config is not owned by the user (root)", ev)


def _layout_evidence(ctx: Context) -> tuple[str, str]:
    lay = ctx.layout
    line, why = ctx.line
    here = f"rules of the {line.name} line on {ctx.node.name if ctx.node else '-'} ({why})" if line else why
    return ("install layout", lay.describe() + " (" + "; ".join(f"{k}: {v}" for k, v in lay.sources) + "); " + here)


def _lines(ctx: Context) -> list[layout.Line]:
    """The lines whose rules apply on the node: its own, or every line when it is not known."""
    line, _ = ctx.line
    return [line] if line is not None else list(layout.LINES.values())


@check("HA-CP-004", facts=("admin_conf", "layout"))
def admin_conf_points_at_vip(ctx: Context) -> None:
    """kubeadm line: admin.conf names https://VIP:6443. k3s line: k3s.yaml names the node's own
    apiserver (https://127.0.0.1:6443; every k3s server is a control-plane member), or the VIP.
    The node's line picks the file and the rule (a file at the other line's path is not this
    node's admin kubeconfig). Source: shared/docs/real-sites.md (ocboot roles/k3s, ocadm)."""
    assert ctx.node is not None
    vip_url = f"https://{ctx.inventory.vips.platform}:6443"
    local = {f"https://{h}:6443" for h in ("127.0.0.1", "localhost", "[::1]", str(ctx.node.address))}
    ev = [*ctx.facts.evidence("admin_conf"), _layout_evidence(ctx)]
    files = ctx.facts["admin_conf"]
    lines = _lines(ctx)
    mine = {ln.admin_kubeconfig: ln for ln in lines if files.get(ln.admin_kubeconfig)}
    others = [p for p, s in files.items() if s and p not in mine]
    ctx.require(
        bool(mine),
        f"{ctx.node.name} has no admin kubeconfig at {' or '.join(ln.admin_kubeconfig for ln in lines)}"
        + (f" (found {', '.join(others)}, another line's)" if others else ""),
        ev,
    )
    for path, line in mine.items():
        allowed = ({vip_url} | local) if line.local_admin_server else {vip_url}
        bad = [srv for srv in files[path] if srv not in allowed]
        want = f"this node's own apiserver or {vip_url}" if line.local_admin_server else vip_url
        ctx.require(not bad, f"{path} points at {', '.join(bad)}, not {want}", ev)


@check("HA-CP-005", facts=("kubelet_conf", "layout"))
def compute_joined_through_vip(ctx: Context) -> None:
    """kubeadm line: kubelet.conf names https://VIP:6443. k3s line: k3s-agent.service joins
    ``--server https://VIP:6443`` (or K3S_URL); its kubelet talks to the agent's local load
    balancer (https://127.0.0.1:6444), which is accepted. Never the First Node's address. The
    node's line picks the files read."""
    assert ctx.node is not None
    want = f"https://{ctx.inventory.vips.platform}:6443"
    first = str(ctx.inventory.first_node().address)
    ev = [*ctx.facts.evidence("kubelet_conf"), _layout_evidence(ctx)]
    files = ctx.facts["kubelet_conf"]
    lines = _lines(ctx)
    joined = {ln.compute_join: files[ln.compute_join] for ln in lines if files.get(ln.compute_join)}
    ctx.require(
        bool(joined),
        f"{ctx.node.name} names no server it joined through (not joined: no server in "
        f"{' or '.join(ln.compute_join for ln in lines)})",
        ev,
    )
    servers = [srv for s in joined.values() for srv in s]
    ctx.require(not any(first in s for s in servers), f"joined through the First Node's address {first}", ev)
    ctx.require(all(s == want for s in servers), f"joined through {', '.join(servers)}, not {want}", ev)
    for line in lines:
        if line.agent_lb is None or line.compute_kubeconfig == line.compute_join:
            continue
        bad = [s for s in files.get(line.compute_kubeconfig, []) if s not in (line.agent_lb, want)]
        ctx.require(not bad, f"the kubelet talks to {', '.join(bad)}, not the agent's {line.agent_lb} or {want}", ev)


@check("HA-WEB-001")
def web_console(ctx: Context) -> None:
    ctx.through_vip("platform")
    url = f"https://{ctx.inventory.vips.platform}/"
    resp = _fetch(ctx, url)
    ctx.require(resp.status_code < 400 and resp.content, f"GET {url} answered {resp.status_code}")


@check("HA-WEB-002")
def keystone_ping(ctx: Context) -> None:
    """keystone answers only while its database does: it reaches MariaDB through the DB VIP
    (the install's MySQL host), so a DB VIP nobody answers for is this check's root cause too."""
    ctx.through_vip("platform")
    if ctx.inventory.vips.db is not None:
        ctx.through_vip("db")
    url = f"https://{ctx.inventory.vips.platform}:30500/ping"
    resp = _fetch(ctx, url)
    ctx.require(resp.text.strip() == "pong", f"GET {url} answered {resp.status_code} {resp.text.strip()[:80]!r}")


@check("HA-ST-001")
def storage_round_trip(ctx: Context) -> None:
    from minio import Minio
    from minio.error import S3Error

    st = ctx.inventory.storage
    if st is None:
        raise Skip("the inventory has no storage section (endpoint and keys of the platform's S3 storage)")
    scheme, _, hostport = st.endpoint.partition("://")
    http = tls.pool_manager(connect=3, read=5)
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
        ctx.fail(f"S3 at {st.endpoint}: {error_text(exc)}")


@check("HA-ST-002")
def minio_drives_online(ctx: Context) -> None:
    """MinIO's own view of its drives through its admin API (suites/minio_admin.py): a pod
    Ready says nothing of its drive. Not verifiable where the endpoint is not MinIO's admin
    API or the keys are not its root keys (the answer says which)."""
    from minio import MinioAdmin
    from minio.credentials.providers import StaticProvider
    from minio.error import MinioAdminException

    from suites import minio_admin

    st = ctx.inventory.storage
    if st is None:
        raise Skip("the inventory has no storage section (endpoint and keys of the platform's S3 storage)")
    endpoint = st.admin_endpoint or st.endpoint
    scheme, _, hostport = endpoint.partition("://")
    http = tls.pool_manager(connect=3, read=10)
    admin = MinioAdmin(
        endpoint=hostport,
        credentials=StaticProvider(st.access_key, st.secret_key()),
        secure=scheme == "https",
        http_client=http,
    )
    try:
        info = minio_admin.parse_info(admin.info())
    except MinioAdminException as exc:
        body = " ".join(str(exc).split())[:300]
        raise NotVerifiable(f"MinIO's admin API at {endpoint} refused the server information: {body}") from None
    except urllib3.exceptions.HTTPError as exc:
        raise CheckError(f"MinIO's admin API at {endpoint}: {error_text(exc)}") from None
    except ValueError as exc:
        raise NotVerifiable(f"{endpoint} does not answer as MinIO's admin API: {exc}") from None
    ev = [(f"GET {endpoint}/minio/admin/v3/info", minio_admin.evidence(info))]
    if not info.drives:  # a gateway or an FS-mode server lists none: nothing to judge
        raise NotVerifiable(f"MinIO at {endpoint} lists no drives (backend {info.backend or 'not given'})")
    bad = minio_admin.problems(info)
    online = sum(d.state == minio_admin.OK for d in info.drives)
    summary = f"MinIO: {online} of {len(info.drives)} drives online"
    ctx.require(not bad, "; ".join([summary, *bad, *minio_admin.quorum_lines(info)]), ev)


@check("HA-UPG-001", facts=("yunion",))
def yunion_user(ctx: Context) -> None:
    user = ctx.facts["yunion"]
    ev = ctx.facts.evidence("yunion")
    ctx.require(user is not None, f"{ctx.node.name} has no user yunion", ev)  # type: ignore[union-attr]
    ctx.require(user.uid != 0, "yunion has uid 0 (it must not be root)", ev)
    ctx.require("may run" in user.sudo and "ALL" in user.sudo, "yunion may not use sudo", ev)
