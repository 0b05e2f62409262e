"""The results of a run as typed models: these models are the results.json schema.

``RunResult`` is one results.json; ``CheckResult`` one check item in it. The JSON Schema is
exported to ``docs/results.schema.json`` (``python -m suites.model > docs/results.schema.json``;
a self-test compares the two) and every results.json the suite writes is validated against these
models before it is written (``fixtures/results.py``). ``SCHEMA_VERSION`` changes when a field
changes meaning or a reader must learn something new (2: the ``not_verifiable`` outcome and the
``suite`` block with the version, commit and catalog hash that produced the run).
"""

from __future__ import annotations

import enum
import hashlib
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA = "cloudpods-ha-conformance/results"
SCHEMA_VERSION = 2
PACKAGE = "cloudpods-ha-conformance"
_ROOT = Path(__file__).resolve().parent.parent


class Outcome(enum.StrEnum):
    """A check item's verdict. ``not_verifiable``: the suite could not see what the check needs
    (a fact the SSH user may not read): never a pass, not a finding against the site either."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    NOT_VERIFIABLE = "not_verifiable"
    WAIVED = "waived"
    MANUAL = "manual"
    SKIPPED = "skipped"


FAILING = (Outcome.FAILED, Outcome.ERROR)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Evidence(_Strict):
    command: str
    output: str


class CheckResult(_Strict):
    """One item: a requirement judged on one subject (a node, a VIP, the site, a scenario)."""

    id: str = Field(description="the item, e.g. HA-OS-001[node1], HA-VIP-001[vip-db], HA-SURV-001[kill-node2]")
    requirement: str = Field(description="the catalog id, or ROOT-SSH/ROOT-DB/ROOT-VIP for a root cause")
    node: str | None = Field(description="the node for node-scoped checks; null for VIP, site and scenario ones")
    subject: str | None = Field(description="the VIP name (platform, db) or the scenario's name")
    blocked_by: str | None = Field(default=None, description="the root item whose failure blocked this check")
    outcome: Outcome
    message: str = ""
    evidence: list[Evidence] = Field(default_factory=list)
    duration_s: float = Field(default=0.0, description="seconds")
    figures: dict[str, Any] | None = Field(default=None, description="a scenario's measurements (docs/reports.md)")
    artifacts: list[str] | None = Field(default=None, description="files kept, relative to the report directory")
    findings: list[str] = Field(
        default_factory=list,
        description="named findings (suites/findings.py) every problem of a failure is an instance of",
    )

    def record(self) -> dict[str, Any]:
        """As results.json holds it (empty optional fields left out)."""
        doc = self.model_dump(mode="json")
        for key in ("blocked_by", "figures", "artifacts"):
            if doc[key] is None:
                del doc[key]
        if not doc["findings"]:
            del doc["findings"]
        return doc


class Provenance(_Strict):
    """What produced a run, so a verdict can be traced to it."""

    version: str = Field(description="the suite's package version")
    commit: str | None = Field(description="the git commit of the suite's checkout, where it is one")
    catalog_sha256: str = Field(description="sha256 of the requirement catalog file the run used")


class Text(_Strict):
    zh: str
    en: str


class RequirementRecord(_Strict):
    title: Text
    area: str
    severity: Literal["critical", "high", "medium", "low"]
    section: str
    source: str | None = None
    references: list[str] = Field(default_factory=list)
    manual: bool
    remediation: Text


class NodeRecord(_Strict):
    name: str
    address: str
    roles: list[str]


class LayoutRecord(_Strict):
    line: str | None = Field(description="k3s or kubeadm; null where neither line's marker was found")
    db_ha: str = Field(description="manual, ocboot or single")
    sources: dict[str, str] = Field(description="where each value came from")


class MachinesRecord(_Strict):
    """What the local lab's machines are: ``driver`` nspawn (containers on the host's kernel) or
    vm (QEMU guests), ``accel`` the VMs' accelerator (kvm, tcg), ``note`` what that means for the
    run's timings, ``image`` the cloud image's file name where the VMs boot a user's own (the
    release gate: the release installed by the user's installer)."""

    driver: Literal["nspawn", "vm"]
    accel: str = ""
    note: str = ""
    image: str = ""


class RunResult(_Strict):
    """One results.json."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: Literal["cloudpods-ha-conformance/results"] = Field(alias="schema")
    version: Literal[2]
    suite: Provenance
    site: str
    site_kind: str = Field(description="lab or site: how destructive steps may reach it")
    topology: str
    profile: str
    phase: str
    nodes: list[NodeRecord]
    discovered: dict[str, str] | None = Field(default=None, description="inventory fields --discover read")
    layout: LayoutRecord | None = None
    machines: MachinesRecord | None = Field(default=None, description="the local lab's machine driver (lab runs)")
    started_at: str = Field(description="UTC, ISO 8601")
    finished_at: str = Field(description="UTC, ISO 8601")
    requirements: dict[str, RequirementRecord]
    checks: list[CheckResult]


def catalog_sha256(path: Path) -> str:
    """sha256 of the catalog file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git_commit(root: Path = _ROOT) -> str | None:
    """The commit of the suite's git checkout (or, in the offline image, the one it was built
    from: ``.commit``), or None (no checkout, no git): 5 s at most."""
    if not (root / ".git").exists():
        built = root / ".commit"
        commit = built.read_text().strip() if built.is_file() else ""
        return commit if len(commit) == 40 else None
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


def provenance(catalog: Path) -> Provenance:
    """The suite's version, its commit where known, and the hash of the catalog a run used."""
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Provenance(version=version, commit=git_commit(), catalog_sha256=catalog_sha256(catalog))


def json_schema() -> str:
    """The results.json JSON Schema, as docs/results.schema.json holds it."""
    schema = RunResult.model_json_schema(by_alias=True)
    schema["$id"] = f"https://cloudpods-ha-conformance/{SCHEMA}/v{SCHEMA_VERSION}"
    schema["title"] = f"results.json (schema {SCHEMA}, version {SCHEMA_VERSION})"
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(json_schema())
