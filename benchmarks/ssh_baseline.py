"""pytest plugin for the benchmark only: the checks' commands through testinfra's plain
``ssh://`` backend (a new OpenSSH connection per command, one command per fact), the way
a plain testinfra suite asks. Loaded with ``-p benchmarks.ssh_baseline``; never by the suite.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import testinfra

from bootstrap import inventory as inv
from bootstrap.remote import NodeUnreachable, Result
from suites import context, factsource, runtime
from suites.facts import PROBES, fact_of
from suites.factsource import NodeFacts


def _run(self: context.SiteRuntime, node: inv.NodeEntry, command: str, timeout: float = 30) -> Result:
    ssh = self.inventory.ssh
    extra = "-o BatchMode=yes"
    if ssh.known_hosts is not None:
        extra += f" -o UserKnownHostsFile={ssh.known_hosts} -o StrictHostKeyChecking=yes"
    host = testinfra.get_host(
        f"ssh://{ssh.user}@{node.address}:{ssh.port}",
        ssh_identity_file=str(ssh.key),
        ssh_extra_args=extra,
        controlpersist=0,
        timeout=int(ssh.connect_timeout),
    )
    out = host.run(command)
    if out.rc == 255:
        raise NodeUnreachable(f"{node.name} ({node.address}) is unreachable over SSH: {out.stderr.strip()}")
    return Result(out.rc, out.stdout, out.stderr)


@dataclass
class TestinfraFactSource:
    """Every probe the node is asked (as SshFactSource asks it) as its own command through
    ``run`` (testinfra's backend), one after another."""

    run: Callable[[inv.NodeEntry, str, float], Result]

    def facts(self, node: inv.NodeEntry) -> NodeFacts:
        before = time.time()
        values = factsource.not_asked(node)
        for p in (p for p in PROBES.values() if p.asked_on(node.roles)):
            res = self.run(node, f"sh -c {shlex.quote(p.command)} 2>&1", p.timeout)
            values[p.name] = fact_of(p, res.rc, res.stdout.strip())
        return NodeFacts(node.name, values, before, time.time())


def pytest_configure(config: Any) -> None:
    context.SiteRuntime.run = _run  # type: ignore[method-assign]
    runtime.SshFactSource = TestinfraFactSource  # type: ignore[attr-defined,assignment]
