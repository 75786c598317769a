// tests/proxy/sdk_test.js — the real SDK clients (openai, @anthropic-ai/sdk,
// pinned in package-lock.json) through tokmeter's proxy, each call compared
// with the same call made straight to the fake upstream.
//
//   TM_URL=http://127.0.0.1:P FAKE_URL=http://127.0.0.1:F node sdk_test.js VIA.json
//
// Checks that the client sees byte for byte what the upstream sent (the
// usage chunk tokmeter asks for never shows), that the SDKs parse it as
// usual, and writes the request ids of the calls made through tokmeter,
// with the attribution they carried, to VIA.json for check_events.py.
'use strict';
const OpenAI = require('openai').default || require('openai');
const Anthropic = require('@anthropic-ai/sdk').default || require('@anthropic-ai/sdk');
const fs = require('fs');

const TM = process.env.TM_URL, FAKE = process.env.FAKE_URL;
let pass = 0, fail = 0;
const via = [];
function check(name, got, want) {
  const g = typeof got === 'string' ? got : JSON.stringify(got);
  const w = typeof want === 'string' ? want : JSON.stringify(want);
  if (g === w) { pass++; return; }
  fail++;
  console.error('FAIL: ' + name + '\n  got:  ' + g.slice(0, 400) + '\n  want: ' + w.slice(0, 400));
}

const attr = { 'X-Tokmeter-User': 'alice', 'X-Tokmeter-Project': 'webapp', 'X-Tokmeter-Operation': 'chat' };
const oaTm = new OpenAI({ apiKey: 'sk-client-key', baseURL: TM + '/openai/v1', maxRetries: 0, defaultHeaders: attr });
const oaDirect = new OpenAI({ apiKey: 'sk-client-key', baseURL: FAKE + '/v1', maxRetries: 0 });
const anTm = new Anthropic({ apiKey: 'sk-ant-client', baseURL: TM + '/anthropic', maxRetries: 0, defaultHeaders: attr });
const anDirect = new Anthropic({ apiKey: 'sk-ant-client', baseURL: FAKE, maxRetries: 0 });

// Every byte of a response body, and whether it ended cleanly.
async function bytes(resp) {
  const chunks = [];
  let clean = true;
  try {
    for await (const c of resp.body) chunks.push(Buffer.from(c));
  } catch (e) { clean = false; }
  return { text: Buffer.concat(chunks).toString(), clean };
}

function rid(resp) { return resp.headers.get('x-request-id') || resp.headers.get('request-id'); }

// The same request made straight and through tokmeter: the same bytes.
async function same(name, direct, through, want = {}) {
  const d = await direct().asResponse();
  const t = await through().asResponse();
  const db = await bytes(d), tb = await bytes(t);
  check(name + ': status', t.status, d.status);
  check(name + ': content-type', t.headers.get('content-type'), d.headers.get('content-type'));
  if (want.cut) {
    // A client may drop what it had buffered when the connection breaks,
    // so a cut answer is compared as a prefix of the other, and both are
    // seen as cut.
    const [short, long] = tb.text.length < db.text.length ? [tb.text, db.text] : [db.text, tb.text];
    check(name + ': the bytes before the cut agree', long.startsWith(short), true);
    check(name + ': seen as cut, through tokmeter', tb.clean, false);
  } else {
    check(name + ': body byte for byte', tb.text, db.text);
    check(name + ': ended cleanly alike', tb.clean, db.clean);
  }
  delete want.cut;
  check(name + ': request id passed back', /^req_/.test(rid(t) || ''), true);
  via.push(Object.assign({ rid: rid(t), name, user: 'alice', project: 'webapp', operation: 'chat' }, want));
  return tb;
}

const msg = (s) => [{ role: 'user', content: s }];

// The SDKs raise on an error status without the raw body: compare those
// with plain fetch, the SDK's own headers aside.
async function sameRaw(name, path, body, anthropicApi) {
  const h = { 'content-type': 'application/json' };
  const key = anthropicApi ? { 'x-api-key': 'sk-ant-client', 'anthropic-version': '2023-06-01' } : { authorization: 'Bearer sk-client-key' };
  const post = (base) => fetch(base + path, { method: 'POST', headers: Object.assign({}, h, key, base === FAKE ? {} : attr), body: JSON.stringify(body) });
  const d = await post(FAKE), t = await post(TM + (anthropicApi ? '/anthropic' : '/openai'));
  const db = await bytes(d), tb = await bytes(t);
  check(name + ': status', t.status, d.status);
  const ids = (x) => x.replace(/req_[0-9_]+/g, 'req_ID'); // the request ids differ
  check(name + ': body byte for byte (request ids aside)', ids(tb.text), ids(db.text));
  via.push({ rid: rid(t), name, user: 'alice', project: 'webapp', operation: 'chat' });
}

async function openai() {
  await same('chat JSON', () => oaDirect.chat.completions.create({ model: 'gpt-test', messages: msg('one') }),
    () => oaTm.chat.completions.create({ model: 'gpt-test', messages: msg('one') }));
  const plain = await same('chat stream, usage not asked',
    () => oaDirect.chat.completions.create({ model: 'gpt-test', messages: msg('two'), stream: true }),
    () => oaTm.chat.completions.create({ model: 'gpt-test', messages: msg('two'), stream: true }));
  check('no usage member reaches the client', plain.text.includes('usage'), false);
  const asked = await same('chat stream, usage asked by the client',
    () => oaDirect.chat.completions.create({ model: 'gpt-test', messages: msg('three'), stream: true, stream_options: { include_usage: true } }),
    () => oaTm.chat.completions.create({ model: 'gpt-test', messages: msg('three'), stream: true, stream_options: { include_usage: true } }));
  check('the asked-for usage chunk reaches the client', asked.text.includes('"choices":[],"usage":{'), true);
  await same('chat stream, slow', () => oaDirect.chat.completions.create({ model: 'gpt-slow', messages: msg('four'), stream: true }),
    () => oaTm.chat.completions.create({ model: 'gpt-slow', messages: msg('four'), stream: true }));
  await same('chat stream, cut mid-way', () => oaDirect.chat.completions.create({ model: 'gpt-cut', messages: msg('five'), stream: true }),
    () => oaTm.chat.completions.create({ model: 'gpt-cut', messages: msg('five'), stream: true }), { cut: true });
  await same('chat JSON, cut mid-way', () => oaDirect.chat.completions.create({ model: 'gpt-cut', messages: msg('six') }),
    () => oaTm.chat.completions.create({ model: 'gpt-cut', messages: msg('six') }), { cut: true });
  await sameRaw('chat error 404', '/v1/chat/completions', { model: 'gpt-error', messages: msg('seven') });
  await same('responses JSON', () => oaDirect.responses.create({ model: 'gpt-resp', input: 'eight' }),
    () => oaTm.responses.create({ model: 'gpt-resp', input: 'eight' }));
  await same('responses stream', () => oaDirect.responses.create({ model: 'gpt-resp', input: 'nine', stream: true }),
    () => oaTm.responses.create({ model: 'gpt-resp', input: 'nine', stream: true }));
  await same('responses stream, error event', () => oaDirect.responses.create({ model: 'gpt-midfail', input: 'nine b', stream: true }),
    () => oaTm.responses.create({ model: 'gpt-midfail', input: 'nine b', stream: true }));
  await same('embeddings', () => oaDirect.embeddings.create({ model: 'text-embedding-test', input: 'ten' }),
    () => oaTm.embeddings.create({ model: 'text-embedding-test', input: 'ten' }));
  await same('completions', () => oaDirect.completions.create({ model: 'gpt-instruct-test', prompt: 'eleven' }),
    () => oaTm.completions.create({ model: 'gpt-instruct-test', prompt: 'eleven' }));

  // The SDK as an application uses it: parsed answers, iterated streams.
  const { data, response } = await oaTm.chat.completions.create({ model: 'gpt-test', messages: msg('twelve'), user: 'bob' },
    { headers: { 'X-Tokmeter-User': null } }).withResponse();
  check('SDK: parsed content', data.choices[0].message.content, 'Hello from the fake upstream.');
  check('SDK: usage as the upstream said', data.usage.prompt_tokens > 0, true);
  via.push({ rid: rid(response), name: 'user from the body', user: 'bob', project: 'webapp', operation: 'chat' });
  const s = await oaTm.chat.completions.create({ model: 'gpt-test', messages: msg('thirteen'), stream: true }).withResponse();
  let text = '', n = 0, usageSeen = false;
  for await (const c of s.data) { n++; text += c.choices[0] ? c.choices[0].delta.content || '' : ''; if ('usage' in c) usageSeen = true; }
  check('SDK stream: the text', text, 'Hello from the fake upstream.');
  check('SDK stream: the chunks the upstream sends unasked', n, 8);
  check('SDK stream: no usage member in any chunk', usageSeen, false);
  via.push({ rid: rid(s.response), name: 'SDK stream', user: 'alice', project: 'webapp', operation: 'chat' });
  let err = null;
  try { await oaTm.chat.completions.create({ model: 'gpt-error', messages: msg('fourteen') }); } catch (e) { err = e; }
  check('SDK: the upstream error as the SDK raises it', err && [err.constructor.name, err.status, err.code], ['NotFoundError', 404, 'model_not_found']);
  if (err) via.push({ rid: err.requestID || (err.headers && (err.headers.get ? err.headers.get('x-request-id') : err.headers['x-request-id'])), name: 'SDK error', user: 'alice', project: 'webapp', operation: 'chat' });
  err = null;
  try {
    const st = await oaTm.chat.completions.create({ model: 'gpt-cut', messages: msg('fifteen'), stream: true });
    for await (const c of st) void c;
  } catch (e) { err = e; }
  check('SDK stream cut: the SDK raises', err !== null, true);
}

async function anthropic() {
  await same('messages JSON', () => anDirect.messages.create({ model: 'claude-test', max_tokens: 64, messages: msg('a one') }),
    () => anTm.messages.create({ model: 'claude-test', max_tokens: 64, messages: msg('a one') }));
  await same('messages stream', () => anDirect.messages.create({ model: 'claude-test', max_tokens: 64, messages: msg('a two'), stream: true }),
    () => anTm.messages.create({ model: 'claude-test', max_tokens: 64, messages: msg('a two'), stream: true }));
  await same('messages stream, slow', () => anDirect.messages.create({ model: 'claude-slow', max_tokens: 64, messages: msg('a three'), stream: true }),
    () => anTm.messages.create({ model: 'claude-slow', max_tokens: 64, messages: msg('a three'), stream: true }));
  await same('messages stream, cut mid-way', () => anDirect.messages.create({ model: 'claude-cut', max_tokens: 64, messages: msg('a four'), stream: true }),
    () => anTm.messages.create({ model: 'claude-cut', max_tokens: 64, messages: msg('a four'), stream: true }), { cut: true });
  await same('messages stream, error event', () => anDirect.messages.create({ model: 'claude-midfail', max_tokens: 64, messages: msg('a four b'), stream: true }),
    () => anTm.messages.create({ model: 'claude-midfail', max_tokens: 64, messages: msg('a four b'), stream: true }));
  await sameRaw('messages error 529', '/v1/messages', { model: 'claude-error', max_tokens: 64, messages: msg('a five') }, true);
  const st = anTm.messages.stream({ model: 'claude-test', max_tokens: 64, messages: msg('a six') });
  const final = await st.finalMessage();
  check('SDK stream: final text', final.content[0].text, 'Hello from the fake upstream.');
  check('SDK stream: output tokens from message_delta', final.usage.output_tokens > 1, true);
  via.push({ rid: final.id && st.request_id, name: 'Anthropic SDK stream', user: 'alice', project: 'webapp', operation: 'chat' });
  let err = null;
  try { await anTm.messages.create({ model: 'claude-error', max_tokens: 64, messages: msg('a seven') }); } catch (e) { err = e; }
  check('SDK: overloaded as the SDK raises it', err && [err.status, err.error && err.error.error && err.error.error.type], [529, 'overloaded_error']);
}

(async () => {
  try {
    await openai();
    await anthropic();
  } catch (e) {
    fail++;
    console.error('FAIL: the SDK run threw: ' + (e.stack || e));
  }
  fs.writeFileSync(process.argv[2], JSON.stringify(via.filter((v) => v.rid), null, 1));
  console.log('sdk: ' + pass + ' passed, ' + fail + ' failed (' + via.length + ' calls through tokmeter)');
  process.exit(fail ? 1 : 0);
})();
