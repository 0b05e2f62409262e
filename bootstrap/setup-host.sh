#!/usr/bin/env bash
# Set up this Debian 12 host for the suite, as root; safe to run again.
#  - host packages the lab needs (systemd-nspawn, debootstrap, iproute2, ssh client)
#  - a virtual environment in .venv with the suite and its dependencies
#  - the lab machines' cached root file system (about 2 minutes, once)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
    echo "error: run this as root (it installs packages and builds the lab's root file system)" >&2
    exit 1
fi

packages=(systemd-container debootstrap iproute2 openssh-client util-linux python3 python3-venv ca-certificates
    chromium  # chromium: the self-test that opens report.html headless
    qemu-utils e2fsprogs  # the VM machine driver (--machines=vm): overlays, the guest disk
    cloud-image-utils  # cloud-localds: the cloud-init seed for a user's own cloud image
    ovmf  # the UEFI firmware a user's own cloud image boots by
    fdisk dosfstools mtools systemd-boot-efi)  # the firmware-bootable Debian image: GPT, ESP, UKI stub
case $(uname -m) in  # and QEMU itself, for this host's architecture
    x86_64) packages+=(qemu-system-x86) ;;
    aarch64) packages+=(qemu-system-arm) ;;
esac
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev,lab]' 2>&1 | grep -v '^WARNING: Location' >&2 || true
.venv/bin/python -c 'import bootstrap, fixtures, pytest, testinfra, xdist, pymysql, requests' \
    || { echo "error: the Python dependencies did not install; see pip's messages above" >&2; exit 1; }

.venv/bin/python -m bootstrap.lab build >/dev/null
