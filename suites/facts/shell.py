"""The probes' POSIX sh commands (real nodes run CentOS 7's bash 4.2 as /bin/sh, Debian's
dash, hand-built DB hosts without python3). Every path comes from ``bootstrap.layout``.

Rules every command keeps: no ``; true`` or ``|| true``; a read that can fail (``cat``,
``grep`` beyond "no match", a container runtime, the journal) ends the probe with status 4;
"not on this node" is status 3; a loop's last command is never a bare ``a && b`` (its false
test would become the probe's status). Root-only files are read through ``asroot``
(``sudo -n`` for a non-root SSH user: never a password prompt, never a change).
"""

from __future__ import annotations

from bootstrap import layout

# Asked once per probe (each asroot call would otherwise spawn a subshell and id).
AS_ROOT = 'if [ "$(id -u)" = 0 ]; then asroot() { "$@"; }; else asroot() { sudo -n "$@"; }; fi; '
# Before a probe that tests whether root-only paths exist: a refused sudo would read as "absent".
NEED_ROOT = AS_ROOT + ('m=$(asroot true 2>&1) || { echo "root-only files cannot be read as $(id -un): $m"; exit 4; }; ')
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"

# keepalived.conf and the files its `include` lines name, and theirs (keepalived reads them as
# part of it; a relative path is the including file's directory's; globs expanded; 4 levels
# deep at most), each after a "# @@include <path>" line. No keepalived.conf: status 3.
KA_CONF_CHAIN = AS_ROOT + (
    "kainc() { inc=$(asroot sed -n 's/^[[:space:]]*include[[:space:]][[:space:]]*//p' \"$1\") || exit 4; "
    'for f in $inc; do case $f in (/*) ;; (*) f=$(dirname "$1")/$f ;; esac; for g in $f; do '
    '[ -f "$g" ] || continue; echo; echo "# @@include $g"; asroot cat "$g" || exit 4; '
    'if [ "$2" -lt 4 ]; then kainc "$g" $(($2 + 1)); fi; done; done; }; '
    f"c={KEEPALIVED_CONF}; [ -e $c ] || exit 3; asroot cat $c || exit 4; kainc $c 1"
)

# Whether this node has the platform keepalived's static pod (either line's manifest): status 3
# where it has none (compute and DB nodes: their container runtime is not asked).
_HAS_MANIFEST = (
    "has=; for f in " + " ".join(layout.MANIFESTS) + '; do if asroot test -e "$f"; then has=1; fi; done; '
    '[ -n "$has" ] || exit 3; '
)
# The line's container runtime by full path (sudo's secure_path on CentOS 7 lacks /usr/local/bin):
# status 5 where neither k3s nor docker is installed.
_RUNTIME = (
    "if k=$(command -v k3s); then rt=\"$k crictl\"; running='ps --name keepalived -q'; "
    "all='ps -a --name keepalived -q'; "
    "elif k=$(command -v docker); then rt=\"$k\"; running='ps -q --filter name=k8s_keepalived'; "
    "all='ps -aq --filter name=k8s_keepalived'; "
    'else echo "no container runtime (k3s, docker) on PATH"; exit 5; fi; '
)
# The keepalived static pod's running containers: "runtime <cmd>" then "running <id>" lines.
CONTAINERS_COMMAND = (
    NEED_ROOT + _HAS_MANIFEST + _RUNTIME + 'ids=$(asroot $rt $running) || exit 4; echo "runtime $rt"; '
    'for i in $ids; do echo "running $i"; done'
)
# The keepalived static pod's container log: "runtime <cmd>", "container <id>" (the running
# container, else the last; empty where there is none), then its last 300 lines.
POD_LOG_COMMAND = (
    NEED_ROOT + _HAS_MANIFEST + _RUNTIME + "ids=$(asroot $rt $all) || exit 4; "
    "r=$(asroot $rt $running) || exit 4; id=$(printf '%s\\n' \"$r\" | head -n 1); "
    '[ -n "$id" ] || id=$(printf \'%s\\n\' "$ids" | head -n 1); '
    'echo "runtime $rt"; echo "container $id"; '
    'if [ -n "$id" ]; then asroot $rt logs --tail 300 "$id" 2>&1 || exit 4; fi'
)
# The keepalived static pod's container log with the runtime's time stamps (RFC 3339, crictl's
# and docker's --timestamps), the running container's else the last one's, its last 20000 lines:
# the platform VIP's history. "runtime <cmd>", "container <id>", then the lines.
POD_HISTORY_COMMAND = (
    NEED_ROOT + _HAS_MANIFEST + _RUNTIME + "ids=$(asroot $rt $all) || exit 4; "
    "r=$(asroot $rt $running) || exit 4; id=$(printf '%s\\n' \"$r\" | head -n 1); "
    '[ -n "$id" ] || id=$(printf \'%s\\n\' "$ids" | head -n 1); '
    'echo "runtime $rt"; echo "container $id"; '
    'if [ -n "$id" ]; then asroot $rt logs --timestamps --tail 20000 "$id" 2>&1 || exit 4; fi'
)

# keepalived's systemd unit: its state and its journal since it last started ("unit <LoadState>
# <ActiveState>" then the lines; the current invocation's, or the unit's last lines where systemd
# predates invocation ids). No unit: status 3. systemd 219 (CentOS 7) has no ``show --value``.
_KEEPALIVED_UNIT = NEED_ROOT + (
    "l=$(systemctl show -p LoadState keepalived) || exit 4; l=${l#LoadState=}; "
    '[ "$l" != not-found ] || exit 3; '
    "a=$(systemctl show -p ActiveState keepalived) || exit 4; a=${a#ActiveState=}; "
    'echo "unit $l $a"; '
)
KEEPALIVED_LOG_COMMAND = _KEEPALIVED_UNIT + (
    "i=$(systemctl show -p InvocationID keepalived 2>/dev/null); i=${i#InvocationID=}; "
    'if [ -n "$i" ]; then asroot journalctl -o cat --no-pager -n 300 _SYSTEMD_INVOCATION_ID="$i" 2>&1; '
    "else asroot journalctl -o cat --no-pager -u keepalived -n 300 2>&1; fi"
)

# The files keepalived.conf's track scripts run (their first word): "@@script <path>" then up to
# 4000 bytes of each text file. No keepalived.conf: status 3.
KEEPALIVED_SCRIPTS_COMMAND = (
    f"conf=$({KA_CONF_CHAIN}); r=$?; [ $r != 3 ] || exit 3; "
    "[ $r = 0 ] || { printf '%s\\n' \"$conf\"; exit 4; }; "
    + AS_ROOT
    + "for f in $(printf '%s\\n' \"$conf\" "
    + "| sed -n 's/^[[:space:]]*script[[:space:]]*\"\\{0,1\\}\\([^\" ]*\\).*/\\1/p' "
    '| sort -u); do [ -f "$f" ] || continue; asroot grep -qI \'\' "$f"; g=$?; [ $g -le 1 ] || exit 4; '
    '[ $g = 0 ] || continue; echo "@@script $f"; asroot head -c 4000 "$f" || exit 4; echo; done'
)

# The control plane's certificates (public parts only: the CERTIFICATE blocks of the kubeadm and
# k3s PKI files, and the kubeconfigs' client-certificate-data): "@@cert <path>" / "@@b64 <path>".
CERT_DIRS = layout.PKI_DIRS
CERTS_COMMAND = NEED_ROOT + (
    "for d in " + " ".join(CERT_DIRS) + '; do asroot test -d "$d" || continue; '
    "fs=$(asroot find \"$d\" -maxdepth 1 -type f -name '*.crt') || exit 4; for f in $fs; do "
    'echo "@@cert $f"; c=$(asroot sed -n "/BEGIN CERTIFICATE/,/END CERTIFICATE/p" "$f") || exit 4; '
    "printf '%s\\n' \"$c\" | head -c 20000; done; done; "
    "for f in " + " ".join(layout.CLIENT_CERT_KUBECONFIGS) + '; do asroot test -f "$f" || continue; '
    'b=$(asroot sed -n "s/^[[:space:]]*client-certificate-data:[[:space:]]*//p" "$f") || exit 4; '
    'for x in $(printf \'%s\\n\' "$b" | head -n 3); do echo "@@b64 $f"; echo "$x"; done; done'
)

# etcd as this node's member answers on 127.0.0.1:2379, through the node's own client certificate
# where etcd speaks TLS (kubeadm's healthcheck-client, k3s's etcd client; real-sites.md), so the
# key never leaves the node: "endpoint <url>" then the body; curl's own status where none came.
_KUBEADM_ETCD, _K3S_ETCD = layout.LINES["kubeadm"].etcd_client, layout.LINES["k3s"].etcd_client
_ETCD = NEED_ROOT + (
    f"e=https://127.0.0.1:2379; if asroot test -f {_KUBEADM_ETCD[1]}; then "
    f'a="--cacert {_KUBEADM_ETCD[0]} --cert {_KUBEADM_ETCD[1]} --key {_KUBEADM_ETCD[2]}"; '
    f'elif asroot test -f {_K3S_ETCD[1]}; then a="--cacert {_K3S_ETCD[0]} --cert {_K3S_ETCD[1]} --key {_K3S_ETCD[2]}"; '
    'else e=http://127.0.0.1:2379; a=""; fi; echo "endpoint $e"; '
)
ETCD_MEMBERS_COMMAND = _ETCD + 'asroot curl -sS --max-time 4 $a -X POST -d "{}" $e/v3/cluster/member/list'
ETCD_HEALTH_COMMAND = _ETCD + "asroot curl -sS --max-time 4 $a $e/health"
# This member's status (its cluster id, its own member id, the leader it follows) and the cluster's
# alarms (NOSPACE, CORRUPT), both as this member answers them (etcd's v3 JSON gateway).
ETCD_STATUS_COMMAND = _ETCD + 'asroot curl -sS --max-time 4 $a -X POST -d "{}" $e/v3/maintenance/status'
ETCD_ALARMS_COMMAND = _ETCD + 'asroot curl -sS --max-time 4 $a -X POST -d "{}" $e/v3/maintenance/alarm'
# curl's statuses for "etcd gave no answer" (refused, timed out, TLS or transfer failure):
# a reading (this member does not answer), not an unreadable fact.
CURL_NO_ANSWER = (7, 28, 35, 52, 56)


def server_lines(paths: tuple[str, ...]) -> str:
    """Each existing file of ``paths`` as "file=<path>" then its ``server:`` lines."""
    return (
        "for f in " + " ".join(paths) + '; do asroot test -f "$f" || continue; echo "file=$f"; '
        "asroot grep -E '^[[:space:]]*server:' \"$f\"; [ $? -le 1 ] || exit 4; done; "
    )


# The k3s agent names the servers it joined in its unit (--server) or its env file (K3S_URL; that
# file also holds K3S_TOKEN, never read): backslashes, quotes and newlines become blanks.
AGENT_SERVERS = (
    "u=" + layout.K3S_AGENT_UNIT + '; if asroot test -f $u; then echo "file=$u"; t=$(asroot cat $u) || exit 4; '
    "printf '%s\\n' \"$t\" | tr '\\134\\047\\042\\012' '    ' | awk '{for (i = 1; i <= NF; i++) "
    'if ($i == "--server" || $i == "-s") print "    server: " $(i + 1); '
    'else if ($i ~ /^--server=/) { sub(/^--server=/, "", $i); print "    server: " $i } }\'; '
    "if asroot test -f $u.env; then v=$(asroot grep -E '^K3S_URL=' $u.env); [ $? -le 1 ] || exit 4; "
    "printf '%s\\n' \"$v\" | tr -d '\\047\\042' | sed -n 's/^K3S_URL=/    server: /p'; fi; fi"
)

KUBE_CONFIG_COMMAND = (
    'k=$HOME/.kube/config; [ -f "$k" ] || exit 3; stat -c "owner=%U mode=%a" "$k" || exit 4; '
    + NEED_ROOT
    + "for f in "
    + " ".join(layout.ADMIN_KUBECONFIGS)
    + '; do asroot test -f "$f" || continue; '
    'asroot cmp -s "$k" "$f"; c=$?; case $c in 0) echo "same-as=$f" ;; 1) echo "differs-from=$f" ;; '
    '*) echo "cmp $k $f failed ($c)"; exit 4 ;; esac; done'
)

YUNION_COMMAND = AS_ROOT + (
    "id yunion >/dev/null 2>&1 || exit 3; id yunion; l=$(asroot sudo -n -l -U yunion 2>&1); s=$?; "
    "printf '%s\\n' \"$l\" | tail -n 5; "
    'if [ $s != 0 ]; then case $l in *"not allowed to run sudo"*) ;; *) exit 4 ;; esac; fi'
)


# kubectl on this node with the line's admin kubeconfig (kubeadm's admin.conf, k3s's k3s.yaml),
# as root: status 3 where there is no kubectl or no admin kubeconfig (DB and compute nodes). The
# table kubectl prints for people (-o wide): what the field's reports show (suites/kube.py).
_KUBECTL = (
    "k=$(command -v kubectl) || exit 3; c=; for f in " + " ".join(layout.ADMIN_KUBECONFIGS) + "; do "
    'if [ -e "$f" ]; then c=$f; break; fi; done; [ -n "$c" ] || exit 3; '
    + NEED_ROOT
    + 'asroot "$k" --kubeconfig="$c" --request-timeout=10s '
)
KUBE_NODES_COMMAND = _KUBECTL + "get nodes -o wide"
KUBE_PODS_COMMAND = _KUBECTL + "get pods --all-namespaces -o wide"
# One List of the nodes (their labels), the pods (constraints, claims, images) and the
# persistent volumes (their node affinity), as JSON: the placement questions need fields no
# table shows.
KUBE_OBJECTS_COMMAND = _KUBECTL + "get nodes,pods,pv --all-namespaces -o json"
# The platform's release as cloudpods-operator's custom resource names it (spec.version).
KUBE_RELEASE_COMMAND = _KUBECTL + "get onecloudclusters --all-namespaces -o json"
# The images in this node's container runtime: "runtime <cmd>" then its answer (crictl's JSON;
# docker's "repo:tag repo@digest" lines). k3s's crictl on the k3s line, docker on the kubeadm
# line, a standalone crictl (containerd) otherwise; none: status 3.
RUNTIME_IMAGES_COMMAND = (
    "if k=$(command -v k3s); then rt=k3s; elif k=$(command -v docker); then rt=docker; "
    "elif k=$(command -v crictl); then rt=crictl; else exit 3; fi; "
    + NEED_ROOT
    + 'case $rt in k3s) echo "runtime k3s crictl"; asroot "$k" crictl images -o json || exit 4 ;; '
    'docker) echo "runtime docker"; '
    "asroot \"$k\" images --format '{{.Repository}}:{{.Tag}} {{.Repository}}@{{.Digest}}' || exit 4 ;; "
    '*) echo "runtime crictl"; asroot "$k" images -o json || exit 4 ;; esac'
)

# keepalived's journal since boot, time-stamped (short-iso: systemd 219 has nothing finer), for
# the history checks: "unit <LoadState> <ActiveState>" then the lines. No unit: status 3.
KEEPALIVED_HISTORY_COMMAND = (
    _KEEPALIVED_UNIT + "asroot journalctl -u keepalived -b --no-pager -o short-iso -n 20000 2>&1"
)

# jgrep UNIT...: the units' journal since boot (short-iso), only its lines matching $p, the last
# 5000. journalctl's own --grep filters before formatting (a k3s server's journal since boot is
# large); where it has none (systemd 219, CentOS 7) or fails (built without pattern matching),
# grep does it. "-- No entries --" with status 1 is --grep finding nothing.
_JOURNAL_MATCHING = (
    'jgrep() { a=; for u in "$@"; do a="$a -u $u"; done; '
    'if out=$(asroot journalctl -b --no-pager -o short-iso $a -g "$p" 2>&1) || [ "$out" = "-- No entries --" ]; '
    'then printf \'%s\\n\' "$out"; else asroot journalctl -b --no-pager -o short-iso $a 2>&1 | grep -E "$p"; fi '
    "| tail -n 5000; }; "
)

# MariaDB's replication events from its error log: my.cnf's log-error file (the HA document's and
# ocboot's /var/log/mariadb/mariadb.log), else the unit's journal since boot; only the lines that
# may matter (replication, errors, starts), the last 5000. "zone <+hhmm>" (MariaDB stamps in local
# time) and "from <file|journal>" first. No MariaDB: status 3.
MARIADB_LOG_COMMAND = (
    "command -v my_print_defaults >/dev/null || exit 3; "
    "f=$(my_print_defaults --mysqld 2>/dev/null | sed -n 's/^--log[-_]error=//p' | tail -n 1); "
    + NEED_ROOT
    + "p='Slave|Replica|slave SQL|replica SQL|\\[ERROR\\]|ready for connections'; "
    'echo "zone $(date +%z)"; '
    + _JOURNAL_MATCHING
    + 'if [ -n "$f" ] && asroot test -f "$f"; then echo "from $f"; asroot cat "$f" | grep -E "$p" | tail -n 5000; '
    'else echo "from journal"; jgrep mariadb mysql mysqld; fi'
)

# etcd's leader elections in this control node's etcd log: the etcd unit's journal since boot,
# else k3s's (its embedded etcd), else the kubeadm line's etcd static pod container log with the
# runtime's stamps; only the election lines, the last 5000. "from <source>" first. None: status 3.
ETCD_HISTORY_COMMAND = (
    NEED_ROOT + "p='elected leader|lost leader'; "
    'unit() { [ "$(systemctl show -p LoadState "$1" 2>/dev/null)" = LoadState=loaded ]; }; '
    + _JOURNAL_MATCHING
    + 'if unit etcd; then echo "from journal etcd"; jgrep etcd; '
    'elif unit k3s; then echo "from journal k3s"; jgrep k3s; '
    'elif k=$(command -v crictl) && i=$(asroot "$k" ps -q --name etcd 2>/dev/null | head -n 1) && [ -n "$i" ]; then '
    'echo "from container $i"; asroot "$k" logs --timestamps "$i" 2>&1 | grep -E "$p" | tail -n 5000; '
    'elif k=$(command -v docker) && i=$(asroot "$k" ps -q --filter name=k8s_etcd | head -n 1) && [ -n "$i" ]; then '
    'echo "from container $i"; asroot "$k" logs --timestamps "$i" 2>&1 | grep -E "$p" | tail -n 5000; '
    "else exit 3; fi"
)
