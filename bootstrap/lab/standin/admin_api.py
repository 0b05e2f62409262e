"""The lab's stand-in for MinIO's admin API server information (lab only, stdlib only; copied
beside server.py, which serves it on :9000). The lab's S3 storage is SeaweedFS, which has no
admin API; this answers ``GET /minio/admin/v3/info`` for the MinIO the lab's kubectl reports
(the ``minio-N`` pods of /etc/ha-standin/k8s.json, one drive each), in madmin-go's
``InfoMessage`` shape (info-commands.go; held against madmin-go#434's real answer in
tests/test_real_outputs.py):

- a server is "online" when its pod's node answers on its SSH port within a second, else
  "offline" with its drive "offline" (what a live MinIO server reports for a peer it lost);
- a drive's state is the pod record's ``drive`` (what a mutation sets: "faulty",
  "unformatted"), "ok" by default;
- the erasure set is all drives, its parity MinIO's default for that many (2-3 drives: 1, 4-5: 2,
  6-7: 3, 8 or more: 4).

The request must be signed (AWS Signature V4) with MinIO's keys from /etc/ha-standin/minio.env;
a wrong access key or signature gets MinIO's JSON error (InvalidAccessKeyId,
SignatureDoesNotMatch) with status 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
from typing import Any

STATE = "/etc/ha-standin/k8s.json"
MINIO_ENV = "/etc/ha-standin/minio.env"
SERVICE = "minio-svc.onecloud-minio.svc.cluster.local:9000"  # the chart's headless service
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/([^,]+), *SignedHeaders=([^,]+), *Signature=([0-9a-f]+)")


def up(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=1):
            return True
    except OSError:
        return False


def default_parity(drives: int) -> int:
    """MinIO's default standard-class parity for an erasure set of ``drives``."""
    return 1 if drives <= 3 else 2 if drives <= 5 else 3 if drives <= 7 else 4


def info(state: dict[str, Any], is_up: Any = up) -> dict[str, Any]:
    """The server information for the cluster ``state`` (k8s.json's shape)."""
    address = {n["name"]: n["address"] for n in state["nodes"]}
    pods = sorted((p for p in state["pods"] if re.fullmatch(r"minio-\d+", p["name"])), key=lambda p: p["name"])
    servers = []
    for i, p in enumerate(pods):
        online = bool(p.get("node")) and is_up(address.get(p["node"], ""))
        endpoint = f"{p['name']}.{SERVICE}"
        drive = {
            "endpoint": f"http://{endpoint}/export",
            "state": p.get("drive", "ok") if online else "offline",
            "major": 0,
            "minor": 0,
            "used_inodes": 0,
            "pool_index": 0,
            "set_index": 0,
            "disk_index": i,
        }
        if online:
            drive.update(path="/export", uuid=f"5e1d{i:04x}-0000-4000-8000-{i:012x}", totalspace=10 << 30)
        server: dict[str, Any] = {"state": "online" if online else "offline", "endpoint": endpoint, "drives": [drive]}
        if online:
            server.update(scheme="http", uptime=3600, version="2023-03-24T21:41:23Z", poolNumber=1)
        servers.append(server)
    ok = sum(d["state"] == "ok" for s in servers for d in s["drives"])
    backend = {
        "backendType": "Erasure",
        "onlineDisks": ok,
        "offlineDisks": len(servers) - ok,
        "standardSCParity": default_parity(len(servers)),
        "rrSCParity": 1,
        "totalSets": [1],
        "totalDrivesPerSet": [len(servers)],
    }
    deployment = "00000000-0000-4000-8000-00000000ab1e"
    return {"mode": "online", "deploymentID": deployment, "backend": backend, "servers": servers}


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signature_error(method: str, path: str, headers: Any, access_key: str, secret: str) -> str | None:
    """None when the request carries a valid AWS Signature V4 for these keys, else MinIO's
    error code."""
    m = _AUTH.fullmatch(headers.get("Authorization", "").strip())
    if m is None:
        return "AccessDenied"
    key, scope, signed, signature = m.groups()
    if key != access_key:
        return "InvalidAccessKeyId"
    uri, _, query = path.partition("?")
    canonical = "\n".join(
        [
            method,
            uri,
            "&".join(sorted(q for q in query.split("&") if q)),
            "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed.split(";")),
            signed,
            headers.get("x-amz-content-sha256", ""),
        ]
    )
    date, region, service, _ = [*scope.split("/"), "", "", "", ""][:4]
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", headers.get("x-amz-date", ""), scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    k = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), date), region), service), "aws4_request")
    expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(expected, signature) else "SignatureDoesNotMatch"


def _keys() -> tuple[str, str]:
    env = {}
    with open(MINIO_ENV, encoding="utf-8") as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            env[k] = v
    return base64.b64decode(env["MINIO_ACCESSKEY_B64"]).decode(), base64.b64decode(env["MINIO_SECRETKEY_B64"]).decode()


def admin_info(req: Any) -> tuple[int, str, str]:
    """The route: (status, content type, body) for the request handler ``req``."""
    error = signature_error("GET", req.path, req.headers, *_keys())
    if error is not None:
        body = {"Code": error, "Message": "The request signature or access key is not MinIO's.", "Resource": req.path}
        return 403, "application/json", json.dumps(body)
    with open(STATE, encoding="utf-8") as f:
        state = json.load(f)
    return 200, "application/json", json.dumps(info(state))
