"""Why a VIP is not held, in keepalived's own words: the track scripts its log reports failing
on the VIP's group, and where plain, why such a script cannot work there (a bash-only
``/dev/tcp`` under a /bin/sh that is dash; an ``nc`` that waits for the server). Diagnosis, not
verdicts: facts it cannot read add nothing to the explanation, and a check never passes on it."""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING

from bootstrap.layout import manifest_vips
from bootstrap.remote import NodeUnreachable
from suites.checks.keepalived_conf import instance_for as kc_instance_for
from suites.checks.keepalived_conf import scripts as kc_scripts
from suites.errors import CheckError
from suites.keepalived_log import failing_scripts, since_last_start, waiting_netcat

if TYPE_CHECKING:
    from suites.runtime import SiteRuntime


def track_script_failures(rt: SiteRuntime, name: str) -> tuple[str | None, list[tuple[str, str]]]:
    """Why the named VIP's keepalived may not hold it, from keepalived's own log on the
    VIP's group since it last started: ("track script X (exited with status 2) failing
    on db1, db2", evidence), or (None, evidence) when its log names no failing script.
    Only the scripts that keepalived.conf's instance for this VIP tracks count: the unit's
    log also speaks of its other instances. A static pod's keepalived is read from its
    container's log where a container runtime answers."""
    vip = rt.vip_address(name)
    logs, evidence = {}, []
    for node in rt.vip_group(name):
        with contextlib.suppress(NodeUnreachable, CheckError, KeyError):
            inst = kc_instance_for(rt.value(node, "keepalived_conf"), vip)
            if inst is not None:
                tracked = set(inst.track_scripts)
                lines = [
                    ln
                    for ln in since_last_start(rt.value(node, "keepalived_log"))
                    if any(f"({t})" in ln or f" {t} " in ln for t in tracked)
                ]
                where = "keepalived's log since its start, this VIP's track scripts"
            elif vip in manifest_vips(rt.value(node, "keepalived_manifest")):
                pod = rt.value(node, "keepalived_pod_log")
                if pod is None or pod.container is None:
                    continue
                lines = [ln for ln in since_last_start(pod.log) if "VRRP_Script(" in ln]
                where = f"{pod.runtime} logs {pod.container}: the static pod's track scripts since its start"
            else:
                continue
            logs[node.name] = "\n".join(lines)
            evidence.append((f"{where} (on {node.name})", "\n".join(lines[-20:])))
    failing = failing_scripts(logs)
    if not failing:
        return None, evidence
    said = "; ".join(f"{script} on {', '.join(nodes)}" for script, nodes in failing.items())
    return f"keepalived reports its track script failing: {said}" + bash_only(rt, failing), evidence


def bash_only(rt: SiteRuntime, failing: dict[str, list[str]]) -> str:
    """Why a failing track script cannot work, where that is plain: a bash-only
    ``/dev/tcp`` redirection that keepalived hands to a /bin/sh that is not bash, or an
    ``nc`` that waits for the server to close (OpenBSD's or the traditional netcat: MariaDB
    closes a connection that sent no handshake only at connect_timeout, 10 s by default,
    after keepalived's script timeout), where CentOS 7's nc, for which the DB-HA page's
    chk_mysql was written, closes at once."""
    for label, nodes in failing.items():
        script = label.split(" (", 1)[0]
        for node_name in nodes:
            with contextlib.suppress(NodeUnreachable, CheckError, KeyError):
                node = rt.inventory.node(node_name)
                command = kc_scripts(rt.value(node, "keepalived_conf")).get(script, "")
                sh = rt.value(node, "bin_sh")
                if "/dev/tcp/" in command and sh and not sh.endswith("bash"):
                    return (
                        f" (its command {command} is a bash redirection, and keepalived runs it "
                        f"through /bin/sh, which is {sh} on {node_name})"
                    )
                body = rt.value(node, "keepalived_scripts").get(command.split(" ")[0], "")
                waits = waiting_netcat(rt.value(node, "netcat") or "")
                if waits and re.search(r"(^|[|;&\s])nc\s", body):
                    return (
                        f" (its script runs nc, which on {node_name} is {waits}: it waits for the server to "
                        "close the connection, and MariaDB closes one that sent no handshake only at "
                        "connect_timeout, 10 s by default, longer than keepalived lets the script run)"
                    )
    return ""
