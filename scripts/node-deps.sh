#!/bin/sh
# Node.js and the pinned SDK clients for tests/cli/proxy.sh and bench/proxy.sh:
# installs node and npm from Debian when missing, then `npm ci` in
# tests/proxy whenever its package-lock.json changed since the last install.
set -eu
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    sh scripts/deps.sh nodejs npm
fi
lock=tests/proxy/package-lock.json stamp=tests/proxy/node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
    echo "node-deps: npm ci in tests/proxy" >&2
    (cd tests/proxy && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
