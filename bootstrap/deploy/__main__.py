"""``python -m bootstrap.deploy --inventory FILE``: deploy a site inventory's topology."""

from __future__ import annotations

import argparse
import sys

from bootstrap import inventory as inv
from bootstrap.deploy import DeployError, deploy
from bootstrap.deploy.lab import lab_extras_for


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bootstrap.deploy", description=__doc__)
    ap.add_argument("--inventory", required=True, help="Site inventory (YAML)")
    args = ap.parse_args(argv)
    try:
        inventory = inv.load(args.inventory)
        changes = deploy(inventory, lab=lab_extras_for(args.inventory))
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
