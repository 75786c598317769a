// app.js — the dashboard's shell: the key prompt, the header's controls
// (range, interval, zone, filters), the URL as the state, and the loop that
// loads and renders the current view (Live refreshes itself).
import * as api from './api.js';
import { escapeHtml as e, when } from './fmt.js';
import * as st from './state.js';
import { VIEW_IMPL, bindUser } from './views.js';
import './style.css';

const $ = id => document.getElementById(id);
const app = { state: null, me: { scope: null, user: null }, gen: 0, data: null, dataKey: '', mounted: '' };
window.tokmeter = app; // for the browser tests: timings and the state

// ---- the key prompt ----

function askKey(msg) {
  return new Promise(resolve => {
    const dlg = $('keydlg');
    $('keyerr').textContent = msg && api.key.get() ? `That key was not accepted: ${msg}` : '';
    $('keyinput').value = '';
    const done = ev => {
      ev.preventDefault();
      const k = $('keyinput').value.trim();
      if (!k) return;
      api.key.set(k);
      $('keyform').removeEventListener('submit', done);
      dlg.close();
      resolve();
    };
    $('keyform').addEventListener('submit', done);
    if (!dlg.open) dlg.showModal();
    $('keyinput').focus();
  });
}
api.onKeyNeeded(askKey);
// Escape would leave a page that can read nothing: the prompt stays.
$('keydlg').addEventListener('cancel', ev => ev.preventDefault());

async function whoami() {
  for (;;) {
    try {
      const r = await api.get('/v1/me');
      return r.key;
    } catch (err) {
      if (err.status !== 401) throw err;
      await askKey(err.message);
    }
  }
}

// ---- the state ----

// A key bound to one user sees that user only: the filter is fixed.
function normalise(s) {
  const u = app.me.user;
  if (!u) return s;
  const asked = s.user && s.user !== u ? s.user : s.where.find(w => w.startsWith('user_id:') && w !== 'user_id:' + u)?.slice(8);
  app.notice = asked ? `This key may read only user ${u}'s usage, so ${asked}'s is not shown.` : '';
  s.where = ['user_id:' + u, ...s.where.filter(w => !w.startsWith('user_id:'))];
  if (s.view === 'users') s.user = u;
  return s;
}

app.link = patch => st.write({ ...app.state, ...patch });
app.go = patch => {
  location.hash = app.link(patch);
};
app.filter = (dim, value) => {
  const w = `${dim}:${value}`;
  if (!app.state.where.includes(w)) app.go({ where: [...app.state.where.filter(x => !x.startsWith(dim + ':')), w] });
};

// ---- the header ----

let zones = null;
function controls(s) {
  const live = VIEW_IMPL[s.view].fixed;
  const r = st.range(s);
  const presets = Object.keys(st.PRESETS)
    .map(p => `<button type="button" data-range="${p}" aria-pressed="${s.range === p}">${p}</button>`)
    .join('');
  const d = x => (x ? x.slice(0, 10) : '');
  const c = $('controls');
  c.innerHTML = `<div class="ctl" role="group" aria-label="Time range">${presets}<button type="button" data-range="custom" aria-pressed="${s.range === 'custom'}" aria-expanded="${s.range === 'custom'}">Custom</button></div>
    <div class="ctl custom" ${s.range === 'custom' || c.dataset.custom ? '' : 'hidden'}><label>From <input type="date" id="cfrom" value="${e(d(r.from))}"></label><label>To <input type="date" id="cto" value="${e(d(r.to))}"></label><button type="submit" class="secondary">Apply</button></div>
    <div class="ctl"><label>Interval <select id="interval">${st.INTERVALS.map(i => `<option${i === s.interval ? ' selected' : ''}>${i}</option>`).join('')}</select></label></div>
    <div class="ctl"><label>Time zone <input id="tz" list="zones" value="${e(s.tz)}" size="16" autocomplete="off" spellcheck="false"></label><datalist id="zones"></datalist></div>`;
  c.querySelectorAll('[data-range],#interval').forEach(x => (x.disabled = !!live));
  if (live) c.insertAdjacentHTML('beforeend', '<p class="note ctl">Live shows the last 24 hours by hour.</p>');
  if (!zones) {
    try {
      zones = Intl.supportedValuesOf('timeZone');
    } catch (err) {
      zones = ['UTC'];
    }
  }
  $('zones').innerHTML = ['UTC', ...zones].map(z => `<option value="${e(z)}">`).join('');
  const f = $('filters');
  const chips = s.where
    .map(w => {
      const i = w.indexOf(':');
      const dim = w.slice(0, i), val = w.slice(i + 1);
      const locked = app.me.user && dim === 'user_id';
      return `<span class="chip" data-where="${e(w)}">${e(st.DIM_NAMES[dim] || dim)}: <strong>${e(val === '' ? '(none)' : val)}</strong>${locked ? ' <span class="muted">(this key)</span>' : `<button type="button" class="x" data-unwhere="${e(w)}" aria-label="Remove filter ${e(dim)} ${e(val)}">×</button>`}</span>`;
    })
    .join('');
  f.innerHTML = `${chips}<form id="addfilter" class="inline"><label class="vh" for="fdim">Filter dimension</label><select id="fdim">${st.DIMS.filter(x => !(app.me.user && x === 'user_id'))
    .map(x => `<option value="${x}">${st.DIM_NAMES[x]}</option>`)
    .join('')}</select><label class="vh" for="fval">Filter value</label><input id="fval" list="fvals" placeholder="value" autocomplete="off"><datalist id="fvals"></datalist><button type="submit" class="secondary">Add filter</button>${s.where.length > (app.me.user ? 1 : 0) ? '<button type="button" id="clearf" class="link">Clear filters</button>' : ''}</form>`;
  $('nav').innerHTML = st.VIEWS.map(([v, label]) => `<a href="${app.link({ view: v })}"${v === s.view ? ' aria-current="page"' : ''}>${label}</a>`).join('');
  $('who').innerHTML = app.me.scope ? `key: ${e(app.me.scope)}${app.me.user ? ` · user <strong>${e(app.me.user)}</strong>` : ''} <button type="button" class="link" id="forget">Forget key</button>` : '';
}

async function fillValues() {
  const dim = $('fdim').value;
  try {
    const r = st.range(app.state);
    const resp = await api.get('/v1/usage', { from: r.from, to: r.to, tz: app.state.tz, where: app.state.where, group_by: dim, order_by: 'events', limit: 100 });
    $('fvals').innerHTML = resp.rows.map(x => `<option value="${e(x[dim])}">`).join('');
  } catch (err) {
    /* the list is a convenience */
  }
}

function wireHeader() {
  const c = $('controls');
  c.addEventListener('click', ev => {
    const b = ev.target.closest('[data-range]');
    if (!b) return;
    if (b.dataset.range === 'custom') {
      c.dataset.custom = '1';
      c.querySelector('.custom').hidden = false;
      $('cfrom').focus();
      return;
    }
    delete c.dataset.custom;
    const iv = { '24h': 'hour', '7d': 'day', '30d': 'day', '90d': 'week' }[b.dataset.range];
    app.go({ range: b.dataset.range, interval: app.state.range === b.dataset.range ? app.state.interval : iv });
  });
  c.addEventListener('submit', ev => {
    ev.preventDefault();
    const at = document.activeElement;
    if (at && at.id === 'tz') return setZone(at.value);
    if (!at || !at.closest('.custom')) return;
    const f = $('cfrom').value, t = $('cto').value;
    if (!f || !t || f >= t) return banner('Custom range: pick a From date before the To date.');
    app.go({ range: 'custom', from: f, to: t });
  });
  c.addEventListener('change', ev => {
    if (ev.target.id === 'interval') app.go({ interval: ev.target.value });
    if (ev.target.id === 'tz') setZone(ev.target.value);
  });
  const setZone = v => {
    const z = v.trim();
    if (z === app.state.tz) return;
    try {
      new Intl.DateTimeFormat('en', { timeZone: z }); // the browser knows it (the list may use old names)
      app.go({ tz: z });
    } catch (err) {
      banner(`Time zone: "${z}" is not an IANA zone name (like Europe/Berlin).`);
    }
  };
  const f = $('filters');
  f.addEventListener('click', ev => {
    const x = ev.target.closest('[data-unwhere]');
    if (x) app.go({ where: app.state.where.filter(w => w !== x.dataset.unwhere) });
    if (ev.target.id === 'clearf') app.go({ where: app.state.where.filter(w => app.me.user && w === 'user_id:' + app.me.user) });
  });
  f.addEventListener('focusin', ev => {
    if (ev.target.id === 'fval') fillValues();
  });
  f.addEventListener('change', ev => {
    if (ev.target.id === 'fdim') fillValues();
  });
  f.addEventListener('submit', ev => {
    ev.preventDefault();
    app.filter($('fdim').value, $('fval').value.trim());
  });
  $('who').addEventListener('click', ev => {
    if (ev.target.id !== 'forget') return;
    api.key.clear();
    location.reload();
  });
}

// The range the numbers cover, as the server resolved it.
function spanInfo(span, tz) {
  const el = $('span');
  if (!span) {
    el.textContent = '';
    delete el.dataset.from;
    return;
  }
  const f = t => when(t, tz);
  el.textContent = `${f(span.from)} – ${f(span.to)}`;
  el.title = `[${span.from}, ${span.to}) in ${tz}`;
  el.dataset.from = span.from;
  el.dataset.to = span.to;
}

function banner(msg) {
  const b = $('banner');
  b.textContent = msg || '';
  b.hidden = !msg;
}

// ---- loading and rendering ----

let timer = null;
async function show() {
  const s = normalise(st.read());
  const want = st.write(s);
  if (location.hash !== want) history.replaceState(null, '', want);
  app.state = s;
  const view = VIEW_IMPL[s.view];
  controls(s);
  const main = $('main');
  if (app.mounted !== s.view) {
    view.mount(main);
    if (view.events && !view.wired) {
      view.wired = true;
      view.events(main, app, s.view);
    }
    app.mounted = s.view;
    app.data = null;
  }
  document.title = `tokmeter · ${st.VIEWS.find(v => v[0] === s.view)[1]}`;
  clearTimeout(timer);
  const gen = ++app.gen;
  const key = JSON.stringify({ ...s, sort: 0, dir: 0 });
  const t0 = performance.now();
  try {
    const data = key === app.dataKey && app.data && !view.fixed ? app.data : await view.load(s, app, view.fixed ? app.data : null);
    if (gen !== app.gen) return;
    app.data = data;
    app.dataKey = key;
    view.render(main, s, data, app);
    spanInfo(data.span, s.tz);
    banner(app.notice || '');
    app.rendered = { view: s.view, ms: performance.now() - t0, at: Date.now(), hash: location.hash };
    if (!app.firstRender) app.firstRender = performance.now();
    main.dataset.ready = s.view;
  } catch (err) {
    if (gen !== app.gen) return;
    banner(api.describe(err));
    app.rendered = { view: s.view, error: err.message, at: Date.now(), hash: location.hash };
    main.dataset.ready = s.view;
    if (main.querySelector('.loading')) main.querySelectorAll('.loading').forEach(x => (x.textContent = 'Could not load this view (see the message above).'));
  }
  if (view.fixed && gen === app.gen) timer = setTimeout(() => gen === app.gen && show(), 5000);
}

async function start() {
  wireHeader();
  // Views wire their listeners once, on the one <main>.
  try {
    const k = await whoami();
    app.me = { scope: k ? k.scope : null, user: k ? k.user_id : null };
    bindUser(app.me.user);
  } catch (err) {
    banner(api.describe(err));
    $('main').innerHTML = '';
    return;
  }
  window.addEventListener('hashchange', show);
  show();
}

// Views listen on <main>, which is never replaced: each view's listeners act
// only while it is mounted.
const mainEvents = new Set();
for (const [name, v] of Object.entries(VIEW_IMPL)) {
  if (!v.events) continue;
  const orig = v.events.bind(v);
  v.events = (m, a) => {
    if (mainEvents.has(name)) return;
    mainEvents.add(name);
    const guard = new Proxy(m, {
      get(t, p) {
        if (p === 'addEventListener') return (type, fn) => t.addEventListener(type, ev => app.mounted === name && fn(ev));
        const x = t[p];
        return typeof x === 'function' ? x.bind(t) : x;
      },
    });
    orig(guard, a);
  };
}

start();
