"""--host-bridge without a lab: the lab's plan and state carry it, each node's networkd files
put its address on br0 with host0 as the port (and back), the installer's stand-in names the
bridge's first port as KEEPALIVED_INTERFACE, and the kubelet stand-in renders VRRP and the VIP
on the interface that holds the node's address."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from bootstrap.inventory import NodeEntry
from bootstrap.lab import __main__ as lab_cli
from bootstrap.lab.lab import Lab
from bootstrap.lab.machine import BRIDGE_NETDEV, BRIDGE_NETWORK, HOST0_NETWORK, Machine
from bootstrap.lab.standin import static_pod
from bootstrap.lab.standin.installer import install_nic
from bootstrap.layout import EXAMPLE_MANIFEST
from bootstrap.topology import Role

SUBNET = ipaddress.IPv4Network("10.213.47.0/24")


def machine(tmp_path: Path, host_bridge: bool) -> Machine:
    return Machine(
        name="node1",
        address=ipaddress.IPv4Address("10.213.47.11"),
        prefixlen=24,
        bridge="halab0",
        rootfs=tmp_path / "rootfs",
        home=tmp_path / "node1",
        host_bridge=host_bridge,
    )


def test_the_plan_and_the_command_line_carry_the_host_bridge() -> None:
    assert Lab.plan("5node", 0, SUBNET, host_bridge=True).host_bridge is True
    assert Lab.plan("5node", 0, SUBNET).host_bridge is False
    args = lab_cli.parser().parse_args(["up", "--topology", "5node", "--line", "k3s", "--host-bridge"])
    assert args.host_bridge is True
    assert lab_cli.parser().parse_args(["up", "--topology", "5node"]).host_bridge is False


def test_the_nodes_address_moves_onto_br0_and_back(tmp_path: Path) -> None:
    net = tmp_path / "network"
    machine(tmp_path, True).write_network(net)
    assert sorted(p.name for p in net.iterdir()) == sorted([BRIDGE_NETDEV, BRIDGE_NETWORK, HOST0_NETWORK])
    netdev = (net / BRIDGE_NETDEV).read_text()
    assert "Name=br0" in netdev and "Kind=bridge" in netdev
    assert "MACAddress=none" in netdev  # the bridge keeps its one port's MAC: neighbour entries stay right
    bridge = (net / BRIDGE_NETWORK).read_text()
    assert "Name=br0" in bridge and "Address=10.213.47.11/24" in bridge
    port = (net / HOST0_NETWORK).read_text()
    assert "Name=host0" in port and "Bridge=br0" in port and "Address=" not in port
    machine(tmp_path, False).write_network(net)  # the same node without the bridge: its files go
    assert [p.name for p in net.iterdir()] == [HOST0_NETWORK]
    assert "Address=10.213.47.11/24" in (net / HOST0_NETWORK).read_text()
    assert "Bridge=" not in (net / HOST0_NETWORK).read_text()


def test_the_static_pod_runs_vrrp_where_the_node_address_is() -> None:
    env = static_pod.environment(EXAMPLE_MANIFEST)
    as_written = static_pod.render(env)
    assert "    interface eth0\n" in as_written and "192.168.0.66/32 dev eth0" in as_written
    moved = static_pod.render(env, "br0")
    assert "    interface br0\n" in moved and "192.168.0.66/32 dev br0" in moved
    assert static_pod.node_ip_interface("") is None
    assert static_pod.node_ip_interface("192.0.2.250") is None  # an address this host does not have
    assert static_pod.node_ip_interface("127.0.0.1") == "lo"


class _Ran:
    def __init__(self, stdout: str) -> None:
        self.stdout = stdout


class _Node:
    """A node as the installer's stand-in asks it, by command: its addresses and bridge ports."""

    def __init__(self, nic: str, ports: str) -> None:
        self.nic, self.ports = nic, ports

    def run(self, command: str) -> _Ran:
        if "/brif" in command:
            return _Ran(self.ports if f"/sys/class/net/{self.nic}/brif" in command else "")
        return _Ran(
            f"2: {self.nic}    inet 10.213.47.11/24 brd 10.213.47.255 scope global {self.nic}\\  valid_lft forever"
        )


class _Deployment:
    def __init__(self, node: _Node) -> None:
        self.node = node

    def remote(self, _: object) -> _Node:
        return self.node


def test_the_manifest_names_the_bridges_first_port_as_the_installer_does() -> None:
    node = NodeEntry(name="node1", address=ipaddress.IPv4Address("10.213.47.11"), roles=[Role.CONTROL])
    assert install_nic(_Deployment(_Node("br0", "host0\n")), node) == "host0"  # type: ignore[arg-type]
    assert install_nic(_Deployment(_Node("host0", "")), node) == "host0"  # type: ignore[arg-type]
