"""HA-CP-009: the API server's certificate as a client checks it, through real TLS handshakes
with OpenSSL's verification against servers on loopback (the inventory's addresses are mapped
to them: no traffic leaves this machine)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.test_layouts import VIP, judge, k3s_site

Issued = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]
CA_PATH = "/var/lib/rancher/k3s/server/tls/server-ca.crt"
NODES = {"cp1": "10.127.190.251", "cp2": "10.127.190.245", "cp3": "10.127.190.229"}


def issue(cn: str, ips: list[str], ca: Issued | None = None) -> Issued:
    """A certificate for ``cn``: a CA when ``ca`` is None and ``ips`` empty, else a serving
    certificate with those IP SANs signed by ``ca`` (self-signed when ``ca`` is None)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(name).public_key(key.public_key())
        .issuer_name(ca[1].subject if ca else name).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
    )  # fmt: skip
    if ips:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(i)) for i in ips])
        builder = builder.add_extension(san, critical=False)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return key, builder.sign(ca[0] if ca else key, hashes.SHA256())


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class Servers:
    """TLS servers on 127.0.0.1, one per address of the inventory; ``socket.create_connection``
    to an address is redirected to its server (refused for an address without one)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ports: dict[str, int] = {}
        self.socks: list[socket.socket] = []

    def serve(self, host: str, issued: Issued) -> None:
        key, cert = issued
        crt, kf = self.tmp / f"{host}.crt", self.tmp / f"{host}.key"
        crt.write_text(pem(cert))
        kf.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))  # fmt: skip
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(crt, kf)
        sock = socket.create_server(("127.0.0.1", 0))
        self.socks.append(sock)
        self.ports[host] = sock.getsockname()[1]

        def loop() -> None:
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                try:
                    with tls.wrap_socket(conn, server_side=True) as s:
                        s.recv(1)
                except (OSError, ssl.SSLError):
                    conn.close()

        threading.Thread(target=loop, daemon=True).start()

    def connect(self, real: Callable[..., socket.socket]) -> Callable[..., socket.socket]:
        def create_connection(address: tuple[str, int], timeout: float | None = None, *_: Any) -> socket.socket:
            host = address[0]
            if host not in self.ports:
                raise ConnectionRefusedError(111, "Connection refused")
            return real(("127.0.0.1", self.ports[host]), timeout)

        return create_connection

    def close(self) -> None:
        for s in self.socks:
            s.close()


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    srv = Servers(tmp_path)
    monkeypatch.setattr(socket, "create_connection", srv.connect(socket.create_connection))
    yield srv
    srv.close()


def site(ca: Issued, servers: Servers, *, vip_holder: str = "cp1", **certs: Issued) -> tuple[Any, Any]:
    """The k3s site's facts with ``ca`` as every control node's server-ca.crt, each node serving
    its own certificate (``certs`` overrides a node's), the VIP served by ``vip_holder``'s."""
    data, facts = k3s_site()
    for name, ip in NODES.items():
        facts[name]["certs"] = f"@@cert {CA_PATH}\n{pem(ca[1])}"
        issued = certs.get(name) or issue("k3s", [ip, VIP, "127.0.0.1"], ca)
        servers.serve(ip, issued)
        if name == vip_holder:
            servers.serve(VIP, issued)
    return data, facts


def test_a_chain_from_the_cluster_ca_naming_each_address_is_accepted(servers: Servers) -> None:
    ca = issue("k3s-server-ca@1700000000", [])
    data, facts = site(ca, servers)
    assert judge(data, facts, "HA-CP-009") is None


def test_a_vip_missing_from_the_sans_is_rejected_as_a_client_would(servers: Servers) -> None:
    ca = issue("k3s-server-ca@1700000000", [])
    narrow = issue("k3s", [NODES["cp1"], "127.0.0.1"], ca)
    data, facts = site(ca, servers, cp1=narrow)
    got = judge(data, facts, "HA-CP-009")
    assert got is not None
    assert got.startswith(f"a client trusting the cluster's CA rejects the API server on the platform VIP {VIP}:6443 (")
    assert f"IP address mismatch, certificate is not valid for '{VIP}'" in got
    assert f"SANs IP:{NODES['cp1']}, IP:127.0.0.1" in got
    assert "cp1 10.127.190.251:6443: CN=k3s, issued by CN=k3s-server-ca@1700000000" in got  # its own: accepted


def test_a_serving_certificate_from_another_ca_is_rejected(servers: Servers) -> None:
    ca, other = issue("k3s-server-ca@1700000000", []), issue("k3s-server-ca@1800000000", [])
    data, facts = site(ca, servers, cp3=issue("k3s", [NODES["cp3"], VIP], other))
    got = judge(data, facts, "HA-CP-009")
    assert got is not None and got.startswith("a client trusting the cluster's CA rejects the API server on cp3 ")
    assert "unable to get local issuer certificate" in got
    self_signed = issue("cp2", [NODES["cp2"], VIP])
    servers.close()
    data, facts = site(ca, servers, cp2=self_signed)
    got = judge(data, facts, "HA-CP-009")
    assert got is not None and "on cp2 10.127.190.245:6443 (self-signed certificate" in got.replace(
        "self signed", "self-signed"
    )


def test_control_nodes_holding_different_cas_fail_before_any_handshake(servers: Servers) -> None:
    ca, other = issue("k3s-server-ca@1700000000", []), issue("k3s-server-ca@1800000000", [])
    data, facts = site(ca, servers)
    facts["cp3"]["certs"] = f"@@cert {CA_PATH}\n{pem(other[1])}"
    got = judge(data, facts, "HA-CP-009")
    assert got is not None
    assert got.startswith(f"control nodes hold another cluster CA than the First Node cp1's {CA_PATH}: cp3 ({CA_PATH})")
    facts["cp1"]["certs"] = ""
    got = judge(data, facts, "HA-CP-009")
    assert got is not None and got.startswith(f"the First Node cp1 has no cluster CA at {CA_PATH}")


def test_an_endpoint_without_a_handshake_is_never_passed(servers: Servers) -> None:
    ca = issue("k3s-server-ca@1700000000", [])
    data, facts = site(ca, servers)
    del servers.ports[NODES["cp2"]]
    got = judge(data, facts, "HA-CP-009")
    assert got is not None and got.startswith("error: not verified (no TLS handshake): cp2 10.127.190.245:6443: ")


def test_a_silent_vip_leaves_the_item_blocked_once_the_nodes_are_judged(servers: Servers) -> None:
    ca = issue("k3s-server-ca@1700000000", [])
    data, facts = site(ca, servers)
    down = {"platform": f"the runner gets no answer from the platform VIP: {VIP}:6443: timed out"}
    del servers.ports[VIP]
    got = judge(data, facts, "HA-CP-009", unreachable=down)
    assert got is not None and got.startswith("error: blocked by ROOT-VIP[platform]: the runner gets no answer"), got
    assert "each control node's own endpoint is accepted" in got
    servers.close()
    data, facts = site(ca, servers, cp2=issue("k3s", [VIP], ca))
    del servers.ports[VIP]
    got = judge(data, facts, "HA-CP-009", unreachable=down)
    assert got is not None and "rejects the API server on cp2 10.127.190.245:6443 (IP address mismatch" in got


def test_the_kubeadm_lines_ca_is_read_at_its_own_path(servers: Servers) -> None:
    """A node without either line's markers and no layout given: every line's CA path is tried."""
    ca = issue("kubernetes", [])
    data, facts = site(ca, servers)
    for name in NODES:
        facts[name]["certs"] = f"@@cert /etc/kubernetes/pki/ca.crt\n{pem(ca[1])}"
        facts[name]["layout"] = "/etc/kubernetes/kubelet.conf"
    assert judge(data, facts, "HA-CP-009") is None
