"""Where a run's node facts come from, behind one Protocol (as xdist's schedulers are driven by a
``MockNode`` in its tests): over SSH, one batch per node; or recorded raw outputs, for unit tests
that judge checks on a real layout's outputs without a machine."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bootstrap import inventory as inv
from bootstrap.remote import Result
from suites.facts import PROBES, Fact, batch_script, batch_timeout, fact_of, new_nonce, parse_batch


@dataclass
class NodeFacts:
    """Every probe's result on one node, and when the runner asked (its clock, seconds)."""

    node: str
    values: dict[str, Fact]
    runner_before: float
    runner_after: float


class FactSource(Protocol):
    def facts(self, node: inv.NodeEntry) -> NodeFacts:
        """Every probe's result on ``node``. Raises NodeUnreachable where the node cannot be
        logged in to, CheckError where the batch as a whole did not answer."""
        ...


@dataclass
class SshFactSource:
    """Every probe in one batch per node (one SSH round trip), through ``run`` (a node, a
    command, a time limit in seconds -> its Result)."""

    run: Callable[[inv.NodeEntry, str, float], Result]

    def facts(self, node: inv.NodeEntry) -> NodeFacts:
        probes = [p for p in PROBES.values() if p.asked_on(node.roles)]
        nonce = new_nonce()
        before = time.time()
        out = self.run(node, batch_script(probes, nonce), batch_timeout(probes)).stdout
        return NodeFacts(node.name, {**not_asked(node), **parse_batch(out, nonce, probes)}, before, time.time())


def not_asked(node: inv.NodeEntry) -> dict[str, Fact]:
    """The facts ``node`` is not asked (its roles are none of their probes'), each saying so."""
    return {name: p.not_asked() for name, p in PROBES.items() if not p.asked_on(node.roles)}


@dataclass
class RecordedFactSource:
    """Facts from raw outputs: ``outputs[node][fact] = (exit status, output)``; a fact not given
    reads as ``default(fact)`` ((status, output)). ``at`` is when the runner "asked" (seconds)."""

    outputs: Mapping[str, Mapping[str, tuple[int | None, str]]]
    default: Callable[[str], tuple[int | None, str]] = lambda name: (None, "")
    at: float = 0.0

    def facts(self, node: inv.NodeEntry) -> NodeFacts:
        given = self.outputs.get(node.name, {})
        values: dict[str, Fact] = {
            name: fact_of(probe, *(given[name] if name in given else self.default(name)))
            for name, probe in PROBES.items()
            if probe.asked_on(node.roles)
        }
        values.update(not_asked(node))
        return NodeFacts(node.name, values, self.at, self.at + 0.2)

    @classmethod
    def from_dir(cls, root: Path, at: float = 0.0) -> RecordedFactSource:
        """Raw outputs kept as ``root/<node>/<fact>.txt``, each "rc=N" then the output."""
        outputs: dict[str, dict[str, tuple[int | None, str]]] = {}
        for path in sorted(root.glob("*/*.txt")):
            head, _, out = path.read_text().partition("\n")
            rc = head.removeprefix("rc=")
            outputs.setdefault(path.parent.name, {})[path.stem] = (int(rc) if rc.isdigit() else None, out.rstrip("\n"))
        return cls(outputs, at=at)
