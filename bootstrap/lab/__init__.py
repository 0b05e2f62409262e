"""The local lab: systemd-nspawn machines on one Linux bridge."""
