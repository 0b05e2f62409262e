"""Deploys the lab's platform stand-in: an etcd cluster across the control nodes,
the endpoints server (server.py), and shared S3 storage placed by keepalived.

Lab only: the real platform (Kubernetes and Cloudpods services) cannot run on the
lab's machines. No check in suites/ knows this exists; checks probe the same
endpoints they probe on a real install.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

from bootstrap import layout
from bootstrap.deploy.core import MARK, DeployError
from bootstrap.deploy.keepalived import Vrrp, vrrp_script
from bootstrap.lab import config
from bootstrap.profiles import platform_auth_pass, platform_router_id
from bootstrap.topology import Role

if TYPE_CHECKING:
    from bootstrap.deploy.core import Deployment
    from bootstrap.inventory import NodeEntry
    from bootstrap.lab.standin.installer import LabInstaller


def _lab(d: Deployment) -> LabInstaller:
    """The lab's installer settings (this module runs only under the lab's installer)."""
    assert d.installer is not None and hasattr(d.installer, "storage_vip"), "the stand-in needs the lab's installer"
    return cast("LabInstaller", d.installer)


SERVER_SOURCE = Path(__file__).with_name("server.py")
ADMIN_API_SOURCE = Path(__file__).with_name("admin_api.py")  # MinIO's admin API stand-in, served by server.py
TLS_CRT, TLS_KEY = "/etc/ha-standin/tls.crt", "/etc/ha-standin/tls.key"  # what the stand-in serves
ETCD_DEFAULTS = "/etc/default/etcd"

STANDIN_UNIT = (
    MARK
    + """\
[Unit]
Description=Cloudpods platform stand-in (lab): k8s API health, web console, keystone ping
After=network.target etcd.service

[Service]
ExecStart=/usr/bin/python3 /usr/local/lib/ha-standin/server.py
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
"""
)

STORAGE_NOTIFY = "/etc/keepalived/storage-notify"


def storage_notify(vip: str) -> str:
    """keepalived's notify for the storage address: the S3 server runs where the address is
    (MinIO's role). keepalived forks one notify per transition and two can race (MASTER, then
    BACKUP a moment later after an equal-priority election): each waits its turn and acts on
    where the address is now, not on the state it was called with."""
    return (
        "#!/bin/bash\n"
        + MARK
        + f"""\
exec 9>/run/ha-storage-notify.lock
flock 9
if ip -o -4 addr show | grep -q " {vip}/32 "; then
    systemctl start ha-storage
else
    systemctl stop ha-storage
fi
"""
    )


# Fencing, part 1: a node that has lost the control plane's quorum (cut off, or its etcd
# down) gives up the storage address, so its S3 server stops and releases the shared data.
# Each run also settles the server's place again (in the background, not to delay the
# track): whatever order the notifies ran in, within a second the server runs only where
# the address is.
CHK_STORAGE = (
    "#!/bin/bash\n"
    + MARK
    + f"""\
{STORAGE_NOTIFY} </dev/null >/dev/null 2>&1 &
# This node's control-plane member sees a quorum.
[ "$(curl -sk --max-time 1 https://127.0.0.1:6443/healthz)" = ok ]
"""
)


def _control(d: Deployment) -> list[NodeEntry]:
    return d.nodes(Role.CONTROL)


def etcd_defaults(d: Deployment, node: NodeEntry) -> str:
    members = ",".join(f"{n.name}=http://{n.address}:2380" for n in _control(d))
    ip = node.address
    return (
        MARK
        + "\n".join(
            [
                f"ETCD_NAME={node.name}",
                "ETCD_DATA_DIR=/var/lib/etcd/default",
                f"ETCD_LISTEN_PEER_URLS=http://{ip}:2380",
                f"ETCD_LISTEN_CLIENT_URLS=http://{ip}:2379,http://127.0.0.1:2379",
                f"ETCD_INITIAL_ADVERTISE_PEER_URLS=http://{ip}:2380",
                f"ETCD_ADVERTISE_CLIENT_URLS=http://{ip}:2379",
                f"ETCD_INITIAL_CLUSTER={members}",
                "ETCD_INITIAL_CLUSTER_STATE=new",
                "ETCD_INITIAL_CLUSTER_TOKEN=cloudpods-ha-lab",
                "ETCD_HEARTBEAT_INTERVAL=100",
                "ETCD_ELECTION_TIMEOUT=1000",
                # As etcd 3.5 (Kubernetes' own) does by default: a member returning from a
                # partition does not depose the leader, so its return costs no outage.
                "ETCD_PRE_VOTE=true",
            ]
        )
        + "\n"
    )


# Like kubelet restarting etcd's static pod: a member that fails (at boot its address may
# not be up yet: "bind: cannot assign requested address") is started again.
ETCD_DROPIN = "/etc/systemd/system/etcd.service.d/ha-lab.conf"
ETCD_RESTART = MARK + "[Unit]\nStartLimitIntervalSec=0\n\n[Service]\nRestart=on-failure\nRestartSec=1\n"


def etcd_configure(d: Deployment, node: NodeEntry) -> bool:
    """Write the member's settings; True when they changed (the member must start afresh)."""
    r = d.remote(node)
    if r.put(ETCD_DROPIN, ETCD_RESTART):
        r.run("systemctl daemon-reload")
        d.changed(node, "standin", "etcd restarts when it fails")
    if not r.put(ETCD_DEFAULTS, etcd_defaults(d, node)):
        return False
    d.changed(node, "standin", "configured the etcd member")
    return True


def etcd_reset(d: Deployment, node: NodeEntry) -> None:
    """Changed settings need a fresh cluster, on every member at once (a member that
    starts empty while its peers keep the old cluster is refused): lab data is disposable."""
    d.remote(node).run("systemctl stop etcd; rm -rf /var/lib/etcd/default")


def etcd_start(d: Deployment, node: NodeEntry) -> None:
    r = d.remote(node)
    if not r.run("systemctl is-enabled etcd", check=False).ok:
        r.run("systemctl enable etcd")
        d.changed(node, "standin", "enabled etcd")
    if not r.run("systemctl is-active etcd", check=False).ok:
        # --no-block: each member waits for its peers, so all start together.
        r.run("systemctl restart --no-block etcd")
        d.changed(node, "standin", "started etcd")


def etcd(d: Deployment) -> None:
    """The control-plane quorum: one etcd member per control node."""
    changed: list[str] = []
    d.parallel("etcd", _control(d), lambda n: changed.append(n.name) if etcd_configure(d, n) else None)
    if changed:
        d.parallel("etcd", _control(d), lambda n: etcd_reset(d, n))
    d.parallel("etcd", _control(d), lambda n: etcd_start(d, n))


def etcd_healthy(d: Deployment) -> str | None:
    for node in _control(d):
        out = d.remote(node).run("curl -s --max-time 1 http://127.0.0.1:2379/health", check=False).stdout
        if '"health":"true"' not in out.replace(" ", ""):
            return f"{node.name}: etcd health {out.strip() or 'no answer'}"
    return None


def cluster_ca(d: Deployment, line: layout.Line) -> None:
    """The cluster's CA where the line's installer leaves it: made on the First Node (k3s's first
    server, kubeadm init), the same certificate and key on every control node (k3s servers read it
    from the datastore; kubeadm copies it on a control-plane join). The key travels over SSH's
    stdin only."""
    crt, key = line.cluster_ca
    first = d.inventory.first_node()
    r = d.remote(first)
    if not r.run(f"test -s {crt} && test -s {key}", check=False).ok:
        cn = f"k3s-server-ca@{int(time.time())}" if line.name == "k3s" else "kubernetes"
        r.run(
            f"mkdir -p {Path(crt).parent} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
            f"-nodes -days 3650 -keyout {key} -out {crt} -subj /CN={cn} -addext basicConstraints=critical,CA:TRUE "
            f"-addext keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign 2>/dev/null && chmod 600 {key}"
        )
        d.changed(first, "standin", f"made the cluster's CA ({crt})")
    pem, secret = r.read(crt), r.read(key)
    if not pem or not secret:
        raise DeployError(f"{first.name}: the cluster's CA at {crt} could not be read back")
    for node in _control(d):
        if node.name != first.name and d.remote(node).put(crt, pem) | d.remote(node).put(key, secret, mode=0o600):
            d.changed(node, "standin", f"copied the cluster's CA from the First Node ({crt})")


def _serving_cert(d: Deployment, node: NodeEntry, ca: tuple[str, str]) -> bool:
    """The API server's serving certificate, signed by the cluster's CA, its SANs the node's
    address, the platform VIP (ocboot's k3s config: ``tls-san: <VIP>``; kubeadm: the
    controlPlaneEndpoint) and 127.0.0.1. True when (re)made."""
    r = d.remote(node)
    if r.run(f"test -s {TLS_KEY} && openssl verify -CAfile {ca[0]} {TLS_CRT}", check=False).ok:
        return False
    sans = ",".join(f"IP:{a}" for a in (node.address, d.inventory.vips.platform, "127.0.0.1"))
    r.run(f"mkdir -p /etc/ha-standin && {sign_command(ca, node.name, sans, 3650)} && chmod 600 {TLS_KEY}")
    return True


def sign_command(ca: tuple[str, str], cn: str, sans: str, days: int, *, key: str = TLS_KEY, out: str = TLS_CRT) -> str:
    """A shell command that makes ``key`` (when missing) and ``out``: a serving certificate for
    ``cn`` with subjectAltName ``sans`` (e.g. "IP:10.0.0.1,IP:127.0.0.1"), ``days`` long, signed
    by the CA (certificate, key) ``ca``. Runs in a subshell; its exit status is openssl's."""
    ext = f"subjectAltName={sans}\\nextendedKeyUsage=serverAuth\\nkeyUsage=critical,digitalSignature\\n"
    return (
        f"( {{ test -s {key} || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out {key}; }} && "
        f"x=$(mktemp) && printf '{ext}' > $x && openssl req -new -key {key} -subj /CN={cn} 2>/dev/null "
        f"| openssl x509 -req -CA {ca[0]} -CAkey {ca[1]} -set_serial 0x$(openssl rand -hex 8) -days {days} "
        f"-extfile $x -out {out} 2>/dev/null; rc=$?; rm -f $x; exit $rc )"
    )


def standin(d: Deployment, node: NodeEntry, unit: str = "ha-standin", line: str = layout.DEFAULT_LINE) -> None:
    """The endpoints server as ``unit`` (``k3s`` on the k3s line: it plays the k3s server), its
    serving certificate signed by the ``line``'s cluster CA (``cluster_ca`` made it)."""
    r, step = d.remote(node), "standin"
    changed = False
    for source in (SERVER_SOURCE, ADMIN_API_SOURCE):
        if r.put(f"/usr/local/lib/ha-standin/{source.name}", source.read_text(), mode=0o755):
            changed = True
            d.changed(node, step, f"installed the stand-in server's {source.name}")
    if _serving_cert(d, node, layout.LINES[line].cluster_ca):
        changed = True
        d.changed(node, step, "made the API server's serving certificate (signed by the cluster's CA)")
    db_host = d.inventory.vips.db or d.nodes(Role.DB)[0].address
    cnf = f"[client]\nuser={d.inventory.db.user}\npassword={d.db_password}\n"
    if r.put("/etc/ha-standin/db.cnf", cnf, mode=0o600):
        changed = True
        d.changed(node, step, "wrote the database client credentials (0600)")
    settings = {
        "etcd_url": "http://127.0.0.1:2379",
        "db_host": str(db_host),
        "db_port": d.inventory.db.port,
        "db_cnf": "/etc/ha-standin/db.cnf",
        "cert": TLS_CRT,
        "key": TLS_KEY,
        "minio_admin_port": config.MINIO_ADMIN_PORT,
    }
    if r.put("/etc/ha-standin/config.json", json.dumps(settings, indent=2) + "\n"):
        changed = True
        d.changed(node, step, "wrote /etc/ha-standin/config.json")
    if r.put(f"/etc/systemd/system/{unit}.service", STANDIN_UNIT):
        r.run("systemctl daemon-reload")
        changed = True
        d.changed(node, step, f"installed {unit}.service")
    if not r.run(f"systemctl is-enabled {unit}", check=False).ok:
        r.run(f"systemctl enable {unit}")
        d.changed(node, step, f"enabled {unit}")
    if changed or not r.run(f"systemctl is-active {unit}", check=False).ok:
        r.run(f"systemctl restart {unit}")
        d.changed(node, step, f"restarted {unit}")
    storage_files(d, node)


def storage_unit(d: Deployment) -> str:
    lab = _lab(d)
    return (
        MARK
        + f"""\
[Unit]
Description=Shared S3 object storage (lab, MinIO's role), started by keepalived where the storage address is
# Stopping keepalived here must stop this server too: keepalived's last notify can race its own
# shutdown (it saw the address still there), and the server then kept the shared data's lock, so
# the next holder's server waited on it until keepalived came back (71 s; issue 14).
PartOf=keepalived.service

[Service]
# Fencing, part 2: one server at a time on the shared data. A node that takes the address
# while the previous holder still runs waits here for it to stop (the lock lives on the
# shared directory, which every control node mounts from the same host directory).
ExecStart=/usr/bin/flock {lab.shared_mount}/weed.lock \\
    {lab.tools_mount}/weed server -dir={lab.shared_mount}/weed -ip={lab.storage_vip} -ip.bind=0.0.0.0 \\
    -s3 -s3.port={lab.s3_port} -s3.config=/etc/ha-storage/s3.json -volume.max=30 -master.volumeSizeLimitMB=64 \\
    -master.electionTimeout=1s -volume.preStopSeconds=0
Restart=on-failure
RestartSec=1
# A server that has lost its address must let go of the shared data quickly: SIGKILL
# after 3 s (SeaweedFS' defaults wait 10 s to stop and 10 s to elect its single master).
TimeoutStopSec=3
"""
    )


def storage_files(d: Deployment, node: NodeEntry) -> None:
    lab = _lab(d)
    r, step = d.remote(node), "storage"
    creds = {
        "identities": [
            {
                "name": "cloudpods",
                "credentials": [{"accessKey": lab.s3_access_key, "secretKey": lab.s3_secret}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    changed = r.put("/etc/ha-storage/s3.json", json.dumps(creds) + "\n", mode=0o600)
    if r.put("/etc/systemd/system/ha-storage.service", storage_unit(d)):
        r.run(f"systemctl daemon-reload && mkdir -p {lab.shared_mount}/weed")
        changed = True
    if r.put(STORAGE_NOTIFY, storage_notify(lab.storage_vip), mode=0o755):
        changed = True
    if r.put("/etc/keepalived/chk_storage", CHK_STORAGE, mode=0o755):
        changed = True
    if changed:
        d.changed(node, step, "installed the storage service and its keepalived notify script")
        if r.run("systemctl is-active ha-storage", check=False).ok:
            r.run("systemctl restart ha-storage")


def storage_instance(d: Deployment, node: NodeEntry, nic: str) -> str:
    """keepalived places the storage address (and with it the S3 server) on one control node."""
    vip = _lab(d).storage_vip
    router_id = (platform_router_id(str(d.inventory.vips.platform)) + 1) % 255 or 1
    if router_id == d.profile.db_router_id:
        router_id = (router_id + 1) % 255 or 1
    # Every node BACKUP with nopreempt: the S3 server moves only when its node fails,
    # never back on its own (each move restarts the server: a needless outage).
    return (
        vrrp_script("chk_storage")
        + "\n"
        + Vrrp(
            "VI_STORAGE",
            "BACKUP",
            nic,
            router_id,
            100 if node.has(Role.FIRST) else 90,
            platform_auth_pass(vip),
            vip,
            advert_int=d.profile.advert_int,
            nopreempt=True,
            track="chk_storage",
            notify=STORAGE_NOTIFY,
        ).render()
    )


def storage_ready(d: Deployment) -> str | None:
    """The S3 endpoint answers HTTP on the storage address (any status: it is up)."""
    lab = _lab(d)
    first = d.inventory.first_node()
    url = f"http://{lab.storage_vip}:{lab.s3_port}/"
    code = d.remote(first).run(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 2 {url}", check=False).stdout
    return None if code.strip() not in ("", "000") else f"S3 at {url} does not answer yet"
