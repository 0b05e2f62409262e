"""HA-CP-007, HA-CP-009: the control plane's certificates, their lifetimes and what a client
accepts."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import ssl
from collections.abc import Iterable

from cryptography import x509

from bootstrap import layout
from bootstrap.inventory import NodeEntry
from bootstrap.topology import Role
from suites.context import Blocked, CheckError, Context, root_vip
from suites.registry import check
from suites.tls import UNVERIFIED

API_PORT = 6443


def served_certificate(host: str, port: int, timeout: float = 5.0) -> bytes:
    """The DER certificate a TLS server presents at host:port (not verified: only read).

    Raises OSError (ssl.SSLError included) when no handshake completes within ``timeout`` s."""
    with socket.create_connection((host, port), timeout=timeout) as raw, UNVERIFIED.wrap_socket(raw) as conn:
        der = conn.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError(f"{host}:{port} presented no certificate")
    return der


def client_rejects(host: str, port: int, ca_ders: Iterable[bytes], timeout: float = 5.0) -> str | None:
    """Why a TLS client that trusts only ``ca_ders`` (DER CA certificates) and asked for ``host``
    (an IP address or name) rejects the server at host:port, or None when it accepts: OpenSSL's
    own chain and name verification, as kubectl's and the kubelets' clients do theirs (no SNI for
    an IP address, the name matched against the SANs' IP or DNS entries).

    Raises OSError when no handshake completes within ``timeout`` s for another reason."""
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    tls.load_verify_locations(cadata="".join(ssl.DER_cert_to_PEM_cert(d) for d in ca_ders))
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, tls.wrap_socket(raw, server_hostname=host):
            return None
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message or exc).rstrip(".")


def describe(der: bytes) -> str:
    """ "CN=..., issued by CN=..., SANs IP:a, DNS:b" for a DER certificate."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [f"IP:{v}" for v in san.get_values_for_type(x509.IPAddress)]
        names += [f"DNS:{v}" for v in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = []
    return (
        f"{cert.subject.rfc4514_string()}, issued by {cert.issuer.rfc4514_string()}, "
        f"SANs {', '.join(names) if names else 'none'}"
    )


def _fingerprint(ders: Iterable[bytes]) -> str:
    return ",".join(sorted(hashlib.sha256(d).hexdigest()[:16] for d in ders))


@check("HA-CP-007", facts=("certs",))
def certificates_stay_valid(ctx: Context) -> None:
    """Each certificate the platform depends on is valid for at least ``min_days`` more days:
    the ones served on the platform VIP's 6443 (API server) and 443 (web console), read by a
    TLS handshake from the runner, and each control node's PKI files and kubeconfig client
    certificates (kubeadm and k3s paths, real-sites.md). The failure names each certificate,
    its subject and NotAfter."""
    min_days = int(ctx.expected("min_days"))
    now = dt.datetime.now(dt.UTC)
    certs: list[tuple[str, bytes]] = []
    vip = str(ctx.inventory.vips.platform)
    unread = []
    vip_down = ctx.rt.vip_unreachable("platform")  # the nodes' own files are judged all the same
    for port, what in ((API_PORT, "API server"), (443, "web console")):
        if vip_down is not None:
            break
        try:
            certs.append((f"{what} on {vip}:{port}", served_certificate(vip, port)))
        except OSError as exc:
            unread.append(f"{vip}:{port}: {exc}")
    for node in ctx.inventory.nodes_with(Role.CONTROL):
        certs += [(f"{node.name}:{where}", der) for where, der in ctx.facts_of(node)["certs"]]
    if not certs:
        if vip_down is not None:
            raise Blocked(root_vip("platform"), vip_down)
        raise CheckError("no certificate could be read: " + "; ".join(unread))
    short, lines = [], []
    for where, der in certs:
        cert = x509.load_der_x509_certificate(der)
        left = (cert.not_valid_after_utc - now).total_seconds() / 86400
        line = f"{where}: {cert.subject.rfc4514_string()} NotAfter {cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z"
        lines.append(f"{line} ({left:.0f} days left)")
        if left < min_days:
            short.append(f"{line}, {'expired' if left < 0 else f'{left:.1f} days left'}")
    ev = [("certificates read (TLS handshake from the runner; certs fact on control nodes)", "\n".join(lines))]
    if unread:
        ev.append(("not read", "\n".join(unread)))
    ctx.require(not short, f"valid for less than {min_days} days: " + "; ".join(short), ev)
    if vip_down is not None:  # what could be read is fine; what is served through the VIP is unknown
        raise Blocked(
            root_vip("platform"),
            f"{vip_down}; the certificates served on the VIP were not read "
            f"(the nodes' {len(certs)} certificate file(s) are valid for {min_days} days or more)",
        )


def cluster_cas(ctx: Context, nodes: list[NodeEntry]) -> dict[str, tuple[str, list[bytes]]]:
    """Each control node's cluster CA as its ``certs`` fact holds it: node name -> (path, DER
    certificates of the file; empty when the node has none). The path is the node's line's
    ``cluster_ca`` (k3s: server/tls/server-ca.crt; kubeadm: pki/ca.crt), every line's when the
    node's line is not known."""
    found: dict[str, tuple[str, list[bytes]]] = {}
    for node in nodes:
        facts = ctx.facts_of(node)
        line, _ = layout.node_line(facts["layout"], ctx.inventory.layout.line, ctx.layout.line)
        paths = [line.cluster_ca[0]] if line else [ln.cluster_ca[0] for ln in layout.LINES.values()]
        certs = facts["certs"]
        for path in paths:
            ders = [der for where, der in certs if where == path or where.startswith(path + " #")]
            if ders or path == paths[-1]:
                found[node.name] = (path, ders)
                break
    return found


@check("HA-CP-009", facts=("certs", "layout"))
def api_certificate_accepted(ctx: Context) -> None:
    """A client of the API server accepts the certificate it is served: through the platform
    VIP and on each control node's own address, port 6443, the chain verifies against the
    cluster's CA and the SANs name the address the client asked for (OpenSSL's verification
    from the runner; ``client_rejects``). The cluster's CA is the First Node's CA file of its
    line; every control node must hold the same one. Sources: ocboot's k3s config template
    (``tls-san: <high_availability_vip>``), kubeadm's apiserver certificate (the
    controlPlaneEndpoint and advertise address in its SANs); k3s-io/k3s#9257 and
    kubernetes-sigs/kubespray#9098 (a VIP missing from the SANs). The web console's certificate
    on 443 is the ingress's, not the cluster CA's: only its lifetime is judged (HA-CP-007)."""
    control = ctx.inventory.nodes_with(Role.CONTROL)
    first = ctx.inventory.first_node()
    cas = cluster_cas(ctx, control)
    ref_path, ref = cas[first.name]
    ev = [("cluster CA per control node (path: SHA-256 prefix)",
           "\n".join(f"{n}: {p}: {_fingerprint(d) or 'absent'}" for n, (p, d) in cas.items()))]  # fmt: skip
    ctx.require(bool(ref), f"the First Node {first.name} has no cluster CA at {ref_path}", ev)
    other = [f"{n} ({p})" for n, (p, d) in cas.items() if _fingerprint(d) != _fingerprint(ref)]
    ctx.require(
        not other,
        f"control nodes hold another cluster CA than the First Node {first.name}'s {ref_path}: {', '.join(other)}",
        ev,
    )
    vip = str(ctx.inventory.vips.platform)
    vip_down = ctx.rt.vip_unreachable("platform")
    targets = [(f"{n.name} {n.address}:{API_PORT}", str(n.address)) for n in control]
    if vip_down is None:
        targets.insert(0, (f"the platform VIP {vip}:{API_PORT}", vip))
    rejected, unread, seen = [], [], []
    for what, host in targets:
        try:
            der = served_certificate(host, API_PORT)
            why = client_rejects(host, API_PORT, ref)
        except OSError as exc:
            unread.append(f"{what}: {exc}")
            continue
        seen.append(f"{what}: {describe(der)}: {'rejected: ' + why if why else 'accepted'}")
        if why:
            rejected.append(f"{what} ({why}; served {describe(der)})")
    ev.append((f"TLS handshakes from the runner trusting only {first.name}'s {ref_path}", "\n".join(seen) or "-"))
    if unread:
        ev.append(("no handshake", "\n".join(unread)))
    ctx.require(not rejected, "a client trusting the cluster's CA rejects the API server on " + "; ".join(rejected), ev)
    if unread:
        raise CheckError("not verified (no TLS handshake): " + "; ".join(unread))
    if vip_down is not None:
        raise Blocked(root_vip("platform"), f"{vip_down}; each control node's own endpoint is accepted")
