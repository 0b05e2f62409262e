"""Start a new requirement in its three places: its catalog entry (``suites/catalog.yaml``), its
check (``suites/checks/<area>.py``) and its mutation (``tests/mutations.py``).

    python -m suites.scaffold HA-OS-009 --scope node --roles control --severity high \\
        --title-en "Chrony is running" --title-zh "chrony 正在运行" --facts chrony

What it writes is a start, never a finished requirement: the check raises "not written yet" (an
error, never a pass) and the mutation refuses to apply, so the mutation harness and the lab's
self-tests fail until both are written. Exit status: 0 written, 2 bad input (one message).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from suites.catalog import AREAS, CATALOG, ID_RE, SEVERITIES, load
from suites.facts import PROBES

ROOT = Path(__file__).resolve().parent.parent
SCOPES = ("node", "vip", "site")
# The check module of each area (suites/checks/).
AREA_MODULES = {
    "OS": "host_os", "SSH": "ssh", "VIP": "vip", "KA": "keepalived", "DB": "database", "DBHA": "database",
    "CP": "platform", "ST": "platform", "WEB": "platform", "UPG": "platform", "SURV": "survival",
}  # fmt: skip


class ScaffoldError(ValueError):
    pass


def catalog_entry(rid: str, args: argparse.Namespace) -> str:
    roles = f"  roles: [{', '.join(args.roles)}]\n" if args.scope == "node" else ""
    return (
        f"\n- id: {rid}\n"
        f"  title: {{zh: {args.title_zh!r}, en: {args.title_en!r}}}\n"
        f"  source: {args.source}\n"
        f"  section: {args.section!r}\n"
        f"  severity: {args.severity}\n"
        f"  scope: {args.scope}\n{roles}"
        "  phases: [postinstall]\n"
        "  remediation:\n"
        '    zh: "TODO: 修复步骤"\n'
        '    en: "TODO: how to fix it"\n'
    )


def check_stub(rid: str, facts: list[str]) -> str:
    name = "check_" + rid.lower().replace("-", "_")
    declared = f", facts=({', '.join(repr(f) for f in facts)},)" if facts else ""
    return (
        f'\n\n@check("{rid}"{declared})\n'
        f"def {name}(ctx: Context) -> None:\n"
        '    """TODO: the sentence of the document this verifies, and its source."""\n'
        f'    raise CheckError("{rid}: check not written yet (python -m suites.scaffold)")\n'
    )


def mutation_stub(rid: str, node: str) -> str:
    return (
        f"    _m(\n"
        f'        "{rid.lower()}-todo",\n'
        f'        "{rid}",\n'
        '        "TODO: what this breaks, in words",\n'
        f'        "{node}",\n'
        f'        (_not_written("{rid}"), _not_written("{rid}")),\n'
        "    ),\n"
    )


def scaffold(rid: str, args: argparse.Namespace, root: Path | None = None) -> list[Path]:
    """Write the three starts under ``root`` (the repository); return the files changed. Raises
    ScaffoldError naming what is wrong, before anything is written."""
    root = root or ROOT
    if not ID_RE.match(rid):
        raise ScaffoldError(f"{rid!r}: give an id HA-<AREA>-<NNN> with AREA one of {', '.join(AREAS)}")
    catalog_path = root / "suites" / "catalog.yaml"
    if rid in load(catalog_path if catalog_path.exists() else CATALOG):
        raise ScaffoldError(f"{rid} is in the catalog already")
    unknown = [f for f in args.facts if f not in PROBES]
    if unknown:
        raise ScaffoldError(f"--facts: unknown fact(s) {', '.join(unknown)}; add a Probe to suites/facts/ first")
    checks = root / "suites" / "checks" / f"{AREA_MODULES[rid.split('-')[1]]}.py"
    mutations = root / "tests" / "mutations.py"
    text = mutations.read_text()
    end = re.search(r"^MUTATIONS: list\[Mutation\] = \[\n.*?^\]", text, re.M | re.S)
    if end is None:
        raise ScaffoldError(f"{mutations}: no MUTATIONS list to add to")
    with catalog_path.open("a") as f:
        f.write(catalog_entry(rid, args))
    body = checks.read_text()
    if not re.search(r"^from suites.context import .*\bCheckError\b", body, re.M):
        body = body.replace("\nfrom suites.context import ", "\nfrom suites.context import CheckError, ", 1)
    checks.write_text(body + check_stub(rid, args.facts))
    at = end.end() - 1  # before the list's closing bracket
    mutations.write_text(text[:at] + mutation_stub(rid, args.node) + text[at:])
    return [catalog_path, checks, mutations]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m suites.scaffold", description=__doc__.split("\n\n")[0])
    p.add_argument("id", help="The new requirement's id, HA-<AREA>-<NNN>")
    p.add_argument("--scope", choices=SCOPES, default="node", help="One item per node, per VIP, or per site")
    p.add_argument("--roles", nargs="+", default=["control"], help="Node roles a node-scoped check runs on")
    p.add_argument("--severity", choices=SEVERITIES, default="high", help="How bad a failure is")
    p.add_argument("--source", choices=("document", "db-ha-page", "installer", "field"), default="document",
                   help="Where the rule comes from (field needs references in the entry)")  # fmt: skip
    p.add_argument("--section", default="TODO", help="The document's section it comes from")
    p.add_argument("--title-en", required=True, help="The requirement in English, as a MUST-style sentence")
    p.add_argument("--title-zh", required=True, help="The requirement in Chinese")
    p.add_argument("--facts", nargs="*", default=[], help="Node facts the check reads (suites/facts/)")
    p.add_argument("--node", default="node2", help="The lab node its mutation breaks")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        written = scaffold(args.id, args)
    except ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
