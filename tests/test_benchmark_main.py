"""The VM benchmarks' entry (bootstrap/lab/hostenv.py ``benchmark_main``): a SIGTERM, or a SIGINT
even where the shell started the benchmark ignoring it (a background job of a script), unwinds
through its ``finally`` blocks, where the VMs and bridges it made are removed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
import sys, time
from pathlib import Path
from bootstrap.lab.hostenv import benchmark_main

def main():
    try:
        Path(sys.argv[1]).write_text("started")
        time.sleep(60)
    finally:
        Path(sys.argv[1]).write_text("cleaned up")
    return 0

benchmark_main(main)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_unwinds_the_benchmark_through_its_cleanup(tmp_path: Path, signum: int) -> None:
    mark = tmp_path / "mark"
    ignoring_sigint = ["sh", "-c", 'trap "" INT; exec "$0" "$@"']  # as `cmd &` in a script starts it
    proc = subprocess.Popen(
        [*ignoring_sigint, sys.executable, "-c", SCRIPT, str(mark)], cwd=Path(__file__).resolve().parent.parent
    )
    try:
        deadline = time.monotonic() + 30
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 128 + signum
        assert mark.read_text() == "cleaned up"
    finally:
        if proc.poll() is None:
            proc.kill()  # the one this test started, by its PID
            proc.wait()


def test_a_lab_error_is_one_line_and_exit_1(tmp_path: Path) -> None:
    script = "from bootstrap.lab.hostenv import LabError, benchmark_main\n"
    script += "def main():\n    raise LabError('node1: no SSH within 600 s')\nbenchmark_main(main)\n"
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 1 and proc.stderr == "error: node1: no SSH within 600 s\n"
