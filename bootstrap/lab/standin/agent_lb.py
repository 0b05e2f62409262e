#!/usr/bin/python3
"""Lab only: the k3s agent's local load balancer on a compute node.

    agent_lb.py agent --server https://VIP:6443

Listens on 127.0.0.1:6444 and forwards each TCP connection to the server named by
``--server`` (the k3s agent's client load balancer does this in front of the servers;
the node's kubelet talks to it). Run as ``k3s-agent.service`` by the installer's stand-in,
so that the unit names the server the node joined through, as k3s' own unit does.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading
from urllib.parse import urlsplit

LISTEN = ("127.0.0.1", 6444)


def pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def serve(client: socket.socket, upstream: tuple[str, int]) -> None:
    try:
        server = socket.create_connection(upstream, timeout=5)
    except OSError:
        client.close()
        return
    server.settimeout(None)
    threading.Thread(target=pipe, args=(client, server), daemon=True).start()
    pipe(server, client)
    client.close()
    server.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["agent"])
    ap.add_argument("--server", required=True)
    args = ap.parse_args()
    url = urlsplit(args.server)
    upstream = (url.hostname or "", url.port or 6443)
    lsock = socket.create_server(LISTEN, reuse_port=False)
    while True:
        client, _ = lsock.accept()
        threading.Thread(target=serve, args=(client, upstream), daemon=True).start()


if __name__ == "__main__":
    main()
