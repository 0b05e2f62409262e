"""The mutation catalog: for every automatable requirement, a way to break exactly it on a
deployed lab, and the way to undo it.

A mutation names the requirement it breaks, the node it changes (fixed, or found at run time:
the holder of a VIP, the DB node that does not hold it...), the checks that must fail (the
requirement on that node, VIP or site), and, only where the product couples two requirements
so that one cannot break alone, the other checks it breaks too (``also``: each is a declared,
reasoned coupling, listed in the score). ``tolerate`` names checks that may or may not fail
while a mutation is in place (a flapping VIP is now here, now there). Everything else must
keep its baseline outcome.

Mutations change node state only through the lab's SSH; nothing here touches the host.
"""

from __future__ import annotations

import base64
import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from bootstrap.faults import Fault
from bootstrap.lab.driver import LabDriver
from bootstrap.lab.lab import Lab
from bootstrap.lab.standin.cluster import KUBECTL_STATE, RUNTIME_IMAGES
from bootstrap.lab.standin.deploy import TLS_CRT, TLS_KEY, sign_command
from bootstrap.lab.standin.units import standin_unit
from bootstrap.lab.state import LabStatus
from bootstrap.layout import LINES
from bootstrap.poll import WaitTimeout, wait_until

NIC = "host0"  # the lab nodes' interface (systemd-nspawn's name for it)


class MutationError(RuntimeError):
    pass


@dataclass
class View:
    """The deployed lab as mutations see it: nodes, addresses, VIP holders."""

    lab: Lab
    state: dict[str, Any] = field(default_factory=dict)  # what apply() saved for undo()

    def status(self) -> LabStatus:
        return self.lab.status()

    def sh(self, node: str, command: str, timeout: float = 60) -> str:
        proc = self.lab.ssh(node, command, timeout=timeout)
        if proc.returncode != 0:
            raise MutationError(f"{node}: {command!r} exited {proc.returncode}: {(proc.stderr or proc.stdout)[-500:]}")
        return proc.stdout

    def sql(self, node: str, statement: str) -> str:
        """SQL as the node's local root (unix socket), tab-separated, no headers."""
        return self.sh(node, f"mysql -N -B -e {shlex.quote(statement)}")

    def address(self, node: str) -> str:
        return self.status().node(node).address

    def vip(self, name: str) -> str:
        return self.status().vips[name].address

    def holder(self, name: str) -> str:
        held = self.status().vips[name].holders
        if len(held) != 1:
            raise MutationError(f"{name} VIP held by {held or 'nobody'}; mutations need a settled lab")
        return str(held[0])

    def line(self) -> str:
        """The install line whose layout the lab runs (k3s or kubeadm)."""
        return self.status().line

    def manifest(self) -> str:
        """The platform keepalived's static-pod manifest on this lab's line."""
        return LINES[self.line()].keepalived_manifest

    def with_role(self, role: str) -> list[str]:
        return self.status().with_role(role)

    def db_peer(self) -> str:
        """The DB-HA node that does not hold the DB VIP."""
        holder = self.holder("db")
        return next(n for n in self.with_role("db-ha") if n != holder)

    def idle_control(self) -> str:
        """A control node that holds no VIP."""
        busy = {h for v in self.status().vips.values() for h in v.holders}
        return next(n for n in sorted(self.with_role("control"), reverse=True) if n not in busy)

    def settle(self, timeout: float = 90) -> None:
        """Each VIP on one node and the S3 endpoint answering: the lab as deployed."""

        def settled() -> bool:
            vips = self.status().vips
            return all(len(v.holders) == 1 for v in vips.values()) and _s3_answers(self)

        self.wait("every VIP on one node and S3 answering", settled, timeout)

    def wait(self, what: str, check: Callable[[], bool], timeout: float = 60) -> None:
        try:
            wait_until(what, lambda: None if check() else "not yet", timeout, interval=0.5)
        except WaitTimeout:
            raise MutationError(f"{what}: not reached within {timeout:g} s") from None


Where = Callable[[View], str]


@dataclass(frozen=True)
class Mutation:
    id: str
    requirement: str
    what: str  # what it breaks, in words
    where: str | Where  # the node it changes
    apply: Callable[[View, str], None]
    undo: Callable[[View, str], None]
    # The subject of the failing check: "node" (the changed node), or a VIP ("vip-db"), or "site".
    subject: str = "node"
    also: tuple[tuple[str, str], ...] = ()  # (check id template, why) coupled failures
    tolerate: tuple[str, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)  # profile_overrides for the run
    alone: bool = False  # not batched with others

    def node(self, v: View) -> str:
        return self.where if isinstance(self.where, str) else self.where(v)

    def expected(self, node: str) -> set[str]:
        sub = node if self.subject == "node" else self.subject
        return {f"{self.requirement}[{sub}]"}

    def coupled(self, node: str) -> set[str]:
        return {tpl.format(node=node) for tpl, _ in self.also}


# Helpers ---------------------------------------------------------------------------------
def backup(path: str) -> Callable[[View, str], None]:
    def do(v: View, node: str) -> None:
        v.sh(node, f"cp -a {path} {path}.mutation-backup")

    return do


def restore(path: str) -> Callable[[View, str], None]:
    def do(v: View, node: str) -> None:
        v.sh(node, f"mv -f {path}.mutation-backup {path}")

    return do


def edit(path: str, sed: str) -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """Back the file up, edit it with sed; undo puts the backup back."""

    def apply(v: View, node: str) -> None:
        backup(path)(v, node)
        v.sh(node, f"sed -i {shlex.quote(sed)} {path}")
        if not v.sh(node, f"cmp -s {path} {path}.mutation-backup || echo changed").strip():
            raise MutationError(f"{node}: sed {sed!r} left {path} unchanged")

    return apply, restore(path)


def wrapper(command: str, body: str) -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """A /usr/local/bin wrapper that shadows a command for non-interactive shells."""
    path = f"/usr/local/bin/{command}"

    def apply(v: View, node: str) -> None:
        v.sh(node, f"printf '%s\\n' {shlex.quote('#!/bin/sh')} {shlex.quote(body)} > {path} && chmod 755 {path}")

    def undo(v: View, node: str) -> None:
        v.sh(node, f"rm -f {path}")

    return apply, undo


def on_vm(
    wrapped: tuple[Callable[[View, str], None], Callable[[View, str], None]], **boot: Callable[[], str]
) -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """The mutation made real on the VM driver: the node shut down and booted with ``boot``
    (VmMachine fields, each computed at apply time: ``kernel``, ``rtc_base``), and undone by a
    boot with the image's kernel and the host's clock; on containers, which share the host's
    kernel and clock, ``wrapped`` (a wrapper that fakes the command's answer)."""

    def reboot(v: View, node: str, **fields: str) -> None:
        v.lab.stop(node)
        v.lab.start(node, **fields)
        v.settle()

    def apply(v: View, node: str) -> None:
        if v.lab.state().machines != "vm":
            return wrapped[0](v, node)
        return reboot(v, node, **{name: make() for name, make in boot.items()})

    def undo(v: View, node: str) -> None:
        if v.lab.state().machines != "vm":
            return wrapped[1](v, node)
        return reboot(v, node)

    return apply, undo


def _clock_ahead(seconds: int) -> Callable[[], str]:
    return lambda: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + seconds))


def drop_port(
    vip: str, port: int, data_only: bool = False
) -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """Drop TCP to VIP:port arriving at the node (iptables in the node); with ``data_only``
    only segments that carry data (PSH), so a TCP connect still succeeds."""

    def rule(v: View) -> str:
        psh = " --tcp-flags PSH PSH" if data_only else ""
        return f"INPUT -d {v.vip(vip)}/32 -p tcp --dport {port}{psh} -j DROP"

    def apply(v: View, node: str) -> None:
        v.sh(node, f"iptables -I {rule(v)}")

    def undo(v: View, node: str) -> None:
        v.sh(node, f"iptables -D {rule(v)}")

    return apply, undo


def global_var(name: str, value: str) -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """SET GLOBAL on one node only (not written to the binary log)."""

    def apply(v: View, node: str) -> None:
        v.state[(node, name)] = v.sql(node, f"SELECT @@GLOBAL.{name}").strip()
        v.sql(node, f"SET GLOBAL {name} = {value}")

    def undo(v: View, node: str) -> None:
        old = v.state.pop((node, name))
        try:
            float(old)
        except ValueError:
            old = repr(old)
        v.sql(node, f"SET GLOBAL {name} = {old}")

    return apply, undo


def _service(action: str, unit: str) -> Callable[[View, str], None]:
    def do(v: View, node: str) -> None:
        v.sh(node, f"systemctl {action} {unit}")

    return do


# The platform keepalived is the line's static pod: mutations edit its manifest's environment,
# as an operator would, and the lab's kubelet stand-in restarts the pod on it. The backup lives
# outside the static-pod directory (a kubelet would run any file there as another pod).
MANIFEST_BACKUP = "/root/keepalived.yaml.mutation-backup"
POD_PID = "/run/ha-static-pods/keepalived/keepalived.pid"


def _pod_pid(v: View, node: str) -> str:
    return v.lab.ssh(node, f"p=$(cat {POD_PID} 2>/dev/null) && kill -0 $p 2>/dev/null && echo $p").stdout.strip()


def _write_manifest(v: View, node: str, text: str, before: str, settle: bool = True) -> None:
    """Write the manifest (its mode kept) and wait for the pod's keepalived to be restarted and a
    holder to hold the VIP again: alone (``settle``), or at least once within 60 s (a track
    script that flips by design)."""
    blob = base64.b64encode(text.encode()).decode()
    held = _holds_platform(v, node)
    v.sh(node, f"printf %s {blob} | base64 -d > {v.manifest()}")
    _restarted(v, node, before, held, "on its new manifest", settle=settle)


def _holds_platform(v: View, node: str) -> bool:
    return node in v.status().vips["platform"].holders


def _restarted(v: View, node: str, before: str, held: bool, why: str, *, settle: bool = True) -> None:
    """Wait for the pod's new keepalived; a platform VIP holder (the MASTER) first lets the VIP go
    and takes it back moments later: wait for that too, so the suite sees the VIP where it was
    (without ``settle``: seen on the node once, others may hold it too)."""
    v.wait(f"{node}: the static pod restarted {why}", lambda: _pod_pid(v, node) not in ("", before), 30)
    if held and settle:
        v.wait(f"{node}: holds the platform VIP again", lambda: v.status().vips["platform"].holders == (node,), 30)
    elif held:
        v.wait(f"{node}: takes the platform VIP back", lambda: node in v.status().vips["platform"].holders, 60)


def manifest_env(
    var: str, value: Callable[[View, str], str], settle: bool = True
) -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """Set one environment variable of the platform keepalived's static pod on the node; without
    ``settle``, apply waits only for a holder to take the VIP back once (a track script that flips
    by design may leave it shared or elsewhere for a while)."""

    def apply(v: View, node: str) -> None:
        path, before = v.manifest(), _pod_pid(v, node)
        doc = yaml.safe_load(v.sh(node, f"cat {path}"))
        env = next(c for c in doc["spec"]["containers"] if c["name"] == "keepalived")["env"]
        entry = next((e for e in env if e["name"] == var), None)
        if entry is None:
            env.append(entry := {"name": var})
        entry["value"] = value(v, node)
        v.sh(node, f"cp -a {path} {MANIFEST_BACKUP}")
        _write_manifest(v, node, yaml.safe_dump(doc, sort_keys=False), before, settle)

    def undo(v: View, node: str) -> None:
        before, held = _pod_pid(v, node), _holds_platform(v, node)
        v.sh(node, f"cat {MANIFEST_BACKUP} > {v.manifest()} && rm -f {MANIFEST_BACKUP}")
        _restarted(v, node, before, held, "back on its manifest")

    return apply, undo


def _track_script(v: View, node: str, body: str) -> str:
    """A script file for the static pod's check_kube (CHECK_KUBE_CMD names it)."""
    path = "/usr/local/bin/ha-mutation-check-kube"
    v.sh(node, f"printf %s {shlex.quote(body)} > {path} && chmod 755 {path}")
    return path


def _s3_answers(v: View) -> bool:
    url = f"http://{v.vip('storage')}:8333/"
    node = v.with_role("first")[0]
    code = v.lab.ssh(node, f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 2 {url}").stdout.strip()
    return code not in ("", "000")


def _reissued_certificate(days: int, sans: Callable[[View, str], str], ca: bool = True) -> tuple[Any, Any]:
    """The stand-in's serving certificate (its 6443 and 443; the VIP's when the node holds it)
    re-issued with the same key: for ``days``, with the SANs ``sans`` gives, signed by the
    cluster's CA (self-signed without ``ca``); undo puts the original back. Both restart the
    stand-in."""

    def apply(v: View, node: str) -> None:
        backup(TLS_CRT)(v, node)
        if ca:
            make = sign_command(LINES[v.line()].cluster_ca, node, sans(v, node), days)
        else:
            make = (f"openssl req -x509 -key {TLS_KEY} -days {days} -subj /CN={node} "
                    f"-addext subjectAltName={sans(v, node)} -out {TLS_CRT} 2>/dev/null")  # fmt: skip
        v.sh(node, f"{make} && systemctl restart {standin_unit(v.line())}")

    def undo(v: View, node: str) -> None:
        restore(TLS_CRT)(v, node)
        v.sh(node, f"systemctl restart {standin_unit(v.line())}")

    return apply, undo


def _every_san(v: View, node: str) -> str:
    return f"IP:{v.address(node)},IP:{v.vip('platform')},IP:127.0.0.1"


def _no_vip_san(v: View, node: str) -> str:
    return f"IP:{v.address(node)},IP:127.0.0.1"


def cluster_state(change: str) -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """The cluster the lab's kubectl stand-in reports on the node (its state file), changed by
    ``change``: Python statements over ``s``, the parsed file. Undo puts the file back (its time
    too: the pods' ages count from it)."""
    script = f"import json; f = {KUBECTL_STATE!r}; s = json.load(open(f)); {change}; json.dump(s, open(f, 'w'))"

    def apply(v: View, node: str) -> None:
        backup(KUBECTL_STATE)(v, node)
        v.sh(node, f"python3 -c {shlex.quote(script)}")

    return apply, restore(KUBECTL_STATE)


def _stale_k8s_node() -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """A Kubernetes node left behind by a control-node replacement: registered, never deleted,
    at a lab address nothing answers on (so NotReady), and in no inventory."""

    def apply(v: View, node: str) -> None:
        gone = v.address(node).rsplit(".", 1)[0] + ".250"
        old = {"name": f"{node}-replaced", "address": gone, "version": "v1.28.10+k3s1", "roles": "control-plane,master"}
        cluster_state(f"s['nodes'].append({old!r})")[0](v, node)

    return apply, restore(KUBECTL_STATE)


def _keepalived_crash() -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """keepalived's processes killed by SIGSEGV (systemd logs the main process "code=killed" or
    "code=dumped", keepalived's parent its child's signal), then started again: healthy now, the
    death left in the journal, which HA-KA-011 reads. Undo makes sure it runs."""

    def apply(v: View, node: str) -> None:
        v.sh(node, "systemctl kill --signal=SIGSEGV keepalived; sleep 1; systemctl start keepalived")

    def undo(v: View, node: str) -> None:
        v.sh(node, "systemctl start keepalived")

    return apply, undo


# VRRP (IP protocol 112) dropped on arrival at the node: its own adverts still leave.
_NO_VRRP = "INPUT -p 112 -j DROP"


def _split_brain(
    vip: str = "db", cut: str = "partition"
) -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """A split brain in the past: the node stops hearing its peers' VRRP adverts until it holds
    the ``vip`` too, as does a peer, kept so for 8 s, then mended. ``cut``: "partition" (the node
    off the lab's bridge: the DB VIP), or "vrrp" (only VRRP dropped on arrival, as a firewall or a
    switch filtering multicast does: the platform VIP, whose track script fails on a partitioned
    control node, its apiserver having lost etcd's quorum). Nothing is left to undo but the logs'
    lines, which are the history HA-KA-010 (the DB VIP) and HA-KA-012 (the platform VIP) read.
    Raises MutationError, mended, when the node never takes the VIP."""

    def mend(v: View, node: str) -> None:
        if cut == "partition":
            v.lab.heal(node)
        else:
            v.sh(node, f"while iptables -D {_NO_VRRP} 2>/dev/null; do :; done")

    def apply(v: View, node: str) -> None:
        if cut == "partition":
            v.lab.partition(node)
        else:
            v.sh(node, f"iptables -I {_NO_VRRP}")
        try:

            def both() -> str | None:
                held = set(v.status().vips[vip].holders)
                return None if node in held and len(held) > 1 else f"{vip} VIP held by {sorted(held) or 'nobody'}"

            try:
                wait_until(f"{node} taking the {vip} VIP while cut off", both, 20)
            except WaitTimeout as exc:
                raise MutationError(str(exc)) from None
            time.sleep(8)
        finally:
            mend(v, node)

    return apply, mend  # undo: mended by apply; again in case apply was interrupted


def _etcd_api(v: View, node: str, path: str, body: str = "{}", url: str = "http://127.0.0.1:2379") -> Any:
    return json.loads(v.sh(node, f"curl -s --max-time 10 -X POST -d {shlex.quote(body)} {url}/v3/{path}"))


def _leader_storm(v: View, node: str) -> None:
    """Four elections in a row: leadership moved off the current leader four times (etcd's
    transfer-leadership, sent to the leader; each ends in an election), each awaited."""
    for _ in range(4):
        leader = str(_etcd_api(v, node, "maintenance/status")["leader"])
        members = _etcd_api(v, node, "cluster/member/list")["members"]
        target = next(str(m["ID"]) for m in members if str(m["ID"]) != leader)
        at = next(m["clientURLs"][0] for m in members if str(m["ID"]) == leader)
        _etcd_api(v, node, "maintenance/transfer-leadership", json.dumps({"targetID": target}), at)
        v.wait("the new etcd leader", lambda t=target: str(_etcd_api(v, node, "maintenance/status")["leader"]) == t)


def _stale_etcd_member() -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """An etcd member added and never started (a lab address nobody has), as a failed join
    leaves one: quorum 3 of 4; undo removes it by its ID."""

    def apply(v: View, node: str) -> None:
        peer = v.address(node).rsplit(".", 1)[0] + ".250"
        body = json.dumps({"peerURLs": [f"http://{peer}:2380"]})
        out = v.sh(
            node, f"curl -s --max-time 10 -X POST -d {shlex.quote(body)} http://127.0.0.1:2379/v3/cluster/member/add"
        )
        try:
            v.state["etcd_member"] = json.loads(out)["member"]["ID"]
        except (ValueError, KeyError) as exc:
            raise MutationError(f"{node}: etcd member add answered {out[:300]!r}") from exc

    def undo(v: View, node: str) -> None:
        body = json.dumps({"ID": v.state.pop("etcd_member")})
        v.sh(
            node, f"curl -s --max-time 10 -X POST -d {shlex.quote(body)} http://127.0.0.1:2379/v3/cluster/member/remove"
        )

    return apply, undo


ETCD_API = "http://127.0.0.1:2379/v3"
ETCD_DEFAULTS = "/etc/default/etcd"  # the lab's etcd settings (bootstrap/lab/standin/deploy.py)


def _etcd_call(v: View, node: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    out = v.sh(node, f"curl -sS --max-time 10 -X POST -d {shlex.quote(json.dumps(body))} {ETCD_API}/{path}")
    try:
        doc = json.loads(out)
    except ValueError as exc:
        raise MutationError(f"{node}: etcd {path} answered {out[:300]!r}") from exc
    if not isinstance(doc, dict) or "error" in doc:  # the gateway's errors: {"error": ..., "code": N}
        raise MutationError(f"{node}: etcd {path} answered {out[:300]!r}")
    return doc


def _member_count(v: View, node: str) -> int | None:
    """How many members the node's etcd lists; None while it does not answer."""
    try:
        return len(_etcd_call(v, node, "cluster/member/list", {})["members"])
    except MutationError:
        return None


def _etcd_alarm() -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """etcd's NOSPACE alarm raised on the node's member (the alarm API's ACTIVATE, as a full
    backend raises it): the cluster refuses writes; undo deactivates it."""

    def act(v: View, node: str, action: str) -> None:
        member = _etcd_call(v, node, "maintenance/status", {})["header"]["member_id"]
        _etcd_call(v, node, "maintenance/alarm", {"action": action, "memberID": member, "alarm": "NOSPACE"})

    return (lambda v, node: act(v, node, "ACTIVATE")), (lambda v, node: act(v, node, "DEACTIVATE"))


def _etcd_own_cluster() -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """The node's etcd started afresh as a new one-member cluster (its data wiped, itself the
    initial cluster: a rejoin gone wrong, k3s's and kubeadm's reported split). It answers
    healthy to its own /health while the others, another cluster id, still list it. Undo: its
    data wiped again, re-added as a member by a peer, started to join the existing cluster."""

    def apply(v: View, node: str) -> None:
        alone = f"{node}=http://{v.address(node)}:2380"
        v.sh(node, f"cp -p {ETCD_DEFAULTS} {ETCD_DEFAULTS}.mutation-orig && systemctl stop etcd && "
                   "rm -rf /var/lib/etcd/default && "
                   f"sed -i -e 's|^ETCD_INITIAL_CLUSTER=.*|ETCD_INITIAL_CLUSTER={alone}|' "
                   f"-e 's|^ETCD_INITIAL_CLUSTER_TOKEN=.*|ETCD_INITIAL_CLUSTER_TOKEN=split|' {ETCD_DEFAULTS} && "
                   "systemctl start etcd")  # fmt: skip
        v.wait(f"{node}: etcd alone", lambda: _member_count(v, node) == 1, 30)

    def undo(v: View, node: str) -> None:
        v.sh(node, f"systemctl stop etcd; rm -rf /var/lib/etcd/default; if [ -f {ETCD_DEFAULTS}.mutation-orig ]; "
                   f"then mv {ETCD_DEFAULTS}.mutation-orig {ETCD_DEFAULTS}; fi")  # fmt: skip
        peer = next(n for n in v.with_role("control") if n != node)
        for m in _etcd_call(v, peer, "cluster/member/list", {})["members"]:
            if m.get("name") == node or f"//{v.address(node)}:" in " ".join(m.get("peerURLs", [])):
                _etcd_call(v, peer, "cluster/member/remove", {"ID": m["ID"]})
        _etcd_call(v, peer, "cluster/member/add", {"peerURLs": [f"http://{v.address(node)}:2380"]})
        v.sh(node, f"sed -i 's/^ETCD_INITIAL_CLUSTER_STATE=new$/ETCD_INITIAL_CLUSTER_STATE=existing/' {ETCD_DEFAULTS}"
                   " && systemctl start etcd")  # fmt: skip
        try:
            v.wait(f"{node}: etcd rejoined", lambda: _member_count(v, node) == 3, 60)
        finally:
            v.sh(
                node,
                f"sed -i 's/^ETCD_INITIAL_CLUSTER_STATE=existing$/ETCD_INITIAL_CLUSTER_STATE=new/' {ETCD_DEFAULTS}",
            )

    return apply, undo


DIVERGE_SCHEMA = "ha_mutation"


def _diverged_row() -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """A table written through replication on both DB nodes, then one row changed on the node
    with its binary log off (as a skipped replication error or a manual fix leaves it): both
    threads stay Yes, the rows differ. Undo: the schema dropped through replication."""

    def peer(v: View, node: str) -> str:
        return next(n for n in v.with_role("db-ha") if n != node)

    def rows(v: View, node: str) -> str:
        try:
            return v.sql(node, f"SELECT GROUP_CONCAT(v ORDER BY id) FROM {DIVERGE_SCHEMA}.t").strip()
        except MutationError:
            return "absent"

    def apply(v: View, node: str) -> None:
        v.sql(peer(v, node), f"CREATE DATABASE IF NOT EXISTS {DIVERGE_SCHEMA}; "
                             f"CREATE TABLE IF NOT EXISTS {DIVERGE_SCHEMA}.t (id INT PRIMARY KEY, v VARCHAR(20)); "
                             f"REPLACE INTO {DIVERGE_SCHEMA}.t VALUES (1, 'same'), (2, 'same')")  # fmt: skip
        v.wait(f"{node}: the table replicated", lambda: rows(v, node) == "same,same", 30)
        v.sql(node, f"SET SESSION sql_log_bin = 0; UPDATE {DIVERGE_SCHEMA}.t SET v = 'diverged' WHERE id = 2")

    def undo(v: View, node: str) -> None:
        v.sql(peer(v, node), f"DROP DATABASE IF EXISTS {DIVERGE_SCHEMA}")
        v.wait(f"{node}: the schema dropped", lambda: rows(v, node) == "absent", 30)

    return apply, undo


# The mutations ---------------------------------------------------------------------------
def _selinux() -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    return edit("/etc/selinux/config", "s/^SELINUX=.*/SELINUX=enforcing/")


def _swap_apply(v: View, node: str) -> None:
    v.sh(
        node,
        "printf 'Filename\\tType\\tSize\\tUsed\\tPriority\\n/swapfile file\\t1048572\\t0\\t-2\\n' > /run/fake-swaps"
        " && mount --bind /run/fake-swaps /proc/swaps",
    )


def _swap_undo(v: View, node: str) -> None:
    v.sh(node, "umount /proc/swaps && rm -f /run/fake-swaps")


FIREWALLD_UNIT = "[Unit]\nDescription=stand-in for firewalld (mutation)\n[Service]\nExecStart=/bin/sleep infinity\n"


def _firewalld_apply(v: View, node: str) -> None:
    v.sh(
        node,
        f"printf %s {shlex.quote(FIREWALLD_UNIT)} > /run/systemd/system/firewalld.service"
        " && systemctl daemon-reload && systemctl start firewalld",
    )


def _firewalld_undo(v: View, node: str) -> None:
    v.sh(node, "systemctl stop firewalld; rm -f /run/systemd/system/firewalld.service; systemctl daemon-reload")


def _drop_first_key_apply(v: View, node: str) -> None:
    first = v.with_role("first")[0]
    key = v.sh(first, "cat /root/.ssh/id_ed25519.pub 2>/dev/null || cat /root/.ssh/id_rsa.pub").split()[1]
    backup("/root/.ssh/authorized_keys")(v, node)
    v.sh(node, f"grep -v -F {shlex.quote(key)} /root/.ssh/authorized_keys.mutation-backup > /root/.ssh/authorized_keys")


def _vip_add(name: str) -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    def apply(v: View, node: str) -> None:
        v.sh(node, f"ip addr add {v.vip(name)}/32 dev {NIC}")

    def undo(v: View, node: str) -> None:
        v.sh(node, f"ip addr del {v.vip(name)}/32 dev {NIC}")

    return apply, undo


def _netmask_apply(v: View, node: str) -> None:
    addr = v.address(node)
    net = v.status().subnet
    # One command: between the delete and the route, the node cannot answer the runner.
    v.sh(
        node,
        f"ip addr add {addr}/28 dev {NIC} && ip addr del {addr}/{net.split('/')[1]} dev {NIC};"
        f" ip route replace {net} dev {NIC} src {addr}",
    )


def _netmask_undo(v: View, node: str) -> None:
    """The address back on its /24; then keepalived restarted: deleting the /28 took the
    instance's address away and keepalived 2.2.7 stays in FAULT after it returns (seen: the DB
    peer never took the VIP again, found by the split-brain mutation run after this one). The
    node is the DB peer, holding no VIP: the restart moves nothing."""
    addr = v.address(node)
    net = v.status().subnet
    v.sh(
        node,
        f"ip route del {net} dev {NIC}; ip addr add {addr}/{net.split('/')[1]} dev {NIC};"
        f" ip addr del {addr}/28 dev {NIC}; systemctl restart keepalived",
    )


def _blackhole(name: str) -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    def apply(v: View, node: str) -> None:
        v.sh(node, f"ip route add blackhole {v.vip(name)}/32")

    def undo(v: View, node: str) -> None:
        v.sh(node, f"ip route del blackhole {v.vip(name)}/32")

    return apply, undo


FLAP = "# mutation: healthy for 3 s, unhealthy for 3 s\n[ $(( $(date +%s) / 3 % 2 )) = 0 ]\n"


_FLAP = manifest_env("CHECK_KUBE_CMD", lambda v, n: _track_script(v, n, "#!/bin/bash\n" + FLAP), settle=False)


def _flap_apply(v: View, node: str) -> None:
    _FLAP[0](v, node)


def _stop_replica_thread(v: View, node: str) -> None:
    v.sql(node, "STOP SLAVE IO_THREAD")


def _start_replica(v: View, node: str) -> None:
    v.sql(node, "START SLAVE")
    v.wait(f"{node} replication running", lambda: "Yes\tYes" in _threads(v, node))


def _threads(v: View, node: str) -> str:
    out = v.sh(node, "mysql -e 'SHOW SLAVE STATUS\\G'")
    fields = {k.strip(): val.strip() for k, _, val in (line.partition(": ") for line in out.splitlines()) if _}
    return f"{fields.get('Slave_IO_Running')}\t{fields.get('Slave_SQL_Running')}"


def _replication_stop_apply(v: View, node: str) -> None:
    """A duplicate key stops the node's SQL thread (1062: the row written on the node with the
    binary log off, then on its peer), then the field's usual fix: the event skipped and replication
    started again. Running both ways again, the data equal; the stop left in MariaDB's log."""
    peer = next(n for n in v.with_role("db-ha") if n != node)
    v.sql(peer, "CREATE DATABASE IF NOT EXISTS ha_mutation_dup; CREATE TABLE ha_mutation_dup.t (id INT PRIMARY KEY)")
    v.wait(f"{node} has the table", lambda: bool(v.sql(node, "SHOW TABLES IN ha_mutation_dup").strip()))
    v.sql(node, "SET sql_log_bin = 0; INSERT INTO ha_mutation_dup.t VALUES (1)")
    v.sql(peer, "INSERT INTO ha_mutation_dup.t VALUES (1)")
    v.wait(f"{node}'s SQL thread stopped", lambda: _threads(v, node).endswith("\tNo"))
    v.sql(node, "STOP SLAVE; SET GLOBAL sql_slave_skip_counter = 1; START SLAVE")
    v.wait(f"{node} replication running", lambda: "Yes\tYes" in _threads(v, node))


def _gtid_rows_loaded() -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """A row of mysql.gtid_slave_pos far above the server's sub_id counter, written with the
    binary log off, as a dump of the peer's mysql schema loads one (the vendor's rebuild page,
    MDEV-15393); its GTID (server 99) is none the server applied. Far enough above that the SQL
    thread never reaches it while the mutation stands. Undo: the row deleted."""
    insert = (
        "SET sql_log_bin = 0; INSERT INTO mysql.gtid_slave_pos (domain_id, sub_id, server_id, seq_no) "
        "SELECT domain_id, MAX(sub_id) + 1000000, 99, 1 FROM mysql.gtid_slave_pos GROUP BY domain_id"
    )
    delete = "SET sql_log_bin = 0; DELETE FROM mysql.gtid_slave_pos WHERE server_id = 99"
    return (lambda v, n: v.sql(n, insert)), (lambda v, n: v.sql(n, delete))


def _replication_stop_undo(v: View, node: str) -> None:
    peer = next(n for n in v.with_role("db-ha") if n != node)
    if not _threads(v, node).endswith("\tYes"):
        v.sql(node, "STOP SLAVE; SET GLOBAL sql_slave_skip_counter = 1; START SLAVE")
    v.sql(peer, "DROP DATABASE IF EXISTS ha_mutation_dup")
    v.wait(f"{node} dropped it too", lambda: not v.sql(node, "SHOW DATABASES LIKE 'ha_mutation_dup'").strip())
    v.wait(f"{node} replication running", lambda: "Yes\tYes" in _threads(v, node))


def _failing_chk_mysql_apply(v: View, node: str) -> None:
    backup("/etc/keepalived/chk_mysql")(v, node)
    v.sh(node, "printf '#!/bin/sh\\n# mutation: always failing\\nexit 1\\n' > /etc/keepalived/chk_mysql")
    v.wait(f"{node} in FAULT", lambda: "FAULT" in v.sh(node, "journalctl -u keepalived -n 5 --no-pager -o cat"))


def _failing_chk_mysql_undo(v: View, node: str) -> None:
    restore("/etc/keepalived/chk_mysql")(v, node)
    v.wait(f"{node} in BACKUP", lambda: "BACKUP STATE" in v.sh(node, "journalctl -u keepalived -n 5 --no-pager -o cat"))


def _lag_apply(v: View, node: str) -> None:
    """The holder applies its peer's events an hour late; one event written on the peer
    with a timestamp 10 minutes old puts it 600 s behind at once."""
    peer = next(n for n in v.with_role("db-ha") if n != node)
    v.sql(node, "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 3600; START SLAVE")
    v.sql(peer, "SET TIMESTAMP = UNIX_TIMESTAMP() - 600; CREATE DATABASE IF NOT EXISTS ha_mutation_lag")


def _lag_undo(v: View, node: str) -> None:
    peer = next(n for n in v.with_role("db-ha") if n != node)
    v.sql(node, "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE")
    v.wait(f"{node} caught up", lambda: bool(v.sql(node, "SHOW DATABASES LIKE 'ha_mutation_lag'").strip()))
    v.sql(peer, "DROP DATABASE IF EXISTS ha_mutation_lag")
    v.wait(f"{node} replication running", lambda: "Yes\tYes" in _threads(v, node))


def _offset_apply(v: View, node: str) -> None:
    other = next(n for n in v.with_role("db-ha") if n != node)
    theirs = v.sql(other, "SELECT @@GLOBAL.auto_increment_offset").strip()
    v.state[(node, "offset")] = v.sql(node, "SELECT @@GLOBAL.auto_increment_offset").strip()
    v.sql(node, f"SET GLOBAL auto_increment_offset = {int(theirs)}")


def _offset_undo(v: View, node: str) -> None:
    v.sql(node, f"SET GLOBAL auto_increment_offset = {int(v.state.pop((node, 'offset')))}")


def _filter_apply(v: View, node: str) -> None:
    v.sql(node, "STOP SLAVE; SET GLOBAL replicate_wild_ignore_table = 'ha_conformance.%'; START SLAVE")


def _filter_undo(v: View, node: str) -> None:
    v.sql(node, "STOP SLAVE; SET GLOBAL replicate_wild_ignore_table = ''; START SLAVE")
    v.wait(f"{node} replication running", lambda: "Yes\tYes" in _threads(v, node))


ALWAYS_OK = "#!/bin/bash\n# mutation: reports healthy whatever the endpoint says\nexit 0\n"


_BLIND_POD = manifest_env("CHECK_KUBE_CMD", lambda v, n: "/bin/true")


def _blind_member_apply(v: View, node: str) -> None:
    """The platform static pod's check_kube and the storage address's track made always healthy,
    then etcd stopped: the holder's control plane is down and its keepalived cannot see it."""
    _BLIND_POD[0](v, node)
    backup("/etc/keepalived/chk_storage")(v, node)
    v.sh(node, f"printf %s {shlex.quote(ALWAYS_OK)} > /etc/keepalived/chk_storage")
    v.sh(node, "systemctl stop etcd")
    v.wait(
        f"{node} /healthz not ok",
        lambda: v.lab.ssh(node, "curl -sk --max-time 1 https://127.0.0.1:6443/healthz").stdout.strip() != "ok",
    )


def _blind_member_undo(v: View, node: str) -> None:
    v.sh(node, "systemctl start etcd")
    restore("/etc/keepalived/chk_storage")(v, node)
    _BLIND_POD[1](v, node)
    v.wait(
        f"{node} /healthz ok",
        lambda: v.lab.ssh(node, "curl -sk --max-time 1 https://127.0.0.1:6443/healthz").stdout.strip() == "ok",
    )


def _etcd_undo(v: View, node: str) -> None:
    v.sh(node, "systemctl start etcd")
    v.wait(
        f"{node} /healthz ok",
        lambda: v.lab.ssh(node, "curl -sk --max-time 1 https://127.0.0.1:6443/healthz").stdout.strip() == "ok",
    )


REFUSE_START = "/run/systemd/system/ha-storage.service.d/mutation.conf"


def _storage_stopped(v: View, node: str) -> bool:
    return v.lab.ssh(node, "systemctl stop ha-storage; systemctl is-active ha-storage").stdout.strip() != "active"


def _storage_apply(v: View, node: str) -> None:
    """Stop the S3 server and keep it from starting: the lab puts it back where the address
    is every second (as Kubernetes restarts MinIO's pod), so a bare stop would not last."""
    folder = REFUSE_START.rsplit("/", 1)[0]
    conf = shlex.quote("[Service]\nExecStartPre=/bin/false\n")
    v.sh(node, f"mkdir -p {folder} && printf {conf} > {REFUSE_START} && systemctl daemon-reload")
    v.wait(f"{node}: ha-storage stopped", lambda: _storage_stopped(v, node), timeout=30)


def _storage_undo(v: View, node: str) -> None:
    v.sh(node, f"rm -f {REFUSE_START}; systemctl daemon-reload; systemctl reset-failed ha-storage; true")
    v.sh(node, "systemctl start ha-storage")
    v.wait("S3 answering again", lambda: _s3_answers(v))


def _sudo_apply(v: View, node: str) -> None:
    v.sh(node, "mv /etc/sudoers.d/yunion /root/yunion.mutation-backup")


def _sudo_undo(v: View, node: str) -> None:
    v.sh(node, "mv /root/yunion.mutation-backup /etc/sudoers.d/yunion")


def _flap_undo(v: View, node: str) -> None:
    _FLAP[1](v, node)
    v.sh(node, "rm -f /usr/local/bin/ha-mutation-check-kube")
    # Back to one steady holder: the First Node (MASTER 100) takes the VIP back.
    v.wait("platform VIP settled", lambda: v.status().vips["platform"].holders == (node,), timeout=30)


def _admin_apply(v: View, node: str) -> None:
    """kubeadm: admin.conf at the node's own address, not the VIP. k3s (whose k3s.yaml may name
    the node's own apiserver): k3s.yaml at another control node's apiserver."""
    path = LINES[v.line()].admin_kubeconfig
    if v.line() == "kubeadm":
        sed = f"s#https://{v.vip('platform')}:6443#https://{v.address(node)}:6443#"
    else:
        other = next(n for n in v.with_role("control") if n != node)
        sed = f"s#https://127.0.0.1:6443#https://{v.address(other)}:6443#"
    edit(path, sed)[0](v, node)


def _join_apply(v: View, node: str) -> None:
    """The compute node's join (kubeadm: kubelet.conf; k3s: k3s-agent.service's --server) at
    the First Node's address instead of the VIP."""
    edit(LINES[v.line()].compute_join, f"s#https://{v.vip('platform')}:6443#https://{v.address(FIRST(v))}:6443#")[0](
        v, node
    )


def _without_cron(
    pair: tuple[Callable[[View, str], None], Callable[[View, str], None]],
) -> tuple[Callable[[View, str], None], Callable[[View, str], None]]:
    """The change with cron stopped around it: the DB-HA page's interface switcher (a cron job)
    would otherwise put keepalived.conf's interface back within 20 s and restart keepalived."""

    def apply(v: View, node: str) -> None:
        v.sh(node, "systemctl stop cron")
        # A run cron already started goes on for up to 40 s (three checks 20 s apart).
        idle = lambda: not v.lab.ssh(node, "pgrep -f check_interface2.sh").stdout.strip()  # noqa: E731
        v.wait(f"{node}: no interface switcher running", idle, timeout=70)
        pair[0](v, node)

    def undo(v: View, node: str) -> None:
        pair[1](v, node)
        v.sh(node, "systemctl start cron")

    return apply, undo


KA = "/etc/keepalived/keepalived.conf"
FIRST = lambda v: v.with_role("first")[0]  # noqa: E731
DB_HOLDER = lambda v: v.holder("db")  # noqa: E731
PLATFORM_HOLDER = lambda v: v.holder("platform")  # noqa: E731
STORAGE_HOLDER = lambda v: v.holder("storage")  # noqa: E731
DB_PEER = View.db_peer
IDLE_CONTROL = View.idle_control


def _not_written(rid: str) -> Callable[[View, str], None]:
    """A scaffolded mutation's apply and undo (python -m suites.scaffold): refuses, so the harness
    counts the requirement as not yet shown to fail."""

    def refuse(v: View, node: str) -> None:
        raise MutationError(f"{rid}: mutation not written yet (python -m suites.scaffold)")

    return refuse


# The history of this mutation alone: read from just before it was applied (the harness puts
# the time in, tests/test_mutations.py). Its other runs leave the lab's history unread; and one
# history mutation's traces (a split brain, a crash) must not be blamed on the next one's run.
SINCE_APPLY = "since-apply"
HISTORY_OF_THIS_MUTATION = {"history_days": 7, "history_since": SINCE_APPLY}


def _m(id: str, requirement: str, what: str, where: str | Where, pair: tuple[Any, Any], **kw: Any) -> Mutation:
    return Mutation(id, requirement, what, where, pair[0], pair[1], **kw)


MUTATIONS: list[Mutation] = [
    _m("selinux-enforcing", "HA-OS-001", "SELINUX=enforcing in /etc/selinux/config", "node2", _selinux()),
    _m(
        "other-kernel",
        "HA-OS-002",
        "the node runs another kernel (VMs: booted with the image's cloud kernel; containers: uname -r)",
        "node3",
        on_vm(
            wrapper("uname", '[ "$1" = -r ] && { echo 3.10.0-957.el7.x86_64; exit 0; }; exec /bin/uname "$@"'),
            kernel=lambda: "cloud",
        ),
    ),
    _m(
        "hostname-localhost",
        "HA-OS-003",
        "hostname localhost.localdomain",
        "db1",
        (lambda v, n: v.sh(n, "hostname localhost.localdomain"), lambda v, n: v.sh(n, f"hostname {n}")),
    ),
    _m("swap-on", "HA-OS-004", "a swap file in /proc/swaps", "node2", (_swap_apply, _swap_undo)),
    _m("firewalld-running", "HA-OS-005", "firewalld active", "db2", (_firewalld_apply, _firewalld_undo)),
    _m(
        "clock-ahead",
        "HA-OS-006",
        "the node's clock an hour ahead (VMs: its RTC at boot, no time server; containers: date)",
        "node1",
        on_vm(wrapper("date", 'exec /bin/date -d "+3600 seconds" "$@"'), rtc_base=_clock_ahead(3600)),
    ),
    _m(
        "nonlocal-bind-off",
        "HA-OS-007",
        "net.ipv4.ip_nonlocal_bind=0",
        "db1",
        (
            lambda v, n: v.sh(n, "sysctl -qw net.ipv4.ip_nonlocal_bind=0"),
            lambda v, n: v.sh(n, "sysctl -qw net.ipv4.ip_nonlocal_bind=1"),
        ),
    ),
    _m(
        "first-node-key-removed",
        "HA-SSH-001",
        "the First Node's key gone from authorized_keys",
        "node3",
        (_drop_first_key_apply, restore("/root/.ssh/authorized_keys")),
    ),
    _m(
        "first-node-key-removed-db",
        "HA-SSH-002",
        "the First Node's key gone from a DB node's authorized_keys (ocboot cannot upgrade it)",
        "db2",
        (_drop_first_key_apply, restore("/root/.ssh/authorized_keys")),
    ),
    _m(
        "db-vip-on-two-nodes",
        "HA-VIP-001",
        "the DB VIP added to the DB node that does not hold it",
        DB_PEER,
        _vip_add("db"),
        subject="vip-db",
    ),
    _m(
        "netmask-28",
        "HA-VIP-002",
        "the DB peer's address on a /28 that leaves the DB VIP out",
        DB_PEER,
        (_netmask_apply, _netmask_undo),
        subject="vip-db",
        also=(
            ("HA-KA-013[vip-db]", "off its /24 the peer's VRRP instance sits in FAULT: it cannot take the VIP over"),
        ),
    ),
    _m(
        "db-vip-blackholed",
        "HA-VIP-003",
        "a control node cannot reach the DB VIP (blackhole route)",
        IDLE_CONTROL,
        _blackhole("db"),
        subject="vip-db",
    ),
    _m(
        "platform-vip-flapping",
        "HA-VIP-004",
        "the First Node's health track flips every 3 s",
        FIRST,
        (_flap_apply, _flap_undo),
        subject="vip-platform",
        overrides={"vip_observation_s": 8.0},
        alone=True,
        tolerate=(
            "HA-VIP-001[vip-platform]",
            "HA-VIP-003[vip-platform]",
            "HA-CP-002[site]",
            "HA-WEB-001[site]",
            "HA-WEB-002[site]",
            "HA-CP-007[site]",
            "HA-KA-006[node1]",  # keepalived reports the flipping track failing, or not, when asked
            "HA-KA-014[vip-platform]",  # in FAULT or not, depending on when it is asked
        ),
    ),
    _m(
        "ka-wrong-interface",
        "HA-KA-001",
        "keepalived.conf names interface lo, the DB-HA page's interface switcher (cron) stopped",
        "db2",
        _without_cron(edit(KA, "s/interface host0/interface lo/")),
    ),
    _m(
        "ka-auth-differs",
        "HA-KA-002",
        "another auth_pass in one DB node's VI_DB",
        "db2",
        edit(KA, "s/auth_pass .*/auth_pass mutated/"),
        subject="vip-db",
    ),
    _m(
        "keepalived-crashed",
        "HA-KA-011",
        "keepalived on db2 killed with SIGSEGV (as a crash), then started again: a death in its journal",
        "db2",
        _keepalived_crash(),
        overrides=HISTORY_OF_THIS_MUTATION,
        alone=True,
    ),
    _m(
        "replication-stopped-and-skipped",
        "HA-DBHA-008",
        "db2's SQL thread stopped by a duplicate key (1062), then the event skipped and replication restarted",
        "db2",
        (_replication_stop_apply, _replication_stop_undo),
        overrides=HISTORY_OF_THIS_MUTATION,
        alone=True,
    ),
    _m(
        "vrrp-split-brain-platform",
        "HA-KA-012",
        "VRRP dropped on arrival at node2 until it holds the platform VIP with the holder, for 8 s, then let in",
        "node2",
        _split_brain("platform", cut="vrrp"),
        subject="vip-platform",
        overrides=HISTORY_OF_THIS_MUTATION,
        alone=True,
    ),
    _m(
        "ka-db-backup-fault",
        "HA-KA-013",
        "the DB VIP's backup (db2) in FAULT: its chk_mysql fails while its MariaDB is fine",
        "db2",
        (_failing_chk_mysql_apply, _failing_chk_mysql_undo),
        subject="vip-db",
        also=(("HA-KA-003[{node}]", "the failing chk_mysql no longer probes the database"),),
        tolerate=("HA-KA-006[db2]",),  # keepalived reports the failing track script, or not, when asked
    ),
    _m(
        "ka-platform-backup-fault",
        "HA-KA-014",
        "a platform-HA control node (node2) in FAULT: its static pod's check_kube fails",
        "node2",
        manifest_env("CHECK_KUBE_CMD", lambda v, n: _track_script(v, n, "#!/bin/bash\nexit 1\n")),
        subject="vip-platform",
        tolerate=("HA-KA-006[node2]",),
    ),
    _m(
        "etcd-leader-storm",
        "HA-CP-010",
        "etcd's leadership moved four times in a row (four elections within a minute)",
        "node1",
        (_leader_storm, lambda v, n: None),
        subject="site",
        overrides=HISTORY_OF_THIS_MUTATION,
        alone=True,
    ),
    _m(
        "vrrp-split-brain",
        "HA-KA-010",
        "db2 cut off until both DB nodes hold the DB VIP, for 8 s, then healed: a split brain in the journals",
        "db2",
        _split_brain(),
        subject="vip-db",
        overrides=HISTORY_OF_THIS_MUTATION,
        alone=True,
    ),
    _m(
        "ka-db-equal-priorities",
        "HA-KA-009",
        "the second DB node's VI_DB priority raised to the first's (as ocboot's template writes both: 99, 99)",
        "db2",
        edit(KA, "s/^\\([[:space:]]*priority[[:space:]]*\\)99\\b/\\1100/"),
        subject="site",
        also=(("HA-KA-003[{node}]", "the DB-HA page's profile expects priority 99 on db2"),),
    ),
    _m(
        "ka-db-preempt",
        "HA-KA-003",
        "nopreempt removed from VI_DB",
        "db1",
        edit(KA, "/nopreempt/d"),
        # Without nopreempt, db1's MASTER no longer contradicts the DB-HA page's own rule
        # (HA-KA-007, waived on db1 in the harness): it passes while this is in place.
        tolerate=("HA-KA-007[db1]",),
    ),
    _m(
        "ka-platform-priority",
        "HA-KA-004",
        "a BACKUP's platform priority 95 instead of 90 (its static pod's KEEPALIVED_PRIORITY)",
        "node2",
        manifest_env("KEEPALIVED_PRIORITY", lambda v, n: "95"),
    ),
    _m(
        "ka-script-weight",
        "HA-KA-006",
        "chk_mysql given weight -20 on db1's nopreempt VI_DB: its failure could no longer move the DB VIP",
        "db1",
        edit(KA, r"/vrrp_script chk_mysql/,/^}/ s/interval 1/interval 1\n    weight -20/"),
    ),
    _m(
        "ka-comment-says-interface",
        "HA-KA-008",
        "a comment with the word interface added to db2's keepalived.conf, where the page's switcher is installed "
        "(cron stopped meanwhile: the switcher would restart keepalived every 20 s)",
        "db2",
        _without_cron(edit(KA, "$ a # spare interface: eth1")),
    ),
    _m(
        "cert-two-days",
        "HA-CP-007",
        "the API server's certificate on the platform VIP expires in 2 days",
        PLATFORM_HOLDER,
        _reissued_certificate(2, _every_san),
        subject="site",
        alone=True,  # it restarts the VIP holder's stand-in; and a VIP moved by another would hide it
    ),
    _m(
        "cert-vip-not-in-sans",
        "HA-CP-009",
        "the API server's certificate on the platform VIP's holder re-issued by the cluster's CA without the VIP",
        PLATFORM_HOLDER,
        _reissued_certificate(3650, _no_vip_san),
        subject="site",
        alone=True,  # it restarts the VIP holder's stand-in; and a VIP moved by another would hide it
    ),
    _m(
        "cert-not-from-ca",
        "HA-CP-009",
        "a control node's API server serving a self-signed certificate, not one from the cluster's CA",
        IDLE_CONTROL,
        _reissued_certificate(3650, _every_san, ca=False),
        subject="site",
    ),
    _m(
        "k8s-stale-node",
        "HA-K8S-001",
        "a replaced control node still registered in Kubernetes (NotReady, in no inventory)",
        "node1",
        _stale_k8s_node(),
        subject="site",
    ),
    _m(
        "k8s-pod-crashloop",
        "HA-K8S-002",
        "the platform's region pod in CrashLoopBackOff",
        "node1",
        cluster_state(
            "next(p for p in s['pods'] if p['name'].startswith('default-region'))"
            ".update(status='CrashLoopBackOff', restarts='17 (2m ago)', ready=0)"
        ),
        subject="site",
    ),
    _m(
        "k8s-node-left-behind",
        "HA-K8S-004",
        "the last Kubernetes node (the harness lab's compute node) still on the previous version after an upgrade",
        "node1",
        cluster_state("s['nodes'][-1]['version'] = 'v1.27.16+k3s1'"),
        subject="site",
    ),
    _m(
        "k8s-minio-two-on-one",
        "HA-K8S-003",
        "two of MinIO's three pods scheduled on the First Node (its loss takes MinIO below write quorum)",
        "node1",
        cluster_state("next(p for p in s['pods'] if p['name'] == 'minio-2')['node'] = s['nodes'][0]['name']"),
        subject="site",
    ),
    _m(
        "minio-drive-faulty",
        "HA-ST-002",
        "MinIO's drive of minio-1 faulty by MinIO's own account (its pod still Running and Ready)",
        "node1",
        cluster_state("next(p for p in s['pods'] if p['name'] == 'minio-1')['drive'] = 'faulty'"),
        subject="site",
    ),
    _m(
        "platform-version-skew",
        "HA-K8S-007",
        "the region component left on the previous release (v3.11.11) after an upgrade to the cluster's v3.11.12",
        "node1",
        cluster_state(
            "next(p for p in s['pods'] if p['name'].startswith('default-region'))['images'] = "
            "[s['release']['repository'] + '/region:v3.11.11']"
        ),
        subject="site",
        also=(
            ("HA-K8S-006[site]", "the old release's region image is on no other control node: only in the registry"),
        ),
    ),
    _m(
        "k8s-stranded-workload",
        "HA-K8S-005",
        "victoria-metrics as one Deployment pod on a local-path volume on node2 (cloudpods-operator's default)",
        "node1",
        cluster_state(
            "s['pods'].append(dict(namespace='onecloud-monitoring', name='victoria-metrics-7f8d9c6b4-q9w2e', "
            "node='node2', owner=['ReplicaSet', 'victoria-metrics-7f8d9c6b4'], hash='7f8d9c6b4', claims=['vm-data'], "
            "images=['private-registry.onecloud:5000/yunion/victoria-metrics:v1.95.1']))"
            "; s['volumes'].append(dict(name='pvc-3c1e9a7b-vm', namespace='onecloud-monitoring', claim='vm-data', "
            "node='node2'))"
        ),
        subject="site",
    ),
    _m(
        "k8s-image-missing",
        "HA-K8S-006",
        "the region image absent from a control node's runtime while the registry is the First Node",
        "node2",
        edit(RUNTIME_IMAGES, r"/\/region:/d"),
        subject="site",
    ),
    _m(
        "etcd-stale-member",
        "HA-CP-008",
        "an etcd member added that never started (quorum 3 of 4: no failure tolerated)",
        "node1",
        _stale_etcd_member(),
        subject="site",
    ),
    _m(
        "etcd-alarm-nospace",
        "HA-CP-008",
        "etcd's NOSPACE alarm raised (the cluster refuses writes: no failure tolerated)",
        "node2",
        _etcd_alarm(),
        subject="site",
    ),
    _m(
        "etcd-own-cluster",
        "HA-CP-008",
        "an etcd member restarted as a one-member cluster of its own, healthy to its own /health",
        IDLE_CONTROL,
        _etcd_own_cluster(),
        subject="site",
        alone=True,  # it restarts etcd on the node; a VIP moved by another mutation would hide it
    ),
    _m(
        "ka-backup-master-nopreempt",
        "HA-KA-007",
        "db2's VI_DB written state MASTER, keeping nopreempt (as the DB-HA page writes db1's)",
        "db2",
        edit(KA, "/vrrp_instance VI_DB/,/^}/ s/state BACKUP/state MASTER/"),
        also=(("HA-KA-003[{node}]", "the DB-HA page's profile expects db2 to start as BACKUP"),),
    ),
    _m(
        "ka-pod-not-running",
        "HA-KA-005",
        "the platform keepalived's static pod not running (the lab's kubelet stand-in stopped)",
        "node3",
        (_service("stop", "ha-static-pods"), _service("start", "ha-static-pods")),
        # No container, no log: the static pod's track scripts and its VRRP state cannot be judged
        # (never a pass).
        tolerate=("HA-KA-006[node3]", "HA-KA-014[vip-platform]"),
    ),
    _m(
        "ka-disabled",
        "HA-KA-005",
        "the DB VIP's keepalived not enabled at boot",
        DB_PEER,
        (_service("disable", "keepalived"), _service("enable", "keepalived")),
    ),
    _m(
        "db-vip-sessions-dropped",
        "HA-DB-001",
        "the DB VIP holder accepts TCP on VIP:3306 but drops what clients send",
        DB_HOLDER,
        drop_port("db", 3306, data_only=True),
        subject="site",
        also=(
            ("HA-DBHA-005[site]", "its probe row is written through the DB VIP"),
            ("HA-WEB-002[site]", "keystone answers /ping only while the DB answers through the VIP"),
        ),
    ),
    _m("expire-logs-7", "HA-DB-002", "expire_logs_days=7", "db2", global_var("expire_logs_days", "7")),
    _m("max-connections-151", "HA-DB-003", "max_connections=151", "db1", global_var("max_connections", "151")),
    _m(
        "grant-option-revoked",
        "HA-DB-004",
        "GRANT OPTION revoked from root@'%' on one node",
        "db2",
        (
            lambda v, n: v.sql(n, "SET sql_log_bin = 0; REVOKE GRANT OPTION ON *.* FROM 'root'@'%'"),
            lambda v, n: v.sql(n, "SET sql_log_bin = 0; GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION"),
        ),
    ),
    _m(
        "replica-io-stopped",
        "HA-DBHA-001",
        "the DB VIP holder's replica IO thread stopped",
        DB_HOLDER,
        (_stop_replica_thread, _start_replica),
        also=(("HA-DBHA-004[{node}]", "a stopped replica has no lag figure (Seconds_Behind_Master NULL)"),),
    ),
    _m(
        "auto-increment-offset-equal",
        "HA-DBHA-002",
        "both DB nodes with the same auto_increment_offset",
        "db2",
        (_offset_apply, _offset_undo),
        subject="site",
    ),
    _m("binlog-statement", "HA-DBHA-003", "binlog_format=STATEMENT", "db2", global_var("binlog_format", "'STATEMENT'")),
    _m(
        "replica-600s-behind",
        "HA-DBHA-004",
        "the DB VIP holder applies its peer's events 600 s late",
        DB_HOLDER,
        (_lag_apply, _lag_undo),
    ),
    _m(
        "probe-schema-filtered",
        "HA-DBHA-005",
        "the DB peer ignores the probe schema in replication",
        DB_PEER,
        (_filter_apply, _filter_undo),
        subject="site",
    ),
    _m(
        "etcd-member-stopped",
        "HA-CP-001",
        "etcd stopped on a control node that holds no VIP",
        IDLE_CONTROL,
        (_service("stop", "etcd"), _etcd_undo),
        subject="site",
        also=(
            ("HA-CP-008[site]", "a stopped etcd is an unhealthy quorum member"),
            ("HA-KA-006[{node}]", "its control-plane health track fails while its etcd is stopped: keepalived says so"),
            ("HA-KA-014[vip-platform]", "with its etcd stopped its check_kube fails: it sits in FAULT"),
        ),
    ),
    _m(
        "holder-unhealthy-unnoticed",
        "HA-CP-002",
        "the platform VIP holder's etcd stopped, its keepalived tracks blinded",
        PLATFORM_HOLDER,
        (_blind_member_apply, _blind_member_undo),
        subject="site",
        also=(
            ("HA-CP-001[site]", "the VIP holder is a control-plane member: its /healthz is the VIP's"),
            ("HA-CP-008[site]", "a stopped etcd is an unhealthy quorum member"),
        ),
    ),
    _m(
        "kubeconfig-differs",
        "HA-CP-003",
        "$HOME/.kube/config differs from admin.conf",
        "node2",
        edit("/root/.kube/config", "$ a # mutated"),
    ),
    _m(
        "admin-conf-other-node",
        "HA-CP-004",
        "the First Node's admin kubeconfig points at another node's apiserver (k3s: k3s.yaml; kubeadm: "
        "admin.conf at the First Node's own address instead of the VIP)",
        FIRST,
        (_admin_apply, lambda v, n: restore(LINES[v.line()].admin_kubeconfig)(v, n)),
    ),
    _m(
        "kubelet-first-node",
        "HA-CP-005",
        "the compute node joined through the First Node (k3s: k3s-agent.service --server; kubeadm: kubelet.conf)",
        "compute1",
        (_join_apply, lambda v, n: restore(LINES[v.line()].compute_join)(v, n)),
    ),
    _m(
        "storage-stopped",
        "HA-ST-001",
        "the S3 server stopped where the storage address is, and kept from starting",
        STORAGE_HOLDER,
        (_storage_apply, _storage_undo),
        subject="site",
    ),
    _m(
        "web-port-dropped",
        "HA-WEB-001",
        "the platform VIP holder drops TCP 443 to the VIP",
        PLATFORM_HOLDER,
        drop_port("platform", 443),
        subject="site",
    ),
    _m(
        "keystone-port-dropped",
        "HA-WEB-002",
        "the platform VIP holder drops TCP 30500 to the VIP",
        PLATFORM_HOLDER,
        drop_port("platform", 30500),
        subject="site",
    ),
    _m("yunion-sudo-removed", "HA-UPG-001", "yunion's sudoers file removed", FIRST, (_sudo_apply, _sudo_undo)),
    _m(
        "db-diverged-row",
        "HA-DBHA-007",
        "one row changed on db2 with its binary log off (replication running, the rows different)",
        "db2",
        _diverged_row(),
        subject="site",
    ),
    _m(
        "gtid-rows-loaded",
        "HA-DBHA-009",
        "a mysql.gtid_slave_pos row above the server's counter on db2, as a dump of its peer's mysql schema loads",
        "db2",
        _gtid_rows_loaded(),
    ),
    _m("db-read-only", "HA-DBHA-006", "read_only=ON on the passive DB node", "db2", global_var("read_only", "1")),
    _m(
        "db-exec-idempotent",
        "HA-DBHA-006",
        "slave_exec_mode=IDEMPOTENT on a DB node (replication ignores missing and duplicate rows)",
        "db1",
        global_var("slave_exec_mode", "'IDEMPOTENT'"),
    ),
]


def _ka_stop_control(v: View, node: str) -> None:
    for n in v.with_role("control"):
        v.sh(n, "systemctl stop ha-static-pods keepalived")


def _ka_start_control(v: View, node: str) -> None:
    for n in v.with_role("control"):
        v.sh(n, "systemctl start keepalived ha-static-pods")


# Before the install (--phase preinstall): the platform VIP must be an idle address. The
# lab is brought to a pre-install-like state first (the platform's static pods and the storage
# address's keepalived stopped on the control nodes, so neither address is held); then the VIP
# is put on a node.
PREINSTALL: list[Mutation] = [
    _m(
        "platform-vip-in-use",
        "HA-VIP-005",
        "the platform VIP already configured on a control node",
        "node2",
        _vip_add("platform"),
        subject="vip-platform",
    ),
]
PREINSTALL_STATE = (_ka_stop_control, _ka_start_control)


@dataclass(frozen=True)
class ScenarioMutation:
    """A change that makes a survivability scenario fail: the failover it promises does not happen."""

    id: str
    requirement: str
    what: str
    scenario: str  # the scenario's check id; {node} is the node the mutation is about
    where: str | Where
    apply: Callable[[View, str], None]
    undo: Callable[[View, str], None]
    reason: str  # what the scenario's message must name
    topology: str = "5node"


ALWAYS_FAIL = "#!/bin/bash\n# mutation: never healthy, so this node never takes the VIP\nexit 1\n"


_NEVER_HEALTHY = manifest_env("CHECK_KUBE_CMD", lambda v, n: "/bin/false")


def _platform_no_backup_apply(v: View, node: str) -> None:
    """The other platform-HA nodes' static pods' check_kube fails (their manifests say
    /bin/false): their platform instance goes to FAULT; the DB and storage addresses are
    untouched."""
    for n in v.with_role("platform-ha"):
        if n != node:
            _NEVER_HEALTHY[0](v, n)


def _platform_no_backup_undo(v: View, node: str) -> None:
    for n in v.with_role("platform-ha"):
        if n != node:
            _NEVER_HEALTHY[1](v, n)


def _blind_chk_mysql_apply(v: View, node: str) -> None:
    backup("/etc/keepalived/chk_mysql")(v, node)
    v.sh(node, f"printf %s {shlex.quote(ALWAYS_OK)} > /etc/keepalived/chk_mysql")


REPL = "'repl'@'%'"  # the DB-HA page's replication account


def _regrant(v: View, node: str) -> None:
    """The grant back, then the vendor's procedure again (the failed run left the pair half
    rebuilt: the master's replication reset, the replica following nothing)."""
    v.sql(node, f"SET SESSION sql_log_bin=0; GRANT REPLICATION SLAVE ON *.* TO {REPL}")
    driver = LabDriver()
    driver.undo(Fault("replication", next(n for n in v.with_role("db-ha") if n != node), node))


SKIP_SLAVE_START = "/etc/mysql/mariadb.conf.d/99-mutation-skip-slave-start.cnf"
NO_BACKUP = "the health track fails on every platform-HA node but the VIP holder: nobody takes the VIP over"
SCENARIOS: list[ScenarioMutation] = [
    ScenarioMutation(
        "no-platform-backup-kill",
        "HA-SURV-001",
        NO_BACKUP,
        "HA-SURV-001[kill-{node}]",
        PLATFORM_HOLDER,
        _platform_no_backup_apply,
        _platform_no_backup_undo,
        "platform-api",
    ),
    ScenarioMutation(
        "no-platform-backup-stop",
        "HA-SURV-002",
        NO_BACKUP,
        "HA-SURV-002[stop-{node}]",
        PLATFORM_HOLDER,
        _platform_no_backup_apply,
        _platform_no_backup_undo,
        "platform-api",
    ),
    ScenarioMutation(
        "no-platform-backup-partition",
        "HA-SURV-003",
        NO_BACKUP,
        "HA-SURV-003[partition-{node}]",
        PLATFORM_HOLDER,
        _platform_no_backup_apply,
        _platform_no_backup_undo,
        "platform-api",
    ),
    ScenarioMutation(
        "chk-mysql-blind",
        "HA-SURV-004",
        "the DB VIP holder's chk_mysql always says healthy: the VIP stays with a dead MariaDB",
        "HA-SURV-004[mariadb-on-db-vip-holder]",
        DB_HOLDER,
        _blind_chk_mysql_apply,
        restore("/etc/keepalived/chk_mysql"),
        "db-write",
    ),
    ScenarioMutation(
        "db-node-no-restart",
        "HA-SURV-005",
        "MariaDB disabled at boot on the DB node: the platform does not recover when it returns",
        "HA-SURV-005[fatal-db1]",
        "db1",
        _service("disable", "mariadb"),
        lambda v, n: v.sh(n, "systemctl enable --now mariadb"),
        "after the DB node returned",
        topology="4node",
    ),
    ScenarioMutation(
        "db-node-not-enabled-reboot",
        "HA-SURV-006",
        "MariaDB not enabled at boot on a DB-HA node: after its reboot replication does not run both ways",
        "HA-SURV-006[reboot-{node}]",
        "db2",
        _service("disable", "mariadb"),
        lambda v, n: v.sh(n, "systemctl enable --now mariadb"),
        "did not converge",
    ),
    ScenarioMutation(
        "db-node-not-enabled-site-power-cut",
        "HA-SURV-007",
        "MariaDB not enabled at boot on a DB-HA node: after the whole site's power returns, replication "
        "does not run both ways",
        "HA-SURV-007[site-power-cut-in-order]",
        "db2",
        _service("disable", "mariadb"),
        lambda v, n: v.sh(n, "systemctl enable --now mariadb"),
        "did not converge",
    ),
    ScenarioMutation(
        "skip-slave-start-on-db2",
        "HA-SURV-009",
        "MariaDB on a DB-HA node starts without its replication threads (skip-slave-start in its my.cnf): "
        "the page's SHOW SLAVE STATUS after the node's maintenance finds them stopped",
        "HA-SURV-009[maintenance-{node}]",
        "db2",
        lambda v, n: v.sh(n, f"printf '[mysqld]\\nskip-slave-start\\n' > {SKIP_SLAVE_START}"),
        lambda v, n: v.sh(n, f"rm -f {SKIP_SLAVE_START}; mysql -e 'START SLAVE'"),
        "replication running after MariaDB started",
    ),
    ScenarioMutation(
        "repl-grant-revoked-on-db-master",
        "HA-SURV-008",
        "the replication account may no longer replicate from the DB VIP's holder: the rebuilt replica "
        "cannot follow it",
        "HA-SURV-008[db-replica-rebuilt-by-vendor-procedure]",
        DB_HOLDER,
        lambda v, n: v.sql(n, f"SET SESSION sql_log_bin=0; REVOKE REPLICATION SLAVE ON *.* FROM {REPL}"),
        _regrant,
        "replication running",
    ),
]


def covered() -> set[str]:
    return {m.requirement for m in [*MUTATIONS, *PREINSTALL]} | {s.requirement for s in SCENARIOS}


def batches(view: View, mutations: list[Mutation]) -> list[list[tuple[Mutation, str]]]:
    """Pack mutations into runs: one per node and per requirement in each run, and the
    ``alone`` ones by themselves."""
    out: list[list[tuple[Mutation, str]]] = []

    def touched(m: Mutation, node: str) -> set[str]:
        return m.expected(node) | m.coupled(node) | set(m.tolerate) | {m.requirement}

    for m in mutations:
        node = m.node(view)
        for batch in out:
            if m.alone or any(o.alone for o, _ in batch):
                continue
            if all(n != node and not touched(o, n) & touched(m, node) for o, n in batch):
                batch.append((m, node))
                break
        else:
            out.append([(m, node)])
    return out
