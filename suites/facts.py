"""Node facts as declared probes: each fact is one POSIX shell command with its own
time limit, run with its exit status kept. All probes a node needs go in one batch
(one SSH round trip per node); within it each probe runs under ``timeout``, so one
slow command (``sudo -l`` waiting on LDAP, say) fails that fact alone, and only the
checks that declared it report an error naming it.

Probes stay in POSIX sh: real nodes run CentOS 7 (bash 4.2, Python 2.7), and hand-built
DB hosts may have no python3 at all.

>>> out = "@@ha-fact-x@@ begin hostname\\nnode1\\n\\n@@ha-fact-x@@ end hostname 0\\n"
>>> parse_batch(out, "x", [PROBES["hostname"]])["hostname"].output
'node1'
"""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from bootstrap import layout
from bootstrap.vips import ADDR_COMMAND

TIMED_OUT = (124, 137)  # timeout(1): limit reached; 137 after its KILL


@dataclass(frozen=True)
class Probe:
    """One fact: ``command`` answers it (exit 0 when it could); ``timeout`` in seconds."""

    name: str
    command: str
    timeout: float = 10.0


@dataclass(frozen=True)
class Fact:
    """What one probe returned on one node: exit status (None: no result) and output."""

    name: str
    command: str
    rc: int | None
    output: str
    timeout: float

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def why(self) -> str:
        if self.rc is None:
            return "gave no result (the batch ended before it)"
        if self.rc in TIMED_OUT:
            return f"did not answer within {self.timeout:g} s"
        tail = " ".join(self.output.split())[-200:]
        return f"exited {self.rc}" + (f": {tail}" if tail else "")


# Root-only files (a static pod's manifest is 0600) are read with sudo -n where the SSH
# user is not root: never a password prompt, never a change.
AS_ROOT = 'asroot() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }; '
# keepalived.conf and the files its `include` lines name, and theirs (keepalived reads them as
# part of it; a relative path is the including file's directory's; globs expanded; 4 levels
# deep at most), each after a "# @@include <path>" line.
KA_CONF_CHAIN = (
    "kainc() { for f in $(sed -n 's/^[[:space:]]*include[[:space:]][[:space:]]*//p' \"$1\" 2>/dev/null); do "
    'case $f in /*) ;; *) f=$(dirname "$1")/$f ;; esac; for g in $f; do [ -f "$g" ] || continue; '
    'echo; echo "# @@include $g"; cat "$g"; [ "$2" -ge 4 ] || kainc "$g" $(($2 + 1)); done; done; }; '
    "c=/etc/keepalived/keepalived.conf; cat $c 2>/dev/null; kainc $c 1; true"
)
# The keepalived static pod's container and its log: "@@runtime <runtime> id=<container>" then
# the log's last 300 lines (crictl's and docker's ``logs --tail``; the running container, else the
# last one), or "@@runtime none" (no runtime installed), "@@runtime none (<runtime> did not
# answer)" (it failed, e.g. sudo -n refused), or "@@runtime none (no manifest)" on a node without
# the static pod's manifest at either line's path (compute and DB nodes: their runtime is not asked).
POD_LOG_COMMAND = (
    "has=; for f in " + " ".join(layout.MANIFESTS) + '; do [ -e "$f" ] && has=1; done; '
    '[ -n "$has" ] || { echo "@@runtime none (no manifest)"; exit 0; }; '
    "if command -v k3s >/dev/null 2>&1; then rt='k3s crictl'; "
    "running='ps --name keepalived -q'; all='ps -a --name keepalived -q'; "
    "elif command -v docker >/dev/null 2>&1; then rt=docker; "
    "running='ps -q --filter name=k8s_keepalived'; all='ps -aq --filter name=k8s_keepalived'; "
    'else echo "@@runtime none"; exit 0; fi; '
    'ids=$(asroot $rt $all 2>/dev/null) || { echo "@@runtime none ($rt did not answer)"; exit 0; }; '
    'id=$(asroot $rt $running 2>/dev/null | head -n 1); [ -n "$id" ] || id=$(echo "$ids" | head -n 1); '
    'echo "@@runtime $rt id=$id"; [ -z "$id" ] || asroot $rt logs --tail 300 "$id" 2>&1; true'
)

PROBES: dict[str, Probe] = {
    p.name: p
    for p in (
        Probe("hostname", "hostname"),
        Probe("kernel", "uname -r"),
        Probe("selinux_config", "cat /etc/selinux/config 2>/dev/null || echo '(no /etc/selinux/config)'"),
        Probe("getenforce", "if command -v getenforce >/dev/null; then getenforce; else echo '(SELinux absent)'; fi"),
        Probe("swaps", "tail -n +2 /proc/swaps"),
        Probe("firewalld", "systemctl is-active firewalld 2>/dev/null || true"),
        Probe("date", "date +%s.%N", timeout=5),
        Probe("addr", ADDR_COMMAND, timeout=5),
        Probe("keepalived_conf", KA_CONF_CHAIN),
        Probe(
            "keepalived_service",
            "echo enabled=$(systemctl is-enabled keepalived 2>&1) active=$(systemctl is-active keepalived 2>&1)",
        ),
        Probe("sysctl", "sysctl -n net.ipv4.ip_forward net.ipv4.ip_nonlocal_bind"),
        Probe(
            "admin_conf",
            "for f in /etc/kubernetes/admin.conf /etc/rancher/k3s/k3s.yaml; do "
            "[ -f $f ] && { echo \"file=$f\"; grep -E '^[[:space:]]*server:' $f; }; done; true",
        ),
        Probe(
            "kube_config",
            "if [ -f $HOME/.kube/config ]; then stat -c 'owner=%U mode=%a' $HOME/.kube/config; "
            "for f in /etc/kubernetes/admin.conf /etc/rancher/k3s/k3s.yaml; do [ -f $f ] && "
            '{ cmp -s $HOME/.kube/config $f && echo "same-as=$f" || echo "differs-from=$f"; }; done; true; '
            "else echo missing; fi",
        ),
        Probe(
            "kubelet_conf",
            "for f in /etc/kubernetes/kubelet.conf " + layout.LINES["k3s"].compute_kubeconfig + "; do "
            "[ -f $f ] && { echo \"file=$f\"; grep -E '^[[:space:]]*server:' $f; }; done; "
            # The k3s agent names the servers it joined in its unit (--server) or its env file
            # (K3S_URL; that file also holds K3S_TOKEN, never read).
            "u=" + layout.K3S_AGENT_UNIT + '; if [ -f $u ]; then echo "file=$u"; '
            # backslash, quotes and newlines (octal, as POSIX tr takes them) become blanks
            "tr '\\134\\047\\042\\012' '    ' <$u | awk '{for (i = 1; i <= NF; i++) "
            'if ($i == "--server" || $i == "-s") print "    server: " $(i + 1); '
            'else if ($i ~ /^--server=/) { sub(/^--server=/, "", $i); print "    server: " $i } }\'; '
            "grep -E '^K3S_URL=' $u.env 2>/dev/null | tr -d '\\047\\042' | sed 's/^K3S_URL=/    server: /'; fi; "
            "true",
        ),
        Probe("yunion", "id yunion 2>&1; sudo -n -l -U yunion 2>&1 | tail -n 5"),
        # The install line's marker files (bootstrap/layout.py, as ocboot tells the lines apart).
        Probe("layout", layout.DETECT_COMMAND, timeout=5),
        # The platform VIP's keepalived as a static pod: the manifest at either line's path.
        Probe(
            "keepalived_manifest",
            AS_ROOT + "for f in " + " ".join(layout.MANIFESTS) + '; do [ -e "$f" ] || continue; '
            'echo "@@manifest $f"; asroot cat "$f" || echo "(cannot read $f)"; done; true',
        ),
        # Running keepalived processes with their cgroup (kubepods: a pod's container; a
        # systemd unit otherwise) and, where a container runtime answers, its keepalived containers.
        Probe(
            "keepalived_procs",
            AS_ROOT + "for p in $(pgrep -x keepalived); do "
            "echo \"pid=$p cgroup=$(tr '\\n' ' ' </proc/$p/cgroup 2>/dev/null)\"; done; "
            "if command -v k3s >/dev/null 2>&1; then ids=$(asroot k3s crictl ps --name keepalived -q 2>/dev/null); "
            'echo "runtime=k3s-crictl rc=$? running=$(echo $ids)"; '
            "elif command -v docker >/dev/null 2>&1; then "
            "ids=$(asroot docker ps -q --filter name=k8s_keepalived 2>/dev/null); "
            'echo "runtime=docker rc=$? running=$(echo $ids)"; '
            "fi; true",
        ),
        # The platform keepalived static pod's own log (its container's, through the line's
        # runtime: k3s crictl or docker; real-sites.md): the image's track scripts' verdicts.
        # "@@runtime none" where no runtime answers; the running container first, else the last.
        Probe("keepalived_pod_log", AS_ROOT + POD_LOG_COMMAND, timeout=10),
        # The files keepalived.conf's track scripts run (their first word), for what they check.
        Probe(
            "keepalived_scripts",
            AS_ROOT
            + "{ "
            + KA_CONF_CHAIN
            + "; } | sed -n 's/^[[:space:]]*script[[:space:]]*\"\\{0,1\\}\\([^\" ]*\\).*/\\1/p' "
            "| sort -u | while read -r f; do "
            '[ -f "$f" ] && asroot grep -qI "" "$f" && { echo "@@script $f"; asroot head -c 4000 "$f"; echo; }; '
            "done; true",
        ),
        # keepalived's log since it last started (its track scripts' verdicts): the journal of
        # the unit's current invocation, or its last lines where systemd predates invocation ids.
        Probe(
            "keepalived_log",
            AS_ROOT + "id=$(systemctl show -p InvocationID --value keepalived 2>/dev/null); "
            'if [ -n "$id" ]; then asroot journalctl -o cat --no-pager _SYSTEMD_INVOCATION_ID="$id" 2>&1 '
            "| tail -n 300; else asroot journalctl -o cat --no-pager -u keepalived -n 300 2>&1; fi; true",
        ),
        # The control plane's certificates (public parts only: the CERTIFICATE blocks of the
        # kubeadm and k3s PKI files, and the kubeconfigs' client-certificate-data), for their
        # lifetimes. Paths: real-sites.md (kubeadm /etc/kubernetes/pki, k3s server/tls).
        Probe(
            "certs",
            AS_ROOT + "for f in /etc/kubernetes/pki/*.crt /etc/kubernetes/pki/etcd/*.crt "
            "/var/lib/rancher/k3s/server/tls/*.crt /var/lib/rancher/k3s/server/tls/etcd/*.crt; do "
            '[ -f "$f" ] && { echo "@@cert $f"; asroot sed -n "/BEGIN CERTIFICATE/,/END CERTIFICATE/p" "$f" '
            "| head -c 20000; }; done; "
            "for f in /etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf /etc/rancher/k3s/k3s.yaml; do "
            '[ -f "$f" ] && asroot sed -n "s/^[[:space:]]*client-certificate-data:[[:space:]]*//p" "$f" '
            '| head -n 3 | while read -r b; do echo "@@b64 $f"; echo "$b"; done; done; true',
        ),
        # The control plane's etcd as this node's member sees it: the member list and its own
        # health, through the node's own client certificate where etcd speaks TLS (kubeadm's
        # healthcheck-client, k3s's etcd client; real-sites.md), so the key never leaves the node.
        Probe(
            "etcd_members",
            AS_ROOT + "e=https://127.0.0.1:2379; k=/etc/kubernetes/pki/etcd; r=/var/lib/rancher/k3s/server/tls/etcd; "
            'if [ -f $k/healthcheck-client.crt ]; then a="--cacert $k/ca.crt --cert $k/healthcheck-client.crt '
            '--key $k/healthcheck-client.key"; elif [ -f $r/client.crt ]; then a="--cacert $r/server-ca.crt '
            '--cert $r/client.crt --key $r/client.key"; else e=http://127.0.0.1:2379; a=""; fi; '
            'echo "@@endpoint $e"; echo "@@members"; asroot curl -s --max-time 4 $a -X POST -d "{}" '
            '$e/v3/cluster/member/list; echo; echo "@@health"; asroot curl -s --max-time 4 $a $e/health; echo; true',
            timeout=12,
        ),
        # The DB-HA page's interface switcher, where installed (its cron file and scripts).
        Probe(
            "interface_switcher",
            "for f in /etc/cron.d/update_keepalived_interface /etc/keepalived/check_interface2.sh "
            '/etc/keepalived/check_interface.sh; do [ -f "$f" ] && echo "exists $f"; done; true',
            timeout=5,
        ),
        # What /bin/sh is (dash on Debian and Ubuntu, bash on the RHEL family): keepalived runs
        # a track script that is no executable file through it.
        Probe("bin_sh", "readlink -f /bin/sh", timeout=5),
        # Which nc a `echo | nc` track script runs (netcats differ at stdin's end: real-sites.md).
        Probe(
            "netcat",
            'p=$(command -v nc 2>/dev/null) && { readlink -f "$p"; nc -h 2>&1 | head -n 1; }; true',
            timeout=5,
        ),
        # Links (a bridge's ports carry "master br0"): the static pod's interface may be one.
        Probe("links", "ip -o link show", timeout=5),
    )
}


def batch_script(probes: Iterable[Probe], nonce: str) -> str:
    """One POSIX sh script running each probe under its own time limit, in turn, its
    output framed by begin/end lines that carry its exit status."""
    mark = f"@@ha-fact-{nonce}@@"
    parts = []
    for p in probes:
        limit = f"{p.timeout:g}"
        parts.append(
            f"echo '{mark} begin {p.name}'; "
            f"timeout -k 1 {limit} sh -c {shlex.quote(p.command)} </dev/null 2>&1; rc=$?; "
            f'echo; echo "{mark} end {p.name} $rc"'
        )
    return "\n".join(parts) + "\n"


def batch_timeout(probes: Iterable[Probe]) -> float:
    """Seconds the whole batch may take: every probe at its limit, plus slack."""
    return sum(p.timeout + 1 for p in probes) + 5


def new_nonce() -> str:
    return secrets.token_hex(4)


def parse_batch(output: str, nonce: str, probes: Iterable[Probe]) -> dict[str, Fact]:
    """The batch's output -> {fact name: Fact}; a probe without an end line has rc None."""
    mark = f"@@ha-fact-{nonce}@@"
    wanted = {p.name: p for p in probes}
    found: dict[str, Fact] = {}
    current: str | None = None
    lines: list[str] = []
    for line in output.splitlines():
        if line.startswith(mark + " begin "):
            current, lines = line.split()[-1], []
        elif line.startswith(mark + " end ") and current is not None:
            rc_text = line.split()[-1]
            p = wanted.get(current)
            if p is not None:
                text = "\n".join(lines[:-1] if lines and lines[-1] == "" else lines).strip()
                found[current] = Fact(current, p.command, int(rc_text) if rc_text.isdigit() else None, text, p.timeout)
            current = None
        elif current is not None:
            lines.append(line)
    for name, p in wanted.items():
        if name not in found:
            found[name] = Fact(name, p.command, None, "\n".join(lines).strip() if name == current else "", p.timeout)
    return found
