// gen.mjs — a generated store for the dashboard's browser test: N usage
// events (NDJSON on stdout) spread over the last 35 days, from a fixed seed,
// with several providers, models, users, endpoints, operations, projects,
// failures, latencies, an unpriced model and a user named "=cmd".
// usage: node tests/web/gen.mjs N
const n = Number(process.argv[2] || 3000);
let seed = 42;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
const pick = a => a[Math.floor(rnd() * a.length)];
const models = [
  ['openai', 'gpt-4o-mini'], ['openai', 'gpt-4o'], ['anthropic', 'claude-sonnet-4-5'],
  ['anthropic', 'claude-haiku-4-5'], ['google', 'gemini-2.5-flash'], ['acme', 'acme-unpriced-1'],
];
const users = ['u1', 'u1', 'u2', 'u3', 'alice', 'bob', '=cmd'];
const endpoints = ['/chat', '/summarize', '/embed', '/classify'];
const ops = ['chat', 'summarize', 'qualification'];
const projects = ['web', 'batch', 'agent'];
const now = Date.now();
const out = [];
for (let i = 0; i < n; i++) {
  const [provider, model] = pick(models);
  const fail = rnd() < 0.04;
  const ev = {
    id: `gen-${i}`,
    timestamp: new Date(now - Math.floor(rnd() * 35 * 86400e3)).toISOString(),
    provider, model,
    user_id: pick(users),
    endpoint: pick(endpoints),
    operation: pick(ops),
    project: pick(projects),
    input_tokens: 200 + Math.floor(rnd() * 4000),
    output_tokens: 20 + Math.floor(rnd() * 800),
    latency_ms: Math.round((150 + rnd() * rnd() * 4000) * 1000) / 1000,
  };
  if (fail) {
    const status = pick([429, 500, 503]);
    Object.assign(ev, { success: false, status_code: status, error: { 429: 'rate_limit_exceeded: slow down', 500: 'upstream error', 503: 'overloaded' }[status] });
  }
  out.push(JSON.stringify(ev));
}
// Two events in the current hour, so Live and 24h have something.
out.push(JSON.stringify({ id: 'gen-now-1', provider: 'openai', model: 'gpt-4o-mini', user_id: 'u1', endpoint: '/chat', input_tokens: 1000, output_tokens: 100, latency_ms: 420 }));
out.push(JSON.stringify({ id: 'gen-now-2', provider: 'anthropic', model: 'claude-haiku-4-5', user_id: 'u2', endpoint: '/chat', input_tokens: 500, output_tokens: 50, latency_ms: 610 }));
process.stdout.write(out.join('\n') + '\n');
