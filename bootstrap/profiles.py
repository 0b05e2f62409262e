"""Values that differ between the HA document and the installer's automated
variant (see shared/docs/cloudpods-ha-facts.md). The deployer installs a
profile; the checks expect it. Any value can be overridden per site.

>>> platform_router_id("10.127.190.100")
250
>>> platform_auth_pass("10.127.190.100")
'MTAuMTI3'

The published values these formulas reproduce (shared/docs/real-sites.md):

>>> platform_router_id("192.168.0.66"), platform_auth_pass("192.168.0.66")
(66, 'MTkyLjE2')
>>> platform_router_id("10.127.100.102"), platform_auth_pass("10.127.100.102", "kubeadm")
(12, 'de17f785')
>>> platform_router_id("172.16.1.100"), platform_auth_pass("172.16.1.100", "kubeadm")
(145, '80ef5502')
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Profile:
    name: str
    # MariaDB (single-DB section of the document, and the DB-HA page)
    max_connections_single: int
    max_connections_ha: int
    expire_logs_days: int
    # keepalived for the DB VIP
    db_states: tuple[str, str]  # node 1, node 2
    db_priorities: tuple[int, int]
    db_router_id: int
    # keepalived for the platform VIP: first control node, then the others
    platform_master_priority: int
    platform_backup_priority: int
    advert_int: int = 1
    # Bounds the checks apply (not from the document: engineering defaults).
    clock_skew_max_s: float = 2.0
    replication_lag_max_s: float = 10.0
    vip_observation_s: float = 3.0
    rto_bound_s: float = 15.0  # services the document promises must be back within this
    storage_rto_bound_s: float = 60.0  # MinIO's move to another node (the document gives no bound)
    # After a scenario's fault is undone: each VIP on one node, replication both ways and the
    # returned members healthy within this (the lab converges in 6-13 s; engineering default).
    convergence_bound_s: float = 120.0
    # Every promised service back, and the site converged, after a whole site's power returns
    # (the document gives none). The lab's containers converge in 20-23 s (docs/measurements.md,
    # "Whole-site power cut"); real servers add their firmware's start (override it per site).
    site_recovery_bound_s: float = 120.0
    cert_min_days: int = 30  # a certificate the platform depends on must stay valid this long
    # A platform pod younger than this may still be starting or being replaced: only a failure
    # status (CrashLoopBackOff, ImagePullBackOff...) fails it before (engineering default).
    pod_settle_s: int = 300
    # How far back the history checks read the nodes' logs (since boot at most; 0: not read),
    # and from when at the earliest (epoch seconds; 0: no such bound), e.g. the last signed run.
    history_days: float = 7.0
    history_since: float = 0.0

    def with_overrides(self, overrides: dict[str, Any]) -> Profile:
        unknown = set(overrides) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown profile value(s): {', '.join(sorted(unknown))}")
        return replace(self, **overrides)


PROFILES: dict[str, Profile] = {
    # The HA document and its linked DB-HA page.
    "document": Profile(
        name="document",
        max_connections_single=300,
        max_connections_ha=1000,  # the DB-HA page sets 300, then 1000: the later one wins
        expire_logs_days=30,
        db_states=("MASTER", "BACKUP"),
        db_priorities=(100, 99),
        db_router_id=99,
        platform_master_priority=100,
        platform_backup_priority=90,
    ),
    # yunionio/ocboot's mariadb-ha role and lib/ocboot.py.
    "ocboot": Profile(
        name="ocboot",
        max_connections_single=300,
        max_connections_ha=1000,
        expire_logs_days=30,
        db_states=("BACKUP", "BACKUP"),
        db_priorities=(99, 99),
        db_router_id=92,
        platform_master_priority=100,
        platform_backup_priority=90,
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(sorted(PROFILES))}") from None


def platform_router_id(vip: str) -> int:
    """ocboot (KEEPALIVED_ROUTER_ID): the VIP's digits as one number, modulo 255; 0 becomes 100."""
    return int(vip.replace(".", "")) % 255 or 100


def platform_auth_pass(vip: str, line: str = "k3s") -> str:
    """ocboot (KEEPALIVED_PASSWORD): k3s line, the first 8 characters of base64(VIP);
    kubeadm line (ocadm), the first 8 hex digits of md5(base64(VIP))."""
    b64 = base64.b64encode(vip.encode()).decode()
    if line == "kubeadm":
        return hashlib.md5(b64.encode(), usedforsecurity=False).hexdigest()[:8]
    return b64[:8]
