"""The vendor's DB rebuild as a scenario (HA-SURV-008, bootstrap/db_rebuild.py for the steps): the
platform halted while the procedure runs, as the vendor's page asks first (the lab's platform is
the workload: its writes stop, its reads and probes go on and measure what clients see), and
afterwards the table the replication broke on the same on both DB nodes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pymysql

from bootstrap.db_rebuild import SCHEMA
from suites.survival.plan import Outcome
from suites.survival.workload import History, Workload


@contextlib.contextmanager
def halted(workload: Workload, history: History, out: Outcome) -> Iterator[None]:
    """The platform's writes stopped for the body (the vendor's "暂停集群服务"); its length is
    the figure ``halted_s`` (the platform's outage for writes during the procedure)."""
    workload.halted.set()
    began = history.mark("platform halted: the vendor's procedure runs")
    start = time.monotonic()
    try:
        yield
    finally:
        workload.halted.clear()
        out.figures["halted_s"] = round(time.monotonic() - start, 2)
        history.mark(f"platform resumed ({history.now() - began:.1f} s halted)")


def judge(query: Callable[[str, str], list[tuple[Any, ...]]], db_nodes: list[str], endpoint: str, out: Outcome) -> None:
    """The table replication broke on: its checksum equal on every DB node (the rows of the
    replica's stray write replaced by the master's); then its schema dropped, through
    ``endpoint``, so nothing of the scenario is left."""
    try:
        sums = {node: query(node, f"CHECKSUM TABLE {SCHEMA}.t")[0][1] for node in db_nodes}
        if len(set(sums.values())) > 1:
            out.problems.append(f"{SCHEMA}.t differs between the DB nodes after the rebuild: checksums {sums}")
        with contextlib.suppress(pymysql.MySQLError):
            query(endpoint, f"DROP DATABASE IF EXISTS {SCHEMA}")
    except pymysql.MySQLError as exc:
        out.problems.append(f"{SCHEMA}.t could not be compared after the rebuild: {exc}")
