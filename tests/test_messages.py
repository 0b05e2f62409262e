"""Failure messages as a person reads them (suites/messages.py); the mutation harness runs the
same lint over every message of its runs."""

from __future__ import annotations

import doctest

import pytest
import urllib3

import suites.messages
from suites.messages import defects, error_text, number


def test_the_modules_examples_hold() -> None:
    assert doctest.testmod(suites.messages).failed == 0


@pytest.mark.parametrize(
    ("message", "found"),
    [
        ("only 0 of 3 control-plane members are healthy on 6443: ", ["an empty list"]),
        ("problems: []", ["an empty list"]),
        ("S3 at http://x: <urllib3.connection.HTTPConnection object at 0x7f01>: refused", ["an object's repr"]),
        ("expire_logs_days is 7.0 (expected 30)", ["an integer shown as a float"]),
        ("only 2 of 3 control-plane members are healthy on 6443 (not healthy: node3)", []),
        ("db-write was down 4.0 s (bound 30 s); the VIP moved after 3.5 s", []),
        ("max_connections is 2000 (expected 1000)", []),
    ],
)
def test_the_lint_names_what_reads_badly(message: str, found: list[str]) -> None:
    assert defects(message) == found


def test_a_refused_connection_reads_without_reprs() -> None:
    """What urllib3 raises for a refused S3 endpoint (HA-ST-001), as the check now words it."""
    pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=1), retries=False)
    with pytest.raises(urllib3.exceptions.HTTPError) as caught:
        pool.request("GET", "http://127.0.0.1:9/")  # discard port on loopback: refused
    text = error_text(caught.value)
    assert defects(text) == [] and "refused" in text.lower(), text


def test_numbers_read_as_the_server_means_them() -> None:
    assert [number(v) for v in (7.0, "7.000000", 1000, "ROW", 0.25)] == ["7", "7", "1000", "ROW", "0.25"]
