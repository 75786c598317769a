#!/usr/bin/env python3
"""check-layers.py — the include graph points down, with no cycle.

Every directory under src/ is one subsystem with a rank; a file may include
its own directory's headers and those of a lower rank, never a higher or an
equal one (two subsystems of one rank know nothing of each other). The
header graph must also be free of cycles. Prints each offending #include
with file and line, and exits 1 if there is any.

    core  <  price, rollup  <  store  <  query  <  policy  <  lib
          <  ingest, server  <  cli
"""
import os
import re
import sys

RANK = {"core": 0, "price": 1, "rollup": 1, "store": 2, "query": 3,
        "policy": 4, "lib": 5, "ingest": 6, "server": 6, "cli": 7}
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main(root):
    src = os.path.join(root, "src")
    bad = []
    graph = {}
    for d in sorted(os.listdir(src)):
        if not os.path.isdir(os.path.join(src, d)):
            continue
        if d not in RANK:
            bad.append(f"src/{d}/: a directory with no rank in scripts/check-layers.py")
            continue
        for f in sorted(os.listdir(os.path.join(src, d))):
            if not f.endswith((".c", ".h")):
                continue
            rel = f"src/{d}/{f}"
            with open(os.path.join(root, rel), encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    m = INC.match(line)
                    if not m:
                        continue
                    target = os.path.normpath(os.path.join(f"src/{d}", m.group(1)))
                    if m.group(1) == "tokmeter.h":
                        continue                      # include/: the public face
                    parts = target.split(os.sep)
                    if len(parts) != 3 or parts[0] != "src":
                        bad.append(f"{rel}:{n}: includes {m.group(1)}, outside src/<subsystem>/")
                        continue
                    to = parts[1]
                    graph.setdefault(rel, set()).add(target)
                    if to != d and RANK.get(to, 99) >= RANK[d]:
                        bad.append(f"{rel}:{n}: {d} (rank {RANK[d]}) includes {target} "
                                   f"({to}, rank {RANK.get(to, '?')}): an arrow that does not point down")
    # Cycles among headers (a .c file is never included, so only headers can close one).
    state = {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                bad.append("include cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    for b in bad:
        print(b)
    print(f"check-layers: {len(graph)} files, {sum(len(v) for v in graph.values())} includes, "
          f"{len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
