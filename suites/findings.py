"""Named findings: failures whose root cause is known and written up, so that a run can tell
them apart from unexplained ones (and a waiver can accept exactly them, nothing else).

Each entry: name -> one line saying what it is and where the write-up is.
"""

from __future__ import annotations

from bootstrap.maintenance import MISSPELT_UNIT

STALE_ANNOUNCEMENT = "stale-vip-announcement"
HUNG_DATABASE = "hung-database-undetected"
DB_EQUAL_PRIORITIES = "db-equal-priorities"
STRANDED_WORKLOADS = "local-volume-strands-workload"
BINLOG_LOST = "binlog-lost-in-power-cut"
STALE_GTID_SLAVE_POS = "vendor-rebuild-loads-gtid-slave-pos"

FINDINGS: dict[str, str] = {
    STALE_ANNOUNCEMENT: (
        "after a partition heals, a VIP holder that stayed MASTER never announces the VIP again, so "
        "clients keep reaching it through the former backup (keepalived without "
        "vrrp_garp_lower_prio_repeat / vrrp_garp_master_refresh, as the DB-HA page configures it); "
        "docs/findings/stale-vip-announcement.md"
    ),
    HUNG_DATABASE: (
        "a MariaDB that hangs (here frozen with SIGSTOP: disk full, a lock) still completes TCP "
        "handshakes, so a TCP-probe health check (the DB-HA page's chk_mysql, ocboot's check_mariadb) "
        "keeps the DB VIP on a database that answers nothing; docs/findings/hung-database-undetected.md"
    ),
    DB_EQUAL_PRIORITIES: (
        "ocboot's DB-HA keepalived gives both DB nodes the same priority (99, both BACKUP with "
        "nopreempt), so which node holds the DB VIP is decided by address ties and the VIP is reported "
        "bouncing (yunionio/cloudpods#18484, open, filed by the maintainers); "
        "docs/findings/db-equal-priorities.md"
    ),
    STRANDED_WORKLOADS: (
        "a platform workload whose pods may run on one node only (cloudpods-operator's local-path claims "
        "for victoria-metrics, influxdb, glance without S3; a nodeSelector one node matches) stays Pending "
        "when that node is lost, until the node returns or its claims and data are deleted (the vendor's "
        "control-node replacement document); docs/findings/local-volume-strands-workload.md"
    ),
    BINLOG_LOST: (
        "the document's my.cnf leaves sync_binlog at 0, so a DB-HA node's power cut loses its binary log's "
        "recent events (its peer never receives them: the pair diverges) and rolls back the last "
        "acknowledged transaction; docs/findings/binlog-lost-in-power-cut.md"
    ),
    STALE_GTID_SLAVE_POS: (
        "the vendor's MariaDB rebuild page loads the master's `mysqldump --all-databases` into the replica, "
        "mysql.gtid_slave_pos included, without the server taking the loaded rows' sub_ids into account "
        "(MariaDB MDEV-15393): some transactions later the replica's SQL thread stops on 1062 in that table "
        "and the pair diverges; docs/findings/vendor-rebuild-loads-gtid-slave-pos.md"
    ),
    MISSPELT_UNIT: (
        "the vendor's HA-cluster maintenance page names the database unit maraidb in its systemctl lines: "
        "run as written, disable and stop leave MariaDB enabled and running, and the failing enable line "
        "leaves keepalived disabled at boot too; docs/findings/vendor-maintenance-misspells-mariadb.md"
    ),
}
