"""MinIO's drives through its admin API (HA-ST-002, suites/minio_admin.py): the judgement on a
real answer from the field (madmin-go#434), the lab's stand-in (bootstrap/lab/standin/admin_api.py)
held against that answer's shape, and the check end to end through minio-py's own admin client
against the stand-in served on loopback (its AWS Signature V4 verified, wrong keys refused)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from minio import MinioAdmin
from minio.credentials import StaticProvider
from minio.error import MinioAdminException

from bootstrap import inventory as inv
from bootstrap.lab.standin import admin_api
from suites import minio_admin as ma
from suites import tls
from tests.test_facts import outcome, recorded_lab
from tests.test_real_outputs import INDEX, real
from tests.test_tls import self_signed_context

NODES = [{"name": f"node{i}", "address": f"10.0.0.1{i}"} for i in (1, 2, 3)]


def state(**drive: str) -> dict[str, Any]:
    pods = [{"namespace": "onecloud-minio", "name": f"minio-{i}", "node": f"node{i + 1}"} for i in range(3)]
    for p in pods:
        if p["name"] in drive:
            p["drive"] = drive[p["name"]]
    return {"nodes": NODES, "pods": [*pods, {"namespace": "onecloud", "name": "default-region-1", "node": "node1"}]}


def answer(st: dict[str, Any], down: tuple[str, ...] = ()) -> ma.Info:
    return ma.parse_info(json.dumps(admin_api.info(st, lambda address: address not in down)))


def test_a_real_offline_server_and_its_drives_are_named() -> None:
    text = real("madmin-go-434-offline-server.txt").rstrip().removesuffix(",") + "\n]}"
    assert "excerpt" in INDEX["madmin-go-434-offline-server.txt"]
    (server,) = ma.parse_servers(json.loads(text))
    assert (server.endpoint, server.state) == ("minio2-4:9000", "offline")
    assert [(d.endpoint, d.state, d.pool, d.erasure_set) for d in server.drives] == [
        (f"http://minio2-4:9000/data{i}", "offline", 1, 0) for i in (1, 2, 3)
    ]
    info = ma.Info((server,), parity=None, drives_per_set=())
    assert ma.problems(info)[:2] == ["server minio2-4:9000 is offline", "drive http://minio2-4:9000/data1 is offline"]


def test_the_standins_offline_server_has_the_real_answers_fields() -> None:
    text = real("madmin-go-434-offline-server.txt").rstrip().removesuffix(",") + "\n]}"
    field = json.loads(text)
    ours = next(s for s in admin_api.info(state(), lambda a: a != "10.0.0.12")["servers"] if s["state"] == "offline")
    assert set(ours) == set(field)
    assert set(ours["drives"][0]) == set(field["drives"][0])


def test_every_drive_online_is_no_problem_and_a_faulty_one_keeps_quorum_with_parity_one() -> None:
    assert ma.problems(answer(state())) == []
    info = answer(state(**{"minio-1": "faulty"}))
    assert ma.problems(info) == [f"drive http://minio-1.{admin_api.SERVICE}/export is faulty"]
    assert ma.quorum_lines(info) == [
        "pool 1 erasure set 1: 2 of 3 drives online, 2 needed for a write: keeps its write quorum"
    ]


def test_a_node_down_and_a_faulty_drive_take_the_set_below_write_quorum() -> None:
    info = answer(state(**{"minio-1": "faulty"}), down=("10.0.0.13",))
    assert "server minio-2." + admin_api.SERVICE + " is offline" in ma.problems(info)
    assert ma.quorum_lines(info) == [
        "pool 1 erasure set 1: 1 of 3 drives online, 2 needed for a write: "
        "is below its write quorum: writes are refused"
    ]


@pytest.mark.parametrize(("drives", "parity", "quorum"), [(4, 2, 3), (3, 1, 2), (8, 4, 5), (16, 4, 12), (6, 3, 4)])
def test_minio_write_quorum(drives: int, parity: int, quorum: int) -> None:
    assert ma.write_quorum(drives, parity) == quorum


@pytest.mark.parametrize(
    "text",
    ['<?xml version="1.0"?><Error><Code>NoSuchBucket</Code></Error>', "[]", '{"servers": 3}', '{"mode": "online"}'],
)
def test_an_answer_that_is_not_minios_server_information_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"not JSON|no servers"):
        ma.parse_info(text)


@pytest.fixture(params=["http", "https"])
def scheme(request: pytest.FixtureRequest) -> str:
    """How the stand-in is served: plain, or HTTPS with a self-signed certificate (an S3 endpoint
    a site fronts with TLS of its own, as the platform's endpoints are)."""
    return str(request.param)


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str) -> Iterator[str]:
    """The stand-in's route on loopback (``scheme``), with its state and keys in ``tmp_path``."""
    (tmp_path / "k8s.json").write_text(json.dumps(state(**{"minio-2": "unformatted"})))
    (tmp_path / "minio.env").write_text("MINIO_ACCESSKEY_B64=aGEtbGFi\nMINIO_SECRETKEY_B64=czNjcjN0LWtleQ==\n")
    monkeypatch.setattr(admin_api, "STATE", str(tmp_path / "k8s.json"))
    monkeypatch.setattr(admin_api, "MINIO_ENV", str(tmp_path / "minio.env"))
    monkeypatch.setattr(admin_api, "up", lambda address: True)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, ctype, body = admin_api.admin_info(self)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if scheme == "https":
        server.socket = self_signed_context(tmp_path).wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_minio_pys_admin_client_reads_the_standin_with_the_right_keys(served: str, scheme: str) -> None:
    client = MinioAdmin(endpoint=served, credentials=StaticProvider("ha-lab", "s3cr3t-key"), secure=scheme == "https",
                        http_client=tls.pool_manager(connect=3, read=5))  # fmt: skip
    info = ma.parse_info(client.info())
    assert ma.problems(info) == [f"drive http://minio-2.{admin_api.SERVICE}/export is unformatted"]


@pytest.mark.parametrize(("key", "secret", "code"), [("nobody", "s3cr3t-key", "InvalidAccessKeyId"),
                                                     ("ha-lab", "wrong", "SignatureDoesNotMatch")])  # fmt: skip
def test_the_standin_refuses_other_keys_as_minio_does(
    served: str, scheme: str, key: str, secret: str, code: str
) -> None:
    client = MinioAdmin(endpoint=served, credentials=StaticProvider(key, secret), secure=scheme == "https",
                        http_client=tls.pool_manager(connect=3, read=5))  # fmt: skip
    with pytest.raises(MinioAdminException, match=code):
        client.info()


def check_outcome(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, secret: str = "s3cr3t-key", scheme: str = "http"
) -> str:
    """HA-ST-002 on the recorded 5node lab, its storage's admin API at ``scheme://endpoint``."""
    monkeypatch.setenv("HA_TEST_S3_SECRET", secret)
    rt = recorded_lab()
    storage = inv.StorageSettings(
        endpoint="http://127.0.0.1:9", access_key="ha-lab", secret_key_env="HA_TEST_S3_SECRET",
        admin_endpoint=f"{scheme}://{endpoint}",
    )  # fmt: skip
    rt.inventory = rt.inventory.model_copy(update={"storage": storage})
    return outcome(rt, "HA-ST-002", None, None)


def test_the_check_fails_on_an_unformatted_drive_naming_it_and_the_quorum(
    served: str, scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same judgement over HTTPS with a self-signed certificate: the check judges the drives,
    certificates.py the certificates."""
    assert check_outcome(served, monkeypatch, scheme=scheme) == (
        f"failed: MinIO: 2 of 3 drives online; drive http://minio-2.{admin_api.SERVICE}/export is unformatted; "
        "pool 1 erasure set 1: 2 of 3 drives online, 2 needed for a write: keeps its write quorum"
    )


def test_the_check_with_wrong_keys_or_no_minio_is_not_verifiable(
    served: str, scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    got = check_outcome(served, monkeypatch, secret="wrong", scheme=scheme)
    assert got.startswith(f"not verifiable: MinIO's admin API at {scheme}://{served} refused the server information: ")
    assert "SignatureDoesNotMatch" in got


def test_the_check_on_a_closed_port_is_an_error_naming_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_outcome("127.0.0.1:9", monkeypatch).startswith("error: MinIO's admin API at http://127.0.0.1:9: ")


def test_a_minio_that_lists_no_drives_is_not_verifiable(
    served: str, scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway or an FS-mode server lists no drives: nothing to judge, never a failure or a pass."""
    (tmp_path / "k8s.json").write_text(json.dumps({"nodes": NODES, "pods": []}))
    assert check_outcome(served, monkeypatch, scheme=scheme) == (
        f"not verifiable: MinIO at {scheme}://{served} lists no drives (backend Erasure)"
    )
