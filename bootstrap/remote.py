"""Commands on a node over one persistent SSH connection (paramiko), with time
limits, secrets kept off command lines and out of error messages."""

from __future__ import annotations

import shlex
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import paramiko

from bootstrap import inventory as inv

REDACTED = "<redacted>"


class RemoteError(RuntimeError):
    """A command on a node failed; the message names the node and the command."""


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass
class Remote:
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

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    def client(self) -> paramiko.SSHClient:
        with self._lock:
            if self._client is not None:
                transport = self._client.get_transport()
                if transport is not None and transport.is_active():
                    return self._client
            client = paramiko.SSHClient()
            if self.ssh.known_hosts is not None:
                client.load_host_keys(str(self.ssh.known_hosts))
                client.set_missing_host_key_policy(paramiko.RejectPolicy())
            else:
                client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            timeout = self.ssh.connect_timeout
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
            except (paramiko.SSHException, OSError) as exc:
                raise RemoteError(f"{self.name} ({self.address}): cannot log in over SSH: {exc}") from None
            transport = client.get_transport()
            assert transport is not None
            transport.set_keepalive(2)
            self._client = client
            return client

    def run(self, command: str, *, stdin: str | None = None, timeout: float = 120, check: bool = True) -> Result:
        """Run a shell command; ``stdin`` carries anything secret."""
        client = self.client()
        transport = client.get_transport()
        assert transport is not None
        try:
            chan = transport.open_session(timeout=self.ssh.connect_timeout)
            chan.settimeout(timeout)
            chan.exec_command(command)
            if stdin is not None:
                chan.sendall(stdin.encode())
            chan.shutdown_write()
            out = b"".join(chan.makefile("rb"))
            err = b"".join(chan.makefile_stderr("rb"))
            rc = chan.recv_exit_status()
        except TimeoutError:
            what = self.redact(_short(command))
            raise RemoteError(f"{self.name}: command did not finish within {timeout:g} s: {what}") from None
        except (paramiko.SSHException, OSError) as exc:
            raise RemoteError(f"{self.name}: connection lost during: {self.redact(_short(command))}: {exc}") from None
        result = Result(rc, out.decode(errors="replace"), err.decode(errors="replace"))
        if check and rc != 0:
            detail = self.redact((result.stderr or result.stdout).strip())
            raise RemoteError(f"{self.name}: command failed (exit {rc}): {self.redact(_short(command))}\n{detail}")
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
        if self._client is not None:
            self._client.close()
            self._client = None


def _short(command: str, limit: int = 160) -> str:
    one = " ".join(command.split())
    return one if len(one) <= limit else one[: limit - 3] + "..."
