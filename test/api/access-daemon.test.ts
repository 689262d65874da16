/**
 * Roles and tenant scope on every path of a real daemon (engine, ban module,
 * mitigator, SQLite store and API on loopback; tokens from environment
 * variables as in production): every ROUTES row × no token, a bad token,
 * viewer, operator, admin, and a tenant-scoped operator. Allowed calls get
 * the route's real answer (201 for a ban, 404 for ClickHouse history without
 * storage.clickhouse), the others 401 or 403, and nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ROUTES } from '../../src/api/server.ts';
import { startHarness } from '../daemon/harness.ts';
import { accessConfig, TOKENS } from './access-fixtures.ts';

const WHO = [
  { who: 'no token', token: undefined, rank: -1, tenant: false },
  { who: 'bad token', token: 'not-a-token', rank: -1, tenant: false },
  { who: 'viewer', token: TOKENS.viewer, rank: 1, tenant: false },
  { who: 'operator', token: TOKENS.operator, rank: 2, tenant: false },
  { who: 'admin', token: TOKENS.admin, rank: 3, tenant: false },
  // An admin scoped to a tenant: its role allows everything, its scope not the routes that cover every tenant.
  { who: 'acme admin (tenant)', token: TOKENS.acme, rank: 3, tenant: true },
] as const;
const RANK = { open: 0, metrics: 0, viewer: 1, operator: 2, admin: 3 } as const;
/** Routes whose answer to an empty body or an unknown id is their own (tested in their suites): here only access counts. */
const SELF_JUDGED = /^\/api\/v1\/(events|signals\/|commands|mitigations|attacks\/:id\/infer)/;

test('every route × every role and a tenant-scoped token, against a real daemon', { timeout: 120_000 }, async (t) => {
  const h = await startHarness(t, accessConfig());
  const table: string[] = [];
  let n = 0;
  for (const r of ROUTES) {
    for (const w of WHO) {
      // Each allowed ban bans its own address (inside acme's hostgroup, so the scoped token may too); the unban after it lifts it.
      const ip = `198.51.100.${10 + WHO.indexOf(w)}`;
      const path = r.path.replace(':ip', ip).replace(':id', 'no-such-id').replace(':name', 'console.js') + (r.path.endsWith('/traffic') ? '?from=-5m' : '');
      const res = await fetch(h.base + path, {
        method: r.method,
        headers: { ...(w.token ? { authorization: `Bearer ${w.token}` } : {}), ...(r.method === 'POST' ? { 'content-type': 'application/json' } : {}) },
        body: r.method === 'POST' ? JSON.stringify(/ban$/.test(r.path) ? { ip } : {}) : undefined,
      });
      // The event stream never ends: past access, its headers are the answer.
      const body = r.path === '/api/v1/stream' && res.status === 200 ? (await res.body?.cancel(), '') : await res.text();
      n++;
      let want: number;
      if (r.access === 'open' || r.access === 'metrics') want = 200;
      // A route with its own token header answers a missing or bad token with 403 (the RTBH webhook's senders expect it).
      else if (w.rank < 0) want = 'tokenHeader' in r ? 403 : 401;
      else if (w.rank < RANK[r.access]) want = 403;
      else if (w.tenant && r.tenant === 'global') want = 403;
      else if (r.path === '/api/v1/ban') want = 201;
      else if (r.path.startsWith('/api/v1/history/')) want = 404;
      else want = 200;
      const line = `${r.method} ${r.path} as ${w.who}: ${res.status}`;
      // Signals, commands and mitigations judge the (empty) body or the missing id themselves: once allowed, anything but 401/403/5xx.
      const judged = want === 200 && SELF_JUDGED.test(r.path);
      const ok = judged ? res.status !== 401 && res.status !== 403 && res.status < 500 : res.status === want;
      table.push(ok ? line : `${line} (want ${judged ? 'an answer past access' : want}) ${body.slice(0, 200)}`);
      if (res.status === 401 || res.status === 403) assert.match(JSON.parse(body).code, /^(unauthorized|forbidden)$/, line);
    }
  }
  assert.deepEqual(table.filter((l) => l.includes('want')), [], table.join('\n'));
  assert.equal(n, ROUTES.length * WHO.length);
  // The mutations are in the audit log under the token's name.
  const audit = (await h.req('GET', '/api/v1/audit?limit=1000', undefined, { authorization: `Bearer ${TOKENS.admin}` })).json.audit;
  const who = new Set(audit.filter((e: any) => e.action === 'ban' || e.action === 'unban').map((e: any) => e.actor));
  assert.deepEqual([...who].sort(), ['acme-ops', 'noc', 'root']);
  for (const e of audit) assert.ok(['ok', 'refused', 'failed'].includes(e.result), JSON.stringify(e));
});
