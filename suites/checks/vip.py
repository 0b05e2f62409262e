"""HA-VIP: the VIPs, as their clients and the nodes see them."""

from __future__ import annotations

import ipaddress

from bootstrap import vips
from bootstrap.inventory import NodeEntry
from bootstrap.remote import tcp_reachable
from suites.context import Context
from suites.registry import check

VIP_PORTS = {"platform": 6443, "db": 3306}


def interfaces(addr_output: str) -> list[ipaddress.IPv4Interface]:
    return [ipaddress.IPv4Interface(f"{a}/{prefix}") for a, (_, prefix) in vips.addresses(addr_output).items()]


def nic_of(addr_output: str, address: str) -> str | None:
    found = vips.addresses(addr_output).get(address)
    return found[0] if found else None


def holders(ctx: Context, vip: str, nodes: list[NodeEntry]) -> list[str]:
    return vips.holders({n.name: ctx.facts_of(n)["addr"] for n in nodes}, {"vip": vip})["vip"]


@check("HA-VIP-001", facts=("addr",))
def vip_held_by_exactly_one_node(ctx: Context) -> None:
    name = ctx.subject or ""
    vip = ctx.rt.vip_address(name)
    group = {n.name for n in ctx.rt.vip_group(name)}
    found = holders(ctx, vip, list(ctx.inventory.nodes))
    ev = [(f"{vips.ADDR_COMMAND}  (on {n})", ctx.facts_of(ctx.inventory.node(n))["addr"]) for n in found]
    if not found:
        cause, log_ev = ctx.rt.track_script_failures(name)
        ctx.fail(f"{name} VIP {vip} is held by no node" + (f": {cause}" if cause else ""), log_ev or None)
    ctx.require(len(found) == 1, f"{name} VIP {vip} is held by {len(found)} nodes at once: {', '.join(found)}", ev)
    members = ", ".join(sorted(group))
    ctx.require(found[0] in group, f"{name} VIP {vip} is held by {found[0]}, outside its group ({members})", ev)


@check("HA-VIP-002", facts=("addr",))
def vip_in_node_subnet(ctx: Context) -> None:
    name = ctx.subject or ""
    vip = ipaddress.IPv4Address(ctx.rt.vip_address(name))
    for node in ctx.rt.vip_group(name):
        out = ctx.facts_of(node)["addr"]
        own = [i for i in interfaces(out) if i.ip == node.address]
        ctx.require(own, f"{node.name} does not carry its own address {node.address}", [(vips.ADDR_COMMAND, out)])
        ctx.require(
            vip in own[0].network,
            f"{name} VIP {vip} is outside {node.name}'s subnet {own[0].network}",
            [(f"{vips.ADDR_COMMAND}  (on {node.name})", out)],
        )


@check("HA-VIP-003")
def vip_reachable_everywhere(ctx: Context) -> None:
    name = ctx.subject or ""
    vip, port = ctx.rt.vip_address(name), VIP_PORTS.get(name, 22)
    ctx.through_vip(name)
    why = tcp_reachable(vip, port, 3)
    ctx.require(why is None, f"the runner cannot reach {name} VIP {vip}:{port}: {why}")
    failed, ev = [], []
    for node in ctx.inventory.nodes:
        cmd = f"timeout 3 bash -c '</dev/tcp/{vip}/{port}'"
        res = ctx.rt.run(node, cmd, timeout=10)
        if res.rc != 0:
            failed.append(node.name)
            ev.append((f"{node.name}$ {cmd}", (res.stderr or f"exit {res.rc}").strip()))
    ctx.require(not failed, f"{name} VIP {vip}:{port} is unreachable from {', '.join(failed)}", ev)


@check("HA-VIP-004")
def vip_holder_stable(ctx: Context) -> None:
    name = ctx.subject or ""
    vip = ctx.rt.vip_address(name)
    window = float(ctx.expected("window_s"))
    samples = ctx.rt.vip_samples(window)[name]
    seen = {held for _, held in samples}
    ev = [("holders over time", "\n".join(f"{t:5.1f}s {', '.join(h) or '-'}" for t, h in samples))]
    # How many hold it is HA-VIP-001's business; this one asks whether the holders change.
    changes = [(t, h) for i, (t, h) in enumerate(samples) if i == 0 or h != samples[i - 1][1]]
    moves = [f"{', '.join(h) or 'nobody'} at {t:.1f} s" for t, h in changes]
    ctx.require(len(seen) == 1, f"{name} VIP {vip} moved during {window:g} s: held by {' -> '.join(moves)}", ev)


@check("HA-VIP-005", facts=("addr",))
def vip_idle_before_install(ctx: Context) -> None:
    name = ctx.subject or ""
    vip = ctx.rt.vip_address(name)
    found = holders(ctx, vip, list(ctx.inventory.nodes))
    ctx.require(not found, f"{name} VIP {vip} is already configured on {', '.join(found)}")
    # From the runner: a refused or accepted connection means a host owns the address.
    why = tcp_reachable(vip, 22, 3)
    ctx.require(
        why is not None and not why.endswith("Connection refused"),
        f"something answers for {name} VIP {vip} (TCP 22: {why or 'accepted'})",
    )
    first = ctx.inventory.first_node()
    res = ctx.rt.run(first, f"timeout 3 bash -c '</dev/tcp/{vip}/22' 2>&1; echo rc=$?", timeout=10)
    answered = "Connection refused" in res.stdout or res.stdout.strip().endswith("rc=0")
    ctx.require(not answered, f"something answers for {name} VIP {vip} on the nodes' network", [("probe", res.stdout)])
