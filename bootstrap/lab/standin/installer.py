"""The lab's stand-in for the product's installer, registered with the deployer as
its ``Installer``: the control plane (etcd + the endpoints server), the platform
VIP's keepalived, the storage address and its S3 server, the admin kubeconfig and the
compute nodes' kubelet files. The lab depends on the deployer; never the reverse.

It writes the install line's real layout (``line``: k3s, the product's default, or kubeadm;
shared/docs/real-sites.md): the platform keepalived as the line's static-pod manifest (run by
the lab's kubelet stand-in, static_pod.py, with a container-runtime stand-in for its log), the
line's kubeconfigs and, on the k3s line, ``k3s.service`` (the endpoints server) and the compute
nodes' ``k3s-agent.service`` (the agent's local load balancer, agent_lb.py).
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from bootstrap import layout
from bootstrap.deploy.installer import VipGroup
from bootstrap.deploy.keepalived import nic_of
from bootstrap.lab import config
from bootstrap.lab import state as labstate
from bootstrap.lab.standin import deploy as standin
from bootstrap.lab.standin.cluster import KUBECTL_STATE, REGISTRY, RUNTIME_IMAGES, cluster_state, runtime_images
from bootstrap.lab.standin.units import (
    AGENT_LB,
    CHECK_INTERFACE,
    LAB_NC,
    NC_AS_ON_CENTOS7,
    STATIC_POD_RUNNER,
    agent_unit,
    check_interface_script,
    ocboot_db_keepalived,
    standin_unit,
    static_pod_unit,
)
from bootstrap.profiles import platform_auth_pass, platform_router_id
from bootstrap.topology import Role

if TYPE_CHECKING:
    from bootstrap.deploy.core import Deployment
    from bootstrap.inventory import NodeEntry

ADMIN_CONF = "/etc/kubernetes/admin.conf"
# The lab has no Kubernetes API: a stand-in kubectl (kubectl.py) answers, on the control nodes,
# what --discover asks about MinIO and what the HA-K8S checks ask of the cluster.


# The lab has no container runtime: this stand-in answers, where the static pod runs, the two
# questions the suite asks a runtime about the keepalived static pod (its running container and
# that container's log), as ``k3s crictl`` (k3s line) and ``docker`` (kubeadm line) would. The
# container is the runner's current keepalived (its pid file); its log is the runner's journal
# from keepalived's last start (keepalived logs through syslog here, to its console in the image).
RUNTIME = """#!/bin/sh
# The lab's stand-in for the container runtime (lab only): the keepalived static pod's container.
pidfile=${HA_STANDIN_PIDFILE:-/run/ha-static-pods/keepalived/keepalived.pid}
cid() { [ -s $pidfile ] && printf 'keepalived-%s' "$(cat $pidfile)" | sha256sum | cut -c1-13; }
running() { [ -s $pidfile ] && kill -0 "$(cat $pidfile)" 2>/dev/null; }
if [ "$(basename "$0")" = k3s ]; then
    [ "$1" = crictl ] || { echo "error: the lab's k3s stand-in answers only crictl" >&2; exit 1; }
    shift
fi
cmd=$1; [ $# -gt 0 ] && shift
all=no; tail=all; id=; ts=no
while [ $# -gt 0 ]; do
    case "$1" in
        -a|--all) all=yes ;;
        -aq|-qa) all=yes ;;
        -q|--quiet) ;;
        -t|--timestamps) ts=yes ;;
        -o) shift ;;
        --format) shift ;;
        --format=*|-o=*) ;;
        --name|--filter) shift ;;
        --name=*|--filter=*) ;;
        --tail) shift; tail=$1 ;;
        --tail=*) tail=${1#--tail=} ;;
        -*) echo "error: the lab's runtime stand-in does not know $1" >&2; exit 1 ;;
        *) id=$1 ;;
    esac
    shift
done
case "$cmd" in
    ps) if running || { [ $all = yes ] && [ -s $pidfile ]; }; then cid; fi ;;
    logs)
        [ -n "$id" ] && [ "$id" = "$(cid)" ] || { echo "error: no such container: $id" >&2; exit 1; }
        # The runtime's --timestamps: RFC 3339 with nanoseconds in front of each line (the
        # journal's microseconds, three zeros more), as crictl and docker print them.
        if [ $ts = yes ]; then
            journalctl -o short-iso-precise --no-pager -u ha-static-pods -n 20000 2>/dev/null \\
                | sed -E 's/^([0-9-]+T[0-9:]+\\.[0-9]+)([+-][0-9]{2})([0-9]{2}) [^ ]+ [^:]+: /\\1000\\2:\\3 /'
        else
            journalctl -o cat --no-pager -u ha-static-pods -n 5000 2>/dev/null
        fi | awk '/Starting Keepalived/ {n = 0} {l[n++] = $0} END {for (i = 0; i < n; i++) print l[i]}' \\
            | if [ "$tail" = all ]; then cat; else tail -n "$tail"; fi ;;
    images)
        # What the runtime holds (/etc/ha-standin/images): crictl's JSON, or docker's --format lines.
        if [ "$(basename "$0")" = k3s ]; then
            python3 -c 'import json, sys; print(json.dumps({"images": [{"id": "sha256:%064x" % i, "repoTags": [r],
    "repoDigests": [], "size": "1024", "uid": None, "username": "", "spec": None, "pinned": False}
    for i, r in enumerate(l.strip() for l in open(sys.argv[1]) if l.strip())]}, indent=2))' /etc/ha-standin/images
        else
            while read -r ref; do [ -n "$ref" ] && echo "$ref ${ref%:*}@<none>"; done </etc/ha-standin/images
        fi ;;
    *) echo "error: the lab's runtime stand-in answers only ps, logs and images" >&2; exit 1 ;;
esac
"""


@dataclass
class LabInstaller:
    """Settings of the lab's platform stand-in and its storage."""

    storage_vip: str
    s3_secret: str
    s3_access_key: str = config.S3_ACCESS_KEY
    shared_mount: str = config.SHARED_MOUNT
    tools_mount: str = config.TOOLS_MOUNT
    s3_port: int = config.S3_PORT
    keepalived_roles: tuple[Role, ...] = (Role.PLATFORM_HA, Role.CONTROL)
    admin_kubeconfig: str = ADMIN_CONF
    secrets: set[str] = field(default_factory=set)
    line: str = layout.DEFAULT_LINE  # k3s | kubeadm: the layout that line's installer makes
    db_ha: str = "manual"  # manual: the DB-HA page's (the deployer's); ocboot: mariadb_ha_nodes' (the installer's)

    def __post_init__(self) -> None:
        self.secrets = {self.s3_secret}
        self.admin_kubeconfig = layout.LINES[self.line].admin_kubeconfig

    @classmethod
    def from_state(cls, paths: config.LabPaths) -> LabInstaller:
        """The lab's installer as the lab that is up describes it (its state file)."""
        state = labstate.require(paths)
        return cls(
            storage_vip=state.vips["storage"],
            s3_secret=paths.s3_secret_file.read_text().strip(),
            line=state.line,
            db_ha=state.db_ha,
        )

    # Installer hooks -----------------------------------------------------------------
    def before_keepalived(self, d: Deployment) -> None:
        if self.db_ha == "manual":
            d.parallel("nc as CentOS 7's", d.nodes(Role.DB_HA), lambda n: self._centos7_nc(d, n))
        standin.etcd(d)
        d.wait_for("etcd quorum", lambda: standin.etcd_healthy(d))
        unit = standin_unit(self.line)
        standin.cluster_ca(d, layout.LINES[self.line])
        d.parallel("standin", d.nodes(Role.CONTROL), lambda n: standin.standin(d, n, unit, self.line))

    @property
    def owns_db_keepalived(self) -> bool:
        return self.db_ha == "ocboot"

    def db_keepalived(self, d: Deployment, node: NodeEntry, nic: str) -> tuple[str, dict[str, str]] | None:
        """ocboot's mariadb_ha_nodes variant (``onecloud/roles/mariadb-ha``): its keepalived.conf
        as its template renders it, and its interface switcher; None for the DB-HA page's."""
        if self.db_ha != "ocboot":
            return None
        return ocboot_db_keepalived(str(d.inventory.vips.db), nic, d.inventory.db.port), {
            CHECK_INTERFACE: check_interface_script(nic)
        }

    def keepalived_blocks(self, d: Deployment, node: NodeEntry, nic: str) -> list[str]:
        """The lab's own storage address (MinIO's role) on the control nodes; the platform VIP's
        keepalived is the line's static pod, not keepalived.conf's."""
        blocks = []
        if node.has(Role.CONTROL):
            blocks.append(standin.storage_instance(d, node, nic))
        return blocks

    def after_keepalived(self, d: Deployment) -> None:
        """The kubeconfigs and the compute nodes' join, per line, and the platform keepalived's
        static pod."""
        if self.line == "kubeadm":
            self._vip_kubeconfigs(d)
        else:
            self._k3s_files(d)
        d.parallel("static pod", d.nodes(Role.PLATFORM_HA), lambda n: self._static_pod(d, n))
        d.parallel("kubectl stand-in", d.nodes(Role.CONTROL), lambda n: self._kubectl(d, n))

    def _centos7_nc(self, d: Deployment, node: NodeEntry) -> None:
        """The DB-HA page's platform's nc on a lab DB node (Debian's ncat 7.x would wait for the
        server after stdin's end; CentOS 7's closes): ahead of /usr/bin/nc on the PATH."""
        if d.remote(node).put(LAB_NC, NC_AS_ON_CENTOS7, mode=0o755):
            d.changed(node, "keepalived", f"wrote {LAB_NC} (nc as CentOS 7's: ncat --send-only)")

    def _kubectl(self, d: Deployment, node: NodeEntry) -> None:
        """MinIO's service and secret where --discover asks for them (the lab's storage stands
        in for MinIO: its address, port and keys; the secret file 0600), the cluster the
        HA-K8S checks read (cluster_state), for the kubectl stand-in; the container runtime's
        stand-in with the images it holds; the private registry's name in /etc/hosts."""
        r = d.remote(node)

        def b64(text: str) -> str:
            return base64.b64encode(text.encode()).decode()

        env = (
            f"MINIO_ADDRESS={self.storage_vip}\nMINIO_PORT={self.s3_port}\n"
            f"MINIO_ACCESSKEY_B64={b64(self.s3_access_key)}\nMINIO_SECRETKEY_B64={b64(self.s3_secret)}\n"
        )
        if r.put("/etc/ha-standin/minio.env", env, mode=0o600):
            d.changed(node, "kubectl stand-in", "wrote MinIO's stand-in service and secret (0600)")
        state = cluster_state(d, self.line)
        if r.put(KUBECTL_STATE, json.dumps(state, indent=1) + "\n", mode=0o600):
            d.changed(node, "kubectl stand-in", f"wrote the cluster's nodes and pods ({KUBECTL_STATE})")
        runtime = "/usr/local/bin/k3s" if self.line == "k3s" else "/usr/local/bin/docker"
        if r.put(runtime, RUNTIME, mode=0o755):
            d.changed(node, "static pod", f"installed the lab's container runtime stand-in ({runtime})")
        if r.put(RUNTIME_IMAGES, runtime_images(state), mode=0o644):
            d.changed(node, "static pod", f"wrote the images its container runtime stand-in holds ({RUNTIME_IMAGES})")
        # ocboot's common role on an offline install: the private registry is the First Node.
        hosts = r.read("/etc/hosts") or ""
        entry = f"{d.inventory.first_node().address} {REGISTRY.split(':', maxsplit=1)[0]}"
        if entry not in hosts.splitlines():
            r.put("/etc/hosts", hosts.rstrip("\n") + "\n" + entry + "\n", mode=0o644)
            d.changed(
                node,
                "kubectl stand-in",
                f"pointed {REGISTRY.split(':', maxsplit=1)[0]} at the First Node in /etc/hosts",
            )
        script = Path(standin.__file__).with_name("kubectl.py").read_text()
        if r.put("/usr/local/bin/kubectl", script, mode=0o755):
            d.changed(node, "kubectl stand-in", "installed the lab's kubectl stand-in")

    def _static_pod(self, d: Deployment, node: NodeEntry) -> None:
        """The platform keepalived's manifest as the line's installer writes it (0600), and
        the lab's kubelet stand-in that runs it."""
        r, line = d.remote(node), layout.LINES[self.line]
        if r.put(STATIC_POD_RUNNER, Path(standin.__file__).with_name("static_pod.py").read_text(), mode=0o755):
            d.changed(node, "static pod", "installed the lab's kubelet stand-in")
        unit = static_pod_unit(line.keepalived_manifest)
        if r.put("/etc/systemd/system/ha-static-pods.service", unit):
            r.run("systemctl daemon-reload && systemctl enable ha-static-pods && systemctl restart ha-static-pods")
            d.changed(node, "static pod", "started ha-static-pods (kubepods.slice)")
        r.run(f"mkdir -p {Path(line.keepalived_manifest).parent}")
        if r.put(line.keepalived_manifest, keepalived_manifest(d, node, self.line), mode=0o600):
            d.changed(node, "static pod", f"wrote {line.keepalived_manifest}")

    def _k3s_files(self, d: Deployment) -> None:
        """k3s line: each server's own k3s.yaml at its local apiserver; compute nodes joined
        with k3s-agent --server https://VIP:6443, their kubelet at the agent's 127.0.0.1:6444."""
        k3s = layout.LINES["k3s"]
        for node in d.nodes(Role.CONTROL):
            r = d.remote(node)
            ca = r.run(f"base64 -w0 {k3s.cluster_ca[0]}").stdout.strip()
            r.run(f"mkdir -p {Path(k3s.admin_kubeconfig).parent}")
            current = r.read(k3s.admin_kubeconfig) or ""
            if "server: https://127.0.0.1:6443" not in current or f"certificate-authority-data: {ca}" not in current:
                r.put(k3s.admin_kubeconfig, kubeconfig("https://127.0.0.1:6443", ca, secrets.token_hex(16)), mode=0o600)
                d.changed(node, "control", f"wrote {k3s.admin_kubeconfig}")
        server = f"https://{d.inventory.vips.platform}:6443"
        for node in d.nodes(Role.COMPUTE):
            r = d.remote(node)
            changed = r.put(AGENT_LB, Path(standin.__file__).with_name("agent_lb.py").read_text(), mode=0o755)
            changed |= r.put(layout.K3S_AGENT_UNIT, agent_unit(server))
            r.run(f"mkdir -p {Path(k3s.compute_kubeconfig).parent}")
            lb = kubeconfig(layout.K3S_AGENT_LB, "", "bootstrap-token").replace("kubernetes-admin", "system:node")
            changed |= r.put(k3s.compute_kubeconfig, lb, mode=0o600)
            if changed:
                r.run("systemctl daemon-reload && systemctl enable k3s-agent && systemctl restart k3s-agent")
                d.changed(node, "compute", f"joined through {server} (k3s-agent)")

    def _vip_kubeconfigs(self, d: Deployment) -> None:
        """kubeadm line: admin.conf on the control nodes (made on the First Node, copied as the
        installer does); kubelet.conf pointing at the VIP on the compute and control nodes
        (each runs a kubelet)."""
        first = d.inventory.first_node()
        r = d.remote(first)
        server = f"https://{d.inventory.vips.platform}:6443"
        conf = r.read(ADMIN_CONF) or ""
        ca = r.run(f"base64 -w0 {layout.LINES['kubeadm'].cluster_ca[0]}").stdout.strip()
        if f"server: {server}" not in conf or f"certificate-authority-data: {ca}" not in conf:
            conf = kubeconfig(server, ca, secrets.token_hex(16))
            r.put(ADMIN_CONF, conf, mode=0o600)
            d.changed(first, "control", f"wrote {ADMIN_CONF}")
        for node in d.nodes(Role.CONTROL):
            if node.name != first.name and d.remote(node).put(ADMIN_CONF, conf, mode=0o600):
                d.changed(node, "control", f"copied {ADMIN_CONF} from the First Node")
        kubelet_nodes = d.nodes(Role.COMPUTE, Role.CONTROL)
        for node in kubelet_nodes:
            # First Node IP: the VIP, not the First Node's address; port 6443.
            kubelet = kubeconfig(server, "", "bootstrap-token").replace("kubernetes-admin", "system:node")
            if d.remote(node).put("/etc/kubernetes/kubelet.conf", kubelet, mode=0o600):
                d.changed(node, "compute", f"joined through {server}")

    def vip_groups(self, d: Deployment) -> list[VipGroup]:
        """The platform VIP: its static pods start the First Node's instance as MASTER with the
        highest priority, and they preempt (``keepalived_manifest``), so it ends up there."""
        group = d.nodes(Role.PLATFORM_HA)
        first = d.inventory.first_node().name
        return [VipGroup(str(d.inventory.vips.platform), group, first if any(n.name == first for n in group) else None)]

    def ready(self, d: Deployment) -> str | None:
        return standin.storage_ready(d)


def install_nic(d: Deployment, node: NodeEntry) -> str:
    """KEEPALIVED_INTERFACE as the installer writes it: the NIC that holds the node's address,
    or where that is a bridge (br0, the Host service's), the bridge's first port
    (shared/docs/real-sites.md)."""
    nic = nic_of(d, node)
    ports = d.remote(node).run(f"ls /sys/class/net/{nic}/brif 2>/dev/null | sort | head -n 1; true").stdout.split()
    return ports[0] if ports else nic


def keepalived_manifest(d: Deployment, node: NodeEntry, line: str) -> str:
    """The platform keepalived's static pod as the line's installer writes it: environment
    variables with the installer's computed values (shared/docs/real-sites.md)."""
    vip, p = str(d.inventory.vips.platform), d.profile
    first = node.has(Role.FIRST)
    nic = install_nic(d, node)
    env = [
        ("KEEPALIVED_STATE", "MASTER" if first else "BACKUP"),
        ("KEEPALIVED_PRIORITY", str(p.platform_master_priority if first else p.platform_backup_priority)),
        ("KEEPALIVED_VIRTUAL_IPS", f"#PYTHON2BASH:['{vip}']"),
        ("KEEPALIVED_ROUTER_ID", str(platform_router_id(vip))),
        ("KEEPALIVED_PASSWORD", platform_auth_pass(vip, line)),
        ("KEEPALIVED_INTERFACE", nic),
        ("KEEPALIVED_NODE_IP", str(node.address)),
    ]
    if line == "k3s":
        env.append(("CHECK_KUBE_CMD", f"curl -sfk --max-time 1 -o /dev/null https://{node.address}:6443/healthz"))
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "keepalived",
            "namespace": "kube-system",
            "labels": {"component": "keepalived", "tier": "control-plane"},
        },
        "spec": {
            "hostNetwork": True,
            "priorityClassName": "system-cluster-critical",
            "containers": [
                {
                    "name": "keepalived",
                    "image": f"yunionio/{layout.LINES[line].keepalived_image}",
                    "securityContext": {"privileged": True},
                    "env": [{"name": k, "value": v} for k, v in env],
                }
            ],
        },
    }
    return yaml.safe_dump(pod, sort_keys=False)


def kubeconfig(server: str, ca_b64: str, token: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {ca_b64}\n    server: {server}\n  name: kubernetes\n"
        "contexts:\n- context:\n    cluster: kubernetes\n    user: kubernetes-admin\n"
        "  name: kubernetes-admin@kubernetes\ncurrent-context: kubernetes-admin@kubernetes\n"
        "preferences: {}\nusers:\n- name: kubernetes-admin\n  user:\n"
        f"    token: {token}\n"
    )
