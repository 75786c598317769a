// tests/proxy/fake_upstream.js — a stand-in for the OpenAI and Anthropic
// APIs on loopback, for tests/cli/proxy.sh and bench/proxy.sh.
//
//   node fake_upstream.js PORTFILE LOGFILE
//
// Listens on a free port (written to PORTFILE) and answers like each
// provider: JSON and SSE, errors, slow streams, streams cut mid-way. The
// answer is chosen by the requested model's name (…error…, …slow…, …cut…,
// …midfail…: an error event inside a 200 stream, …hang…: never answers)
// and is deterministic: the same request gets the same bytes, so a test can
// compare what a client got through tokmeter with what it gets directly.
// Each answer is logged (LOGFILE, one JSON line) with the request id and
// the token buckets tokmeter should record for it.
//
// Test hooks: GET /__count (requests received), GET /__last (the last
// request's headers and body). /bench/json and /bench/sse are small fixed
// answers for the overhead benchmark.
'use strict';
const http = require('http');
const fs = require('fs');

const [portFile, logFile] = process.argv.slice(2);
let seq = 0, count = 0, last = null;
const log = logFile ? fs.openSync(logFile, 'a') : null;
const record = (o) => { if (log !== null) fs.writeSync(log, JSON.stringify(o) + '\n'); };

// Token numbers that depend on the request, so each call's usage differs.
function tokens(body) {
  const n = JSON.stringify(body.messages || body.input || body.prompt || '').length;
  return { prompt: 10 + n, cached: n % 7, completion: 20 + (n % 13), reasoning: n % 5 };
}

const CHAT_WORDS = ['Hello', ' from', ' the', ' fake', ' upstream', '.'];

function sse(res, status, headers, events, opts, done) {
  res.writeHead(status, Object.assign({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' }, headers));
  let i = 0;
  const step = () => {
    if (opts.cutAfter !== undefined && i === opts.cutAfter) {
      // mid-stream, once what was written has left: no terminating chunk
      setTimeout(() => res.socket.destroy(), 50);
      return done();
    }
    if (i === events.length) { res.end(); return done(); }
    res.write(events[i++]);
    if (opts.delay) setTimeout(step, opts.delay); else step();
  };
  step();
}

function openaiChat(req, res, body, rid) {
  const t = tokens(body), model = body.model + '-2025-06-01', id = 'chatcmpl-' + body.model;
  const usage = { prompt_tokens: t.prompt, completion_tokens: t.completion, total_tokens: t.prompt + t.completion,
    prompt_tokens_details: { cached_tokens: t.cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: t.reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } };
  const expect = { input_tokens: t.prompt - t.cached, cache_read_tokens: t.cached, cache_write_tokens: 0,
    output_tokens: t.completion, reasoning_tokens: t.reasoning };
  const hdr = { 'x-request-id': rid, 'openai-processing-ms': '12' };
  const entry = { rid, provider: 'openai', path: req.url, model, user: null, expect, status: 200, success: true };
  if (body.model.includes('error')) {
    const err = JSON.stringify({ error: { message: 'The model does not exist or you do not have access to it.', type: 'invalid_request_error', param: 'model', code: 'model_not_found' } });
    res.writeHead(404, { 'Content-Type': 'application/json', 'x-request-id': rid });
    res.end(err);
    return record(Object.assign(entry, { model: body.model, status: 404, success: false, error: 'invalid_request_error', expect: zero() }));
  }
  if (!body.stream) {
    const out = JSON.stringify({ id, object: 'chat.completion', created: 1767225600, model,
      choices: [{ index: 0, message: { role: 'assistant', content: CHAT_WORDS.join(''), refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
      usage, service_tier: 'default', system_fingerprint: 'fp_fake' }, null, 2);
    if (body.model.includes('cut')) { // a JSON answer cut half way
      res.writeHead(200, Object.assign({ 'Content-Type': 'application/json', 'Content-Length': String(out.length) }, hdr));
      res.write(out.slice(0, out.length >> 1));
      setTimeout(() => res.socket.destroy(), 20);
      return record(Object.assign(entry, { model: body.model, success: false, cut: true, expect: zero() }));
    }
    res.writeHead(200, Object.assign({ 'Content-Type': 'application/json' }, hdr));
    res.end(out);
    return record(entry);
  }
  const withUsage = !!(body.stream_options && body.stream_options.include_usage);
  const chunk = (delta, finish) => {
    const c = { id, object: 'chat.completion.chunk', created: 1767225600, model, service_tier: 'default',
      system_fingerprint: 'fp_fake', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
    if (withUsage) c.usage = null;
    return 'data: ' + JSON.stringify(c) + '\n\n';
  };
  const events = [chunk({ role: 'assistant', content: '', refusal: null }, null)];
  for (const w of CHAT_WORDS) events.push(chunk({ content: w }, null));
  events.push(chunk({}, 'stop'));
  if (withUsage)
    events.push('data: ' + JSON.stringify({ id, object: 'chat.completion.chunk', created: 1767225600, model,
      service_tier: 'default', system_fingerprint: 'fp_fake', choices: [], usage }) + '\n\n');
  events.push('data: [DONE]\n\n');
  const cut = body.model.includes('cut');
  sse(res, 200, hdr, events, { delay: body.model.includes('slow') ? 150 : 0, cutAfter: cut ? 3 : undefined }, () => {});
  record(cut ? Object.assign(entry, { success: false, cut: true, expect: zero() }) : entry);
}

function zero() {
  return { input_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0 };
}

function openaiOther(req, res, body, rid) {
  const t = tokens(body), hdr = { 'Content-Type': 'application/json', 'x-request-id': rid };
  const entry = { rid, provider: 'openai', path: req.url, status: 200, success: true };
  if (req.url.startsWith('/v1/embeddings')) {
    res.writeHead(200, hdr);
    // …big…: 200,000 numbers (about 4 MB), for a client slower than the upstream
    const vec = body.model.includes('big') ? Array.from({ length: 200000 }, (_, i) => ((i * 7919) % 10007) / 10007 - 0.5)
      : [0.0023064255, -0.009327292, 0.015797347];
    res.end(JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: vec }],
      model: body.model, usage: { prompt_tokens: t.prompt, total_tokens: t.prompt } }));
    return record(Object.assign(entry, { model: body.model, expect: Object.assign(zero(), { input_tokens: t.prompt }) }));
  }
  if (req.url.startsWith('/v1/completions')) {
    res.writeHead(200, hdr);
    res.end(JSON.stringify({ id: 'cmpl-fake', object: 'text_completion', created: 1767225600, model: body.model,
      choices: [{ text: ' fake', index: 0, logprobs: null, finish_reason: 'length' }],
      usage: { prompt_tokens: t.prompt, completion_tokens: t.completion, total_tokens: t.prompt + t.completion } }));
    return record(Object.assign(entry, { model: body.model, expect: Object.assign(zero(), { input_tokens: t.prompt, output_tokens: t.completion }) }));
  }
  // /v1/responses
  const model = body.model + '-2025-06-01', id = 'resp_' + body.model;
  const usage = { input_tokens: t.prompt, input_tokens_details: { cached_tokens: t.cached }, output_tokens: t.completion,
    output_tokens_details: { reasoning_tokens: t.reasoning }, total_tokens: t.prompt + t.completion };
  const expect = { input_tokens: t.prompt - t.cached, cache_read_tokens: t.cached, cache_write_tokens: 0, output_tokens: t.completion, reasoning_tokens: t.reasoning };
  const done = { id, object: 'response', created_at: 1767225600, status: 'completed', model,
    output: [{ id: 'msg_fake', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: CHAT_WORDS.join(''), annotations: [] }] }], usage };
  if (!(body.stream && body.model.includes('midfail'))) record(Object.assign(entry, { model, expect }));
  if (!body.stream) {
    res.writeHead(200, hdr);
    return res.end(JSON.stringify(done));
  }
  const ev = (type, o, n) => 'event: ' + type + '\ndata: ' + JSON.stringify(Object.assign({ type, sequence_number: n }, o)) + '\n\n';
  const events = [ev('response.created', { response: Object.assign({}, done, { status: 'in_progress', output: [], usage: null }) }, 0)];
  if (body.model.includes('midfail')) { // an error event, then the end
    events.push(ev('response.output_text.delta', { item_id: 'msg_fake', output_index: 0, content_index: 0, delta: 'Hel' }, 1));
    events.push(ev('error', { code: 'server_error', message: 'The server had an error', param: null }, 2));
    record(Object.assign(entry, { model, success: false, error: 'upstream error event: server_error', expect: zero() }));
    return sse(res, 200, { 'x-request-id': rid }, events, {}, () => {});
  }
  CHAT_WORDS.forEach((w, i) => events.push(ev('response.output_text.delta', { item_id: 'msg_fake', output_index: 0, content_index: 0, delta: w }, i + 1)));
  events.push(ev('response.completed', { response: done }, CHAT_WORDS.length + 1));
  sse(res, 200, { 'x-request-id': rid }, events, {}, () => {});
}

function anthropic(req, res, body, rid) {
  const t = tokens(body), model = body.model + '-20250601', id = 'msg_' + body.model.replace(/[^a-z0-9]/g, '');
  const cacheWrite = t.cached + 3;
  const usage = { input_tokens: t.prompt, cache_creation_input_tokens: cacheWrite, cache_read_input_tokens: t.cached,
    cache_creation: { ephemeral_5m_input_tokens: cacheWrite, ephemeral_1h_input_tokens: 0 }, output_tokens: t.completion, service_tier: 'standard' };
  const expect = { input_tokens: t.prompt, cache_read_tokens: t.cached, cache_write_tokens: cacheWrite, output_tokens: t.completion, reasoning_tokens: 0 };
  const hdr = { 'request-id': rid, 'anthropic-organization-id': 'org-fake' };
  const entry = { rid, provider: 'anthropic', path: req.url, model, expect, status: 200, success: true };
  if (body.model.includes('error')) {
    res.writeHead(529, Object.assign({ 'Content-Type': 'application/json' }, hdr));
    res.end(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: rid }));
    return record(Object.assign(entry, { model: body.model, status: 529, success: false, error: 'overloaded_error', expect: zero() }));
  }
  const content = [{ type: 'text', text: CHAT_WORDS.join('') }];
  if (!body.stream) {
    res.writeHead(200, Object.assign({ 'Content-Type': 'application/json' }, hdr));
    res.end(JSON.stringify({ id, type: 'message', role: 'assistant', model, content, stop_reason: 'end_turn', stop_sequence: null, usage }));
    return record(entry);
  }
  const ev = (type, o) => 'event: ' + type + '\ndata: ' + JSON.stringify(Object.assign({ type }, o)) + '\n\n';
  const startUsage = Object.assign({}, usage, { output_tokens: 1 });
  const events = [ev('message_start', { message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: startUsage } }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }), ev('ping', {})];
  if (body.model.includes('midfail')) { // overloaded after it began: usage so far is message_start's
    events.push(ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hel' } }));
    events.push(ev('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }));
    record(Object.assign(entry, { success: false, error: 'upstream error event: overloaded_error', expect: Object.assign({}, expect, { output_tokens: 1 }) }));
    return sse(res, 200, hdr, events, {}, () => {});
  }
  for (const w of CHAT_WORDS) events.push(ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: w } }));
  events.push(ev('content_block_stop', { index: 0 }));
  events.push(ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: t.completion } }));
  events.push(ev('message_stop', {}));
  const cut = body.model.includes('cut');
  sse(res, 200, hdr, events, { delay: body.model.includes('slow') ? 150 : 0, cutAfter: cut ? 5 : undefined }, () => {});
  // Cut after message_start: what was used so far is the start's usage.
  record(cut ? Object.assign(entry, { success: false, cut: true, expect: Object.assign({}, expect, { output_tokens: 1 }) }) : entry);
}

const BENCH_JSON = JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion', created: 1767225600, model: 'bench-model',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } });
const BENCH_SSE = ['role', 'o', 'k'].map((w) => 'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","model":"bench-model","choices":[{"index":0,"delta":{"content":"' + w + '"}}]}\n\n').join('') +
  'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","model":"bench-model","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}\n\ndata: [DONE]\n\n';

const server = http.createServer((req, res) => {
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => {
    if (req.url === '/bench/json') { res.writeHead(200, { 'Content-Type': 'application/json', 'x-request-id': 'req_b' + (++seq) }); return res.end(BENCH_JSON); }
    if (req.url === '/bench/sse') { res.writeHead(200, { 'Content-Type': 'text/event-stream', 'x-request-id': 'req_b' + (++seq) }); return res.end(BENCH_SSE); }
    if (req.url === '/__count') { res.writeHead(200, { 'Content-Type': 'application/json' }); return res.end(JSON.stringify({ count })); }
    if (req.url === '/__last') { res.writeHead(200, { 'Content-Type': 'application/json' }); return res.end(JSON.stringify(last)); }
    count++;
    const raw = Buffer.concat(parts).toString();
    last = { method: req.method, url: req.url, headers: req.headers, body: raw };
    const rid = 'req_' + (++seq) + '_' + process.pid;
    let body = {};
    try { body = raw ? JSON.parse(raw) : {}; } catch (e) { body = {}; }
    if (req.method === 'GET' && req.url.startsWith('/v1/models')) {
      res.writeHead(200, { 'Content-Type': 'application/json', 'x-request-id': rid });
      return res.end(JSON.stringify({ object: 'list', data: [{ id: 'gpt-test', object: 'model', owned_by: 'fake' }], query: req.url.split('?')[1] || null }));
    }
    if (String(body.model).includes('hang')) return; // never answers
    if (req.url.startsWith('/v1/chat/completions')) return openaiChat(req, res, body, rid);
    if (req.url.startsWith('/v1/messages')) return anthropic(req, res, body, rid);
    if (/^\/v1\/(embeddings|completions|responses)/.test(req.url)) return openaiOther(req, res, body, rid);
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'no such path ' + req.url, type: 'invalid_request_error', param: null, code: null } }));
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
