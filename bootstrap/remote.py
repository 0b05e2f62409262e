"""The one SSH transport: commands on a node over one persistent connection
(paramiko) with pinned host keys, time limits on connecting and on every command,
secrets kept off command lines (they travel on stdin) and out of error messages.

The lab, the deployer, fault injection, the checks and testinfra's ``host`` fixture
all use it.
"""

from __future__ import annotations

import shlex
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from bootstrap import inventory as inv

REDACTED = "<redacted>"


class RemoteError(RuntimeError):
    """A command on a node failed; the message names the node and the command."""


class NodeUnreachable(RemoteError):
    """The node cannot be reached or logged in to over SSH (or the connection died)."""

    def __init__(self, message: str, node: str = "") -> None:
        super().__init__(message)
        self.node = node


class CommandTimeout(RemoteError):
    """A command did not finish within its time limit; the node itself answered."""


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def returncode(self) -> int:  # the name subprocess uses
        return self.rc


def tcp_reachable(address: str, port: int, timeout: float) -> str | None:
    """None when something accepts a TCP connection at address:port, else why not."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return None
    except TimeoutError:
        return f"{address}:{port}: timed out"
    except OSError as exc:
        return f"{address}:{port}: {exc.strerror or exc}"


@dataclass
class Remote:
    """One node. ``run`` connects on first use and reconnects after the connection died."""

    name: str
    address: str
    ssh: inv.SshSettings
    secrets: set[str] = field(default_factory=set)
    _client: paramiko.SSHClient | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_node(cls, inventory: inv.Inventory, node: str, secrets: Iterable[str] = ()) -> Remote:
        entry = inventory.node(node)
        return cls(node, str(entry.address), inventory.ssh, set(secrets))

    @property
    def label(self) -> str:
        return f"{self.name} ({self.address})"

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    def client(self) -> paramiko.SSHClient:
        """The live connection; raises NodeUnreachable naming the node when there is none."""
        with self._lock:
            if self._client is not None:
                transport = self._client.get_transport()
                if transport is not None and transport.is_active():
                    return self._client
                self._client.close()
                self._client = None
            timeout = self.ssh.connect_timeout
            # A TCP probe first: a dead node gives one clear line, not paramiko's traceback.
            why = tcp_reachable(self.address, self.ssh.port, timeout)
            if why is not None:
                raise NodeUnreachable(f"{self.label} is unreachable over SSH: {why}", self.name)
            client = paramiko.SSHClient()
            if self.ssh.known_hosts is not None:
                try:
                    client.load_host_keys(str(self.ssh.known_hosts))
                except OSError as exc:
                    raise NodeUnreachable(f"{self.label}: cannot read ssh.known_hosts: {exc}", self.name) from None
                client.set_missing_host_key_policy(paramiko.RejectPolicy())
            else:  # the inventory pins no keys: accept what the node shows
                client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(
                    self.address,
                    port=self.ssh.port,
                    username=self.ssh.user,
                    key_filename=str(self.ssh.key),
                    timeout=timeout,
                    banner_timeout=timeout,
                    auth_timeout=timeout,
                    allow_agent=False,
                    look_for_keys=False,
                )
            except (paramiko.SSHException, OSError, ValueError) as exc:
                client.close()
                raise NodeUnreachable(f"{self.label}: SSH login failed: {exc}", self.name) from None
            transport = client.get_transport()
            assert transport is not None
            transport.set_keepalive(2)
            self._client = client
            return client

    def run(self, command: str, *, stdin: str | None = None, timeout: float = 120, check: bool = True) -> Result:
        """Run a shell command; ``stdin`` carries anything secret.

        Raises NodeUnreachable (no connection), CommandTimeout (no exit within ``timeout``
        seconds) and, with ``check``, RemoteError on a non-zero exit.
        """
        client = self.client()
        transport = client.get_transport()
        assert transport is not None
        what = self.redact(_short(command))
        try:
            chan = transport.open_session(timeout=self.ssh.connect_timeout)
            chan.settimeout(timeout)
            try:
                chan.exec_command(command)
                if stdin is not None:
                    chan.sendall(stdin.encode())
                chan.shutdown_write()
                out = b"".join(chan.makefile("rb"))
                err = b"".join(chan.makefile_stderr("rb"))
                rc = chan.recv_exit_status()
            finally:
                chan.close()
        except TimeoutError:
            raise CommandTimeout(f"{self.name}: command did not finish within {timeout:g} s: {what}") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise NodeUnreachable(f"{self.label}: SSH connection lost during: {what}: {exc}", self.name) from None
        result = Result(rc, out.decode(errors="replace"), err.decode(errors="replace"))
        if check and rc != 0:
            detail = self.redact((result.stderr or result.stdout).strip())
            raise RemoteError(f"{self.name}: command failed (exit {rc}): {what}\n{detail}")
        return result

    def read(self, path: str) -> str | None:
        res = self.run(f"cat {shlex.quote(path)}", check=False)
        return res.stdout if res.ok else None

    def put(self, path: str, content: str, mode: int = 0o644, owner: str = "root:root") -> bool:
        """Write a file if its content, mode or owner differ; True when changed."""
        q = shlex.quote(path)
        current = self.run(f"test -f {q} && stat -c '%a %U:%G' {q} && cat {q}", check=False)
        if current.ok:
            head, _, body = current.stdout.partition("\n")
            if body == content and head == f"{mode:o} {owner}":
                return False
        self.run(
            f"mkdir -p $(dirname {q}) && tmp=$(mktemp {q}.XXXXXX) && cat > $tmp && "
            f"chmod {mode:o} $tmp && chown {owner} $tmp && mv -f $tmp {q}",
            stdin=content,
        )
        return True

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def remote_for(
    name: str,
    address: str,
    *,
    user: str,
    key: Path,
    known_hosts: Path | None,
    port: int = 22,
    connect_timeout: float = 5,
) -> Remote:
    """A Remote outside any inventory (the lab's own machines before their inventory exists)."""
    settings = inv.SshSettings(user=user, key=key, port=port, known_hosts=known_hosts, connect_timeout=connect_timeout)
    return Remote(name, address, settings)


def _short(command: str, limit: int = 160) -> str:
    one = " ".join(command.split())
    return one if len(one) <= limit else one[: limit - 3] + "..."


class Pool:
    """One persistent connection per node for a run (checks, diagnosis, the recorder), thread
    safe; a node whose SSH login failed is remembered as unreachable and not asked again."""

    def __init__(self, inventory: inv.Inventory, secrets: Iterable[str] = ()) -> None:
        self.inventory = inventory
        self.secrets = set(secrets)
        self._remotes: dict[str, Remote] = {}
        self._dead: dict[str, str] = {}
        self._lock = threading.Lock()

    def remote(self, node: str) -> Remote:
        """The node's connection. Raises NodeUnreachable for a node found unreachable before."""
        with self._lock:
            if node in self._dead:
                raise NodeUnreachable(self._dead[node], node)
            if node not in self._remotes:
                self._remotes[node] = Remote.for_node(self.inventory, node, self.secrets)
            return self._remotes[node]

    def run(self, node: str, command: str, timeout: float = 30, stdin: str | None = None) -> Result:
        """A command on the node, its status kept (``check=False``); ``stdin``: what it reads.
        Raises NodeUnreachable (remembered) or CommandTimeout."""
        try:
            return self.remote(node).run(command, timeout=timeout, check=False, stdin=stdin)
        except NodeUnreachable as exc:
            with self._lock:
                self._dead[node] = str(exc)
            raise

    def forget(self, node: str) -> None:
        """Drop the node's connection and what is remembered of it: it was powered off, rebooted
        or cut off on purpose, and the next command logs in afresh."""
        with self._lock:
            self._dead.pop(node, None)
            remote = self._remotes.pop(node, None)
        if remote is not None:
            remote.close()

    def close(self) -> None:
        with self._lock:
            for remote in self._remotes.values():
                remote.close()
            self._remotes.clear()
