#!/bin/sh
# scripts/ccusage.sh — installs ccusage (npm, pinned) into build/npm when it
# is missing and prints the path of its command. Used by the ccusage parity
# test and the import benchmark. Needs npm and npm's registry.
set -eu
cd "$(dirname "$0")/.."
VERSION=20.0.24   # the newest whose linux-x64 native binary is published
CCU=build/npm/node_modules/.bin/ccusage
command -v npm >/dev/null 2>&1 || sh scripts/deps.sh nodejs npm >&2
if ! "$CCU" --version >/dev/null 2>&1; then
    mkdir -p build/npm
    npm install --silent --no-audit --no-fund --prefix build/npm "ccusage@$VERSION" >&2
fi
"$CCU" --version >/dev/null 2>&1 || { echo "ccusage@$VERSION does not run here" >&2; exit 1; }
echo "$PWD/$CCU"
