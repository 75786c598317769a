// data.js — turning /v1/usage answers into what the views draw: zero-filled
// series per group (top N and "other"), exact money sums, and the totals
// of rows.
import { toPico } from './fmt.js';
import { periods } from './state.js';

export const COUNTS = ['events', 'requests', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens', 'total_tokens', 'unpriced', 'errors'];

// The value of a row's group: one dimension, "" shown as "(none)".
export function name(row, dim) {
  const v = row[dim];
  return v === '' || v === undefined || v === null ? '(none)' : String(v);
}

// A response with interval and one group_by dimension → { xs, labels,
// groups: [{name, total (pico), cells: [row or null per period]}] }, groups
// ordered by `by` (cost_usd as pico, or a count), the largest first.
export function series(resp, dim, interval, tz, by = 'cost_usd') {
  const ps = periods(interval, tz, resp.from, resp.to);
  const ix = new Map(ps.map((p, i) => [p.label, i]));
  const groups = new Map();
  for (const row of resp.rows) {
    const g = dim ? name(row, dim) : 'all';
    let e = groups.get(g);
    if (!e) groups.set(g, (e = { name: g, key: dim ? row[dim] : '', total: 0n, cells: ps.map(() => null) }));
    const i = ix.get(row.period);
    if (i === undefined) continue;
    e.cells[i] = row;
    e.total += by === 'cost_usd' ? toPico(row.cost_usd) : BigInt(row[by] || 0);
  }
  const list = [...groups.values()].sort((a, b) => (b.total > a.total ? 1 : b.total < a.total ? -1 : a.name.localeCompare(b.name)));
  return { xs: ps.map(p => Math.floor(p.t / 1000)), labels: ps.map(p => p.label), groups: list };
}

// The first n groups, and the rest summed into "other" (cost and counts).
export function topN(groups, n) {
  if (groups.length <= n) return groups;
  const top = groups.slice(0, n - 1);
  const rest = groups.slice(n - 1);
  const other = { name: 'other', key: null, total: 0n, cells: rest[0].cells.map(() => null) };
  for (const g of rest) {
    other.total += g.total;
    g.cells.forEach((c, i) => {
      if (!c) return;
      other.cells[i] = add(other.cells[i], c);
    });
  }
  return [...top, other];
}

// Sums of two rows' counts and cost (percentiles cannot be summed).
export function add(a, b) {
  const out = {};
  for (const k of COUNTS) out[k] = (a ? a[k] || 0 : 0) + (b[k] || 0);
  out.cost_pico = (a ? a.cost_pico || toPico(a.cost_usd) : 0n) + toPico(b.cost_usd);
  out.cost_usd = null;
  out.error_rate = out.events ? out.errors / out.events : 0;
  return out;
}

export function costPico(row) {
  return row ? (row.cost_pico !== undefined ? row.cost_pico : toPico(row.cost_usd)) : 0n;
}

export function costOf(row) {
  return row ? Number(costPico(row)) / 1e12 : 0;
}
