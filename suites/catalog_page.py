"""The catalog as a documentation page (``docs/catalog.md``), in Chinese and English, generated
from ``suites/catalog.yaml`` so the two cannot drift apart (a self-test compares them).

    python -m suites.catalog_page > docs/catalog.md
"""

from __future__ import annotations

import sys

from suites.catalog import AREAS, Requirement, load
from suites.registry import declared_facts, load_checks


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _facts(rid: str) -> str:
    names = sorted({f for fn in load_checks().get(rid, []) for f in declared_facts(fn)})
    return ", ".join(f"`{n}`" for n in names) or "-"


def markdown(catalog: dict[str, Requirement]) -> str:
    """The page: one table per area, one row per requirement (id, titles zh/en, severity,
    scope, topologies, source, the facts its checks read), then each one's remediation."""
    out = [
        "# Requirement catalog / 需求目录",
        "",
        "Generated from `suites/catalog.yaml` by `python -m suites.catalog_page`; do not edit by hand.",
        f"{len(catalog)} requirements, {sum(r.manual for r in catalog.values())} of them manual.",
        "",
    ]
    for area in AREAS:
        reqs = [r for r in catalog.values() if r.area == area]
        if not reqs:
            continue
        out += [f"## {area}", "", "| id | 标题 | title | severity | scope | topologies | source | facts |",
                "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in reqs:
            scope = r.scope + (" (manual)" if r.manual else "") + (" (destructive)" if r.destructive else "")
            out.append(
                f"| {r.id} | {_cell(r.title.zh)} | {_cell(r.title.en)} | {r.severity} | {scope} | "
                f"{', '.join(r.topologies)} | {r.source} | {_facts(r.id)} |"
            )
        out.append("")
        for r in reqs:
            out += [f"**{r.id}** remediation: {_cell(r.remediation.en)}", "", f"修复：{_cell(r.remediation.zh)}", ""]
            if r.references:
                out += ["References: " + "; ".join(_cell(x) for x in r.references), ""]
    return "\n".join(out).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown(load()))
