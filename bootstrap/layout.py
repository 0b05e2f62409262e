"""The product's install layouts as data: the two install lines (k3s, kubeadm) and the
three ways the database is made highly available (manual, ocboot, single).

Source of every path and value here: ``shared/docs/real-sites.md``, read from yunionio/ocboot
(``lib/k3s.py`` is_using_k3s, ``roles/k3s``, ``roles/master-node``, ``onecloud/roles/mariadb-ha``)
and yunionio/ocadm (``pkg/phases/addons/keepalived``). Detection is read-only and follows the
installer: a node with ``/etc/kubernetes/kubelet.conf`` is on the kubeadm line, one with
``k3s.service`` or ``k3s-agent.service`` on the k3s line.

>>> detect_line(["/etc/systemd/system/k3s.service"])
'k3s'
>>> detect_line(["/etc/kubernetes/kubelet.conf", "/etc/kubernetes/admin.conf"])
'kubeadm'
>>> detect_line([]) is None
True
>>> static_pod_env(EXAMPLE_MANIFEST)["KEEPALIVED_ROUTER_ID"]
'66'
>>> static_pod_vips("#PYTHON2BASH:['192.168.0.66']")
['192.168.0.66']
>>> manifest_vips([("/etc/kubernetes/manifests/keepalived.yaml", EXAMPLE_MANIFEST)])
['192.168.0.66']
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from bootstrap import yamlfile
from bootstrap.profiles import platform_auth_pass


@dataclass(frozen=True)
class Line:
    """One install line: where it puts the platform's files and what they point at."""

    name: str
    keepalived_manifest: str  # the platform VIP's keepalived static pod
    admin_kubeconfig: str
    admin_server: str  # "vip": the admin kubeconfig names https://VIP:6443; "local": the node's own apiserver
    compute_kubeconfig: str  # what the compute node's kubelet talks through
    compute_join: str  # where the compute node names the server it joined through
    containers: str  # the container runtime's command line on the nodes
    keepalived_image: str
    markers: tuple[str, ...] = ()  # files whose presence puts a node on this line (any of them)
    agent_lb: str | None = None  # a compute node's kubelet may talk to this local load balancer
    pki_dirs: tuple[str, ...] = ()  # the control plane's certificate directories
    etcd_client: tuple[str, str, str] = ("", "", "")  # (CA, certificate, key) etcd's clients use
    client_cert_kubeconfigs: tuple[str, ...] = ()  # kubeconfigs carrying client-certificate-data
    # (certificate, key) of the cluster's CA, which signs the API server's serving certificate
    # and is the certificate-authority-data of the line's kubeconfigs
    cluster_ca: tuple[str, str] = ("", "")

    @property
    def local_admin_server(self) -> bool:
        """Whether the admin kubeconfig may name the node's own apiserver rather than the VIP."""
        return self.admin_server == "local"

    def auth_pass(self, vip: str) -> str:
        """KEEPALIVED_PASSWORD as the line's installer computes it from the VIP."""
        return platform_auth_pass(vip, self.name)


K3S_AGENT_LB = "https://127.0.0.1:6444"  # the k3s agent's local load balancer in front of the servers

LINES: dict[str, Line] = {
    "k3s": Line(
        name="k3s",
        keepalived_manifest="/var/lib/rancher/k3s/agent/pod-manifests/keepalived.yaml",
        admin_kubeconfig="/etc/rancher/k3s/k3s.yaml",
        admin_server="local",
        compute_kubeconfig="/var/lib/rancher/k3s/agent/kubelet.kubeconfig",
        compute_join="/etc/systemd/system/k3s-agent.service",
        containers="k3s crictl",
        keepalived_image="keepalived:v2.0.29",
        markers=("/etc/systemd/system/k3s.service", "/etc/systemd/system/k3s-agent.service"),
        agent_lb=K3S_AGENT_LB,
        pki_dirs=("/var/lib/rancher/k3s/server/tls", "/var/lib/rancher/k3s/server/tls/etcd"),
        etcd_client=(
            "/var/lib/rancher/k3s/server/tls/etcd/server-ca.crt",
            "/var/lib/rancher/k3s/server/tls/etcd/client.crt",
            "/var/lib/rancher/k3s/server/tls/etcd/client.key",
        ),
        client_cert_kubeconfigs=("/etc/rancher/k3s/k3s.yaml",),
        cluster_ca=("/var/lib/rancher/k3s/server/tls/server-ca.crt", "/var/lib/rancher/k3s/server/tls/server-ca.key"),
    ),
    "kubeadm": Line(
        name="kubeadm",
        keepalived_manifest="/etc/kubernetes/manifests/keepalived.yaml",
        admin_kubeconfig="/etc/kubernetes/admin.conf",
        admin_server="vip",
        compute_kubeconfig="/etc/kubernetes/kubelet.conf",
        compute_join="/etc/kubernetes/kubelet.conf",
        containers="docker",
        keepalived_image="keepalived:v2.0.25",
        markers=("/etc/kubernetes/kubelet.conf",),
        pki_dirs=("/etc/kubernetes/pki", "/etc/kubernetes/pki/etcd"),
        etcd_client=(
            "/etc/kubernetes/pki/etcd/ca.crt",
            "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
            "/etc/kubernetes/pki/etcd/healthcheck-client.key",
        ),
        client_cert_kubeconfigs=("/etc/kubernetes/admin.conf", "/etc/kubernetes/kubelet.conf"),
        cluster_ca=("/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.key"),
    ),
}
# The product's default line since v3.11.8 (ocboot master), and the lab's.
DEFAULT_LINE = "k3s"
K3S_SERVER_UNIT, K3S_AGENT_UNIT = LINES["k3s"].markers
(KUBEADM_MARK,) = LINES["kubeadm"].markers
MANIFESTS = tuple(line.keepalived_manifest for line in LINES.values())
# Every line's paths of a kind, for the probes that read a node before its line is known.
PKI_DIRS = tuple(d for line in LINES.values() for d in line.pki_dirs)
CLIENT_CERT_KUBECONFIGS = tuple(dict.fromkeys(f for line in LINES.values() for f in line.client_cert_kubeconfigs))

# DB-HA variants. "manual": the DB-HA page the HA document links; "ocboot": ocboot's
# mariadb_ha_nodes role; "single": one DB node without keepalived (4node).
DB_HA = ("manual", "ocboot", "single")
# The variants with DB-HA nodes (a topology without them has "single").
HA_DB_VARIANTS = tuple(v for v in DB_HA if v != "single")
OCBOOT_DB_ROUTER_ID = "oneclouddb"  # ocboot's global_defs router_id for the DB keepalived

# The files whose presence tells the install line (and whether keepalived.conf is there):
# the ``layout`` fact reports which of them exist on a node.
MARKERS = (KUBEADM_MARK, K3S_SERVER_UNIT, K3S_AGENT_UNIT, *MANIFESTS, "/etc/keepalived/keepalived.conf")
ADMIN_KUBECONFIGS = tuple(line.admin_kubeconfig for line in (LINES["kubeadm"], LINES["k3s"]))


@dataclass(frozen=True)
class Layout:
    """What a site was found to be: its install line (None: neither line's marker was found,
    e.g. before the install), its DB-HA variant, and where each value came from."""

    line: str | None
    db_ha: str
    sources: tuple[tuple[str, str], ...] = ()  # (field, where the value came from)

    def record(self) -> dict[str, Any]:
        """As results.json keeps it."""
        return {"line": self.line, "db_ha": self.db_ha, "sources": dict(self.sources)}

    def describe(self) -> str:
        line = f"{self.line} line" if self.line else "no install line detected"
        return f"{line}, DB HA {self.db_ha}"


def detect_line(present: Iterable[str]) -> str | None:
    """The install line a node is on, from the marker files (``MARKERS``) present on it; None
    when neither line's marker is there (nothing installed yet, or a layout neither line makes)."""
    present = set(present)
    for name in ("kubeadm", "k3s"):  # kubeadm first: its marker outranks a leftover k3s unit
        if present & set(LINES[name].markers):
            return name
    return None


def node_line(present: Iterable[str] | None, given: str | None, site: str | None) -> tuple[Line | None, str]:
    """The line whose rules apply on one node, and why: the inventory's ``layout.line`` when it
    names one (``given``); else the node's own marker files (``present``, the ``layout`` fact; None
    when it could not be read); else, on a node that carries neither line's markers (a DB node),
    the site's line (``site``). (None, why) when none of these tells."""
    if given is not None:
        return LINES[given], "inventory layout.line"
    if present is None:
        return None, "this node's marker files could not be read"
    own = detect_line(present)
    if own is not None:
        return LINES[own], "this node's marker files"
    if site is not None:
        return LINES[site], "the site's line (this node has neither line's marker files)"
    return None, "neither this node nor the site shows either line's marker files"


def detect_db_ha(db_ha_node_count: int, keepalived_confs: list[str]) -> str:
    """The DB-HA variant: "single" without DB-HA nodes; "ocboot" when the DB nodes' keepalived
    carries ocboot's template (global router_id oneclouddb, or its check_mariadb script);
    otherwise "manual" (the DB-HA page)."""
    if db_ha_node_count == 0:
        return "single"
    for text in keepalived_confs:
        if re.search(rf"^\s*router_id\s+{OCBOOT_DB_ROUTER_ID}\b", text, re.M) or re.search(
            r"^\s*vrrp_script\s+check_mariadb\b", text, re.M
        ):
            return "ocboot"
    return "manual"


def static_pod_env(manifest: str) -> dict[str, str]:
    """The keepalived container's environment from a static-pod manifest (YAML).

    Raises ValueError naming what is wrong when the text is no pod manifest."""
    try:
        doc = yamlfile.fast_load(manifest)  # a check reads each control node's manifests
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("spec"), dict):
        raise ValueError("no pod spec")
    containers: list[Any] = doc["spec"].get("containers") or []
    for c in containers:
        if isinstance(c, dict) and "keepalived" in str(c.get("name", "")) + str(c.get("image", "")):
            env = {}
            for item in c.get("env") or []:
                if isinstance(item, dict) and "name" in item:
                    env[str(item["name"])] = "" if item.get("value") is None else str(item["value"])
            return env
    raise ValueError("no keepalived container in the pod spec")


def static_pod_vips(value: str) -> list[str]:
    """KEEPALIVED_VIRTUAL_IPS ("#PYTHON2BASH:['10.0.0.5']", as the image takes it) as addresses."""
    text = value.removeprefix("#PYTHON2BASH:").strip()
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        parsed = text.split(",")
    items = parsed if isinstance(parsed, list | tuple) else [parsed]
    return [str(v).strip().split("/")[0] for v in items if str(v).strip()]


def manifest_vips(manifests: Iterable[tuple[str, str]]) -> list[str]:
    """The VIPs of every keepalived static pod among ``manifests`` ([(path, text)], the
    ``keepalived_manifest`` fact); broken ones add none."""
    found: list[str] = []
    for _, body in manifests:
        try:
            env = static_pod_env(body)
        except ValueError:
            continue
        found += static_pod_vips(env.get("KEEPALIVED_VIRTUAL_IPS", ""))
    return found


# A manifest in the shape the k3s line's installer writes (values from the published example).
EXAMPLE_MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: keepalived
  namespace: kube-system
  labels: {component: keepalived, tier: control-plane}
spec:
  hostNetwork: true
  priorityClassName: system-cluster-critical
  containers:
  - name: keepalived
    image: yunionio/keepalived:v2.0.29
    securityContext: {privileged: true, capabilities: {add: [NET_ADMIN, NET_BROADCAST, NET_RAW]}}
    env:
    - {name: KEEPALIVED_STATE, value: MASTER}
    - {name: KEEPALIVED_PRIORITY, value: "100"}
    - {name: KEEPALIVED_VIRTUAL_IPS, value: "#PYTHON2BASH:['192.168.0.66']"}
    - {name: KEEPALIVED_ROUTER_ID, value: "66"}
    - {name: KEEPALIVED_PASSWORD, value: MTkyLjE2}
    - {name: KEEPALIVED_INTERFACE, value: eth0}
    - {name: KEEPALIVED_NODE_IP, value: 192.168.0.10}
"""
