"""``python -m bootstrap.deploy --inventory FILE --confirm-site NAME``: the HA document's
preparation (OS, MariaDB, DB HA, SSH trust) on a site that the installer has not reached
yet. The local lab is deployed with ``python -m bootstrap.lab deploy``."""

from __future__ import annotations

import argparse
import sys

from bootstrap import inventory as inv
from bootstrap.deploy import DeployError, deploy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bootstrap.deploy", description=__doc__)
    ap.add_argument("--inventory", required=True, help="Site inventory (YAML)")
    ap.add_argument(
        "--confirm-site", default=None, help="The inventory's site name: confirms that its nodes may be changed"
    )
    args = ap.parse_args(argv)
    try:
        inventory = inv.load(args.inventory)
        changes = deploy(inventory, confirm_site=args.confirm_site)
    except (inv.InventoryError, DeployError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(f"{len(changes)} change(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
