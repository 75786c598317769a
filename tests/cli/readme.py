#!/usr/bin/env python3
"""tests/cli/readme.py — a page's console examples, run as a new user would:
every `$ ...` line of the ```console blocks of the named sections runs in
order, from the repository root, on a fresh store DB, with build/ on the
PATH, localhost:8787 meaning the daemon at PORT. Where the page shows
output, the output must be exactly that (stderr and stdout together; event
times, which are the time of the run, compared as any time; a "..." line
ends what is compared). "TITLE:N" takes only the section's first N blocks.

usage: readme.py DB PORT PAGE SECTION...
  readme.py db 8787 README.md "A tour" "The daemon:1"
"""
import os, re, subprocess, sys

db, port, page = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(page).read()

def section(title):
    part = text[text.index("## " + title + "\n"):]
    end = part.find("\n## ", 5)
    return part if end < 0 else part[:end]

blocks = []
for arg in sys.argv[4:]:
    title, _, first = arg.partition(":")
    found = re.findall(r"```console\n(.*?)```", section(title), re.S)
    blocks += found[:int(first)] if first else found
blocks = [b.replace("localhost:8787", f"127.0.0.1:{port}") for b in blocks]
env = dict(os.environ, TOKMETER_DB=db, PATH=os.path.abspath("build") + ":" + os.environ["PATH"])
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

fails = n = 0
for block in blocks:
    lines = block.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        cmd = lines[i][2:]
        # Continued with a backslash, or inside quotes (a "  # comment" aside).
        while cmd.endswith("\\") or cmd.split("  #")[0].count("'") % 2:
            i += 1
            cmd = cmd[:-1] + " " + lines[i].strip() if cmd.endswith("\\") else cmd + "\n" + lines[i]
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
print(f"{page} ({', '.join(sys.argv[4:])}): {n} commands ran, every shown output matched")
