// api.js — the dashboard's only way to the daemon: GET the HTTP API
// (docs/api.md) with the key from session storage, and errors in words.

const KEY = 'tokmeter.key';
const MONEY = /("(?:cost_usd|cost|total_cost_usd)":\s*)(-?\d[\d.eE+-]*)/g;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const key = {
  get: () => sessionStorage.getItem(KEY) || '',
  set: k => sessionStorage.setItem(KEY, k),
  clear: () => sessionStorage.removeItem(KEY),
};

let askKey = null; // set by the app: () => Promise that resolves once a key is entered

export function onKeyNeeded(fn) {
  askKey = fn;
}

export function query(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach(x => q.append(k, x));
    else q.append(k, v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

// Money stays exact: cost fields are parsed as their decimal text.
export function parse(text) {
  return JSON.parse(text.replace(MONEY, '$1"$2"'));
}

export async function get(path, params, retried) {
  const url = query(path, params);
  const headers = { Accept: 'application/json' };
  const k = key.get();
  if (k) headers.Authorization = 'Bearer ' + k;
  let resp, text;
  try {
    resp = await fetch(url, { headers });
    text = await resp.text();
  } catch (e) {
    throw new ApiError(0, 'unreachable', `Can't reach the tokmeter daemon at ${location.origin}: is \`tokmeter serve\` running? (${e.message})`);
  }
  let body = null;
  try {
    body = parse(text);
  } catch (e) {
    throw new ApiError(resp.status, 'bad_response', `${url} answered HTTP ${resp.status} with something that is not JSON`);
  }
  if (resp.status === 401 && askKey && !retried) {
    await askKey(body && body.error ? body.error.message : '');
    return get(path, params, true);
  }
  if (!resp.ok) {
    const err = (body && body.error) || {};
    throw new ApiError(resp.status, err.code || 'http_' + resp.status, err.message || `HTTP ${resp.status}`);
  }
  return body;
}

// An error for people: what the server said, and what to do about 403s.
export function describe(e) {
  if (!(e instanceof ApiError)) return String(e && e.message ? e.message : e);
  if (e.status === 403) return `This key may not see this: ${e.message}.`;
  if (e.status === 0) return e.message;
  return `The server answered ${e.status} (${e.code}): ${e.message}`;
}
