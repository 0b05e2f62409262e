"""Power cuts of a MariaDB DB-HA node with the document's my.cnf, on a VM: prints figures, asserts nothing.

    .venv/bin/python benchmarks/vm_durability.py [--runs 3] [--seed 1]

A container's power cut leaves what the database wrote in the host's page cache, so it can
never lose an unsynced write. A VM's does (bootstrap/lab/vm.py: QEMU killed). One VM on a
bridge of its own runs MariaDB with the DB-HA page's settings for db1 (log-bin, row format,
server-id 1; sync_binlog and innodb_flush_log_at_trx_commit left at their defaults, as the
document leaves them). Per run, a client on the host inserts rows one transaction at a time
(autocommit) and records each acknowledged id; after a random 3-10 s the VM's power is cut,
then it is started again and MariaDB recovers. Printed per run: rows acknowledged, acknowledged
rows lost, and rows the table has but the binary log does not (what db2, replicating from the
binlog, never receives: the pair diverges), with the settings and the recovery time.

``--sync-binlog`` adds the remedy (``sync_binlog = 1``) to the same configuration.
Slow under emulation (about 5 min for 4 runs here); needs root and QEMU (setup-host.sh).
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import re
import secrets
import tempfile
import threading
import time
from pathlib import Path

import pymysql

from bootstrap.deploy.mariadb import render_config, sql_quote
from bootstrap.lab import config, vm_image
from bootstrap.lab.hostenv import LabError, benchmark_main, check_subnet
from bootstrap.lab.vm import Standalone, VmMachine, choose_accel, standalone
from bootstrap.profiles import get_profile

SUBNET = ipaddress.IPv4Network("10.213.97.0/24")
ADDRESS = SUBNET[10]
USER = "durability"


def prepare(vm: Standalone, password: str, sync_binlog: bool) -> None:
    """The document's my.cnf for db1 (``sync_binlog``: plus the remedy, ``sync_binlog = 1``),
    MariaDB on, a database and an account for the client."""
    conf = render_config(get_profile("document"), 1) + ("sync_binlog = 1\n" if sync_binlog else "")
    vm.ssh("cat > /etc/mysql/mariadb.conf.d/90-cloudpods-ha.cnf", stdin=conf)
    started = vm.ssh("systemctl enable --now mariadb", timeout=300)
    if started.returncode != 0:
        raise LabError(f"MariaDB did not start: {started.stderr.strip()[-300:]}")
    sql = (
        f"CREATE DATABASE IF NOT EXISTS {USER};\n"
        f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY {sql_quote(password)};\n"
        f"GRANT ALL ON {USER}.* TO '{USER}'@'%';\n"
    )
    done = vm.ssh("mysql -N -B", stdin=sql, timeout=120)
    if done.returncode != 0:
        raise LabError(f"could not create the client's account: {done.stderr.strip()[-300:]}")


def connect(password: str, timeout: float = 10) -> pymysql.connections.Connection:  # type: ignore[type-arg]
    return pymysql.connect(host=str(ADDRESS), user=USER, password=password, database=USER, autocommit=True,
                           connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout)  # fmt: skip


def wait_db(password: str, timeout: float = 600) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            connect(password).close()
            return time.monotonic() - start
        except pymysql.Error:
            time.sleep(2)
    raise LabError(f"MariaDB did not answer within {timeout:g} s after the power cut")


def one_run(vm: Standalone, password: str, run: int, cut_after: float) -> dict[str, object]:
    table = f"t{run}"
    with connect(password) as c, c.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(32)) ENGINE=InnoDB")
    acked: list[int] = []
    cut = threading.Timer(cut_after, vm.machine.kill)
    c = connect(password, timeout=5)
    cut.start()
    try:
        with c.cursor() as cur:
            for i in range(1, 1_000_000):
                cur.execute(f"INSERT INTO {table} VALUES (%s, %s)", (i, f"row {i}"))
                acked.append(i)
    except pymysql.Error:
        pass  # the power cut: the last insert's outcome is unknown, never counted as acknowledged
    finally:
        cut.join()
        c.close()
    start = time.monotonic()
    vm.machine.boot()
    vm.wait()
    wait_db(password)
    recovered = time.monotonic() - start
    with connect(password) as c, c.cursor() as cur:
        cur.execute(f"SELECT id FROM {table}")
        present = {int(r[0]) for r in cur.fetchall()}
        cur.execute("SELECT @@sync_binlog, @@innodb_flush_log_at_trx_commit, @@gtid_binlog_pos")
        sync_binlog, flush_at_commit, gtid = cur.fetchone()
    dump = vm.ssh(f"mysqlbinlog --base64-output=decode-rows -v /var/lib/mysql/mysql-bin.[0-9]* | grep -A2 "
                  f"'INSERT INTO `{USER}`.`{table}`'", timeout=300).stdout  # fmt: skip
    logged = {int(m) for m in re.findall(r"@1=(\d+)", dump)}
    return {
        "run": run,
        "cut_after_s": round(cut_after, 1),
        "acknowledged": len(acked),
        "acknowledged_lost": sorted(set(acked) - present)[:10],
        "lost_count": len(set(acked) - present),
        "in_table_not_in_binlog": len(present - logged),
        "first_not_in_binlog": sorted(present - logged)[:5],
        "last_in_table": max(present, default=0),
        "last_in_binlog": max(logged, default=0),
        "gtid_binlog_pos": gtid,
        "sync_binlog": sync_binlog,
        "innodb_flush_log_at_trx_commit": flush_at_commit,
        "recovery_s": round(recovered, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sync-binlog", action="store_true", help="add the remedy: sync_binlog = 1")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    check_subnet(SUBNET)
    image = vm_image.build()
    accel = choose_accel(image, config.paths().cache / "accel.json")
    password = secrets.token_urlsafe(18)
    with tempfile.TemporaryDirectory(prefix="ha-durability-") as tmp:
        m = VmMachine(name="dbvm", address=ADDRESS, prefixlen=24, bridge="ha-vmd0", rootfs=Path("/nonexistent"),
                      home=Path(tmp) / "dbvm", image=image, accel=accel)  # fmt: skip
        print(f"# {time.strftime('%Y-%m-%d')}, accelerator {accel}, guest kernel {vm_image.kernel_release(image)}")
        with standalone(m, str(SUBNET[1])) as vm:
            prepare(vm, password, args.sync_binlog)
            for run in range(1, args.runs + 1):
                figures = one_run(vm, password, run, rng.uniform(3, 10))
                print(" ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
    return 0


if __name__ == "__main__":
    benchmark_main(main)
