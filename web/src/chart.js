// chart.js — time-series charts on uPlot: lines, or bars stacked by group
// (the legend toggles a group, by mouse or by keyboard: each entry is a
// toggle button, and the stack is rebuilt), a crosshair shared
// by the charts of a view, resized with their box, and updated in place so
// a refresh never blanks a chart. Also the tables' SVG sparklines.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { when } from './fmt.js';

function theme() {
  const cs = getComputedStyle(document.documentElement);
  return { fg: cs.getPropertyValue('--muted').trim() || '#666', grid: cs.getPropertyValue('--grid').trim() || '#ddd' };
}

function stack(raw, shown) {
  const out = [];
  let acc = raw[0] ? raw[0].map(() => 0) : [];
  raw.forEach((s, i) => {
    if (shown[i]) acc = acc.map((a, k) => a + (s[k] || 0));
    out.push(acc.slice());
  });
  return out;
}

// el: a box; o: { sync, tz, series: [{label, colour}] (stack bottom first),
// stacked, bars, yfmt (for the axis and legend when yticks and vfmt are
// not given), yticks(values) for the axis,
// vfmt(seriesIndex, pointIndex) for the legend,
// height }. data: [xs (seconds), ...one array per series].
export function draw(el, o, data) {
  const sig = JSON.stringify([o.series.map(s => s.label), o.stacked, o.bars, o.tz, o.kind]);
  const c = el._chart;
  if (c && c.sig === sig) {
    c.raw = data;
    c.o = o;
    c.u.setData(c.view());
    return;
  }
  if (c) {
    c.ro.disconnect();
    c.u.destroy();
  }
  el.textContent = '';
  const t = theme();
  const n = o.series.length;
  const st = { sig, raw: data, o, shown: o.series.map(() => true) };
  // uPlot paints series in order: a stack is given top first.
  const order = o.stacked ? o.series.map((_, i) => n - 1 - i) : o.series.map((_, i) => i);
  st.view = () => {
    const raw = st.raw.slice(1);
    const ys = o.stacked ? stack(raw, st.shown) : raw;
    return [st.raw[0], ...order.map(i => ys[i])];
  };
  const bars = o.bars ? uPlot.paths.bars({ size: [0.7, 48], align: 0 }) : undefined;
  const series = [{ value: (u, v) => (v == null ? '' : when(v * 1e3, o.tz)) }];
  order.forEach(i => {
    const s = o.series[i];
    series.push({
      label: s.label,
      stroke: s.colour,
      width: o.bars ? 0 : 2,
      dash: s.dash,
      fill: o.stacked ? s.colour : undefined,
      paths: bars,
      points: { show: false },
      spanGaps: false,
      value: (u, v, si, idx) => (idx == null ? '' : st.o.vfmt ? st.o.vfmt(i, idx) : st.o.yfmt(v)),
    });
  });
  const opts = {
    width: Math.max(el.clientWidth, 200),
    height: o.height || 260,
    tzDate: ts => uPlot.tzDate(new Date(ts * 1e3), o.tz),
    cursor: { sync: { key: o.sync || 'tm', setSeries: false }, focus: { prox: 16 } },
    legend: { live: true },
    focus: { alpha: 0.6 },
    scales: { x: { time: true, range: (u, lo, hi) => (lo === hi ? [lo - 43200, hi + 43200] : [lo, hi]) }, y: { range: (u, lo, hi) => [0, hi > 0 ? hi * 1.08 : 1] } },
    axes: [
      { stroke: t.fg, grid: { stroke: t.grid, width: 1 }, ticks: { stroke: t.grid } },
      { stroke: t.fg, grid: { stroke: t.grid, width: 1 }, ticks: { stroke: t.grid }, size: 70, values: (u, vals) => (o.yticks ? o.yticks(vals) : vals.map(v => o.yfmt(v))) },
    ],
    series,
    hooks: {
      setSeries: [
        (u, si) => {
          pressed(u);
          if (!o.stacked || si == null) return;
          st.shown[order[si - 1]] = u.series[si].show;
          u.setData(st.view());
        },
      ],
    },
  };
  st.u = new uPlot(opts, st.view(), el);
  keyboardLegend(st.u);
  st.ro = new ResizeObserver(() => {
    const w = Math.max(el.clientWidth, 200);
    if (Math.abs(w - st.u.width) > 2) st.u.setSize({ width: w, height: opts.height });
  });
  st.ro.observe(el);
  el._chart = st;
}

// The legend's entries (uPlot toggles a series on a click of its label) as
// toggle buttons: reached by Tab, Enter or Space toggles, aria-pressed says
// whether the series is shown.
function legendLabels(u) {
  return [...u.root.querySelectorAll('.u-legend tr.u-series > th')];
}

function pressed(u) {
  legendLabels(u).forEach((th, i) => i > 0 && th.setAttribute('aria-pressed', String(!!u.series[i].show)));
}

function keyboardLegend(u) {
  legendLabels(u).forEach((th, i) => {
    if (i === 0) return; // the time column
    th.tabIndex = 0;
    th.setAttribute('role', 'button');
    th.addEventListener('keydown', ev => {
      if (ev.key !== 'Enter' && ev.key !== ' ') return;
      ev.preventDefault();
      u.setSeries(i, { show: !u.series[i].show });
    });
  });
  pressed(u);
}

// A small line for a table row (values ≥ 0), as SVG markup.
export function sparkline(values, colour) {
  const w = 96, h = 22;
  const max = Math.max(...values, 0);
  if (!values.length) return '';
  const step = values.length > 1 ? w / (values.length - 1) : 0;
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - (max > 0 ? (v / max) * (h - 4) : 0)).toFixed(1)}`);
  return `<svg class="spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" aria-hidden="true"><polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${pts.join(' ')}"/></svg>`;
}
