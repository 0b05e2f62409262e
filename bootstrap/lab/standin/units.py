"""Text the installer's stand-in writes (lab only): its systemd units, ocboot's DB-HA keepalived
template and interface switcher as ocboot renders them (``onecloud/roles/mariadb-ha``)."""

from __future__ import annotations

from bootstrap.deploy.core import MARK

CHECK_INTERFACE = "/etc/keepalived/check_interface.sh"


def standin_unit(line: str) -> str:
    """The systemd unit of the lab's control-plane stand-in on a line: ``k3s`` on the k3s line
    (it plays the k3s server, whose unit the layout detection looks for), else ``ha-standin``."""
    return "k3s" if line == "k3s" else "ha-standin"


# The DB-HA page was written for CentOS 7, whose nc (nmap-ncat 6.40) closes the connection at
# stdin's end (nmap/nmap#1229), so its chk_mysql is a TCP probe there; Debian's ncat 7.93
# half-closes and waits for the server. The lab's DB nodes get CentOS 7's semantics.
LAB_NC = "/usr/local/bin/nc"
NC_AS_ON_CENTOS7 = (
    "#!/bin/sh\n"
    + MARK
    + """\
# Lab only: nc as CentOS 7's nmap-ncat 6.40 behaves (the DB-HA page's platform): it closes at stdin's end.
exec ncat --send-only "$@"
"""
)


def ocboot_db_keepalived(vip: str, nic: str, port: int) -> str:
    """The DB VIP's keepalived.conf as ocboot's mariadb-ha template writes it (values from
    shared/docs/real-sites.md: router_id oneclouddb, both nodes BACKUP 99, router id 92,
    auth_pass dbpass, check_mariadb "</dev/tcp/127.0.0.1/<port>", check_interface every 15 s)."""
    return f"""! Configuration File for keepalived

global_defs {{
    router_id oneclouddb
    enable_script_security 1
    script_user root
}}

vrrp_script check_interface {{
    script "{CHECK_INTERFACE}"
    interval 15
}}

vrrp_script check_mariadb {{
    script "</dev/tcp/127.0.0.1/{port}"
    interval 1
}}

vrrp_instance VI_1 {{
    state BACKUP
    interface {nic}
    virtual_router_id 92
    priority 99
    advert_int 1
    nopreempt
    authentication {{
        auth_type PASS
        auth_pass dbpass
    }}
    virtual_ipaddress {{
        {vip}
    }}
    track_script {{
        check_interface
        check_mariadb
    }}
}}
"""


def check_interface_script(db_nic: str) -> str:
    """ocboot's interface switcher's behaviour (written here): keepalived's ``interface``
    becomes the configured DB NIC if it carries an address, else br0, else the default
    route's NIC; keepalived restarts when that changed. Always healthy as a track script."""
    return (
        "#!/bin/bash\n"
        + MARK
        + f"""\
conf=/etc/keepalived/keepalived.conf
want={db_nic}
if ! ip -o -4 addr show dev "$want" 2>/dev/null | grep -q inet; then
    if ip -o -4 addr show dev br0 2>/dev/null | grep -q inet; then want=br0
    else want=$(ip -o -4 route show default 2>/dev/null | awk '{{print $5; exit}}'); fi
fi
have=$(awk '/^[[:space:]]*interface[[:space:]]/ {{print $2; exit}}' "$conf")
if [ -n "$want" ] && [ "$have" != "$want" ]; then
    sed -i "0,/^\\([[:space:]]*interface[[:space:]]\\).*/s//\\1$want/" "$conf"
    systemctl restart keepalived &
fi
exit 0
"""
    )


STATIC_POD_RUNNER = "/usr/local/lib/ha-standin/static_pod.py"
AGENT_LB = "/usr/local/lib/ha-standin/agent_lb.py"


def static_pod_unit(manifest: str) -> str:
    """The lab's kubelet stand-in for the platform keepalived's static pod; in kubepods.slice,
    as a kubelet with the systemd cgroup driver places a pod's containers."""
    return (
        MARK
        + f"""\
[Unit]
Description=Static pods (lab stand-in of the kubelet): the platform keepalived from {manifest}
After=network.target

[Service]
Slice=kubepods.slice
ExecStart=/usr/bin/python3 {STATIC_POD_RUNNER} {manifest} /run/ha-static-pods/keepalived
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
"""
    )


def agent_unit(server: str) -> str:
    """k3s-agent.service as k3s writes it, running the lab's agent load balancer."""
    return (
        MARK
        + f"""\
[Unit]
Description=Lightweight Kubernetes (lab stand-in of the k3s agent's load balancer)
After=network-online.target

[Service]
ExecStart=/usr/bin/python3 {AGENT_LB} \\
    agent \\
    '--server' \\
    '{server}'
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
"""
    )
