/**
 * Who may call what: every route of ROUTES × every role (and no token, a bad
 * token) against a real ApiServer on loopback; /metrics with
 * api.metrics_token_required; no tokens at all = open; repeated or array
 * query parameters are a 400.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiServer, ROUTES, type ApiBackend, type ApiToken } from '../../src/api/server.ts';
import type { SignalBackend } from '../../src/api/signal-routes.ts';

/** Signals: every signal ends (200); the bodies are valid ones of each sender. */
const signals: SignalBackend = { handle: () => ({ status: 'ended' }), mode: () => 'dry_run', rateWindowSeconds: () => 60 };
const SIGNAL_BODIES: Record<string, unknown> = {
  '/api/v1/events': { victim_ip: '198.51.100.9' },
  '/api/v1/signals/fastnetmon': { ip: '198.51.100.9', action: 'ban' },
  '/api/v1/signals/alertmanager': { alerts: [] },
  '/api/v1/signals/rtbh': { action: 'announce', target_ip: '198.51.100.9' },
};

function backend(): ApiBackend {
  return {
    ready: () => true,
    status: () => ({ mode: 'dry_run' }),
    attacks: () => ({ total: 0, items: [] }),
    bans: () => ({ total: 0, items: [] }),
    hosts: () => ({ total: 0, items: [] }),
    host: () => undefined,
    ban: () => ({ ok: true, status: 201, body: { ban: {} } }),
    unban: () => ({ ok: true, body: { unbanned: 'x' } }),
    reload: async () => ({ ok: true, changed: [], mode: 'dry_run' }),
    metrics: async () => ({ contentType: 'text/plain', body: 'm 1\n' }),
    audit: () => ({ total: 0, items: [] }),
    config: () => ({ dry_run: true }),
    mitigations: {
      methods: () => ({ methods: [], platforms: [] }),
      preview: (q) => ({ target: q.target, kind: 'flowspec', routes: [], lint: [], collateral: {} }),
      mitigate: () => ({ ok: true, status: 201, body: { id: 'ban-1' } }),
      end: (id) => ({ ok: true, body: { id, ended: true } }),
      infer: (id) => ({ attack_id: id, match: {} }),
    },
  };
}

/** A request the route accepts (beyond its role): the body or query it needs. */
function requestFor(method: string, path: string): { path: string; body?: unknown } {
  if (path.endsWith('/ban') || path.endsWith('/unban')) return { path, body: { ip: '198.51.100.9' } };
  if (method === 'POST' && path === '/api/v1/mitigations') return { path, body: { target: '198.51.100.9', match: { protocol: ['udp'] } } };
  if (path === '/api/v1/mitigations/preview') return { path: `${path}?target=198.51.100.9` };
  return { path, body: method === 'POST' ? (SIGNAL_BODIES[path] ?? {}) : undefined };
}

const CREATES = new Set(['POST /api/v1/ban', 'POST /api/v1/mitigations']);

const TOKENS: ApiToken[] = [
  { name: 'v', token: 'viewer-secret', role: 'viewer' },
  { name: 'o', token: 'operator-secret', role: 'operator' },
  { name: 'a', token: 'admin-secret', role: 'admin' },
];

async function serve(t: { after(fn: () => Promise<void>): void }, tokens: ApiToken[], metricsTokenRequired = false) {
  const srv = new ApiServer(backend(), { host: '127.0.0.1', port: 0, tokens, metricsTokenRequired, signals: () => signals, commands: () => ({ runText: () => [] }) });
  const { port } = await srv.start();
  t.after(() => srv.stop());
  return async (method: string, path: string, token?: string) => {
    const rq = requestFor(method, path);
    const res = await fetch(`http://127.0.0.1:${port}${rq.path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
      body: rq.body !== undefined ? JSON.stringify(rq.body) : undefined,
    });
    // the live stream never ends by itself: its status is enough
    if (path === '/api/v1/stream') await res.body?.cancel();
    else await res.arrayBuffer();
    return res.status;
  };
}

const RANK = { open: 0, metrics: 0, viewer: 1, operator: 2, admin: 3 } as const;
const WHO = [
  { who: 'no token', token: undefined, rank: -1 },
  { who: 'bad token', token: 'nope', rank: -1 },
  { who: 'viewer', token: 'viewer-secret', rank: 1 },
  { who: 'operator', token: 'operator-secret', rank: 2 },
  { who: 'admin', token: 'admin-secret', rank: 3 },
];

test('roles: every route × every role, no token and a bad token', async (t) => {
  const req = await serve(t, TOKENS);
  const table: string[] = [];
  for (const r of ROUTES) {
    for (const w of WHO) {
      const status = await req(r.method, r.path, w.token);
      let want: number;
      if (r.access === 'open' || r.access === 'metrics') want = 200;
      // The RTBH webhook answers a missing or bad token with 403, as the senders of the ExaBGP guide expect.
      else if (w.rank < 0) want = r.path === '/api/v1/signals/rtbh' ? 403 : 401;
      else want = w.rank >= RANK[r.access] ? (CREATES.has(`${r.method} ${r.path}`) ? 201 : 200) : 403;
      // History routes without storage.clickhouse answer 404 (400 for a literal ":ip") once the role is allowed;
      // so do the console's page and assets without api.dashboard.
      const history = /\/history\/|\/traffic$|^\/$|^\/assets\//.test(r.path);
      const ok = history && want === 200 ? status === 404 || status === 400 : status === want;
      table.push(`${r.method} ${r.path} ${w.who}: ${status}${ok ? '' : ` (want ${history && want === 200 ? '404' : want})`}`);
    }
  }
  assert.deepEqual(table.filter((l) => l.includes('want')), [], table.join('\n'));
  assert.equal(ROUTES.length, 33, 'a new route gets a row in ROUTES (and so in this table)');
});

test('roles: /metrics needs a token with metrics_token_required; /healthz never does', async (t) => {
  const req = await serve(t, TOKENS, true);
  assert.equal(await req('GET', '/metrics'), 401);
  assert.equal(await req('GET', '/metrics', 'bad'), 401);
  assert.equal(await req('GET', '/metrics', 'viewer-secret'), 200);
  assert.equal(await req('GET', '/healthz'), 200);
});

test('roles: without any token every route is open (loopback or api.insecure_no_auth)', async (t) => {
  const req = await serve(t, []);
  // History routes without storage.clickhouse answer 404 (400 for a literal ":ip"), never 401/403; the console's page and assets 404 without api.dashboard.
  for (const r of ROUTES) assert.ok((/\/history\/|\/traffic$|^\/$|^\/assets\//.test(r.path) ? [400, 404] : [200, 201]).includes(await req(r.method, r.path)), `${r.method} ${r.path}`);
});

test('query: a repeated or array parameter is a 400 naming it; one value is fine', async (t) => {
  const srv = new ApiServer(backend(), { host: '127.0.0.1', port: 0 });
  const { port } = await srv.start();
  t.after(() => srv.stop());
  const get = async (q: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/bans${q}`);
    return { status: res.status, json: (await res.json()) as { error?: string; code?: string } };
  };
  for (const q of ['?limit[]=1', '?limit=1&limit=2', '?active=true&active=false', '?limit%5B%5D=1', '?offset[x]=1']) {
    const r = await get(q);
    assert.equal(r.status, 400, q);
    assert.equal(r.json.code, 'bad_request', q);
    assert.match(r.json.error ?? '', /limit|active|offset/, q);
  }
  assert.equal((await get('?limit=1&offset=0&active=true')).status, 200);
  const hosts = await fetch(`http://127.0.0.1:${port}/api/v1/hosts?ip=198.51.100.1&ip=198.51.100.2`);
  assert.equal(hosts.status, 400);
});
