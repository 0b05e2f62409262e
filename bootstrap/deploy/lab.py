"""Whether an inventory is the local lab's, and what the lab adds to a deployment."""

from __future__ import annotations

from pathlib import Path

from bootstrap.deploy.core import LabExtras
from bootstrap.lab import config


def lab_extras_for(inventory_path: str | Path) -> LabExtras | None:
    """The stand-in's settings when the inventory is the local lab's, else None."""
    paths = config.paths()
    try:
        is_lab = Path(inventory_path).resolve() == paths.inventory.resolve()
    except OSError:
        return None
    if not is_lab or not paths.state_file.exists():
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
