#!/usr/bin/env python3
"""mutate.py — writes lines mutated from the given files (cut, spliced with
JSON punctuation, bytes flipped) for the importers' bad-input test.

    python3 mutate.py OUT N SEED FILE...
"""
import random
import sys

out, n, seed, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
random.seed(seed)
src = [l for f in files for l in open(f, "rb").read().split(b"\n") if l.strip()]
specials = [b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b"\x00", b"\xff", b"\\u",
            b"null", b"-", b"1e999", b'"usage"', b"\xc3", b'"\\"']
lines = []
for _ in range(n):
    l = bytearray(random.choice(src))
    for _ in range(random.randint(1, 4)):
        op, pos = random.random(), random.randrange(len(l) + 1)
        if op < 0.3:
            del l[pos:pos + random.randint(1, 20)]
        elif op < 0.6:
            l[pos:pos] = random.choice(specials)
        elif op < 0.8:
            del l[pos:]
        elif l:
            l[min(pos, len(l) - 1)] = random.randrange(256)
    lines.append(bytes(l).replace(b"\n", b" "))
open(out, "wb").write(b"\n".join(lines) + b"\n")
