#!/usr/bin/env bash
# Install the Debian packages boxcert's tests and benchmarks use, once, quietly.
# Usage: scripts/system-deps.sh [extra-package ...]
set -euo pipefail

# command -> package
declare -A NEEDED=(
  [pebble]=pebble
  [dig]=dnsutils
  [kdig]=knot-dnsutils
  [openssl]=openssl
  [curl]=curl
  [chromium]=chromium
  [certutil]=libnss3-tools
  [nginx]=nginx-light
  [dnsmasq]=dnsmasq-base
  [unbound]=unbound
  [pdns_server]=pdns-server
  [systemd-analyze]=systemd
  [chronyd]=chrony
)
# Backends that have no command of their own.
for pkg in pdns-backend-sqlite3; do
  dpkg -s "$pkg" >/dev/null 2>&1 || set -- "$@" "$pkg"
done
packages=()
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || packages+=("$pkg")
done
for cmd in "${!NEEDED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || packages+=("${NEEDED[$cmd]}")
done
# The PostgreSQL server (scale-out tests start their own cluster) is not on PATH.
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || packages+=(postgresql)
[ ${#packages[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to install: ${packages[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "installing Debian packages: ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt run (a parallel make) instead of failing on its lock.
APT=(apt-get -o DPkg::Lock::Timeout=600 -qq)
$SUDO "${APT[@]}" update >/dev/null
$SUDO "${APT[@]}" install -y --no-install-recommends "${packages[@]}" >/dev/null
