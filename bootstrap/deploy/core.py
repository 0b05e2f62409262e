"""The deployment engine: phases of idempotent steps run over SSH, node by node
in parallel, with every change counted (a second run must count zero)."""

from __future__ import annotations

import concurrent.futures
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bootstrap import inventory as inv
from bootstrap.deploy.installer import Installer
from bootstrap.distro import Distro, UnsupportedDistro, detect
from bootstrap.poll import WaitTimeout, wait_until
from bootstrap.profiles import Profile, get_profile
from bootstrap.remote import Remote, RemoteError
from bootstrap.topology import Role

MARK = "# Managed by cloudpods-ha-conformance (bootstrap/deploy); edits are overwritten.\n"


class Log(Protocol):
    """Where progress goes (a text stream: sys.stderr, io.StringIO, pytest's -v writer)."""

    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...


class DeployError(RuntimeError):
    """A step failed: names the node, the step and the command's own error."""


@dataclass(frozen=True)
class Change:
    node: str
    step: str
    what: str


@dataclass
class Deployment:
    inventory: inv.Inventory
    installer: Installer | None = None  # None: a site; the installer's steps are not ours
    log: Log = sys.stderr
    stage: str = "install"  # or "prepare": the document's preparation only
    profile: Profile = field(init=False)
    db_password: str = field(init=False)
    remotes: dict[str, Remote] = field(default_factory=dict)
    distros: dict[str, Distro] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.stage not in ("prepare", "install"):
            raise DeployError(f"unknown deploy stage {self.stage!r}; choose prepare or install")
        self.profile = get_profile(self.inventory.profile).with_overrides(dict(self.inventory.profile_overrides))
        self.db_password = self.inventory.db.password()
        secrets = {self.db_password}
        if self.installer is not None:
            secrets |= self.installer.secrets
        for node in self.inventory.nodes:
            self.remotes[node.name] = Remote.for_node(self.inventory, node.name, secrets)

    # Helpers for steps --------------------------------------------------------
    def remote(self, node: inv.NodeEntry | str) -> Remote:
        return self.remotes[node if isinstance(node, str) else node.name]

    def distro(self, node: inv.NodeEntry) -> Distro:
        return self.distros[node.name]

    def changed(self, node: inv.NodeEntry | str, step: str, what: str) -> None:
        name = node if isinstance(node, str) else node.name
        with self._lock:
            self.changes.append(Change(name, step, what))
        self.say(f"{name}: {step}: {what}")

    def say(self, text: str) -> None:
        with self._lock:
            self.log.write(f"deploy: {text}\n")
            self.log.flush()

    def nodes(self, *roles: Role) -> list[inv.NodeEntry]:
        if not roles:
            return list(self.inventory.nodes)
        return [n for n in self.inventory.nodes if any(n.has(r) for r in roles)]

    # Running ------------------------------------------------------------------
    def connect_all(self) -> None:
        """Reach every node before changing any, so one dead node leaves the site untouched."""

        def probe(node: inv.NodeEntry) -> None:
            try:
                self.distros[node.name] = detect(self.remote(node))
            except (RemoteError, UnsupportedDistro) as exc:
                raise DeployError(f"{node.name}: step 'connect': {exc}") from None

        self.parallel("connect", self.nodes(), probe)

    def parallel(self, step: str, nodes: Iterable[inv.NodeEntry], fn: Callable[[inv.NodeEntry], Any]) -> None:
        nodes = list(nodes)
        if not nodes:
            return
        errors: list[str] = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            futures = {pool.submit(fn, n): n for n in nodes}
            for fut in concurrent.futures.as_completed(futures):
                node = futures[fut]
                try:
                    fut.result()
                except DeployError as exc:
                    errors.append(str(exc))
                except RemoteError as exc:
                    errors.append(f"{node.name}: step '{step}': {exc}")
        if errors:
            raise DeployError("\n".join(sorted(errors)))

    def wait_for(self, what: str, check: Callable[[], str | None], timeout: float = 60) -> None:
        """Poll ``check`` (None = satisfied, else why not) until it holds."""
        try:
            wait_until(what, check, timeout, swallow=(RemoteError,))
        except WaitTimeout as exc:
            raise DeployError(f"step '{what}': not reached within {timeout:g} s: {exc.why}") from None

    def close(self) -> None:
        for remote in self.remotes.values():
            remote.close()
