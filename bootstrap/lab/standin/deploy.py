"""Deploys the lab's platform stand-in: an etcd cluster across the control nodes,
the endpoints server (server.py), and shared S3 storage placed by keepalived.

Lab only: the real platform (Kubernetes and Cloudpods services) cannot run on the
lab's machines. No check in suites/ knows this exists; checks probe the same
endpoints they probe on a real install.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

from bootstrap.deploy.core import MARK
from bootstrap.deploy.keepalived import Vrrp, vrrp_script
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


def standin(d: Deployment, node: NodeEntry, unit: str = "ha-standin") -> None:
    """The endpoints server as ``unit`` (``k3s`` on the k3s line: it plays the k3s server)."""
    r, step = d.remote(node), "standin"
    changed = False
    if r.put("/usr/local/lib/ha-standin/server.py", SERVER_SOURCE.read_text(), mode=0o755):
        changed = True
        d.changed(node, step, "installed the stand-in server")
    if not r.run("test -s /etc/ha-standin/tls.key && test -s /etc/ha-standin/tls.crt", check=False).ok:
        sans = ",".join(f"IP:{a}" for a in (node.address, d.inventory.vips.platform, "127.0.0.1"))
        r.run(
            "mkdir -p /etc/ha-standin && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
            "-nodes -days 3650 -keyout /etc/ha-standin/tls.key -out /etc/ha-standin/tls.crt "
            f"-subj /CN={node.name} -addext subjectAltName={sans} 2>/dev/null && chmod 600 /etc/ha-standin/tls.key"
        )
        changed = True
        d.changed(node, step, "made a TLS certificate")
    db_host = d.inventory.vips.db or d.nodes(Role.DB)[0].address
    cnf = f"[client]\nuser={d.inventory.db.user}\npassword={d.db_password}\n"
    if r.put("/etc/ha-standin/db.cnf", cnf, mode=0o600):
        changed = True
        d.changed(node, step, "wrote the database client credentials (0600)")
    config = {
        "etcd_url": "http://127.0.0.1:2379",
        "db_host": str(db_host),
        "db_port": d.inventory.db.port,
        "db_cnf": "/etc/ha-standin/db.cnf",
        "cert": "/etc/ha-standin/tls.crt",
        "key": "/etc/ha-standin/tls.key",
    }
    if r.put("/etc/ha-standin/config.json", json.dumps(config, indent=2) + "\n"):
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
