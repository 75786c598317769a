// state.js — the page's state, all of it in the URL's fragment so a view
// can be bookmarked and shared (#view=overview&range=7d&where=model:gpt-4o),
// and the time arithmetic that turns it into API ranges and period labels.

export const VIEWS = [
  ['overview', 'Overview'],
  ['breakdowns', 'Breakdowns'],
  ['latency', 'Latency & errors'],
  ['users', 'Users'],
  ['alerts', 'Alerts'],
  ['live', 'Live'],
];
export const PRESETS = { '24h': 24, '7d': 168, '30d': 720, '90d': 2160 };
export const INTERVALS = ['hour', 'day', 'week', 'month'];
export const DIMS = ['provider', 'model', 'user_id', 'endpoint', 'operation', 'project'];
export const DIM_NAMES = { provider: 'Provider', model: 'Model', user_id: 'User', endpoint: 'Endpoint', operation: 'Operation', project: 'Project' };
const DEFAULT_INTERVAL = { '24h': 'hour', '7d': 'day', '30d': 'day', '90d': 'week' };

export function localZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch (e) {
    return 'UTC';
  }
}

export function read() {
  const p = new URLSearchParams(location.hash.slice(1));
  const s = {
    view: p.get('view') || 'overview',
    range: p.get('range') || '7d',
    from: p.get('from') || '',
    to: p.get('to') || '',
    interval: p.get('interval') || '',
    tz: p.get('tz') || localZone(),
    group: p.get('group') || 'provider',
    dim: p.get('dim') || 'provider',
    sort: p.get('sort') || 'cost_usd',
    dir: p.get('dir') === 'asc' ? 'asc' : 'desc',
    user: p.get('user') || '',
    pct: p.get('pct') || 'p95',
    where: p.getAll('where').filter(w => /^[a-z_]+:/.test(w)),
  };
  if (!VIEWS.some(v => v[0] === s.view)) s.view = 'overview';
  if (s.range !== 'custom' && !PRESETS[s.range]) s.range = '7d';
  if (s.range === 'custom' && (!s.from || !s.to)) s.range = '7d';
  if (!INTERVALS.includes(s.interval)) s.interval = DEFAULT_INTERVAL[s.range] || 'day';
  if (!['provider', 'model'].includes(s.group)) s.group = 'provider';
  if (!DIMS.includes(s.dim)) s.dim = 'provider';
  return s;
}

export function write(s) {
  const p = new URLSearchParams();
  p.set('view', s.view);
  p.set('range', s.range);
  if (s.range === 'custom') {
    p.set('from', s.from);
    p.set('to', s.to);
  }
  p.set('interval', s.interval);
  p.set('tz', s.tz);
  if (s.view === 'overview' || s.view === 'latency') p.set('group', s.group);
  if (s.view === 'latency') p.set('pct', s.pct);
  if (s.view === 'breakdowns') {
    p.set('dim', s.dim);
    p.set('sort', s.sort);
    p.set('dir', s.dir);
  }
  if (s.view === 'users' && s.user) p.set('user', s.user);
  s.where.forEach(w => p.append('where', w));
  return '#' + p.toString().replace(/%3A/g, ':').replace(/%2F/g, '/');
}

const HOUR = 3600e3;

// The range the API is asked for. 24h: the 24 hours up to the next whole
// hour (read from hourly rollups; a refresh keeps the range for the hour).
// 7d, 30d, 90d: that many whole days in the zone, today the last of them,
// as dates the server resolves in the zone (so the first day is not cut,
// and in UTC they are read from whole-day rollups, by user too). Custom
// ranges: dates or times as typed, resolved the same way.
export function range(s, now = Date.now()) {
  if (s.range === 'custom') return { from: s.from, to: s.to, custom: true };
  if (s.range === '24h') {
    const to = Math.ceil((now + 1) / HOUR) * HOUR;
    return { from: iso(to - PRESETS[s.range] * HOUR), to: iso(to), custom: false };
  }
  let p;
  try {
    p = parts(s.tz, now);
  } catch (e) {
    p = parts('UTC', now); // a zone the browser does not know: the server says what is wrong
  }
  const day = n => new Date(Date.UTC(+p.year, +p.month - 1, +p.day + n)).toISOString().slice(0, 10);
  return { from: day(1 - PRESETS[s.range] / 24), to: day(1), custom: false };
}

export function iso(t) {
  return new Date(t).toISOString().replace(/\.000Z$/, 'Z');
}

const fmts = new Map();
function parts(tz, t) {
  let f = fmts.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
    fmts.set(tz, f);
  }
  const o = {};
  for (const x of f.formatToParts(new Date(t))) o[x.type] = x.value;
  return o;
}

// The API's period label for the instant t (docs/queries.md: hours
// "2026-10-01T13:00", days "2026-10-01", weeks the Monday, months "2026-10").
export function label(interval, tz, t) {
  const p = parts(tz, t);
  if (interval === 'hour') return `${p.year}-${p.month}-${p.day}T${p.hour}:00`;
  if (interval === 'day') return `${p.year}-${p.month}-${p.day}`;
  if (interval === 'month') return `${p.year}-${p.month}`;
  const d = new Date(Date.UTC(+p.year, +p.month - 1, +p.day));
  d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  return d.toISOString().slice(0, 10);
}

// Every period of [from, to) in order, with the instant it starts on the
// chart (the range's start for a period cut by it): empty periods are zeros.
export function periods(interval, tz, from, to) {
  const out = [];
  const seen = new Set();
  const a = Date.parse(from), b = Date.parse(to);
  for (let t = a; t < b; t += HOUR / 2) {
    const l = label(interval, tz, t);
    if (!seen.has(l)) {
      seen.add(l);
      out.push({ label: l, t });
    }
  }
  return out;
}

// The month containing the instant, in the zone, as dates the API resolves
// there: { this: "2026-12-01", next: "2027-01-01", period: "2026-12" }.
export function month(tz, t = Date.now()) {
  const p = parts(tz, t);
  const y = +p.year, m = +p.month;
  const ny = m === 12 ? y + 1 : y, nm = m === 12 ? 1 : m + 1;
  const pad = n => String(n).padStart(2, '0');
  return { first: `${y}-${pad(m)}-01`, next: `${ny}-${pad(nm)}-01`, period: `${y}-${pad(m)}` };
}

// Minutes the zone is off UTC now is not a multiple of 60 (Asia/Kolkata).
export function oddOffset(tz, t = Date.now()) {
  return parts(tz, t).minute !== parts('UTC', t).minute;
}
