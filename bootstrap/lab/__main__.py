"""Command line of the local lab: ``python -m bootstrap.lab --help``."""

from __future__ import annotations

import argparse
import ipaddress
import os
import subprocess
import sys
from collections.abc import Callable

from bootstrap.lab.hostenv import LabError
from bootstrap.lab.lab import Lab
from bootstrap.lab.state import LabStatus
from bootstrap.layout import DEFAULT_LINE, HA_DB_VARIANTS, LINES
from bootstrap.topology import TOPOLOGIES, UnknownTopology


def _subnet(value: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an IPv4 network: {exc}") from None


def _topology(value: str) -> str:
    if value not in TOPOLOGIES:
        raise argparse.ArgumentTypeError(f"unknown topology {value!r}; choose one of: {', '.join(sorted(TOPOLOGIES))}")
    return value


def _up_options(up: argparse.ArgumentParser) -> None:
    """The layout options of ``up``: topology, compute nodes, install line, DB HA, machines."""
    up.add_argument("--topology", type=_topology, required=True, help="3node, 4node or 5node")
    up.add_argument("--compute", type=int, default=0, help="Number of compute nodes (default 0)")
    up.add_argument(
        "--line",
        choices=sorted(LINES),
        default=DEFAULT_LINE,
        help=f"Install line whose real layout the installer's stand-in writes (default {DEFAULT_LINE}, the product's)",
    )
    up.add_argument(
        "--db-ha",
        choices=HA_DB_VARIANTS,
        default="manual",
        help="DB-HA variant: manual (the DB-HA page's, default) or ocboot (mariadb_ha_nodes, written by the installer)",
    )
    up.add_argument(
        "--host-bridge",
        action="store_true",
        help="Each node's address on a bridge br0 (host0 its port), as the product's Host service leaves it",
    )
    up.add_argument(
        "--machines",
        choices=("nspawn", "vm"),
        default=None,
        help="Machine driver: nspawn containers (default) or QEMU VMs with their own kernel, clock and page cache",
    )
    up.add_argument(
        "--image",
        default="",
        metavar="PATH",
        help="VMs boot this cloud image (qcow2 or raw, never written) by UEFI firmware with a cloud-init seed, "
        "and the lab stops there for your installer (the release gate; implies --machines vm)",
    )
    up.add_argument(
        "--subnet", type=_subnet, default=None, help="Private /24 for the lab (default 10.213.47.0/24, $HA_LAB_SUBNET)"
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bootstrap.lab",
        description="A local lab of systemd-nspawn machines shaped like an HA topology.",
    )
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    _up_options(sub.add_parser("up", help="Bring the lab up (idempotent; repairs a crashed lab)"))
    dep = sub.add_parser(
        "deploy", help="Deploy the lab's topology: the document's steps and the installer's stand-in (idempotent)"
    )
    dep.add_argument(
        "--stage", choices=["prepare", "install"], default="install", help="prepare: the document's preparation only"
    )
    st = sub.add_parser("status", help="Nodes, addresses, roles, state and VIP holders")
    st.add_argument("--json", action="store_true", help="Print JSON")
    ex = sub.add_parser("exec", help="Run a command on a node; its exit code is passed through")
    ex.add_argument("node")
    ex.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    for name, text in (
        ("kill", "Power cut: every process of the node dies at once"),
        ("stop", "Clean shutdown of the node; its files are kept"),
        ("start", "Boot a stopped or killed node again"),
        ("partition", "Cut the node off the lab network (it keeps running)"),
        ("reboot", "The node reboots itself (systemctl reboot); returns once it is ready again"),
        ("freeze", "Freeze the node: a VM paused, a container's processes frozen"),
        ("thaw", "Let a frozen node run on"),
    ):
        sub.add_parser(name, help=text).add_argument("node")
    heal = sub.add_parser(
        "heal", help="Reattach partitioned nodes (all, or the one named); without NODE also undo journalled faults"
    )
    heal.add_argument("node", nargs="?")
    inv_cmd = sub.add_parser("inventory", help="Print the path of the lab's site inventory")
    inv_cmd.add_argument(
        "--ocboot",
        action="store_true",
        help="the path of the lab's ocboot-style config.yml instead (pytest --ocboot-config)",
    )
    sub.add_parser("build", help="Build the cached root file system (done by up when missing)")
    sub.add_parser("down", help="Remove every machine, mount, cgroup and the bridge of the lab")
    return p


def _print_status(status: LabStatus) -> None:
    layout = f"line {status.line}  DB HA {status.db_ha}"
    layout += "  addresses on br0" if status.host_bridge else ""
    if status.machines == "vm":
        emulated = ": emulated, timings not comparable with hardware" if status.accel == "tcg" else ""
        booted = f" of {status.image}" if status.image else ""
        layout += f"  VMs{booted} ({status.accel}{emulated})"
    print(f"topology {status.topology}  {layout}  subnet {status.subnet}  bridge {status.bridge}")
    print(f"{'NODE':10} {'ADDRESS':15} {'STATE':12} {'MEM MiB':>8}  ROLES")
    for n in status.nodes:
        print(f"{n.name:10} {n.address:15} {n.state:12} {n.memory_mib:8.1f}  {','.join(n.roles)}")
    for name, vip in status.vips.items():
        holders = ", ".join(vip.holders) or "nobody"
        print(f"VIP {name:9} {vip.address:15} held by {holders}")


def _up(lab: Lab, args: argparse.Namespace) -> int:
    lab.up(args.topology, args.compute, args.subnet, log=sys.stderr, line=args.line, db_ha=args.db_ha,
           host_bridge=args.host_bridge, machines=args.machines or ("vm" if args.image else "nspawn"),
           image=args.image)  # fmt: skip
    _print_status(lab.status())
    return 0


def _deploy(lab: Lab, args: argparse.Namespace) -> int:
    from bootstrap.deploy import DeployError

    try:
        changes = lab.deploy(log=sys.stderr, stage=args.stage)
    except DeployError as exc:
        raise LabError(f"deploy failed: {exc}") from None
    print(f"{len(changes)} change(s)")
    return 0


def _status(lab: Lab, args: argparse.Namespace) -> int:
    status = lab.status()
    if args.json:
        print(status.model_dump_json(indent=2))
    else:
        _print_status(status)
    return 0


def _exec(lab: Lab, args: argparse.Namespace) -> int:
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        raise LabError("exec needs a command: python -m bootstrap.lab exec NODE -- CMD...")
    ssh = lab.exec_argv(args.node, command)
    sys.stdout.flush()
    return subprocess.run(ssh, check=False).returncode


def _heal(lab: Lab, args: argparse.Namespace) -> int:
    restored = []
    if args.node is None:  # also undo what an interrupted run left in the fault journal
        from bootstrap.faults import restore_journal
        from bootstrap.lab.driver import LabDriver

        restored = restore_journal(LabDriver())
    healed = lab.heal(args.node)
    if restored:
        print("restored: " + ", ".join(restored))
    print("healed: " + (", ".join(healed) or "nothing was partitioned"))
    return 0


def _inventory(lab: Lab, args: argparse.Namespace) -> int:
    path = lab.paths.ocboot_config if args.ocboot else lab.paths.inventory
    if not path.exists():
        raise LabError("no lab is up; start one with: python -m bootstrap.lab up --topology 5node")
    print(path)
    return 0


def _build(lab: Lab, args: argparse.Namespace) -> int:
    from bootstrap.lab import rootfs

    print(rootfs.build(log=sys.stderr))
    return 0


def _down(lab: Lab, args: argparse.Namespace) -> int:
    removed = lab.down()
    print("removed: " + (", ".join(removed) or "nothing (no lab was up)"))
    return 0


def _node_op(name: str) -> Callable[[Lab, argparse.Namespace], int]:
    def op(lab: Lab, args: argparse.Namespace) -> int:
        getattr(lab, name)(args.node)
        return 0

    return op


def _thaw(lab: Lab, args: argparse.Namespace) -> int:
    lab.freeze(args.node, frozen=False)
    return 0


COMMANDS: dict[str, Callable[[Lab, argparse.Namespace], int]] = {
    "up": _up, "deploy": _deploy, "status": _status, "exec": _exec, "kill": _node_op("kill"),
    "stop": _node_op("stop"), "start": _node_op("start"), "partition": _node_op("partition"), "heal": _heal,
    "reboot": _node_op("reboot"), "freeze": _node_op("freeze"), "thaw": _thaw,
    "inventory": _inventory, "build": _build, "down": _down,
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.cmd](Lab(), args)
    except (LabError, UnknownTopology) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
