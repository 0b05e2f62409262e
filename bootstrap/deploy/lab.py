"""Whether an inventory is the local lab's, and what the lab adds to a deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bootstrap.deploy.core import LabExtras
from bootstrap.lab import config


def lab_extras_for(inventory_path: str | Path) -> LabExtras | None:
    """The stand-in's settings when the inventory is the local lab's, else None."""
    paths = config.paths()
    if not paths.state_file.exists():
        return None
    try:
        is_lab = Path(inventory_path).resolve() == paths.inventory.resolve() or _same_machines(
            Path(inventory_path), paths.inventory
        )
    except OSError:
        return None
    if not is_lab:
        return None
    import json

    state = json.loads(paths.state_file.read_text())
    return LabExtras(
        storage_vip=state["vips"]["storage"],
        s3_access_key=config.S3_ACCESS_KEY,
        s3_secret=paths.s3_secret_file.read_text().strip(),
        shared_mount=config.SHARED_MOUNT,
        tools_mount=config.TOOLS_MOUNT,
        s3_port=config.S3_PORT,
    )


def _same_machines(candidate: Path, lab_inventory: Path) -> bool:
    """A copy of the lab's inventory (other expectations or bounds, say) is still the lab:
    the same site, the same nodes at the same addresses, reached with the lab's own key."""
    from bootstrap.inventory import InventoryError, load

    try:
        mine, lab = load(candidate), load(lab_inventory)
    except InventoryError:
        return False

    def machines(i: Any) -> Any:
        return (i.site, i.ssh.key.resolve(), sorted((n.name, str(n.address)) for n in i.nodes))

    return bool(machines(mine) == machines(lab))
