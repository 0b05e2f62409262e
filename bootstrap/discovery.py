"""Discovery (``--discover``, read-only): what a site inventory lacks, read from the site.

The platform's shared storage: MinIO's service address and port and its keys, from the
cluster through kubectl on the First Node (real-sites.md: helm release ``minio`` in namespace
``onecloud-minio``, service ``minio`` port 9000, Secret ``onecloud-minio/minio`` keys
``accesskey``/``secretkey``). The secret key is kept in memory and handed to the run through an
environment variable of this process (inherited by xdist workers, never on a command line), and
is redacted everywhere like the inventory's own secrets.

Each discovered value carries where it came from (``Discovered.sources``), for the report.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from dataclasses import dataclass, field

from bootstrap import inventory as inv
from bootstrap.remote import Remote, RemoteError

NAMESPACE = "onecloud-minio"
SERVICE = "minio"
SECRET = "minio"
SECRET_ENV = "HA_DISCOVERED_S3_SECRET_KEY"
# kubectl as root finds its kubeconfig itself (~/.kube/config; on k3s the k3s.yaml default).
COMMAND = (
    f"kubectl -n {NAMESPACE} get service {SERVICE} -o jsonpath='{{.spec.clusterIP}}:{{.spec.ports[0].port}}' "
    f"&& echo && kubectl -n {NAMESPACE} get secret {SECRET} -o jsonpath='{{.data.accesskey}} {{.data.secretkey}}'"
)


class DiscoveryError(RuntimeError):
    """A value could not be discovered; the message names the node and what was asked."""


@dataclass
class Discovered:
    storage_endpoint: str = ""
    access_key: str = ""
    secret_key: str = field(default="", repr=False)
    sources: dict[str, str] = field(default_factory=dict)  # inventory field -> where it came from


def parse_storage(output: str, where: str) -> Discovered:
    """kubectl's answer (``IP:PORT`` then ``ACCESSKEY_B64 SECRETKEY_B64``) -> Discovered.

    Raises DiscoveryError (never quoting the keys) when it is not that shape."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    if len(lines) != 2:
        raise DiscoveryError(f"{where}: kubectl answered {len(lines)} line(s), expected the service and the secret")
    host, _, port = lines[0].rpartition(":")
    try:
        ipaddress.ip_address(host)
        if not 1 <= int(port) <= 65535:
            raise ValueError(port)
    except ValueError:
        raise DiscoveryError(
            f"{where}: service {NAMESPACE}/{SERVICE} has no address:port ({lines[0][:60]!r})"
        ) from None
    keys = lines[1].split()
    try:
        access, secret = (base64.b64decode(k, validate=True).decode() for k in keys)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise DiscoveryError(
            f"{where}: secret {NAMESPACE}/{SECRET} does not hold base64 keys accesskey and secretkey"
        ) from None
    if not access or not secret:
        raise DiscoveryError(f"{where}: secret {NAMESPACE}/{SECRET} has an empty accesskey or secretkey")
    told = f"kubectl on {where}"
    return Discovered(
        storage_endpoint=f"http://{host}:{port}",
        access_key=access,
        secret_key=secret,
        sources={
            "storage.endpoint": f"{told}: service {NAMESPACE}/{SERVICE}",
            "storage.access_key": f"{told}: secret {NAMESPACE}/{SECRET} key accesskey",
            "storage.secret_key": f"{told}: secret {NAMESPACE}/{SECRET} key secretkey (kept in memory, redacted)",
        },
    )


def discover_storage(inventory: inv.Inventory, timeout: float = 30.0) -> Discovered:
    """MinIO's endpoint and keys through kubectl on the First Node (read-only).

    Raises DiscoveryError naming the node when it cannot log in, kubectl fails, or the answer
    is not the service and secret."""
    first = inventory.first_node()
    remote = Remote.for_node(inventory, first.name, inventory.secrets())
    try:
        result = remote.run(COMMAND, timeout=timeout, check=False)
    except RemoteError as exc:
        raise DiscoveryError(f"{first.name}: {exc}") from None
    finally:
        remote.close()
    if not result.ok:
        why = (result.stderr or result.stdout).strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        raise DiscoveryError(f"{first.name}: kubectl could not read {NAMESPACE}/{SERVICE}: {why[0][:200]}")
    return parse_storage(result.stdout, first.name)


def with_storage(data: dict[str, object], found: Discovered) -> dict[str, object]:
    """Inventory data with the discovered storage section; the secret key itself goes into this
    process's environment (``SECRET_ENV``), where the inventory refers to it."""
    os.environ[SECRET_ENV] = found.secret_key
    return {
        **data,
        "storage": {"endpoint": found.storage_endpoint, "access_key": found.access_key, "secret_key_env": SECRET_ENV},
    }
