// dashboard.mjs — the web dashboard in real Chromium (Debian's, driven by
// playwright-core) against a live daemon with a generated store (started by
// tests/cli/web.sh): every view loads without console errors, the numbers
// on the page equal the API's for the same range, filters change the
// charts and the URL, the CSV is what the table shows, the key prompt works
// and a user-bound key sees only its user, the page fits a phone. Saves
// screenshots in build/screens/ and prints the first render time.
//
// env: BASE (daemon with data), EMPTY (daemon with an empty store),
//      TM (the tokmeter binary), DB (BASE's store), OUT (screenshot dir)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const { BASE, EMPTY, TM, DB } = process.env;
const OUT = process.env.OUT || 'build/screens';
mkdirSync(OUT, { recursive: true });

let pass = 0, fail = 0;
function check(name, ok, got, want) {
  if (ok) return pass++;
  fail++;
  console.error(`FAIL: ${name}`);
  if (got !== undefined) console.error(`  got:  ${typeof got === 'string' ? got : JSON.stringify(got)}`);
  if (want !== undefined) console.error(`  want: ${typeof want === 'string' ? want : JSON.stringify(want)}`);
}
const eq = (name, got, want) => check(name, got === want, got, want);

// The API, read here independently; cost stays its decimal text.
async function api(path, params = {}, key) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) (Array.isArray(v) ? v : [v]).forEach(x => q.append(k, x));
  const r = await fetch(`${BASE}${path}${q.size ? '?' + q : ''}`, { headers: key ? { Authorization: 'Bearer ' + key } : {} });
  const text = await r.text();
  return JSON.parse(text.replace(/("(?:cost_usd|cost)":\s*)(-?\d[\d.eE+-]*)/g, '$1"$2"'));
}
// "$1,234.57" from "1234.5678": cents, half up, on the exact decimal.
function dollars(dec) {
  const [i, f = ''] = dec.split('.');
  let cents = BigInt(i) * 100n + BigInt((f + '00').slice(0, 2));
  if ((f[2] || '0') >= '5') cents += 1n;
  return '$' + (cents / 100n).toLocaleString('en-US') + '.' + String(cents % 100n).padStart(2, '0');
}
const pico = dec => {
  const [i, f = ''] = String(dec).split('.');
  return BigInt(i) * 10n ** 12n + BigInt((f + '0'.repeat(12)).slice(0, 12));
};

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const profiles = [];
async function browser() {
  const dir = mkdtempSync(join(tmpdir(), 'tmweb-profile-'));
  profiles.push(dir);
  return chromium.launchPersistentContext(dir, { executablePath: '/usr/bin/chromium', headless: true, args: ARGS, viewport: { width: 1280, height: 900 }, acceptDownloads: true });
}

// A page that records console errors and uncaught exceptions.
async function open(ctx) {
  const page = await ctx.newPage();
  page.errors = [];
  page.on('console', m => m.type() === 'error' && page.errors.push(m.text()));
  page.on('pageerror', e => page.errors.push('uncaught: ' + e.message));
  return page;
}
// Opens a view and waits until it has rendered (or shown its error) after
// the navigation: a change of the fragment alone does not reload the page.
async function view(page, hash, v) {
  const since = Date.now();
  await page.goto(`${BASE}/${hash}`);
  await ready(page, v, since);
}
async function ready(page, v, since) {
  await page.waitForFunction(([v, since]) => {
    const r = window.tokmeter && window.tokmeter.rendered;
    return document.querySelector(`main[data-ready="${v}"]`) && (!since || (r && r.at > since));
  }, [v, since || 0], { timeout: 15000 });
}
const exact = (page, sel) => page.$eval(sel, el => el.dataset.exact);
const text = (page, sel) => page.$eval(sel, el => el.textContent.trim());
const span = page => page.$eval('#span', el => ({ from: el.dataset.from, to: el.dataset.to }));
const hashOf = page => page.evaluate(() => decodeURIComponent(location.hash));
const legend = (page, chart) => page.$$eval(`${chart} .u-legend .u-series .u-label`, els => els.map(e => e.textContent).filter(t => t !== 'Time'));
const noErrors = (page, what) => {
  eq(`${what}: no console errors`, page.errors.join(' | '), '');
  page.errors.length = 0;
};

const ctx = await browser();
const page = await open(ctx);

// ---- Overview: first render, cards and month against the API ----
const t0 = Date.now();
await view(page, '#view=overview&range=30d&interval=day&tz=UTC', 'overview');
const first = await page.evaluate(() => window.tokmeter.firstRender);
console.log(`  first render: ${first.toFixed(0)} ms after navigation (${Date.now() - t0} ms wall, loopback)`);
noErrors(page, 'overview');
let r = await span(page);
let a = await api('/v1/usage', { from: r.from, to: r.to, tz: 'UTC' });
check('overview: the page saw events', a.totals.events > 1000, a.totals.events, '> 1000');
eq('overview: requests = API', await exact(page, '[data-metric=requests] .num'), String(a.totals.requests));
eq('overview: requests shown with separators', await text(page, '[data-metric=requests] .num'), a.totals.requests.toLocaleString('en-US'));
eq('overview: cost exact = API', await exact(page, '[data-metric=cost_usd] .num'), a.totals.cost_usd);
eq('overview: cost to the cent', await text(page, '[data-metric=cost_usd] .num'), dollars(a.totals.cost_usd));
eq('overview: cost tooltip is exact', await page.$eval('[data-metric=cost_usd] .num', el => el.title), 'exact: $' + a.totals.cost_usd);
eq('overview: tokens = API', await exact(page, '[data-metric=total_tokens] .num'), String(a.totals.total_tokens));
eq('overview: error rate = API', await exact(page, '[data-metric=error_rate] .num'), String(a.totals.error_rate));
eq('overview: p95 = API', await exact(page, '[data-metric=latency_p95_ms] .num'), String(a.totals.latency_p95_ms));
has('overview: unpriced shown as such', await text(page, '[data-metric=cost_usd] .sub'), `${a.totals.unpriced.toLocaleString('en-US')} unpriced`);
const len = Date.parse(r.to) - Date.parse(r.from);
const prev = await api('/v1/usage', { from: new Date(Date.parse(r.from) - len).toISOString(), to: r.from, tz: 'UTC' });
const want = prev.totals.requests ? `${Math.abs(((a.totals.requests - prev.totals.requests) / prev.totals.requests) * 100).toFixed(1)}%` : 'new';
has('overview: requests delta against the previous period', await text(page, '[data-metric=requests] .delta'), want);
const mo = new Date().toISOString().slice(0, 7);
const nextMo = new Date(Date.UTC(+mo.slice(0, 4), +mo.slice(5, 7), 1)).toISOString().slice(0, 10);
const m = await api('/v1/usage', { from: mo + '-01', to: nextMo, tz: 'UTC' });
eq('overview: month so far = API', await exact(page, '[data-metric=month_cost] .num'), m.totals.cost_usd);
has('overview: the projection says it is linear', await text(page, '#month'), 'linear projection');
const prov = await api('/v1/usage', { from: r.from, to: r.to, tz: 'UTC', group_by: 'provider', order_by: 'cost_usd' });
eq('overview: one stacked series per provider', JSON.stringify((await legend(page, '#costchart')).sort()), JSON.stringify(prov.rows.map(x => x.provider).sort()));
eq('overview: the table beneath the chart = API costs', JSON.stringify(await page.$$eval('#costtable tbody tr td:nth-child(4) .num', els => els.map(e => e.dataset.exact))), JSON.stringify(prov.rows.map(x => x.cost_usd)));
// The legend toggles a group: hiding the lowest priced one (stack bottom
// first; the legend lists the top first) lowers the stack above it by it.
const stackTop = () => page.evaluate(() => document.querySelector('#costchart')._chart.u.data[1].reduce((a, v) => a + v, 0));
const [low, lowSum] = await page.evaluate(() => {
  const raw = document.querySelector('#costchart')._chart.raw;
  for (let i = 1; i < raw.length; i++) {
    const sum = raw[i].reduce((a, v) => a + v, 0);
    if (sum > 0) return [i - 1, sum];
  }
  return [-1, 0];
});
const entry = async () => (await page.$$('#costchart .u-legend .u-series')).at(-1 - low);
const top0 = await stackTop();
await (await entry()).click();
const top1 = await stackTop();
check('legend: hiding a group restacks the chart', low >= 0 && Math.abs(top0 - lowSum - top1) < 1e-9, [top0, lowSum, top1], 'top0 - group = top1');
await (await entry()).click();
check('legend: showing it again restores the stack', Math.abs((await stackTop()) - top0) < 1e-9, await stackTop(), top0);
const acme = prov.rows.find(x => x.provider === 'acme');
has('overview: a group with no price says so', await text(page, '#costtable tbody tr:last-child td:nth-child(4)'), `${acme.unpriced} unpriced`);
await page.screenshot({ path: `${OUT}/overview.png` });

// ---- filters change the charts and the URL ----
await page.selectOption('#fdim', 'provider');
await page.fill('#fval', 'openai');
let since = Date.now();
await page.click('#addfilter button[type=submit]');
await ready(page, 'overview', since);
has('filter: in the URL', await hashOf(page), 'where=provider:openai');
eq('filter: the chart has only openai', JSON.stringify(await legend(page, '#costchart')), '["openai"]');
a = await api('/v1/usage', { from: r.from, to: r.to, tz: 'UTC', where: 'provider:openai' });
eq('filter: requests = API with the filter', await exact(page, '[data-metric=requests] .num'), String(a.totals.requests));
since = Date.now();
await page.click('[data-group=model]');
await ready(page, 'overview', since);
has('stack toggle: in the URL', await hashOf(page), 'group=model');
const om = await api('/v1/usage', { from: r.from, to: r.to, tz: 'UTC', where: 'provider:openai', group_by: 'model' });
eq('stack toggle: a series per openai model', JSON.stringify((await legend(page, '#costchart')).sort()), JSON.stringify(om.rows.map(x => x.model).sort()));
since = Date.now();
await page.click('[data-unwhere="provider:openai"]');
await ready(page, 'overview', since);
check('filter removed: not in the URL', !(await hashOf(page)).includes('where='), await hashOf(page), 'no where');
noErrors(page, 'filters');

// ---- the range, interval and zone controls write the URL ----
since = Date.now();
await page.selectOption('#interval', 'week');
await ready(page, 'overview', since);
has('interval: in the URL', await hashOf(page), 'interval=week');
r = await span(page);
const wk = await api('/v1/usage', { from: r.from, to: r.to, tz: 'UTC', interval: 'week' });
const weeks = await page.evaluate(() => document.querySelector('#costchart')._chart.u.data[0].length);
const pw = await api('/v1/usage', { from: r.from, to: r.to, tz: 'UTC', group_by: 'model', order_by: 'cost_usd' }); // stacked by model since the toggle
eq('interval: every week lands on the chart (its sums = API)', JSON.stringify(await page.$$eval('#costtable tbody tr td:nth-child(4) .num', els => els.map(e => e.dataset.exact))), JSON.stringify(pw.rows.map(x => x.cost_usd)));
check('interval: a bar per week of the range', weeks >= new Set(wk.rows.map(x => x.period)).size && weeks <= 6, weeks, `${new Set(wk.rows.map(x => x.period)).size}..6`);
await page.click('[data-range=custom]');
await page.fill('#cfrom', '2026-11-10');
await page.fill('#cto', '2026-11-20');
since = Date.now();
await page.click('.custom button[type=submit]');
await ready(page, 'overview', since);
has('custom range: in the URL', await hashOf(page), 'range=custom&from=2026-11-10&to=2026-11-20');
eq('custom range: the server resolved it', JSON.stringify(await span(page)), JSON.stringify({ from: '2026-11-10T00:00:00Z', to: '2026-11-20T00:00:00Z' }));
a = await api('/v1/usage', { from: '2026-11-10', to: '2026-11-20', tz: 'UTC' });
eq('custom range: requests = API', await exact(page, '[data-metric=requests] .num'), String(a.totals.requests));
await page.fill('#tz', 'Asia/Tokyo');
since = Date.now();
await page.press('#tz', 'Enter');
await ready(page, 'overview', since);
has('zone: in the URL', await hashOf(page), 'tz=Asia/Tokyo');
has('zone: the range is cut there', await hashOf(page), 'range=custom');
eq('zone: dates are midnight in Tokyo', (await span(page)).from, '2026-11-09T15:00:00Z');
a = await api('/v1/usage', { from: '2026-11-10', to: '2026-11-20', tz: 'Asia/Tokyo' });
eq('zone: requests = API in that zone', await exact(page, '[data-metric=requests] .num'), String(a.totals.requests));
since = Date.now();
await page.click('[data-range="24h"]');
await ready(page, 'overview', since);
await page.fill('#tz', 'Asia/Kolkata');
since = Date.now();
await page.press('#tz', 'Enter');
await ready(page, 'overview', since);
has('24h by hour in Kolkata: in the URL', await hashOf(page), 'range=24h&interval=hour&tz=Asia/Kolkata');
r = await span(page);
const kh = await api('/v1/usage', { from: r.from, to: r.to, tz: 'Asia/Kolkata', group_by: 'model', order_by: 'cost_usd' });
eq('every hour (half-hour zone) lands on the chart (its sums = API)', JSON.stringify(await page.$$eval('#costtable tbody tr td:nth-child(4) .num', els => els.map(e => e.dataset.exact))), JSON.stringify(kh.rows.map(x => x.cost_usd)));
noErrors(page, 'controls');

// ---- Breakdowns: the table, sorting, a row click, the CSV ----
await view(page, '#view=breakdowns&range=30d&interval=day&tz=UTC&dim=user_id', 'breakdowns');
noErrors(page, 'breakdowns');
r = await span(page);
const bu = await api('/v1/usage', { from: r.from, to: r.to, tz: 'UTC', group_by: 'user_id', order_by: 'cost_usd' });
const rows = await page.$$eval('#breakdown tbody tr', trs => trs.map(tr => ({ pick: tr.dataset.pick, cost: tr.querySelector('td:nth-child(4) .num').dataset.exact, spark: !!tr.querySelector('svg.spark') })));
eq('breakdowns: a row per user, by cost', JSON.stringify(rows.map(x => x.pick)), JSON.stringify(bu.rows.map(x => x.user_id)));
eq('breakdowns: costs = API', JSON.stringify(rows.map(x => x.cost)), JSON.stringify(bu.rows.map(x => x.cost_usd)));
check('breakdowns: a sparkline per row', rows.every(x => x.spark), rows.map(x => x.spark));
since = Date.now();
await page.click('#breakdown [data-sort=requests]');
await ready(page, 'breakdowns', since);
const reqs = await page.$$eval('#breakdown tbody tr td:nth-child(2) .num', els => els.map(e => Number(e.dataset.exact)));
eq('breakdowns: sorted by requests, largest first', JSON.stringify(reqs), JSON.stringify(reqs.slice().sort((x, y) => y - x)));
has('breakdowns: the sort is in the URL', await hashOf(page), 'sort=requests');
const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
const csvText = readFileSync(await dl.path(), 'utf8');
const lines = csvText.trim().split('\r\n');
eq('csv: header', lines[0].split(',').slice(0, 3).join(','), 'user_id,requests,events');
eq('csv: a line per table row', lines.length - 1, rows.length);
const costIx = lines[0].split(',').indexOf('cost_usd');
const csvSum = lines.slice(1).reduce((s, l) => s + pico(l.split(',')[costIx]), 0n);
eq('csv: costs sum to the API total exactly', String(csvSum), String(pico(bu.totals.cost_usd)));
check('csv: "=cmd" cannot run as a formula', lines.some(l => l.startsWith("'=cmd,")), lines.map(l => l.split(',')[0]), "'=cmd");
since = Date.now();
await page.click('#breakdown tbody tr[data-pick="u2"]');
await ready(page, 'breakdowns', since);
has('row click: filters by it (URL)', await hashOf(page), 'where=user_id:u2');
eq('row click: the table narrows to u2', JSON.stringify(await page.$$eval('#breakdown tbody tr', t => t.map(x => x.dataset.pick))), '["u2"]');
noErrors(page, 'breakdowns actions');
await page.screenshot({ path: `${OUT}/breakdowns.png` });

// ---- Latency and errors ----
await view(page, '#view=latency&range=30d&interval=day&tz=UTC&group=provider', 'latency');
noErrors(page, 'latency');
r = await span(page);
eq('latency: three charts', await page.$$eval('main .chart canvas', c => c.length), 3);
const lt = await api('/v1/usage', { from: r.from, to: r.to, tz: 'UTC', group_by: 'provider', order_by: 'requests', limit: 50 });
const p95s = await page.$$eval('#lattable tbody tr td:nth-child(4)', t => t.map(x => x.textContent));
const fms = v => (v >= 10000 ? (v / 1000).toFixed(1) + ' s' : v >= 1000 ? (v / 1000).toFixed(2) + ' s' : (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + ' ms');
eq('latency: p95 per provider = API', JSON.stringify(p95s), JSON.stringify(lt.rows.map(x => fms(x.latency_p95_ms))));
check('latency: top errors listed', (await page.$$('#toperrors tbody tr')).length >= 3);
const em = await api('/v1/errors', { from: r.from, to: r.to, tz: 'UTC', limit: 10 });
check('top errors by message: the API read the whole range', em.scanned.complete && em.errors.length >= 3, em.scanned, 'complete, >= 3 groups');
const msgRows = await page.$$eval('#errmessages tbody tr', trs => trs.map(tr => [...tr.children].slice(0, 3).map(td => td.textContent.trim())));
eq('top errors by message: status, message, count = API', JSON.stringify(msgRows), JSON.stringify(em.errors.map(x => [String(x.status_code), x.error, x.count.toLocaleString('en-US')])));
has('top errors by message: says what it read', await text(page, '#errscope'), `All ${em.scanned.failed.toLocaleString('en-US')} failed calls of the range`);
await page.screenshot({ path: `${OUT}/latency.png`, fullPage: true });

// ---- Users: the top, one user's page with quota bars ----
await view(page, '#view=users&range=30d&interval=day&tz=UTC', 'users');
noErrors(page, 'users');
r = await span(page);
const tu = await api('/v1/usage', { from: r.from, to: r.to, tz: 'UTC', group_by: 'user_id', order_by: 'cost_usd', limit: 50 });
eq('users: top user = API', await text(page, '#topusers tbody tr td a'), tu.rows[0].user_id);
since = Date.now();
await page.click('#topusers a:text-is("u1")');
await ready(page, 'users', since);
const uu = await api('/v1/users/u1/usage', { period: mo, tz: 'UTC' });
eq('user page: requests = API', await exact(page, '#ucards [data-metric=requests] .num'), String(uu.current_period.requests));
eq('user page: cost = API', await exact(page, '#ucards [data-metric=cost] .num'), String(uu.current_period.cost));
const q = await api('/v1/users/u1/quota');
eq('user page: a bar per quota limit', JSON.stringify(await page.$$eval('.quota', qs => qs.map(x => x.dataset.limit))), JSON.stringify(Object.keys(q.limits)));
has('user page: requests remaining', await text(page, '.quota[data-limit=requests]'), `${q.limits.requests.remaining.toLocaleString('en-US')} left`);
has('user page: the reset date', await text(page, '#quota'), 'resets');
noErrors(page, 'user page');
await page.screenshot({ path: `${OUT}/user.png`, fullPage: true });

// ---- Alerts (web.sh raised a soft-limit alert) ----
await view(page, '#view=alerts&range=30d&tz=UTC', 'alerts');
noErrors(page, 'alerts');
has('alerts: the firing soft-limit alert', await text(page, '#firingtable'), 'soft-limit');

// ---- Live: refreshes in place, without re-mounting its charts ----
await view(page, '#view=live&tz=UTC', 'live');
noErrors(page, 'live');
const before = Number(await exact(page, '#lcards [data-metric=requests] .num'));
await page.evaluate(() => (document.querySelector('#lreq canvas').dataset.mark = 'kept'));
await fetch(`${BASE}/v1/events`, { method: 'POST', body: JSON.stringify({ provider: 'openai', model: 'gpt-4o-mini', user_id: 'u3', input_tokens: 10 }) });
since = Date.now();
await ready(page, 'live', since);
eq('live: the new event counted', Number(await exact(page, '#lcards [data-metric=requests] .num')), before + 1);
eq('live: the chart updated in place', await page.$eval('#lreq canvas', c => c.dataset.mark || ''), 'kept');
check('live: only the current hour was asked again', await page.evaluate(() => window.tokmeter.data.incremental), false, true);
noErrors(page, 'live refresh');

// ---- API errors in words, empty states ----
await view(page, '#view=overview&range=7d&tz=Mars/Olympus', 'overview');
has('API error shown in words', await text(page, '#banner'), 'tz');
page.errors.length = 0; // the 400 is logged by the browser
await view(page, '#view=overview&range=7d&tz=UTC&where=provider:nobody', 'overview');
has('empty range: says what to do', await text(page, '#empty'), 'No events in this range');
noErrors(page, 'empty range');
await page.goto(`${EMPTY}/#view=overview&range=7d&tz=UTC`);
await ready(page, 'overview');
has('empty store: the curl line to send an event', await text(page, '#empty'), `curl -s ${EMPTY}/v1/events`);
noErrors(page, 'empty store');

// ---- phone width, and the dark scheme ----
await page.setViewportSize({ width: 375, height: 812 });
await view(page, '#view=overview&range=30d&interval=day&tz=UTC', 'overview');
const wide = await page.evaluate(() => document.documentElement.scrollWidth);
check('phone: no sideways scrolling at 375 px', wide <= 375, wide, '<= 375');
const cw = await page.$eval('#costchart canvas', c => c.getBoundingClientRect().width);
check('phone: the chart fits', cw <= 375, cw, '<= 375');
await page.screenshot({ path: `${OUT}/phone.png`, fullPage: true });
// Every table fits: low-priority columns are left out, nothing scrolls
// sideways, neither the page nor a table in its box; names and figures stay.
for (const [hash, v, must] of [
  ['#view=breakdowns&range=30d&interval=day&tz=UTC&dim=model', 'breakdowns', ['Model', 'Requests', 'Cost', 'Cost trend']],
  ['#view=breakdowns&range=30d&interval=day&tz=UTC&dim=user_id', 'breakdowns', ['User', 'Requests', 'Cost', 'Cost trend']],
  ['#view=latency&range=30d&interval=day&tz=UTC', 'latency', ['Provider', 'p50', 'p95', 'p99', 'Status', 'Error', 'Count']],
  ['#view=users&range=30d&interval=day&tz=UTC', 'users', ['User', 'Requests', 'Cost']],
  ['#view=users&user=u1&range=30d&interval=day&tz=UTC', 'users', ['Date', 'Cost', 'Endpoint', 'Calls']],
  ['#view=alerts&range=30d&tz=UTC', 'alerts', ['At', 'Rule', 'State', 'Message']],
]) {
  await view(page, hash, v);
  const fit = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth,
    boxes: [...document.querySelectorAll('main .scroll')].map(b => b.scrollWidth - b.clientWidth),
    heads: [...document.querySelectorAll('main th')].filter(th => th.offsetParent !== null).map(th => th.textContent.replace(/[↑↓]/g, '').trim()),
  }));
  check(`phone ${hash}: the page does not scroll sideways`, fit.page <= 375, fit.page, '<= 375');
  check(`phone ${hash}: no table scrolls in its box`, fit.boxes.length > 0 && fit.boxes.every(x => x <= 0), fit.boxes, 'every overflow <= 0');
  check(`phone ${hash}: the main columns are shown`, must.every(h => fit.heads.includes(h)), fit.heads, must);
  if (hash.includes('dim=model')) await page.screenshot({ path: `${OUT}/phone-breakdowns.png`, fullPage: true });
}
noErrors(page, 'phone');
await page.setViewportSize({ width: 1280, height: 900 });
await page.emulateMedia({ colorScheme: 'dark' });
await view(page, '#view=overview&range=30d&interval=day&tz=UTC', 'overview');
const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
eq('dark: the dark background', bg, 'rgb(17, 19, 23)');
await page.screenshot({ path: `${OUT}/overview-dark.png` });
await page.emulateMedia({ colorScheme: 'light' });

// ---- keyboard: the chart legend's toggles, by Tab, Enter and Space ----
await view(page, '#view=overview&range=7d&interval=day&tz=UTC&group=provider', 'overview');
let onLegend = null;
for (let i = 0; i < 80 && !onLegend; i++) {
  await page.keyboard.press('Tab');
  onLegend = await page.evaluate(() => {
    const th = document.activeElement.closest('#costchart .u-legend th');
    return th && { label: th.textContent, role: th.getAttribute('role'), pressed: th.getAttribute('aria-pressed'), outline: getComputedStyle(th).outlineStyle };
  });
}
check('legend: an entry is reachable by Tab', !!onLegend, onLegend, 'focus on a #costchart legend entry');
if (onLegend) {
  eq('legend: the entry is a toggle button', onLegend.role, 'button');
  eq('legend: aria-pressed while shown', onLegend.pressed, 'true');
  check('legend: the focus is visible', onLegend.outline !== 'none', onLegend.outline, 'an outline');
  const shown = () => page.evaluate(() => {
    const th = document.activeElement;
    const u = document.querySelector('#costchart')._chart.u;
    const i = [...th.closest('tbody').children].indexOf(th.closest('tr'));
    return { pressed: th.getAttribute('aria-pressed'), show: u.series[i].show, top: u.data[1].reduce((a, v) => a + (v || 0), 0) };
  });
  const k0 = await shown();
  await page.keyboard.press('Enter');
  const k1 = await shown();
  eq('legend: Enter hides the series', k1.show, false);
  eq('legend: aria-pressed follows (Enter)', k1.pressed, 'false');
  await page.keyboard.press(' ');
  const k2 = await shown();
  eq('legend: Space shows it again', k2.show, true);
  eq('legend: aria-pressed follows (Space)', k2.pressed, 'true');
  check('legend: the stack is the same again', Math.abs(k2.top - k0.top) < 1e-9, k2.top, k0.top);
  eq('legend: the page did not scroll or change view on Space', await hashOf(page), '#view=overview&range=7d&interval=day&tz=UTC&group=provider');
}
noErrors(page, 'legend keyboard');

// ---- keyboard: the views and the filter are reachable by Tab ----
await view(page, '#view=breakdowns&range=30d&interval=day&tz=UTC&dim=provider', 'breakdowns');
let reached = false;
for (let i = 0; i < 60 && !reached; i++) {
  await page.keyboard.press('Tab');
  reached = await page.evaluate(() => !!document.activeElement.closest('#breakdown tbody tr'));
}
check('keyboard: a table row is reachable by Tab', reached);
since = Date.now();
await page.keyboard.press('Enter');
await ready(page, 'breakdowns', since);
has('keyboard: Enter on a row filters by it', await hashOf(page), 'where=provider:');
await ctx.close();

// ---- keys: the prompt, and a key bound to one user ----
const key = args => execFileSync(TM, ['--db', DB, 'keys', 'create', ...args], { encoding: 'utf8' }).split('\n')[0].trim();
const READ = key(['--scope', 'read']);
const U1 = key(['--scope', 'read', '--user', 'u1']);
await new Promise(res => setTimeout(res, 1200)); // "no keys" is trusted for a second
const ctx2 = await browser();
const p2 = await open(ctx2);
await p2.goto(`${BASE}/#view=overview&range=30d&interval=day&tz=UTC`);
await p2.waitForSelector('#keydlg[open]', { timeout: 10000 });
check('key prompt: shown when keys are required', true);
await p2.screenshot({ path: `${OUT}/key-prompt.png` });
await p2.fill('#keyinput', 'tm_wrong');
await p2.click('#keyform button[type=submit]');
await p2.waitForFunction(() => document.querySelector('#keydlg').open && document.querySelector('#keyerr').textContent.length > 0, null, { timeout: 10000 });
has('key prompt: a wrong key is refused in words', await text(p2, '#keyerr'), 'not accepted');
await p2.fill('#keyinput', READ);
await p2.click('#keyform button[type=submit]');
await ready(p2, 'overview');
r = await span(p2);
a = await api('/v1/usage', { from: r.from, to: r.to, tz: 'UTC' }, READ);
eq('key: overview = API with the key', await exact(p2, '[data-metric=requests] .num'), String(a.totals.requests));
eq('key: kept in session storage', await p2.evaluate(() => sessionStorage.getItem('tokmeter.key')), READ);
await p2.reload();
await ready(p2, 'overview');
eq('key: not asked again after a reload', await p2.$eval('#keydlg', d => d.open), false);
p2.errors = p2.errors.filter(e => !/401/.test(e)); // the two refused calls
noErrors(p2, 'key prompt');
await ctx2.close();

const ctx3 = await browser();
const p3 = await open(ctx3);
await p3.addInitScript(k => sessionStorage.setItem('tokmeter.key', k), U1);
await p3.goto(`${BASE}/#view=users&user=u2&range=30d&interval=day&tz=UTC`);
await ready(p3, 'users');
eq('bound key: the user page is its own user', await p3.$eval('[data-user]', el => el.dataset.user), 'u1');
has('bound key: says why u2 is not shown', await text(p3, '#banner'), 'only user u1');
const u1 = await api('/v1/users/u1/usage', { period: mo, tz: 'UTC' }, U1);
eq('bound key: u1 numbers = API', await exact(p3, '#ucards [data-metric=requests] .num'), String(u1.current_period.requests));
eq('bound key: the API refuses u2 (so must the page)', (await api('/v1/users/u2/usage', {}, U1)).error?.code, 'forbidden');
await view(p3, '#view=overview&range=30d&interval=day&tz=UTC&where=user_id:u2', 'overview');
has('bound key: a u2 filter becomes u1', await hashOf(p3), 'where=user_id:u1');
check('bound key: no u2 filter left', !(await hashOf(p3)).includes('user_id:u2'), await hashOf(p3));
r = await span(p3);
a = await api('/v1/usage', { from: r.from, to: r.to, tz: 'UTC', where: 'user_id:u1' }, U1);
eq('bound key: overview = u1 only', await exact(p3, '[data-metric=requests] .num'), String(a.totals.requests));
for (const v of ['breakdowns', 'latency', 'alerts', 'live']) {
  await view(p3, `#view=${v}&range=30d&interval=day&tz=UTC`, v);
  eq(`bound key: ${v} has no error`, (await text(p3, '#banner')) || '', '');
}
noErrors(p3, 'bound key');
await p3.screenshot({ path: `${OUT}/bound-key.png` });
await ctx3.close();

profiles.forEach(d => rmSync(d, { recursive: true, force: true }));
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);

function has(name, got, part) {
  check(name, typeof got === 'string' && got.includes(part), got, `…${part}…`);
}
