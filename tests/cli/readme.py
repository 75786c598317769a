#!/usr/bin/env python3
"""tests/cli/readme.py — the README's tour, run as a new user would: every
`$ tokmeter ...` line of the ```console blocks under "## A tour" runs in
order, from the repository root, on a fresh store, with build/ on the
PATH; where the README shows output, the output must be exactly that
(stderr and stdout together; event times, which are the time of the run,
compared as any time; a "..." line ends what is compared).

usage: readme.py README DB
"""
import os, re, subprocess, sys

readme, db = sys.argv[1], sys.argv[2]
text = open(readme).read()
tour = text[text.index("## A tour"):]
tour = tour[:tour.index("\n## ", 5)]
env = dict(os.environ, TOKMETER_DB=db, PATH=os.path.abspath("build") + ":" + os.environ["PATH"])
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

fails = n = 0
for block in re.findall(r"```console\n(.*?)```", tour, re.S):
    lines = block.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        cmd = lines[i][2:]
        while cmd.endswith("\\"):
            i += 1
            cmd = cmd[:-1] + " " + lines[i].strip()
        i += 1
        want = []
        while i < len(lines) and not lines[i].startswith("$ "):
            want.append(lines[i])
            i += 1
        while want and want[-1] == "":
            want.pop()
        if "..." in want:
            want = want[:want.index("...")]
        got = subprocess.run(["sh", "-c", "{ " + cmd + "\n} 2>&1"], capture_output=True, text=True,
                             env=env, timeout=60).stdout.rstrip("\n").split("\n")
        n += 1
        if not want:
            continue
        got = got[:len(want)] if len(got) > len(want) and "..." in block else got
        if [TIME.sub("<time>", l) for l in got] != [TIME.sub("<time>", l) for l in want]:
            print(f"FAIL: $ {cmd}\n  README:\n    " + "\n    ".join(want) + "\n  got:\n    " + "\n    ".join(got))
            fails += 1
if fails:
    sys.exit(1)
print(f"README.md tour: {n} commands ran, every shown output matched")
