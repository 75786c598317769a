// dashboard.mjs — the dashboard over a large store, as the page sees it:
// opens each view in Chromium (a fresh profile each, no cache) with the
// page's defaults, records its first render and every API call it made,
// then times each of those calls again from Node (keep-alive, like the
// page), RUNS times after one warm-up (fewer once 30 s have passed): p50
// and p99. Run by bench/dashboard.sh.
//
//   node bench/dashboard.mjs URL [TZ [PID]]   (env RUNS, default 50)
//
// With the daemon's PID, also its CPU time per call (user + system over
// the runs, from /proc): what a call costs, whatever else runs beside it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(new URL('../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const base = process.argv[2];
const tz = process.argv[3] || 'UTC';
const runs = Number(process.env.RUNS || 50);
const pid = process.argv[4];
const ticks = () => (pid ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ').slice(11, 13).reduce((a, x) => a + Number(x), 0) : 0);
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// Each view at the page's defaults (7 days by day), the two views that
// group by user at 30 and 90 days too, and the heaviest user's page.
const pages = [
  ['overview', ''],
  ['breakdowns', ''],
  ['breakdowns', '&dim=user_id'],
  ['latency', ''],
  ['users', ''],
  ['users', '&user=user-00000'],
  ['alerts', ''],
  ['live', ''],
  ['overview', '&range=30d'],
  ['breakdowns', '&range=30d&dim=user_id'],
  ['users', '&range=30d'],
  ['overview', '&range=90d'],
  ['breakdowns', '&range=90d&dim=user_id'],
  ['users', '&range=90d'],
];

const calls = new Map(); // path → the pages that made it
console.log(`first render in Chromium (fresh profile each, tz ${tz}; the API calls each page made):`);
for (const [v, extra] of pages) {
  const dir = mkdtempSync(join(tmpdir(), 'tmdash-'));
  const ctx = await chromium.launchPersistentContext(dir, { executablePath: '/usr/bin/chromium', headless: true, args, viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const made = [];
  page.on('request', rq => {
    const u = new URL(rq.url());
    if (u.pathname.startsWith('/v1/') && u.pathname !== '/v1/me') made.push(u.pathname + u.search);
  });
  const hash = `#view=${v}&tz=${encodeURIComponent(tz)}${extra}`;
  await page.goto(`${base}/${hash}`);
  await page.waitForSelector(`main[data-ready="${v}"]`, { timeout: 600000 });
  const t = await page.evaluate(() => window.tokmeter.firstRender || NaN);
  const err = await page.evaluate(() => (window.tokmeter.rendered || {}).error || '');
  console.log(`  ${(v + extra).padEnd(40)} ${t.toFixed(0).padStart(7)} ms  (${made.length} calls)${err ? '  ERROR ' + err : ''}`);
  for (const p of made) calls.set(p, [...(calls.get(p) || []), v + extra]);
  await ctx.close();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`API calls (${runs} runs each after a warm-up; p99 of 50 is the slowest but one):`);
for (const [p, who] of calls) {
  await (await fetch(base + p)).arrayBuffer();
  const v = [];
  let bytes = 0;
  const start = performance.now(), t0 = ticks();
  for (let i = 0; i < runs && performance.now() - start < 30000; i++) { // fewer after 30 s
    const t0 = performance.now();
    const r = await fetch(base + p);
    bytes = (await r.arrayBuffer()).byteLength;
    v.push(performance.now() - t0);
  }
  const cpu = pid ? `  cpu ${(((ticks() - t0) * 10) / v.length).toFixed(1).padStart(6)} ms` : '';
  v.sort((a, b) => a - b);
  const q = x => v[Math.min(v.length - 1, Math.floor(x * v.length))];
  const slow = (q(0.99) >= 50 ? '  > 50 ms' : '') + (v.length < runs ? ` (${v.length} runs)` : '');
  console.log(`  p50 ${q(0.5).toFixed(2).padStart(9)} ms  p99 ${q(0.99).toFixed(2).padStart(9)} ms${cpu}  ${String(bytes).padStart(8)} B  ${decodeURIComponent(p).replace(/(user_id:[^&,]*,[^&,]*,)[^&]*/, '$1…')}  [${[...new Set(who)].join(', ')}]${slow}`);
}
