#!/bin/sh
# tests/cli/install.sh — `make install` into a scratch PREFIX (and under a
# DESTDIR), then the README's C example (docs/examples/track.c) built as a
# user would, with `cc prog.c $(pkg-config --cflags --libs tokmeter)`, run,
# and its report checked; the man page and the README's copy of the example.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
W=$(mktemp -d /tmp/tminst.XXXXXX)
trap 'rm -rf "$W"' EXIT
MK=${MAKE:-make}
P="$W/prefix"

$MK --no-print-directory -s install PREFIX="$P" >"$W/make.out" 2>&1; rc=$?
check "make install PREFIX=..." eq "$rc" 0
[ "$rc" -eq 0 ] || cat "$W/make.out" >&2
for f in bin/tokmeter include/tokmeter.h lib/libtokmeter.a lib/pkgconfig/tokmeter.pc share/man/man1/tokmeter.1; do
    check "installed $f" test -f "$P/$f"
done
check "the installed binary runs" eq "$("$P/bin/tokmeter" --version)" "tokmeter $(sed -n 's/^#define TM_VERSION "\(.*\)"/\1/p' include/tokmeter.h)"
check "tokmeter.pc: prefix" eq "$(grep '^prefix=' "$P/lib/pkgconfig/tokmeter.pc")" "prefix=$P"
check "man page from --help" eq "$(head -1 "$P/share/man/man1/tokmeter.1" | cut -d' ' -f1-3)" ".TH TOKMETER 1"
check "man page has every command" eq "$(grep -c '^\.SS ' "$P/share/man/man1/tokmeter.1")" "$(./build/tokmeter --help | sed -n '/^commands:/,/^$/p' | grep -c '^  [a-z]')"

export PKG_CONFIG_PATH="$P/lib/pkgconfig"
flags=$(pkg-config --cflags --libs tokmeter); rc=$?
check "pkg-config knows tokmeter" eq "$rc" 0
cp docs/examples/track.c "$W/prog.c"
# shellcheck disable=SC2086
cc -o "$W/prog" "$W/prog.c" $flags 2>"$W/cc.err"; rc=$?
check "cc prog.c \$(pkg-config --cflags --libs tokmeter)" eq "$rc" 0
[ "$rc" -eq 0 ] || cat "$W/cc.err" >&2
out=$("$W/prog" "$W/usage.db"); rc=$?
check "the program runs" eq "$rc" 0
check "its report: the event, priced" eq "$(echo "$out" | jget '[(r["model"], r["events"], r["total_tokens"], r["cost_usd"]) for r in d["rows"]]')" "[('gpt-4o-mini', 1, 1500, 0.00036)]"
check "the CLI reads what it wrote" eq "$("$P/bin/tokmeter" --db "$W/usage.db" events --json | jget 'd[0]["model"]')" "gpt-4o-mini"

# The README's link line for the clone, without installing, builds it too.
line=$(grep '^cc -Iinclude main.c ' README.md | sed "s|main.c|docs/examples/track.c -o $W/prog2|")
check "README has a link line for the clone" test -n "$line"
sh -c "$line" 2>"$W/cc2.err"; rc=$?
check "the README's link line from the clone" eq "$rc" 0
[ "$rc" -eq 0 ] || { echo "  $line" >&2; cat "$W/cc2.err" >&2; }
check "... and that program runs" eq "$("$W/prog2" "$W/usage2.db" | jget 'd["totals"]["events"]')" 1

# The README shows this very program.
python3 - "$W" <<'PY'; check "README's C example is docs/examples/track.c" eq "$?" 0
import re, sys
readme = open("README.md").read()
code = open("docs/examples/track.c").read()
blocks = re.findall(r"```c\n(.*?)```", readme, re.S)
if code not in blocks:
    print("  README.md has no ```c block equal to docs/examples/track.c", file=sys.stderr)
    sys.exit(1)
PY

# DESTDIR stages the same tree under another root; the paths inside stay PREFIX's.
$MK --no-print-directory -s install DESTDIR="$W/stage" PREFIX=/opt/tm >"$W/make2.out" 2>&1; rc=$?
check "make install DESTDIR=... PREFIX=/opt/tm" eq "$rc" 0
check "DESTDIR: staged" test -f "$W/stage/opt/tm/lib/libtokmeter.a"
check "DESTDIR: .pc names PREFIX" eq "$(grep '^prefix=' "$W/stage/opt/tm/lib/pkgconfig/tokmeter.pc")" "prefix=/opt/tm"
finish
