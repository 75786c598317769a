// views.js — the six views. Each has mount (its layout, built once, so a
// refresh replaces numbers and chart data in place and nothing jumps), load
// (the API calls, in parallel) and render (fills the layout).
import * as api from './api.js';
import { draw, sparkline } from './chart.js';
import { add, costOf, costPico, name, series, topN } from './data.js';
import { colourOf, compact, csv, delta, escapeHtml as e, int, money, moneyExact, moneyTicks, ms, msTicks, pct, picoToDec, toPico, when } from './fmt.js';
import { DIMS, DIM_NAMES, iso, month, oddOffset, range } from './state.js';

const $ = (root, sel) => root.querySelector(sel);

function usage(s, r, extra) {
  return api.get('/v1/usage', { from: r.from, to: r.to, tz: s.tz, where: s.where, ...extra });
}

// ---- pieces ----

function moneyCell(v) {
  const p = typeof v === 'bigint' ? v : toPico(v);
  return `<span class="num" title="exact: ${moneyExact(p)}" data-exact="${picoToDec(p)}">${money(p)}</span>`;
}

function countCell(n, big) {
  if (n === null || n === undefined) return '<span class="num">—</span>';
  return big && n >= 1e5 ? `<span class="num" title="${int(n)}" data-exact="${n}">${compact(n)}</span>` : `<span class="num" data-exact="${n}">${int(n)}</span>`;
}

// Events without a price are counted as such, never shown as $0 alone.
function unpricedNote(n) {
  return n ? ` <span class="warn" title="events whose model or metric has no price: not in the cost">${int(n)} unpriced</span>` : '';
}

function card(metric, label, valueHtml, d, sub) {
  const dl = d ? `<span class="delta ${d.tone}" title="against the previous period of the same length">${d.text}</span>` : '';
  return `<div class="card" data-metric="${metric}"><div class="label">${label}</div><div class="value">${valueHtml}</div><div class="sub">${dl}${sub ? ' ' + sub : ''}</div></div>`;
}

function curlLine() {
  const k = api.key.get() ? " -H 'Authorization: Bearer YOUR_INGEST_KEY'" : '';
  return `curl -s ${location.origin}/v1/events${k} -d '{"provider": "openai", "model": "gpt-4o-mini", "user_id": "u1", "input_tokens": 1200, "output_tokens": 300, "latency_ms": 812}'`;
}

let bound = null; // the user a user-bound key may read
export function bindUser(u) {
  bound = u;
}

// The empty state: no events at all (say how to send one), or none here.
async function emptyState(s, r) {
  let any = true;
  try {
    const all = await api.get('/v1/usage', { from: '0', to: r.to, tz: s.tz, where: s.where.filter(w => bound && w === 'user_id:' + bound) });
    any = all.totals.events > 0;
  } catch (err) {
    any = true;
  }
  if (!any)
    return `<div class="empty" data-empty="store"><h2>No events yet</h2><p>tokmeter has not stored any usage. Send an event and it shows up here:</p><pre><code>${e(curlLine())}</code></pre><p>Or import Claude Code, Codex or OpenCode logs: <code>tokmeter import</code>.</p></div>`;
  return `<div class="empty" data-empty="range"><h2>No events in this range</h2><p>Nothing matches ${s.where.length ? 'these filters' : 'this range'}. Try a longer range${s.where.length ? ' or remove a filter' : ''}.</p></div>`;
}

// A column: { label, cell(row), num (right-aligned figures), lo (left out
// at phone width, so the table fits 375 px without scrolling sideways),
// key and nosort (sortable tables) }.
const cls = c => [c.num ? 'num' : '', c.lo ? 'lo' : ''].join(' ').trim();

function table(cols, rows, opts = {}) {
  const head = cols
    .map(c => {
      if (!opts.sortable || c.nosort) return `<th scope="col" class="${cls(c)}">${c.label}</th>`;
      const on = opts.sort === c.key;
      const aria = on ? (opts.dir === 'asc' ? 'ascending' : 'descending') : 'none';
      return `<th scope="col" class="${cls(c)}" aria-sort="${aria}"><button type="button" class="sort" data-sort="${c.key}">${c.label}${on ? (opts.dir === 'asc' ? ' ↑' : ' ↓') : ''}</button></th>`;
    })
    .join('');
  const body = rows.length
    ? rows.map(r => `<tr${r.attrs || ''}>${cols.map(c => `<td class="${cls(c)}">${c.cell(r.row)}</td>`).join('')}</tr>`).join('')
    : `<tr><td colspan="${cols.length}" class="none">${opts.none || 'Nothing here for this range.'}</td></tr>`;
  return `<div class="scroll"><table${opts.id ? ` id="${opts.id}"` : ''}${opts.caption ? '' : ''}>${opts.caption ? `<caption>${opts.caption}</caption>` : ''}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}


// ---- Overview ----

export const overview = {
  mount(m) {
    m.innerHTML = `<h1 class="vh">Overview</h1>
      <section class="cards" id="cards" aria-label="Totals for the range"><p class="loading">Loading…</p></section>
      <section class="panel" id="month" aria-label="This month"></section>
      <section class="panel" id="costpanel">
        <div class="panel-head"><h2>Cost over time</h2>
          <div class="toggle" role="group" aria-label="Stack by"><button type="button" data-group="provider">by provider</button><button type="button" data-group="model">by model</button></div></div>
        <div class="chart" id="costchart"></div>
        <div id="costtable"></div>
      </section>
      <div id="empty"></div>`;
  },
  async load(s) {
    const r = range(s);
    const cur = await usage(s, r, {});
    const len = Date.parse(cur.to) - Date.parse(cur.from);
    const pr = { from: iso(Date.parse(cur.from) - len), to: cur.from };
    const mo = month(s.tz, Math.min(Date.now(), Date.parse(cur.to) - 1));
    const [prev, ser, mon] = await Promise.all([
      usage(s, pr, {}),
      usage(s, r, { interval: s.interval, group_by: s.group }),
      usage(s, { from: mo.first, to: mo.next }, {}),
    ]);
    const empty = cur.totals.events === 0 ? await emptyState(s, r) : '';
    return { cur, prev, ser, mon, empty, now: Date.now(), span: cur };
  },
  render(m, s, d) {
    const t = d.cur.totals, p = d.prev.totals;
    const unpriced = unpricedNote(t.unpriced);
    $(m, '#cards').innerHTML = [
      card('cost_usd', 'Cost', moneyCell(t.cost_usd), delta(Number(t.cost_usd), Number(p.cost_usd), true), unpriced),
      card('requests', 'Requests', countCell(t.requests), delta(t.requests, p.requests, null), ''),
      card('total_tokens', 'Tokens', countCell(t.total_tokens, true), delta(t.total_tokens, p.total_tokens, null), ''),
      card('error_rate', 'Error rate', `<span class="num" data-exact="${t.error_rate}">${pct(t.error_rate)}</span>`, delta(t.error_rate, p.error_rate, true), `<span class="muted">${int(t.errors)} errors</span>`),
      card('latency_p95_ms', 'p95 latency', `<span class="num" data-exact="${t.latency_p95_ms ?? ''}">${ms(t.latency_p95_ms)}</span>`, delta(t.latency_p95_ms, p.latency_p95_ms, true), ''),
    ].join('');
    // The month so far, and a linear projection to its end.
    const mf = Date.parse(d.mon.from), mt = Date.parse(d.mon.to);
    const so = toPico(d.mon.totals.cost_usd);
    const el = Math.min(Math.max(d.now - mf, 1), mt - mf);
    const proj = (so * BigInt(mt - mf)) / BigInt(el);
    $(m, '#month').innerHTML = `<div class="month"><div><div class="label">Month so far (${e(d.mon.from.slice(0, 7))})</div><div class="big" data-metric="month_cost">${moneyCell(d.mon.totals.cost_usd)}</div></div>
      <div><div class="label">Projected month end</div><div class="big" data-metric="month_projection">${moneyCell(proj)}</div></div>
      <p class="note">A linear projection: the month so far divided by the share of the month gone (${((el / (mt - mf)) * 100).toFixed(1)}%), in ${e(s.tz)}, with these filters.</p></div>`;
    m.querySelectorAll('[data-group]').forEach(b => b.setAttribute('aria-pressed', String(b.dataset.group === s.group)));
    $(m, '#empty').innerHTML = d.empty;
    $(m, '#costpanel').hidden = !!d.empty;
    if (d.empty) return;
    const sr = series(d.ser, s.group, s.interval, s.tz);
    const groups = topN(sr.groups, 8);
    draw(
      $(m, '#costchart'),
      {
        kind: 'cost', sync: 'overview', tz: s.tz, stacked: true, bars: true,
        series: groups.slice().reverse().map(g => ({ label: g.name, colour: colourOf(g.name) })),
        yticks: moneyTicks,
        vfmt: (i, idx) => money(costPico(groups[groups.length - 1 - i].cells[idx])),
      },
      [sr.xs, ...groups.slice().reverse().map(g => g.cells.map(costOf))],
    );
    const total = toPico(t.cost_usd);
    const rows = groups.map(g => {
      const sum = g.cells.reduce((a, c) => (c ? add(a, c) : a), null) || add(null, {});
      return { row: { g, sum } };
    });
    $(m, '#costtable').innerHTML = table(
      [
        { label: DIM_NAMES[s.group], cell: r => `<span class="swatch" style="background:${colourOf(r.g.name)}"></span>${e(r.g.name)}` },
        { label: 'Requests', num: 1, cell: r => countCell(r.sum.requests) },
        { label: 'Tokens', num: 1, lo: 1, cell: r => countCell(r.sum.total_tokens, true) },
        { label: 'Cost', num: 1, cell: r => moneyCell(r.g.total) + unpricedNote(r.sum.unpriced) },
        { label: 'Share', num: 1, cell: r => (total > 0n ? pct(Number((r.g.total * 10000n) / total) / 10000, 1) : '—') },
      ],
      rows,
      { caption: `Cost by ${DIM_NAMES[s.group].toLowerCase()} (the chart's numbers)` },
    );
  },
  events(m, app) {
    m.addEventListener('click', ev => {
      const b = ev.target.closest('[data-group]');
      if (b) app.go({ group: b.dataset.group });
    });
  },
};

// ---- Breakdowns ----

const BREAKDOWN_ROWS = 50;
const SORTS = ['name', 'requests', 'total_tokens', 'cost_usd', 'errors', 'error_rate', 'latency_p95_ms'];

export const breakdowns = {
  mount(m) {
    m.innerHTML = `<h1 class="vh">Breakdowns</h1>
      <section class="panel"><div class="panel-head"><div class="tabs" role="group" aria-label="Break down by">${DIMS.map(d => `<button type="button" data-dim="${d}">${DIM_NAMES[d]}</button>`).join('')}</div>
      <button type="button" id="csv" class="secondary">Download CSV</button></div>
      <p class="note">Click a row to filter every view by it.</p>
      <div id="btable"><p class="loading">Loading…</p></div></section><div id="empty"></div>`;
  },
  async load(s) {
    const r = range(s);
    // The costliest rows, then their sparklines: named, when the table may
    // leave rows out (users are many), so only the rows shown are read.
    const tot = await usage(s, r, { group_by: s.dim, order_by: 'cost_usd', limit: BREAKDOWN_ROWS });
    const cut = tot.rows.length >= BREAKDOWN_ROWS && !s.where.some(w => w.startsWith(s.dim + ':'));
    const names = tot.rows.map(x => x[s.dim] ?? '').filter(v => !v.includes(',')); // "," separates values
    // The sparklines draw cost alone: the rest of each row is not asked for.
    const ser = await usage(s, r, { group_by: s.dim, interval: s.interval, metrics: 'cost_usd', ...(cut ? { where: [...s.where, `${s.dim}:${names.join(',')}`] } : {}) });
    const empty = tot.totals.events === 0 ? await emptyState(s, r) : '';
    return { tot, ser, empty, cut, span: tot };
  },
  render(m, s, d) {
    m.querySelectorAll('[data-dim]').forEach(b => b.setAttribute('aria-pressed', String(b.dataset.dim === s.dim)));
    $(m, '#empty').innerHTML = d.empty;
    const sr = series(d.ser, s.dim, s.interval, s.tz);
    const spark = new Map(sr.groups.map(g => [g.name, g.cells.map(costOf)]));
    const total = toPico(d.tot.totals.cost_usd);
    const key = SORTS.includes(s.sort) ? s.sort : 'cost_usd';
    const val = r => (key === 'name' ? name(r, s.dim) : key === 'cost_usd' ? toPico(r.cost_usd) : r[key] ?? -1);
    const rows = d.tot.rows.slice().sort((a, b) => {
      const x = val(a), y = val(b);
      const c = x < y ? -1 : x > y ? 1 : 0;
      return s.dir === 'asc' ? c : -c;
    });
    this.rows = rows;
    this.state = s;
    this.resp = d.tot;
    $(m, '#btable').innerHTML = table(
      [
        { key: 'name', label: DIM_NAMES[s.dim], cell: r => `<span class="swatch" style="background:${colourOf(name(r, s.dim))}"></span>${e(name(r, s.dim))}` },
        { key: 'requests', label: 'Requests', num: 1, cell: r => countCell(r.requests) },
        { key: 'total_tokens', label: 'Tokens', num: 1, lo: 1, cell: r => countCell(r.total_tokens, true) },
        { key: 'cost_usd', label: 'Cost', num: 1, cell: r => moneyCell(r.cost_usd) + unpricedNote(r.unpriced) },
        { key: 'share', label: 'Share', num: 1, lo: 1, nosort: 1, cell: r => (total > 0n ? pct(Number((toPico(r.cost_usd) * 10000n) / total) / 10000, 1) : '—') },
        { key: 'errors', label: 'Errors', num: 1, lo: 1, cell: r => countCell(r.errors) },
        { key: 'error_rate', label: 'Error rate', num: 1, lo: 1, cell: r => pct(r.error_rate) },
        { key: 'latency_p95_ms', label: 'p95', num: 1, lo: 1, cell: r => ms(r.latency_p95_ms) },
        { key: 'trend', label: 'Cost trend', nosort: 1, cell: r => sparkline(spark.get(name(r, s.dim)) || [], colourOf(name(r, s.dim))) },
      ],
      rows.map(r => ({ row: r, attrs: ` tabindex="0" class="pick" data-pick="${e(r[s.dim] ?? '')}" title="Filter by ${e(DIM_NAMES[s.dim])} ${e(name(r, s.dim))}"` })),
      { sortable: true, sort: key, dir: s.dir, id: 'breakdown', none: 'No events in this range.' },
    ) + (d.cut ? `<p class="note" id="cut">The ${BREAKDOWN_ROWS} costliest (the share is of the whole range); filter to see others.</p>` : '');
  },
  csv() {
    const s = this.state, d = this.resp;
    const cols = ['requests', 'events', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens', 'total_tokens', 'cost_usd', 'unpriced', 'errors', 'error_rate', 'latency_p50_ms', 'latency_p95_ms', 'latency_p99_ms'];
    const out = [[s.dim, ...cols]];
    for (const r of this.rows) out.push([r[s.dim] ?? '', ...cols.map(c => (c === 'cost_usd' ? picoToDec(toPico(r.cost_usd)) : r[c]))]);
    const blob = new Blob([csv(out)], { type: 'text/csv' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    const f = s.where.length ? '-' + s.where.join('-').replace(/[^A-Za-z0-9._-]+/g, '_') : '';
    a.download = `tokmeter-${s.dim}-${d.from.slice(0, 10)}-${d.to.slice(0, 10)}${f}.csv`;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => {
      URL.revokeObjectURL(a.href);
      a.remove();
    }, 1000);
  },
  events(m, app) {
    const pick = tr => app.filter(app.state.dim, tr.dataset.pick);
    m.addEventListener('click', ev => {
      const t = ev.target;
      if (t.closest('[data-dim]')) return app.go({ dim: t.closest('[data-dim]').dataset.dim });
      if (t.closest('#csv')) return this.csv();
      const sb = t.closest('[data-sort]');
      if (sb) {
        const k = sb.dataset.sort;
        return app.go({ sort: k, dir: app.state.sort === k && app.state.dir === 'desc' ? 'asc' : 'desc' });
      }
      const tr = t.closest('tr[data-pick]');
      if (tr) pick(tr);
    });
    m.addEventListener('keydown', ev => {
      const tr = ev.target.closest && ev.target.closest('tr[data-pick]');
      if (tr && (ev.key === 'Enter' || ev.key === ' ')) {
        ev.preventDefault();
        pick(tr);
      }
    });
  },
};

// ---- Latency and errors ----

const PCT_COLOURS = { p50: '#009E73', p95: '#0072B2', p99: '#D55E00' };

export const latency = {
  mount(m) {
    m.innerHTML = `<h1 class="vh">Latency and errors</h1>
      <section class="panel"><div class="panel-head"><h2>Latency percentiles</h2></div><div class="chart" id="latall"></div></section>
      <section class="panel"><div class="panel-head"><h2 id="pertitle">Latency by group</h2>
        <div class="toggle" role="group" aria-label="Per">${['provider', 'model'].map(g => `<button type="button" data-group="${g}">by ${g}</button>`).join('')}</div>
        <div class="toggle" role="group" aria-label="Percentile">${['p50', 'p95', 'p99'].map(p => `<button type="button" data-pct="${p}">${p}</button>`).join('')}</div></div>
        <div class="chart" id="latgroup"></div><div id="lattable"></div></section>
      <section class="panel"><div class="panel-head"><h2>Error rate</h2></div><div class="chart" id="errchart"></div></section>
      <section class="panel"><div class="panel-head"><h2>Top errors</h2></div><p class="note">Where failed calls (success false) come from over the range, by provider and model.</p><div id="toperr"></div>
        <h3>By message</h3><p class="note" id="errscope"></p><div id="errmsgs"></div></section>
      <div id="empty"></div>`;
  },
  async load(s) {
    const r = range(s);
    const [all, per, tab, errs, msgs] = await Promise.all([
      usage(s, r, { interval: s.interval }),
      usage(s, r, { interval: s.interval, group_by: s.group }),
      usage(s, r, { group_by: s.group, order_by: 'requests', limit: 50 }),
      usage(s, r, { group_by: 'provider,model', order_by: 'errors', limit: 10 }),
      api.get('/v1/errors', { from: r.from, to: r.to, tz: s.tz, where: s.where, limit: 10 }),
    ]);
    const empty = tab.totals.events === 0 ? await emptyState(s, r) : '';
    return { all, per, tab, errs, msgs, empty, span: tab };
  },
  render(m, s, d) {
    m.querySelectorAll('[data-group]').forEach(b => b.setAttribute('aria-pressed', String(b.dataset.group === s.group)));
    m.querySelectorAll('[data-pct]').forEach(b => b.setAttribute('aria-pressed', String(b.dataset.pct === s.pct)));
    $(m, '#pertitle').textContent = `${s.pct} latency by ${s.group}`;
    $(m, '#empty').innerHTML = d.empty;
    const a = series(d.all, null, s.interval, s.tz);
    const cells = a.groups[0] ? a.groups[0].cells : a.xs.map(() => null);
    const v = (c, k) => (c && c[k] != null ? c[k] : null);
    draw($(m, '#latall'), { kind: 'lat', sync: 'latency', tz: s.tz, series: ['p50', 'p95', 'p99'].map(p => ({ label: p, colour: PCT_COLOURS[p] })), yfmt: ms, yticks: msTicks }, [a.xs, ...['p50', 'p95', 'p99'].map(p => cells.map(c => v(c, `latency_${p}_ms`)))]);
    const pr = series(d.per, s.group, s.interval, s.tz, 'requests');
    const gs = pr.groups.slice(0, 8);
    draw($(m, '#latgroup'), { kind: 'latg', sync: 'latency', tz: s.tz, series: gs.map(g => ({ label: g.name, colour: colourOf(g.name) })), yfmt: ms, yticks: msTicks }, [pr.xs, ...gs.map(g => g.cells.map(c => v(c, `latency_${s.pct}_ms`)))]);
    draw($(m, '#errchart'), { kind: 'err', sync: 'latency', tz: s.tz, series: [{ label: 'error rate', colour: '#D55E00' }], yfmt: r => pct(r, 1) }, [a.xs, cells.map(c => (c ? c.error_rate : 0))]);
    $(m, '#lattable').innerHTML = table(
      [
        { label: DIM_NAMES[s.group], cell: r => `<span class="swatch" style="background:${colourOf(name(r, s.group))}"></span>${e(name(r, s.group))}` },
        { label: 'Requests', num: 1, lo: 1, cell: r => countCell(r.requests) },
        { label: 'p50', num: 1, cell: r => ms(r.latency_p50_ms) },
        { label: 'p95', num: 1, cell: r => ms(r.latency_p95_ms) },
        { label: 'p99', num: 1, cell: r => ms(r.latency_p99_ms) },
        { label: 'Mean', num: 1, lo: 1, cell: r => ms(r.latency_avg_ms) },
        { label: 'Error rate', num: 1, lo: 1, cell: r => pct(r.error_rate) },
      ],
      d.tab.rows.map(r => ({ row: r })),
      { caption: `Latency by ${s.group} over the range` },
    );
    $(m, '#toperr').innerHTML = table(
      [
        { label: 'Provider', cell: r => e(name(r, 'provider')) },
        { label: 'Model', cell: r => e(name(r, 'model')) },
        { label: 'Errors', num: 1, cell: r => countCell(r.errors) },
        { label: 'Events', num: 1, cell: r => countCell(r.events) },
        { label: 'Error rate', num: 1, cell: r => pct(r.error_rate) },
      ],
      d.errs.rows.filter(r => r.errors > 0).map(r => ({ row: r })),
      { id: 'toperrors', none: 'No errors in this range.' },
    );
    // By message: the failed calls among the newest events (GET /v1/errors
    // reads at most 5,000), which may not reach back over the whole range.
    const sc = d.msgs.scanned;
    const since = when(sc.since, s.tz);
    $(m, '#errscope').textContent = sc.complete
      ? `All ${int(sc.failed)} failed calls of the range, by status code and message.`
      : `The ${int(sc.failed)} failed calls among the newest ${int(sc.events)} events (since ${since}), by status code and message.`;
    $(m, '#errmsgs').innerHTML = table(
      [
        { label: 'Status', num: 1, cell: r => e(r.status_code ?? '—') },
        { label: 'Error', cell: r => `<span class="errtext" title="${e(r.error)}">${e(r.error || '(no message)')}</span>` },
        { label: 'Count', num: 1, cell: r => countCell(r.count) },
        { label: 'Share', num: 1, lo: 1, cell: r => pct(sc.failed ? r.count / sc.failed : 0, 1) },
        { label: 'Mostly', lo: 1, cell: r => `${e(r.provider || '(none)')} / ${e(r.model || '(none)')}` },
        { label: 'Last', lo: 1, cell: r => e(when(r.last_at, s.tz)) },
      ],
      d.msgs.errors.map(r => ({ row: r })),
      { id: 'errmessages', none: 'No failed calls read.' },
    );
  },
  events(m, app) {
    m.addEventListener('click', ev => {
      const g = ev.target.closest('[data-group]');
      if (g) return app.go({ group: g.dataset.group });
      const p = ev.target.closest('[data-pct]');
      if (p) app.go({ pct: p.dataset.pct });
    });
  },
};

// ---- Users ----

function quotaBars(q) {
  const names = Object.keys(q.limits || {});
  const reset = when(q.reset_at, 'UTC') + ' UTC';
  if (!names.length)
    return `<p class="note" id="noquota">No quota for this user${q.tier ? ` (tier ${e(q.tier)} sets no limits)` : ' (no tier)'}. Set one with <code>tokmeter users set-tier ${e(q.user_id)} TIER</code>.</p>`;
  return (
    `<p class="note">Tier <strong>${e(q.tier || 'none')}</strong>; the period resets ${e(reset)}.</p>` +
    names
      .map(n => {
        const l = q.limits[n];
        const isMoney = n === 'cost_usd';
        const f = x => (isMoney ? money(String(x)) : int(Number(x)));
        const used = Number(l.used), lim = Number(l.limit);
        const share = lim > 0 ? Math.min(used / lim, 1) : 1;
        const tone = share >= 1 ? 'bad' : share >= 0.8 ? 'warnbar' : 'ok';
        return `<div class="quota" data-limit="${e(n)}"><div class="qhead"><span>${e(n)}${l.soft ? ' (soft)' : ''}</span><span class="num">${f(l.used)} of ${f(l.limit)} · <strong>${f(l.remaining)} left</strong></span></div>
        <div class="qbar" role="progressbar" aria-label="${e(n)} used" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${Math.round(share * 100)}"><div class="${tone}" style="width:${(share * 100).toFixed(1)}%"></div></div></div>`;
      })
      .join('')
  );
}

export const users = {
  mount(m) {
    m.innerHTML = `<h1 class="vh">Users</h1><div id="ubody"><p class="loading">Loading…</p></div>`;
  },
  async load(s, app) {
    const user = app.me.user || s.user;
    if (user) {
      const r = range(s);
      const mo = month(s.tz, Math.min(Date.now(), Date.parse(r.to) - 1));
      const [u, q] = await Promise.all([
        api.get(`/v1/users/${encodeURIComponent(user)}/usage`, { period: mo.period, tz: s.tz }),
        api.get(`/v1/users/${encodeURIComponent(user)}/quota`),
      ]);
      return { user, u, q, mo };
    }
    const r = range(s);
    const top = await usage(s, r, { group_by: 'user_id', order_by: 'cost_usd', limit: 50 });
    return { top, empty: top.totals.events === 0 ? await emptyState(s, r) : '', span: top };
  },
  render(m, s, d, app) {
    const body = $(m, '#ubody');
    if (!d.user) {
      body.innerHTML = `<section class="panel"><div class="panel-head"><h2>Top users by cost</h2>
        <form id="openuser" class="inline"><label for="uid">Open a user</label><input id="uid" name="uid" placeholder="user id" required><button type="submit" class="secondary">Open</button></form></div>
        ${table(
          [
            { label: 'User', cell: r => `<a href="${app.link({ view: 'users', user: r.user_id })}">${e(name(r, 'user_id'))}</a>` },
            { label: 'Requests', num: 1, cell: r => countCell(r.requests) },
            { label: 'Tokens', num: 1, lo: 1, cell: r => countCell(r.total_tokens, true) },
            { label: 'Cost', num: 1, cell: r => moneyCell(r.cost_usd) },
            { label: 'Errors', num: 1, lo: 1, cell: r => countCell(r.errors) },
          ],
          d.top.rows.filter(r => r.user_id !== '').map(r => ({ row: r })),
          { id: 'topusers', none: 'No events with a user_id in this range.' },
        )}</section>${d.empty}`;
      return;
    }
    const cp = d.u.current_period;
    // Every day of the month, zeros where the user made no call.
    const have = new Map(d.u.daily_breakdown.map(x => [x.date, x]));
    const days = [];
    for (let t = Date.parse(d.mo.first + 'T00:00:00Z'); t < Date.parse(d.mo.next + 'T00:00:00Z'); t += 86400e3) {
      const day = new Date(t).toISOString().slice(0, 10);
      days.push(have.get(day) || { date: day, requests: 0, tokens: 0, cost: '0' });
    }
    body.innerHTML = `${app.me.user ? '' : `<p><a href="${app.link({ view: 'users', user: '' })}">← All users</a></p>`}
      <h2 class="uname">User <span data-user="${e(d.user)}">${e(d.user)}</span> · ${e(d.u.period)}</h2>
      <section class="cards" id="ucards">${card('requests', 'Requests this period', countCell(cp.requests))}${card('tokens', 'Tokens', countCell(cp.tokens, true))}${card('cost', 'Cost', moneyCell(cp.cost))}${card('limit', 'Request limit', cp.limit == null ? '<span class="num">none</span>' : countCell(cp.limit))}</section>
      <section class="panel"><div class="panel-head"><h2>Quota</h2></div><div id="quota">${quotaBars(d.q)}</div></section>
      <section class="panel"><div class="panel-head"><h2>Daily cost</h2></div><div class="chart" id="udaily"></div>
      ${table(
        [
          { label: 'Date', cell: r => e(r.date) },
          { label: 'Requests', num: 1, cell: r => countCell(r.requests) },
          { label: 'Tokens', num: 1, cell: r => countCell(r.tokens, true) },
          { label: 'Cost', num: 1, cell: r => moneyCell(r.cost) },
        ],
        d.u.daily_breakdown.map(r => ({ row: r })),
        { id: 'udays', caption: 'Daily breakdown (newest first)', none: 'No usage this period.' },
      )}</section>
      <section class="panel"><div class="panel-head"><h2>Top endpoints</h2></div>${table(
        [
          { label: 'Endpoint', cell: r => e(r.endpoint || '(none)') },
          { label: 'Calls', num: 1, cell: r => countCell(r.calls) },
        ],
        d.u.top_endpoints.map(r => ({ row: r })),
        { id: 'uendpoints', none: 'No calls this period.' },
      )}</section>`;
    if (d.u.daily_breakdown.length) {
      const xs = days.map(x => Math.floor(Date.parse(x.date + 'T12:00:00Z') / 1000));
      draw($(m, '#udaily'), { kind: 'udaily', sync: 'user', tz: 'UTC', bars: true, stacked: true, series: [{ label: 'cost', colour: '#0072B2' }], yticks: moneyTicks, vfmt: (i, idx) => money(days[idx].cost) }, [xs, days.map(x => Number(x.cost))]);
    } else $(m, '#udaily').innerHTML = '<p class="note">No usage this period.</p>';
  },
  events(m, app) {
    m.addEventListener('submit', ev => {
      if (ev.target.id !== 'openuser') return;
      ev.preventDefault();
      app.go({ user: ev.target.uid.value.trim() });
    });
  },
};

// ---- Alerts ----

export const alerts = {
  mount(m) {
    m.innerHTML = `<h1 class="vh">Alerts</h1><section class="panel"><div class="panel-head"><h2>Firing now</h2></div><div id="firing"><p class="loading">Loading…</p></div></section>
      <section class="panel"><div class="panel-head"><h2>Recent transitions</h2></div><div id="history"></div></section>`;
  },
  async load(s, app) {
    if (app.me.user) return { bound: app.me.user };
    const [firing, history] = await Promise.all([api.get('/v1/alerts', { firing: 1 }), api.get('/v1/alerts', { limit: 50 })]);
    return { firing, history };
  },
  render(m, s, d) {
    if (d.bound) {
      $(m, '#firing').innerHTML = `<p class="note">This key reads only user ${e(d.bound)}'s usage; alerts cover everyone, so they are not shown.</p>`;
      $(m, '#history').innerHTML = '';
      return;
    }
    const cols = [
      { label: 'At', cell: a => e(when(a.at, s.tz, true)) },
      { label: 'Rule', cell: a => e(a.rule) },
      { label: 'Key', lo: 1, cell: a => e(a.key || '') },
      { label: 'State', cell: a => `<span class="state ${a.state === 'firing' ? 'bad' : 'good'}">${e(a.state)}</span>` },
      { label: 'Metric', lo: 1, cell: a => e(a.metric || '') },
      { label: 'Value', num: 1, lo: 1, cell: a => e(a.value ?? '') },
      { label: 'Threshold', num: 1, lo: 1, cell: a => e(a.op ? `${a.op} ${a.threshold}` : '') },
      { label: 'Message', cell: a => e(a.message || '') },
    ];
    $(m, '#firing').innerHTML = table(cols, d.firing.alerts.map(a => ({ row: a })), { id: 'firingtable', none: 'No alerts are firing.' });
    $(m, '#history').innerHTML = table(cols, d.history.alerts.map(a => ({ row: a })), {
      id: 'historytable',
      none: 'No alert has fired yet. Alert rules live in the config file (docs/alerts.md).',
    });
  },
};

// ---- Live ----

// The last 24 hours by hour, refreshed every few seconds: only the current
// hour is asked again (finished hours do not change), unless the hour has
// turned or the zone's hours are not UTC's.
export const live = {
  fixed: true,
  mount(m) {
    m.innerHTML = `<h1 class="vh">Live</h1><p class="note" aria-live="polite" id="liveinfo">The last 24 hours, hour by hour, refreshed every 5 seconds.</p>
      <section class="cards" id="lcards"><p class="loading">Loading…</p></section>
      <section class="panel"><div class="panel-head"><h2>Requests per hour</h2></div><div class="chart" id="lreq"></div></section>
      <section class="panel"><div class="panel-head"><h2>Cost per hour</h2></div><div class="chart" id="lcost"></div></section><div id="empty"></div>`;
  },
  async load(s, app, prev) {
    const r = range({ ...s, range: '24h' });
    const p = { interval: 'hour' };
    if (prev && prev.to === r.to && prev.tz === s.tz && prev.where === s.where.join('|') && !oddOffset(s.tz)) {
      const hour = iso(Math.floor(Date.now() / 3600e3) * 3600e3);
      const fresh = await usage(s, { from: hour, to: r.to }, p);
      const rows = new Map(prev.rows);
      for (const row of fresh.rows) rows.set(row.period, row);
      return { ...prev, rows, last: fresh, at: Date.now(), incremental: true };
    }
    const full = await usage(s, r, p);
    const hour = iso(Math.floor(Date.now() / 3600e3) * 3600e3);
    const last = await usage(s, { from: hour, to: r.to }, {});
    const empty = full.totals.events === 0 ? await emptyState(s, r) : '';
    return { to: r.to, tz: s.tz, where: s.where.join('|'), resp: full, span: full, rows: new Map(full.rows.map(x => [x.period, x])), last, empty, at: Date.now(), incremental: false };
  },
  render(m, s, d) {
    const resp = { ...d.resp, rows: [...d.rows.values()] };
    const sr = series(resp, null, 'hour', s.tz);
    const cells = sr.groups[0] ? sr.groups[0].cells : sr.xs.map(() => null);
    const sum = resp.rows.reduce((a, r) => add(a, r), null) || add(null, {});
    const lastp95 = d.last.totals ? d.last.totals.latency_p95_ms : null;
    $(m, '#lcards').innerHTML = [
      card('cost_usd', 'Cost, 24 h', moneyCell(sum.cost_pico)),
      card('requests', 'Requests, 24 h', countCell(sum.requests)),
      card('total_tokens', 'Tokens, 24 h', countCell(sum.total_tokens, true)),
      card('errors', 'Errors, 24 h', countCell(sum.errors), null, `<span class="muted">${pct(sum.error_rate)}</span>`),
      card('latency_p95_ms', 'p95 this hour', `<span class="num">${ms(lastp95)}</span>`),
    ].join('');
    $(m, '#liveinfo').textContent = `The last 24 hours, hour by hour, refreshed every 5 seconds. Updated ${new Date(d.at).toLocaleTimeString('en-GB')}.`;
    $(m, '#empty').innerHTML = d.empty;
    draw($(m, '#lreq'), { kind: 'lreq', sync: 'live', tz: s.tz, bars: true, stacked: true, series: [{ label: 'requests', colour: '#0072B2' }], yfmt: v => compact(v), vfmt: (i, idx) => int(cells[idx] ? cells[idx].requests : 0) }, [sr.xs, cells.map(c => (c ? c.requests : 0))]);
    draw($(m, '#lcost'), { kind: 'lcost', sync: 'live', tz: s.tz, bars: true, stacked: true, series: [{ label: 'cost', colour: '#E69F00' }], yticks: moneyTicks, vfmt: (i, idx) => money(costPico(cells[idx])) }, [sr.xs, cells.map(costOf)]);
  },
};

export const VIEW_IMPL = { overview, breakdowns, latency, users, alerts, live };
