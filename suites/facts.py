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
        Probe("keepalived_conf", "cat /etc/keepalived/keepalived.conf 2>/dev/null || true"),
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
            "for f in /etc/kubernetes/kubelet.conf /etc/rancher/k3s/agent/kubelet.kubeconfig; do "
            "[ -f $f ] && { echo \"file=$f\"; grep -E '^[[:space:]]*server:' $f; }; done; true",
        ),
        Probe("yunion", "id yunion 2>&1; sudo -n -l -U yunion 2>&1 | tail -n 5"),
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
