#!/usr/bin/env python3
"""tests/cli/prom.py — a strict reader of the Prometheus text format, for
tests/cli/shared.sh: reads an exposition on stdin, fails (exit 1, saying
which line) on any line the format does not allow, checks every histogram
(buckets non-decreasing, the +Inf bucket equal to _count), and prints the
samples asked for on the command line as NAME{LABELS}=VALUE, with label
values unescaped and shown by repr().

usage: prom.py 'tokmeter_events_total' 'tokmeter_cost_usd_total' ...
"""
import re
import sys

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
VALUE = r'"((?:[^"\\\n]|\\[\\"n])*)"'
LABEL = re.compile(r'(' + NAME + r')=' + VALUE)
SAMPLE = re.compile(r'^(' + NAME + r')(\{(?:' + NAME + '=' + VALUE + r')(?:,' + NAME + '=' + VALUE +
                    r')*\})? (-?[0-9.eE+-]+|\+Inf|NaN)$')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: '\n' if m.group(1) == 'n' else m.group(1), v)


def main():
    samples, types, bad = [], {}, []
    for i, line in enumerate(sys.stdin.read().split('\n')[:-1], 1):
        if line.startswith('# HELP ') or line.startswith('# TYPE '):
            parts = line.split(' ', 3)
            if len(parts) < 4 or not re.fullmatch(NAME, parts[2]):
                bad.append((i, line))
            elif parts[1] == 'TYPE':
                types[parts[2]] = parts[3]
            continue
        m = SAMPLE.match(line)
        if not m:
            bad.append((i, line))
            continue
        labels = tuple((k, unescape(v)) for k, v in LABEL.findall(m.group(2) or ''))
        samples.append((m.group(1), labels, float(m.group(m.lastindex))))
    for i, line in bad:
        print('line %d is not Prometheus text format: %r' % (i, line))
    # Histograms: per series (labels but le), buckets non-decreasing, +Inf == _count.
    for name, kind in types.items():
        if kind != 'histogram':
            continue
        series = {}
        for n, labels, v in samples:
            if n == name + '_bucket':
                key = tuple(l for l in labels if l[0] != 'le')
                le = dict(labels)['le']
                series.setdefault(key, {}).setdefault('buckets', []).append((le, v))
            elif n == name + '_count':
                series.setdefault(labels, {})['count'] = v
        for key, s in series.items():
            b = s.get('buckets', [])
            vals = [v for _, v in b]
            if vals != sorted(vals) or not b or b[-1][0] != '+Inf' or b[-1][1] != s.get('count'):
                print('histogram %s%s: buckets %s, _count %s' % (name, dict(key), b, s.get('count')))
                bad.append((0, name))
    for want in sys.argv[1:]:
        for n, labels, v in samples:
            if n == want:
                print('%s%s=%s' % (n, '{' + ','.join('%s=%r' % l for l in labels) + '}' if labels else '',
                                   ('%.12g' % v)))
    sys.exit(1 if bad else 0)


main()
