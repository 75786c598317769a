#!/bin/sh
# Installs Debian packages only when one is missing, so a second run costs
# a dpkg query and nothing else. With no arguments: what tokmeter needs to
# build and test. With arguments: those packages (scripts/bench-deps.sh).
set -eu
pkgs="build-essential pkg-config sqlite3 libsqlite3-dev libyajl-dev libmicrohttpd-dev
      libcurl4-openssl-dev libsodium-dev libcriterion-dev curl ca-certificates
      tzdata python3 libcairo2-dev libfontconfig-dev libpq-dev postgresql-15
      libhiredis-dev redis-server"
[ $# -gt 0 ] && pkgs="$*"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
