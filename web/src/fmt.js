// fmt.js — number formatting for the dashboard, and exact money: the API's
// cost decimals are kept as text (see api.js) and summed as integer
// pico-dollars (BigInt), never as floating point.

const nf = new Intl.NumberFormat('en-US');
const PICO = 1000000000000n;

// "0.00036" → 360000000n (pico-dollars). Exponent forms go through Number.
export function toPico(s) {
  if (s === null || s === undefined || s === '') return 0n;
  s = String(s);
  if (/[eE]/.test(s)) s = Number(s).toFixed(12);
  const neg = s.startsWith('-');
  if (neg) s = s.slice(1);
  const [i, f = ''] = s.split('.');
  const v = BigInt(i || '0') * PICO + BigInt((f + '000000000000').slice(0, 12));
  return neg ? -v : v;
}

// 360000000n → "0.00036": the exact decimal, no trailing zeros.
export function picoToDec(p) {
  const neg = p < 0n;
  if (neg) p = -p;
  const i = p / PICO;
  const f = (p % PICO).toString().padStart(12, '0').replace(/0+$/, '');
  return (neg ? '-' : '') + i.toString() + (f ? '.' + f : '');
}

function groupDigits(s) {
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

// Money for people: $1,234.56 from a cent up; below a cent two significant
// digits ($0.0042). Rounding is half up on the exact value.
export function money(v) {
  const p = typeof v === 'bigint' ? v : toPico(v);
  const neg = p < 0n;
  const a = neg ? -p : p;
  let text;
  if (a === 0n) text = '$0.00';
  else if (a >= 10000000000n) {
    const cents = (a + 5000000000n) / 10000000000n;
    text = '$' + groupDigits((cents / 100n).toString()) + '.' + (cents % 100n).toString().padStart(2, '0');
  } else {
    const digits = a.toString().padStart(12, '0');  // 12 decimal places
    const first = digits.search(/[1-9]/);
    let keep = BigInt(digits.slice(0, first + 2).padEnd(first + 2, '0'));
    if (digits.length > first + 2 && digits[first + 2] >= '5') keep += 1n;
    const dp = first + 2;
    const s = keep.toString().padStart(dp, '0');
    text = '$0.' + s.replace(/0+$/, '');
  }
  return (neg ? '-' : '') + text;
}

export function moneyExact(v) {
  const p = typeof v === 'bigint' ? v : toPico(v);
  return '$' + picoToDec(p);
}

export function int(n) {
  return n === null || n === undefined ? '—' : nf.format(n);
}

// 12,400,000 → "12.4M" (the exact count goes in a tooltip).
export function compact(n) {
  if (n === null || n === undefined) return '—';
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'B';
  if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 1 : 2) + 'M';
  if (a >= 1e5) return (n / 1e3).toFixed(0) + 'K';
  return nf.format(n);
}

export function pct(r, digits = 2) {
  return r === null || r === undefined ? '—' : (r * 100).toFixed(digits) + '%';
}

export function ms(v) {
  if (v === null || v === undefined) return '—';
  if (v >= 10000) return (v / 1000).toFixed(1) + ' s';
  if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
  return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + ' ms';
}

// A moment as the page writes it everywhere ("2 Nov 2026, 00:00"), in zone tz;
// with seconds when they matter (alert transitions).
export function when(t, tz, seconds = false) {
  return new Date(t).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: seconds ? 'medium' : 'short', timeZone: tz });
}

// An axis's milliseconds in one unit: seconds when the top tick is a second
// or more (as ms() writes it), so 0 reads "0.00 s" beside "1.00 s".
export function msTicks(vals) {
  const top = Math.max(0, ...vals.filter(v => v != null));
  if (top < 1000) return vals.map(ms);
  const digits = top >= 10000 ? 1 : 2;
  return vals.map(v => (v == null ? '' : (v / 1000).toFixed(digits) + ' s'));
}

// An axis's dollars with one number of decimals, as many as the step
// between its ticks needs and at least two below a dollar: "$0.10" beside
// "$0.08" (not "$0.080"), "$0.005" beside "$0.010", "$1,500" beside "$2,000".
export function moneyTicks(vals) {
  const vs = vals.filter(v => v != null);
  const step = vs.length > 1 ? Math.abs(vs[1] - vs[0]) : 0;
  const whole = x => Math.abs(x - Math.round(x)) < 1e-6 * Math.max(1, Math.abs(x));
  let d = 0;
  if (!(step >= 1 && whole(step) && vs.every(whole))) {
    d = 2;
    while (d < 8 && !whole(step * 10 ** d)) d++;
  }
  return vals.map(v => (v == null ? '' : '$' + v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })));
}

// The change against the previous period: text, and whether it is good.
// up_is_bad: more cost or errors is bad; more requests is neither.
export function delta(cur, prev, upIsBad) {
  if (prev === null || prev === undefined || cur === null || cur === undefined) return null;
  const c = Number(cur), p = Number(prev);
  if (p === 0) return c === 0 ? { text: '±0%', tone: 'flat' } : { text: 'new', tone: 'flat' };
  const r = (c - p) / p;
  const arrow = r > 0 ? '▲' : r < 0 ? '▼' : '±';
  const tone = upIsBad === null || r === 0 ? 'flat' : (r > 0) === upIsBad ? 'bad' : 'good';
  return { text: `${arrow} ${Math.abs(r * 100).toFixed(1)}%`, tone };
}

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// Okabe–Ito (its yellow, too faint on white, swapped for a violet): colour-
// blind safe; a name always gets the same colour (a hash of it).
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#8C6BB1'];
export const OTHER_COLOUR = '#999999';
export function colourOf(name) {
  if (name === 'other') return OTHER_COLOUR;
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return PALETTE[(h >>> 0) % PALETTE.length];
}

// RFC 4180 CSV; a cell starting with = + - @ (or a tab/CR) is prefixed with
// ' so a spreadsheet shows it as text, not a formula.
export function csv(rows) {
  const cell = v => {
    let s = v === null || v === undefined ? '' : String(v);
    if (/^[=+\-@\t\r]/.test(s) && !/^-?\d/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  return rows.map(r => r.map(cell).join(',')).join('\r\n') + '\r\n';
}
