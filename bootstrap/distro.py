"""Everything that differs between the distributions a site may run: package
manager, service names, paths. The one place to look when adding a distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

from bootstrap.remote import Remote


@dataclass(frozen=True)
class Distro:
    family: str
    install: str  # shell prefix that installs packages given after it
    mariadb_packages: tuple[str, ...]
    mariadb_service: str
    mariadb_conf_dir: str  # drop-in directory read by mysqld
    mysql_socket: str
    keepalived_conf: str = "/etc/keepalived/keepalived.conf"
    time_service: str = "chronyd"
    time_packages: tuple[str, ...] = ("chrony",)
    sudo_group: str = "wheel"
    # The DB-HA page's `yum install nc`: nmap's ncat (CentOS 7's nc is nmap-ncat).
    netcat_packages: tuple[str, ...] = ("nc",)


DEBIAN = Distro(
    family="debian",
    install="DEBIAN_FRONTEND=noninteractive apt-get install -y -q",
    mariadb_packages=("mariadb-server",),
    mariadb_service="mariadb",
    mariadb_conf_dir="/etc/mysql/mariadb.conf.d",
    mysql_socket="/run/mysqld/mysqld.sock",
    time_service="chrony",
    sudo_group="sudo",
    netcat_packages=("ncat",),
)
# CentOS 7 (the document's own platform), and the RHEL-like family after it.
REDHAT = Distro(
    family="redhat",
    install="yum install -y -q",
    mariadb_packages=("mariadb-server",),
    mariadb_service="mariadb",
    mariadb_conf_dir="/etc/my.cnf.d",
    mysql_socket="/var/lib/mysql/mysql.sock",
)
OPENEULER = Distro(
    family="openeuler",
    install="dnf install -y -q",
    mariadb_packages=("mariadb-server",),
    mariadb_service="mariadb",
    mariadb_conf_dir="/etc/my.cnf.d",
    mysql_socket="/var/lib/mysql/mysql.sock",
)

_BY_ID = {
    "debian": DEBIAN,
    "ubuntu": DEBIAN,
    "centos": REDHAT,
    "rhel": REDHAT,
    "rocky": REDHAT,
    "almalinux": REDHAT,
    "kylin": REDHAT,
    "openEuler": OPENEULER,
    "openeuler": OPENEULER,
}


class UnsupportedDistro(RuntimeError):
    pass


def detect(remote: Remote) -> Distro:
    text = remote.read("/etc/os-release") or ""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    ids = [fields.get("ID", "").strip('"'), *fields.get("ID_LIKE", "").strip('"').split()]
    for ident in ids:
        if ident in _BY_ID:
            return _BY_ID[ident]
    raise UnsupportedDistro(f"{remote.name}: unsupported distribution {fields.get('PRETTY_NAME', '?')}")
