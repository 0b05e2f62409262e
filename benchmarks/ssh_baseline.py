"""pytest plugin for the benchmark only: the checks' commands through testinfra's plain
``ssh://`` backend (a new OpenSSH connection per command, one command per fact), the way
a plain testinfra suite asks. Loaded with ``-p benchmarks.ssh_baseline``; never by the suite.
"""

from __future__ import annotations

import shlex
import time
from typing import Any

import testinfra

from bootstrap import inventory as inv
from bootstrap.remote import NodeUnreachable, Result
from suites import context
from suites.facts import PROBES, fact_of


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


def _facts(self: context.SiteRuntime, node: inv.NodeEntry) -> context.NodeFacts:
    if node.name not in self._facts:
        before = time.time()
        values = {}
        for p in PROBES.values():
            res = _run(self, node, f"sh -c {shlex.quote(p.command)} 2>&1")
            values[p.name] = fact_of(p, res.rc, res.stdout.strip())
        self._facts[node.name] = context.NodeFacts(node.name, values, before, time.time())
    return self._facts[node.name]


def pytest_configure(config: Any) -> None:
    context.SiteRuntime.run = _run  # type: ignore[method-assign]
    context.SiteRuntime.facts = _facts  # type: ignore[method-assign]
