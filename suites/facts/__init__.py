"""The node facts the checks read: each a declared probe (``core.Probe``: a POSIX sh
command, the statuses it may end with, a parser into a value or ``Unreadable``). A check
declares the facts it reads (``@check(..., facts=(...))``); one batch per node asks them all.

Values (``values``): str for text facts; the types named in each parser's docstring for the
rest. ``ABSENT`` (status 3) is a value ("not on this node"), never a failure.
"""

from __future__ import annotations

from bootstrap import layout
from bootstrap.topology import Role
from bootstrap.vips import ADDR_COMMAND
from suites.facts import cluster_values as cv
from suites.facts import shell
from suites.facts import values as v
from suites.facts.core import (
    ABSENT,
    TIMED_OUT,
    Fact,
    Probe,
    Unreadable,
    batch_script,
    batch_timeout,
    fact_of,
    new_nonce,
    nonempty,
    parse_batch,
    text,
)
from suites.facts.shell import AS_ROOT, KA_CONF_CHAIN, POD_LOG_COMMAND

__all__ = [
    "ABSENT",
    "AS_ROOT",
    "KA_CONF_CHAIN",
    "POD_LOG_COMMAND",
    "PROBES",
    "TIMED_OUT",
    "Fact",
    "Probe",
    "Unreadable",
    "batch_script",
    "batch_timeout",
    "fact_of",
    "new_nonce",
    "parse_batch",
]

A = (0, ABSENT)  # read, or not on this node
# Asked on the First Node only: the cluster as its kubectl shows it (one answer for the site).
FIRST = (Role.FIRST,)
# Asked where keepalived runs for a VIP.
KEEPALIVED_NODES = (Role.PLATFORM_HA, Role.DB_HA)

PROBES: dict[str, Probe] = {
    p.name: p
    for p in (
        Probe("hostname", "hostname", nonempty),
        Probe("kernel", "uname -r", nonempty),
        Probe(
            "selinux_config",
            "[ -e /etc/selinux/config ] || exit 3; cat /etc/selinux/config",
            v.absent_or(text, None),
            A,
        ),
        # SELinux at runtime: getenforce, else the kernel's own flag; neither: SELinux absent (3).
        Probe(
            "getenforce",
            "if command -v getenforce >/dev/null; then getenforce; elif [ -r /sys/fs/selinux/enforce ]; then "
            'read e </sys/fs/selinux/enforce; if [ "$e" = 1 ]; then echo Enforcing; else echo Permissive; fi; '
            "else exit 3; fi",
            v.absent_or(nonempty, None),
            A,
        ),
        Probe("swaps", "cat /proc/swaps", v.swaps),
        Probe("firewalld", "systemctl is-active firewalld", v.active_state, (0, 3, 4)),
        Probe("date", "date +%s.%N", v.clock, timeout=5),
        Probe("addr", ADDR_COMMAND, v.addresses, timeout=5),
        # keepalived.conf with the files it includes ("" where there is none).
        Probe("keepalived_conf", shell.KA_CONF_CHAIN, v.absent_or(text, ""), A),
        Probe(
            "keepalived_service",
            "systemctl show -p LoadState -p UnitFileState -p ActiveState keepalived",
            v.unit_state,
        ),
        Probe("sysctl", "sysctl net.ipv4.ip_forward net.ipv4.ip_nonlocal_bind", v.sysctls),
        Probe("admin_conf", shell.NEED_ROOT + shell.server_lines(layout.ADMIN_KUBECONFIGS), v.servers_by_file),
        Probe("kube_config", shell.KUBE_CONFIG_COMMAND, v.kube_config, A),
        Probe(
            "kubelet_conf",
            shell.NEED_ROOT
            + shell.server_lines((layout.KUBEADM_MARK, layout.LINES["k3s"].compute_kubeconfig))
            + shell.AGENT_SERVERS,
            v.servers_by_file,
        ),
        Probe("yunion", shell.YUNION_COMMAND, v.yunion, A),
        # The install line's marker files (bootstrap/layout.py, as ocboot tells the lines apart).
        Probe(
            "layout",
            shell.NEED_ROOT + "for f in " + " ".join(layout.MARKERS) + '; do if asroot test -e "$f"; then echo "$f"; '
            "fi; done",
            v.markers,
            timeout=5,
        ),
        # The platform VIP's keepalived as a static pod: the manifest at either line's path.
        Probe(
            "keepalived_manifest",
            shell.NEED_ROOT + "for f in " + " ".join(layout.MANIFESTS) + '; do asroot test -e "$f" || continue; '
            'echo "@@manifest $f"; asroot cat "$f" || exit 4; done',
            v.manifests,
        ),
        # Running keepalived processes with their cgroup (kubepods: a pod's container; a systemd
        # unit otherwise); a process that ends while read is left out.
        Probe(
            "keepalived_procs",
            "command -v pgrep >/dev/null || exit 5; for p in $(pgrep -x keepalived); do "
            "c=$(tr '\\n' ' ' </proc/$p/cgroup 2>/dev/null) || continue; echo \"pid=$p cgroup=$c\"; done",
            v.processes,
        ),
        # The static pod's keepalived containers, through the line's runtime (k3s crictl, docker).
        Probe("keepalived_containers", shell.CONTAINERS_COMMAND, v.containers, A),
        # The static pod's own container log: the image's track scripts' verdicts (real-sites.md).
        Probe("keepalived_pod_log", shell.POD_LOG_COMMAND, v.pod_log, A),
        # The files keepalived.conf's track scripts run (their first word), for what they check.
        Probe("keepalived_scripts", shell.KEEPALIVED_SCRIPTS_COMMAND, v.script_files, A),
        # keepalived's journal since it last started (its track scripts' verdicts).
        Probe("keepalived_log", shell.KEEPALIVED_LOG_COMMAND, v.journal, A),
        # keepalived's journal since boot, time-stamped: the VIP's history (HA-KA-010).
        Probe(
            "keepalived_history",
            shell.KEEPALIVED_HISTORY_COMMAND,
            v.timed_journal,
            A,
            timeout=20,
            roles=KEEPALIVED_NODES,
        ),
        # MariaDB's replication events from its error log (HA-DBHA-008's history).
        Probe("mariadb_log", shell.MARIADB_LOG_COMMAND, v.mariadb_log_lines, A, timeout=20, roles=(Role.DB_HA,)),
        # The static pod's container log with time stamps: the platform VIP's history (HA-KA-010).
        Probe(
            "keepalived_pod_history", shell.POD_HISTORY_COMMAND, v.pod_history, A, timeout=20, roles=(Role.PLATFORM_HA,)
        ),
        # The control plane's certificates (public parts only), for their lifetimes.
        Probe("certs", shell.CERTS_COMMAND, v.certificates),
        # The control plane's etcd as this node's member sees it: the member list, its own health.
        Probe("etcd_members", shell.ETCD_MEMBERS_COMMAND, v.etcd_reply, (0, *shell.CURL_NO_ANSWER), timeout=8),
        Probe("etcd_health", shell.ETCD_HEALTH_COMMAND, v.etcd_reply, (0, *shell.CURL_NO_ANSWER), timeout=8),
        Probe("etcd_status", shell.ETCD_STATUS_COMMAND, v.etcd_reply, (0, *shell.CURL_NO_ANSWER), timeout=8),
        Probe("etcd_alarms", shell.ETCD_ALARMS_COMMAND, v.etcd_reply, (0, *shell.CURL_NO_ANSWER), timeout=8),
        # etcd's leader elections in its log (HA-CP-010's history).
        Probe("etcd_history", shell.ETCD_HISTORY_COMMAND, v.etcd_log_lines, A, timeout=20, roles=(Role.CONTROL,)),
        # The DB-HA page's interface switcher, where installed (its cron file and scripts).
        Probe(
            "interface_switcher",
            "for f in /etc/cron.d/update_keepalived_interface /etc/keepalived/check_interface2.sh "
            '/etc/keepalived/check_interface.sh; do if [ -f "$f" ]; then echo "$f"; fi; done',
            v.paths,
            timeout=5,
        ),
        # What /bin/sh is (dash on Debian and Ubuntu, bash on the RHEL family): keepalived runs
        # a track script that is no executable file through it.
        Probe("bin_sh", "readlink -f /bin/sh", nonempty, timeout=5),
        # Which nc a `echo | nc` track script runs (netcats differ at stdin's end: real-sites.md).
        Probe(
            "netcat",
            'p=$(command -v nc) || exit 3; readlink -f "$p"; nc -h 2>&1 | head -n 1',
            v.absent_or(text, None),
            A,
            timeout=5,
        ),
        # The platform's Kubernetes layer as kubectl shows it on a control node (issue 25).
        Probe("kube_nodes", shell.KUBE_NODES_COMMAND, cv.kube_nodes, A, timeout=20, roles=FIRST),
        Probe("kube_pods", shell.KUBE_PODS_COMMAND, cv.kube_pods, A, timeout=20, roles=FIRST),
        # Where the platform's pods may run (nodes' labels, pods' constraints and claims, the
        # volumes' node affinity) and the images they use, as JSON (suites/kube_placement.py).
        Probe("kube_objects", shell.KUBE_OBJECTS_COMMAND, cv.kube_objects, A, timeout=30, roles=FIRST),
        # The release the OnecloudCluster names and the tags it pins (suites/platform_release.py).
        Probe("kube_release", shell.KUBE_RELEASE_COMMAND, cv.kube_release, A, timeout=20, roles=FIRST),
        # The images in a control node's container runtime, and the names its /etc/hosts pins
        # (ocboot's offline install points private-registry.onecloud at the First Node there).
        Probe("runtime_images", shell.RUNTIME_IMAGES_COMMAND, cv.runtime_images, A, timeout=20, roles=(Role.CONTROL,)),
        Probe("etc_hosts", "cat /etc/hosts", cv.etc_hosts, timeout=5, roles=(Role.CONTROL,)),
        # Links (a bridge's ports carry "master br0"): the static pod's interface may be one.
        Probe("links", "ip -o link show", nonempty, timeout=5),
    )
}
