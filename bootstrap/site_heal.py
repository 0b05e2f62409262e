"""Undo what a killed destructive run left on a site: ``python -m bootstrap.site_heal``.

A destructive run journals every fault before it injects it (``bootstrap.faults.Journal``, for a
site ``<journal dir>/faults-<site>.json``) and undoes it in a finalizer, also on Ctrl-C or
SIGTERM; a run killed outright (SIGKILL, a lost runner) leaves the journal. The next destructive
run undoes it before its first fault; this command does it now, as ``python -m bootstrap.lab
heal`` does for the lab. It changes the site, so it needs the site's name confirmed, as the
faults did.

    python -m bootstrap.site_heal --inventory site.yaml --confirm-site acme-prod

Exit status: 0 when the journal is empty afterwards (also when it was), 1 when a fault could not
be undone (it stays in the journal, named), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bootstrap import inventory as inv
from bootstrap.faults import FaultError, Journal, restore_journal
from bootstrap.runner_host import runner_address_towards
from bootstrap.site_driver import SiteDriver

REPORTS = Path(__file__).resolve().parent.parent / "reports"  # where a run from the checkout journals


def heal(driver: SiteDriver) -> tuple[list[str], str | None]:
    """``restore_journal`` on the site: (what was undone, newest first; the fault that could not be
    undone and why, or None). That fault stays in the journal, and so do those before it."""
    before = driver.journal.load()
    try:
        restore_journal(driver)
        failed = None
    except FaultError as exc:
        failed = f"{driver.journal.load()[-1].describe()}: {exc}"
    left = driver.journal.load()
    return [f.describe() for f in reversed(before) if f not in left], failed


class BadInput(Exception):
    """One line naming the input (file, option or node) that stops the command."""


def _site(args: argparse.Namespace) -> inv.Inventory:
    try:
        site = inv.load(args.inventory)
    except (OSError, inv.InventoryError) as exc:
        raise BadInput(f"{args.inventory}: {exc}") from None
    if args.confirm_site != site.site:
        raise BadInput(f"--confirm-site: the inventory's site is {site.site!r}, not {args.confirm_site!r}")
    return site


def _driver(site: inv.Inventory, args: argparse.Namespace) -> SiteDriver:
    first = site.first_node()
    try:
        return SiteDriver(site, args.journal_dir, args.confirm_site, runner_address_towards(str(first.address)))
    except FaultError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:  # no route from this host towards the site
        raise BadInput(f"{first.name} ({first.address}): {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bootstrap.site_heal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--inventory", required=True, type=Path, help="the site's inventory (YAML)")
    parser.add_argument("--confirm-site", required=True, help="the inventory's site name, to allow the changes")
    parser.add_argument(
        "--journal-dir", type=Path, default=REPORTS, help="where the run journalled (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        site = _site(args)
        if not Journal(args.journal_dir / f"faults-{site.site}.json").load():
            print(f"nothing to undo: no fault journalled for site {site.site} in {args.journal_dir}")
            return 0
        driver = _driver(site, args)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        undone, failed = heal(driver)
    finally:
        driver.pool.close()
    if undone:
        print("restored: " + ", ".join(undone))
    if failed:
        print(f"error: could not undo {failed}; it stays in the journal", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
