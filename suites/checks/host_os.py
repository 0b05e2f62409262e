"""HA-OS: the host preconditions the document and the installer demand."""

from __future__ import annotations

import re

from suites.context import Context
from suites.registry import check


@check("HA-OS-001", facts=("getenforce", "selinux_config"))
def selinux_disabled(ctx: Context) -> None:
    f = ctx.facts
    runtime, config = f["getenforce"], f["selinux_config"]
    ev = f.evidence("getenforce", "selinux_config")
    ctx.require(runtime != "Enforcing", f"SELinux is Enforcing at runtime on {ctx.node.name}", ev)  # type: ignore[union-attr]
    if config is not None:  # no /etc/selinux/config: SELinux is not installed
        modes = re.findall(r"^\s*SELINUX\s*=\s*(\S+)", config, re.M)
        ctx.require(
            modes and modes[-1].lower() == "disabled",
            f"/etc/selinux/config sets SELINUX={modes[-1] if modes else '(nothing)'}, not disabled",
            ev,
        )


@check("HA-OS-002", facts=("kernel",))
def kernel_as_expected(ctx: Context) -> None:
    expect = ctx.inventory.expect
    kernel = ctx.facts["kernel"]
    ev = ctx.facts.evidence("kernel")
    if expect.kernel is None and expect.kernel_pattern is None:
        ctx.fail("the inventory names no expected kernel (expect.kernel or expect.kernel_pattern)", ev)
    if expect.kernel is not None:
        ctx.require(kernel == expect.kernel, f"kernel is {kernel}, expected {expect.kernel}", ev)
    if expect.kernel_pattern is not None:
        ctx.require(
            re.search(expect.kernel_pattern, kernel), f"kernel {kernel} does not match {expect.kernel_pattern!r}", ev
        )


@check("HA-OS-003", facts=("hostname",))
def hostname_not_localhost(ctx: Context) -> None:
    name = ctx.facts["hostname"]
    ctx.require(name and not name.startswith("localhost"), f"hostname is {name!r}", ctx.facts.evidence("hostname"))


@check("HA-OS-004", facts=("swaps",))
def swap_off(ctx: Context) -> None:
    swaps = ctx.facts["swaps"]
    ctx.require(not swaps, f"swap is on: {swaps[0] if swaps else ''}", ctx.facts.evidence("swaps"))


@check("HA-OS-005", facts=("firewalld",))
def firewalld_inactive(ctx: Context) -> None:
    state = ctx.facts["firewalld"]
    ctx.require(state != "active", "firewalld is active", ctx.facts.evidence("firewalld"))


@check("HA-OS-006", facts=("date",))
def clock_in_sync(ctx: Context) -> None:
    f = ctx.facts
    node_time = f["date"]
    # The node read its clock somewhere between these two instants of the runner's clock.
    mid = (f.runner_before + f.runner_after) / 2
    slack = (f.runner_after - f.runner_before) / 2
    skew = abs(node_time - mid) - slack
    bound = float(ctx.expected("max_skew_s"))
    message = f"clock differs from the runner's by {skew:.1f} s (bound {bound:g} s)"
    ctx.require(skew <= bound, message, f.evidence("date"))


@check("HA-OS-007", facts=("sysctl",))
def db_ha_sysctls(ctx: Context) -> None:
    found = ctx.facts["sysctl"]
    values = [found.get(k, "?") for k in ("net.ipv4.ip_forward", "net.ipv4.ip_nonlocal_bind")]
    ctx.require(
        values == ["1", "1"],
        f"net.ipv4.ip_forward, net.ipv4.ip_nonlocal_bind = {', '.join(values)}; both must be 1",
        ctx.facts.evidence("sysctl"),
    )
