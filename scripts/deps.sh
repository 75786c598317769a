#!/bin/sh
# Installs Debian packages only when one is missing, so a second run costs
# a dpkg query and nothing else. With no arguments: what tokmeter needs to
# build and test (with Chromium for the dashboard's browser tests). With
# arguments: those packages (scripts/bench-deps.sh).
set -eu
pkgs="build-essential pkg-config sqlite3 libsqlite3-dev libyajl-dev libmicrohttpd-dev
      libcurl4-openssl-dev libsodium-dev libcriterion-dev curl ca-certificates
      tzdata python3 libcairo2-dev libfontconfig-dev chromium fonts-dejavu-core
      clang-14 libclang-rt-14-dev fiu-utils libfiu-dev libpq-dev postgresql-15
      libhiredis-dev redis-server"
# The dashboard (web/) is built with Node.js and npm: Debian's, unless a
# node and npm are already on the PATH (another install counts too).
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
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
