"""tests/proxy/check_events.py — the stored events against what the fake
upstream answered: one event per call made through tokmeter, with the
provider's usage in tokmeter's buckets exactly, the model as answered, the
outcome, and the attribution the call carried.

    python3 check_events.py FAKE_LOG VIA.json EVENTS.json
"""
import json
import sys

log = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    log[e["rid"]] = e
via = json.load(open(sys.argv[2]))
events = {e["id"]: e for e in json.load(open(sys.argv[3]))}
bad = 0
for v in via:
    rid, up, ev = v["rid"], log.get(v["rid"]), events.get(v["rid"])
    if up is None or ev is None:
        print(f"FAIL: {v['name']}: request {rid}: upstream log {up is not None}, event {ev is not None}")
        bad += 1
        continue
    want = dict(up["expect"])
    want.update(provider=up["provider"], model=up["model"], endpoint=up["path"].split("?")[0],
                status_code=up["status"], success=up["success"], user_id=v["user"],
                project=v["project"], operation=v["operation"])
    for k, w in want.items():
        if ev.get(k) != w:
            print(f"FAIL: {v['name']}: {rid}: {k}: got {ev.get(k)!r}, want {w!r}")
            bad += 1
    if up.get("error", "").startswith("upstream error event") and ev.get("error") != up["error"]:
        print(f"FAIL: {v['name']}: {rid}: error: got {ev.get('error')!r}, want {up['error']!r}")
        bad += 1
    if up.get("cut") and not (ev.get("error") or "").startswith("upstream stream cut"):
        print(f"FAIL: {v['name']}: {rid}: error: got {ev.get('error')!r}, want 'upstream stream cut: ...'")
        bad += 1
    if ev.get("latency_ms") is None or "ttft_ms" not in (ev.get("metadata") or {}):
        print(f"FAIL: {v['name']}: {rid}: latency {ev.get('latency_ms')!r}, metadata {ev.get('metadata')!r}")
        bad += 1
print(f"events: {len(via)} calls checked, {bad} mismatches")
sys.exit(1 if bad or not via else 0)
