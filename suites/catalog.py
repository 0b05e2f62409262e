"""The requirement catalog (suites/catalog.yaml), loaded and validated."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bootstrap.profiles import Profile
from bootstrap.topology import TOPOLOGIES, Role
from bootstrap.yamlfile import fast_load

CATALOG = Path(__file__).with_name("catalog.yaml")
AREAS = ("OS", "SSH", "VIP", "KA", "DB", "DBHA", "CP", "K8S", "ST", "WEB", "UPG", "SURV")
SEVERITIES = ("critical", "high", "medium", "low")
PHASES = ("preinstall", "postinstall")
ID_RE = re.compile(r"^HA-(" + "|".join(AREAS) + r")-\d{3}$")


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class Requirement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=ID_RE.pattern)
    title: Text
    section: str = Field(min_length=1)
    severity: Literal["critical", "high", "medium", "low"]
    topologies: tuple[str, ...] = tuple(TOPOLOGIES)
    scope: Literal["node", "vip", "site", "scenario"]
    roles: tuple[Role, ...] = ()
    exclude_roles: tuple[Role, ...] = ()
    vips: tuple[str, ...] = ("platform", "db")  # scope vip: which VIPs
    phases: tuple[Literal["preinstall", "postinstall"], ...] = Field(min_length=1)
    expect: dict[str, Any] = Field(default_factory=dict)
    manual: bool = False
    writes: bool = False
    destructive: bool = False  # breaks nodes on purpose (survivability); restores them after
    # Judges the site's past (its logs since boot), not its present: left out of the checks around
    # each survivability scenario, whose own faults it would otherwise blame on the site.
    history: bool = False
    remediation: Text
    # Where the rule comes from: the HA document itself, the DB-HA page it links, the installer
    # (ocboot/ocadm, real-sites.md), or field reports (with their public references), so that a
    # customer sees which failures break the document's own rules and which are known field failures.
    source: Literal["document", "db-ha-page", "installer", "field"] = "document"
    references: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _field_rules_cite(self) -> Requirement:
        if self.source == "field" and not self.references:
            raise ValueError("a requirement from the field names its public references")
        return self

    @property
    def area(self) -> str:
        return self.id.split("-")[1]


class CatalogError(ValueError):
    pass


# Expected values a catalog entry may name besides the profile's fields.
INVENTORY_REFS = ("inventory.expect",)


def expected_value_names() -> set[str]:
    """Every name an ``expect`` entry may use: a profile field or an inventory reference."""
    return {f for f in Profile.__dataclass_fields__ if f != "name"} | set(INVENTORY_REFS)


def resolve_expected(ref: Any, profile: Profile, inventory: Any) -> Any:
    """The value an ``expect`` name stands for on this site (profile overrides applied)."""
    if ref == "inventory.expect":
        return inventory.expect
    if isinstance(ref, str) and ref in expected_value_names():
        return getattr(profile, ref)
    raise KeyError(ref)


@cache
def load(path: Path = CATALOG) -> dict[str, Requirement]:
    data = fast_load(path.read_text())  # paid by every run's start-up
    result: dict[str, Requirement] = {}
    for i, entry in enumerate(data):
        try:
            req = Requirement.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise CatalogError(f"{path}: entry {i} ({entry.get('id', '?')}): {loc}: {first['msg']}") from None
        if req.id in result:
            raise CatalogError(f"{path}: duplicate requirement {req.id}")
        if req.scope == "node" and not req.roles:
            raise CatalogError(f"{path}: {req.id}: a node-scoped requirement needs roles")
        names = expected_value_names()
        for key, ref in req.expect.items():
            if not isinstance(ref, str) or ref not in names:
                raise CatalogError(
                    f"{path}: {req.id}: expect.{key}: {ref!r} names no profile value "
                    f"(bootstrap/profiles.py) nor one of {', '.join(INVENTORY_REFS)}"
                )
        unknown = set(req.topologies) - set(TOPOLOGIES)
        if unknown:
            raise CatalogError(f"{path}: {req.id}: unknown topologies {sorted(unknown)}")
        result[req.id] = req
    return result
