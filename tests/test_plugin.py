"""The pytest plugin, exercised the way users run it (pytester)."""

from __future__ import annotations

import copy
import signal
import threading
from typing import Any

import pytest
import yaml

from fixtures.plugin import stop_on_sigterm
from tests.conftest import VALID_INVENTORY, loopback_inventory

CHECK = """
def test_reach(node, host):
    assert host.run("true").rc == 0

def test_again(node, host):
    assert host.run("true").rc == 0
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_site=CHECK)
    plugins = ("-p", "fixtures.plugin", "-p", "no:cacheprovider", "-p", "no:pytest11.testinfra")
    return pytester.runpytest_subprocess(*plugins, *args, timeout=120)


def _no_traceback(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text


def test_unknown_topology_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "--topology=6node")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--topology: unknown topology '6node'; choose one of: 3node, 4node, 5node*"])
    _no_traceback(result)


def test_malformed_inventory_names_the_field(pytester: pytest.Pytester) -> None:
    data: dict[str, Any] = copy.deepcopy(VALID_INVENTORY)
    data["nodes"][2]["address"] = "not-an-ip"
    pytester.makefile(".yaml", site=yaml.safe_dump(data))
    result = _run(pytester, "--inventory=site.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*site.yaml: invalid inventory*", "*nodes?2?.address: Input is not a valid IPv4*"])
    _no_traceback(result)


def test_checks_without_a_site_are_a_usage_error(pytester: pytest.Pytester) -> None:
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*need a site: --topology=5node (bring up the local lab) or --inventory=FILE*"])


def test_topology_must_match_the_inventory(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", site=yaml.safe_dump(VALID_INVENTORY))
    result = _run(pytester, "--inventory=site.yaml", "--topology=3node")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--topology 3node does not match the inventory's topology 5node*"])


def test_unreachable_node_fails_each_check_with_its_name(pytester: pytest.Pytester) -> None:
    """Nodes on loopback ports where nothing listens: refused at once, no hang."""
    loopback_inventory(pytester)
    result = _run(pytester, "--inventory=site.yaml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(errors=10)
    result.stdout.fnmatch_lines(["*cp2 (127.0.0.11) is unreachable over SSH: 127.0.0.11:1: Connection refused*"])
    _no_traceback(result)


def test_missing_ssh_key_is_named(pytester: pytest.Pytester) -> None:
    data: dict[str, Any] = copy.deepcopy(VALID_INVENTORY)
    data["ssh"]["key"] = str(pytester.path / "absent-key")
    pytester.makefile(".yaml", site=yaml.safe_dump(data))
    result = _run(pytester, "--inventory=site.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ssh.key: */absent-key is not a readable file*"])


def test_sigterm_ends_a_run_as_ctrl_c_does_and_a_second_one_kills() -> None:
    """A CI job cancelled (SIGTERM) raises KeyboardInterrupt, so the scenarios' finalizers
    restore their faults as on Ctrl-C; the handler is then the default again."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers belong to the main thread")
    before = signal.getsignal(signal.SIGTERM)
    try:
        stop_on_sigterm()
        assert callable(signal.getsignal(signal.SIGTERM))  # else the signal below would end this process
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            signal.raise_signal(signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, before)
