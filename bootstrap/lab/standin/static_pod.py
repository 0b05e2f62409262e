#!/usr/bin/python3
"""Lab only: runs the platform keepalived's static pod as a kubelet and the container
image would, for one manifest, on a lab machine (which has no container runtime).

    static_pod.py MANIFEST RUN_DIR

Every second it looks at MANIFEST (as a kubelet watches its static-pod directory): when
the file appears or changes, it renders keepalived's configuration from the container's
environment, as the keepalived image does at start (KEEPALIVED_STATE, _PRIORITY,
_VIRTUAL_IPS "#PYTHON2BASH:[...]", _ROUTER_ID, _PASSWORD, _INTERFACE; CHECK_KUBE_CMD
as the check_kube track script), into RUN_DIR and (re)starts keepalived on it; when the
interface that holds KEEPALIVED_NODE_IP is not KEEPALIVED_INTERFACE (the node address moved
onto br0; looked up when the manifest changes and every 5 s), VRRP and the VIP go on that
interface, as the VIP sits on br0 on a site whose manifest still names the install-time NIC
(real-sites.md; how the image does it is inferred); when the file goes away, it stops
keepalived (the pod is deleted). The unit that runs this sits in kubepods.slice, so the
keepalived process shows a pod's cgroup, as on a real node.

Copied to lab machines by the installer's stand-in (bootstrap/lab/standin/installer.py);
PyYAML comes from the lab's tools mount. No check imports this.
"""

from __future__ import annotations

import ast
import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, "/opt/ha-lab/bin/python")
import yaml

IP_RECHECK = 5.0  # seconds between looks at which interface holds KEEPALIVED_NODE_IP


def environment(manifest: str) -> dict[str, str]:
    doc = yaml.safe_load(manifest)
    for c in doc["spec"]["containers"]:
        if "keepalived" in c.get("name", "") + c.get("image", ""):
            return {e["name"]: str(e.get("value", "")) for e in c.get("env") or []}
    raise ValueError("no keepalived container")


def node_ip_interface(node_ip: str) -> str | None:
    """The interface that holds KEEPALIVED_NODE_IP now (br0 once the Host service moved it)."""
    if not node_ip:
        return None
    try:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.stdout.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3].split("/")[0] == node_ip:
            return fields[1]
    return None


def render(env: dict[str, str], iface: str | None = None) -> str:
    vips = env.get("KEEPALIVED_VIRTUAL_IPS", "").removeprefix("#PYTHON2BASH:")
    addresses = ast.literal_eval(vips) if vips.strip().startswith("[") else vips.split(",")
    iface = iface or env.get("KEEPALIVED_INTERFACE", "eth0")
    check = env.get("CHECK_KUBE_CMD", "").strip()
    script = ""
    track = ""
    if check:
        script = f'vrrp_script check_kube {{\n    script "{check}"\n    interval 1\n    fall 2\n    rise 1\n}}\n\n'
        track = "    track_script {\n        check_kube\n    }\n"
    lines = "\n".join(f"        {a}/32 dev {iface}" for a in addresses if str(a).strip())
    return (
        "global_defs {\n    script_user root\n    enable_script_security\n}\n\n"
        + script
        + f"""vrrp_instance VI_1 {{
    interface {iface}
    state {env.get("KEEPALIVED_STATE", "BACKUP")}
    virtual_router_id {env.get("KEEPALIVED_ROUTER_ID", "51")}
    priority {env.get("KEEPALIVED_PRIORITY", "90")}
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass {env.get("KEEPALIVED_PASSWORD", "")}
    }}
    virtual_ipaddress {{
{lines}
    }}
{track}}}
"""
    )


def main() -> None:
    manifest, run_dir = Path(sys.argv[1]), Path(sys.argv[2])
    run_dir.mkdir(parents=True, exist_ok=True)
    conf = run_dir / "keepalived.conf"
    child: subprocess.Popen[bytes] | None = None
    seen: str | None = None
    iface: str | None = None
    looked: tuple[str | None, float] = (None, 0.0)  # (manifest text, monotonic time) of the last `ip` call

    def stop() -> None:
        nonlocal child
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        child = None

    def on_term(signum: int, frame: object) -> None:
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    while True:
        try:
            text = manifest.read_text()
        except OSError:
            text = None
        try:
            env = environment(text) if text is not None else {}
        except Exception:  # a broken manifest: reported below, where keepalived would start
            env = {}
        # The node address's interface is looked up when the manifest changes and every
        # IP_RECHECK seconds (an address moved onto br0), not every loop. Sticky: a moment
        # without an answer from ip is no reason to restart keepalived.
        if text != looked[0] or time.monotonic() - looked[1] >= IP_RECHECK:
            iface = node_ip_interface(env.get("KEEPALIVED_NODE_IP", "")) or iface
            looked = (text, time.monotonic())
        digest = hashlib.sha256(f"{text}\n{iface}".encode()).hexdigest() if text is not None else None
        if digest != seen or (child is not None and child.poll() is not None):
            stop()
            seen = digest
            if text is not None:
                try:
                    conf.write_text(render(environment(text), iface))
                except Exception as exc:  # a broken manifest: the pod does not start, as with a kubelet
                    print(f"static pod {manifest}: {exc}", file=sys.stderr, flush=True)
                else:
                    child = subprocess.Popen(
                        ["keepalived", "--dont-fork", "--log-detail", "--vrrp",
                         "-f", str(conf), "-p", str(run_dir / "keepalived.pid"),
                         "-r", str(run_dir / "vrrp.pid"), "-c", str(run_dir / "checkers.pid")],
                        stdin=subprocess.DEVNULL,
                    )  # fmt: skip
                    print(f"static pod {manifest}: keepalived started (pid {child.pid})", flush=True)
            else:
                print(f"static pod {manifest}: no manifest, keepalived stopped", flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()
