#!/bin/sh
# bench/proxy.sh — the gateway's overhead (docs/proxy.md): the fake upstream
# (tests/proxy/fake_upstream.js, node) alone and behind `tokmeter serve`,
# driven by build/bench_proxy in one run per case: JSON and SSE answers, 1
# and 64 connections. `make bench` runs it; SECONDS=N per case (default 10).
set -eu
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/var/tmp}
secs=${SECS:-10}
sh scripts/node-deps.sh
W=$(mktemp -d /tmp/tmbp.XXXXXX)
trap 'kill $fpid $tpid 2>/dev/null; rm -rf "$W"' EXIT
node tests/proxy/fake_upstream.js "$W/port" "" &
fpid=$!
i=0; until [ -s "$W/port" ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
F=$(cat "$W/port")
T=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
printf '{"upstreams": [{"name": "bench", "base_url": "http://127.0.0.1:%s", "provider": "openai"}]}\n' "$F" > "$W/cfg.json"
rm -f "$dir/bench-proxy.db" "$dir/bench-proxy.db-wal" "$dir/bench-proxy.db-shm"
./build/tokmeter --db "$dir/bench-proxy.db" serve --listen "127.0.0.1:$T" --config "$W/cfg.json" --quiet --log-level warn &
tpid=$!
i=0; until curl -s "http://127.0.0.1:$T/healthz" >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
echo "proxy: $(nproc) cores; fake upstream node $(node --version); each case alternates direct and through tokmeter every 0.5 s"
# CPU seconds a process has used (user + system), from /proc.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
for mode in json sse; do
    for c in 1 64; do
        before=$(cpu $tpid)
        ./build/bench_proxy "$F" "$T" $mode $c "$secs" | tee "$W/out"
        n=$(awk '$5 == "tokmeter" {print $6}' "$W/out")
        # tokmeter works only for the proxied calls: its CPU per call does not
        # depend on how busy the machine is, unlike the latencies.
        awk -v a="$before" -v b="$(cpu $tpid)" -v n="$n" -v m=$mode -v c=$c \
            'BEGIN {printf "proxy %-4s %2d conns tokmeter CPU %.1f s for %d calls: %.1f us per call\n", m, c, b - a, n, n ? (b - a) * 1e6 / n : 0}'
    done
done
kill -TERM $tpid; wait $tpid
n=$(./build/tokmeter --db "$dir/bench-proxy.db" events --json --all | grep -c '"proxy":"bench"')
echo "proxy: $n events recorded for the proxied calls"
