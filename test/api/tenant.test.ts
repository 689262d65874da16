/**
 * Tenant scoping as Kapkan does it (hostgroups[].tenant, api.tokens[].tenant)
 * on a real daemon: a scoped token sees and acts only on its tenant's hosts —
 * attacks, bans, hosts, traffic, audit entries, status totals — and asking
 * about anything else answers exactly as for an address where nothing
 * exists, so a refusal tells nothing. TenantIndex: most specific network
 * wins; a prefix is a tenant's only when wholly its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TenantIndex } from '../../src/api/tenant.ts';
import { startHarness } from '../daemon/harness.ts';
import { accessConfig, TOKENS } from './access-fixtures.ts';

const ACME = '198.51.100.5';
const GLOBEX = '198.51.100.70';

test('TenantIndex: the most specific network decides; a prefix belongs to a tenant only when wholly its own', () => {
  const idx = new TenantIndex([
    { networks: ['198.51.100.0/24'], tenant: 'big' },
    { networks: ['198.51.100.64/26', '2001:db8:1::/48'], tenant: 'small' },
    { networks: ['203.0.113.0/24'] },
  ]);
  assert.equal(idx.tenantOf('198.51.100.1'), 'big');
  assert.equal(idx.tenantOf('198.51.100.70'), 'small');
  assert.equal(idx.tenantOf('2001:db8:1::5'), 'small');
  assert.equal(idx.tenantOf('2001:db8:2::5'), '');
  assert.equal(idx.tenantOf('203.0.113.9'), '');
  assert.equal(idx.tenantOf('192.0.2.1'), '');
  assert.equal(idx.tenantOf('198.51.100.64/27'), 'small');
  assert.equal(idx.tenantOf('198.51.100.0/26'), 'big');
  assert.equal(idx.tenantOf('198.51.100.0/24'), '', 'a range holding another tenant\'s network is nobody\'s alone');
  assert.equal(idx.tenantOf('not an address'), undefined);
  assert.ok(idx.allows(undefined, '192.0.2.1'), 'unscoped sees everything');
  assert.ok(!idx.allows('big', '198.51.100.70'));
  assert.ok(!idx.allows('big', undefined), 'entries without a target are not a tenant\'s');
});

test('a scoped token sees and acts only on its tenant\'s hosts; refusals look like nothing is there', { timeout: 120_000 }, async (t) => {
  const h = await startHarness(t, accessConfig());
  const as = (token: string) => (method: string, path: string, body?: unknown) => h.req(method, path, body, { authorization: `Bearer ${token}` });
  const acme = as(TOKENS.acme);
  const globex = as(TOKENS.globex);
  const all = as(TOKENS.viewer);

  h.advance(200);
  for (let i = 0; i < 10; i++) {
    h.flood(ACME, 50, 10, { srcPort: 123, bytes: 468 });
    h.flood(GLOBEX, 50, 10, { srcPort: 123, bytes: 468 });
    h.advance(100);
  }
  assert.equal(h.d.sampleTraffic() >= 2, true, 'the ring records both victims');

  // Unscoped: both.
  assert.deepEqual((await all('GET', '/api/v1/attacks')).json.attacks.map((a: any) => a.target).sort(), [ACME, GLOBEX]);
  assert.equal((await all('GET', '/api/v1/bans?active=true')).json.total, 2);

  // Scoped: its own only, with totals to match.
  const att = (await acme('GET', '/api/v1/attacks')).json;
  assert.deepEqual(att.attacks.map((a: any) => a.target), [ACME]);
  assert.equal(att.total, 1);
  const bans = (await acme('GET', '/api/v1/bans')).json;
  assert.deepEqual(bans.bans.map((b: any) => b.target), [ACME]);
  assert.equal(bans.total, 1);
  assert.deepEqual([...new Set((await acme('GET', '/api/v1/hosts?limit=1000')).json.hosts.map((x: any) => x.ip))], [ACME]);
  assert.deepEqual([...new Set((await globex('GET', '/api/v1/hosts?sort=bps')).json.hosts.map((x: any) => x.ip))], [GLOBEX]);
  const st = (await acme('GET', '/api/v1/status')).json;
  assert.equal(st.active_attacks, 1);
  assert.equal(st.active_bans, 1);
  assert.equal(st.tenant, 'acme');
  assert.equal(st.neighbors, undefined, 'no infrastructure for a tenant');
  assert.equal((await acme('GET', `/api/v1/hosts?ip=${ACME}`)).status, 200);
  const tr = await acme('GET', `/api/v1/hosts/${ACME}/traffic?from=-5m`);
  assert.equal(tr.status, 200);
  assert.ok(tr.json.points.some((p: any) => p.in_pps > 1000), JSON.stringify(tr.json));

  // Another tenant's host answers exactly like a host where nothing exists (198.51.100.100: globex's range, no traffic).
  const same = async (path: string, method = 'GET', body?: (ip: string) => unknown) => {
    const a = await acme(method, path.replace('IP', GLOBEX), body?.(GLOBEX));
    const b = await acme(method, path.replace('IP', '198.51.100.100'), body?.('198.51.100.100'));
    assert.equal(a.status, 404, `${path}: ${a.text}`);
    assert.equal(a.status, b.status, path);
    assert.equal(a.text.replace(GLOBEX, 'X'), b.text.replace('198.51.100.100', 'X'), path);
  };
  await same('/api/v1/hosts?ip=IP');
  await same('/api/v1/hosts/IP/traffic?from=-5m');
  await same('/api/v1/unban', 'POST', (ip) => ({ ip }));
  await same('/api/v1/ban', 'POST', (ip) => ({ ip }));
  // Outside every tenant (the shared group) too.
  assert.equal((await acme('POST', '/api/v1/ban', { ip: '198.51.100.200' })).status, 404);
  // Nothing changed for globex.
  assert.equal((await all('GET', '/api/v1/bans?active=true')).json.total, 2);

  // Acting on its own: ban and unban work and are audited under the token's name.
  assert.equal((await acme('POST', '/api/v1/ban', { ip: '198.51.100.6', ttl_seconds: 60 })).status, 201);
  assert.equal((await acme('POST', '/api/v1/unban', { ip: '198.51.100.6' })).status, 200);
  assert.equal((await globex('POST', '/api/v1/ban', { ip: '198.51.100.71' })).status, 201);
  const audit = (await acme('GET', '/api/v1/audit?limit=1000')).json;
  assert.ok(audit.audit.length >= 3, JSON.stringify(audit));
  assert.ok(audit.audit.every((e: any) => e.target && new TenantIndex(accessConfig().hostgroups as never).tenantOf(e.target) === 'acme'), JSON.stringify(audit.audit));
  assert.equal(audit.total, audit.audit.length);
  assert.ok(audit.audit.some((e: any) => e.action === 'ban' && e.actor === 'acme-ops' && e.result === 'ok'));
  const everyone = (await all('GET', '/api/v1/audit?limit=1000')).json.audit;
  assert.ok(everyone.some((e: any) => e.actor === 'globex-ops'));
  assert.ok(everyone.some((e: any) => e.action === 'start' || e.target === undefined), 'unscoped tokens see entries without a target');

  // Cursor pages of a scoped list stay inside the tenant.
  let cursor: string | null = null;
  const seen: string[] = [];
  do {
    const page: any = (await acme('GET', `/api/v1/audit?limit=1${cursor ? `&cursor=${cursor}` : ''}`)).json;
    seen.push(...page.audit.map((e: any) => e.target));
    cursor = page.next_cursor;
  } while (cursor && seen.length < 100);
  assert.equal(seen.length, audit.total);

  // Routes that cover every tenant are refused to a scoped token, whatever its role.
  for (const p of ['/api/v1/config', '/api/v1/exporters', '/api/v1/neighbors']) assert.equal((await acme('GET', p)).status, 403, p);
  assert.equal((await acme('POST', '/api/v1/config/reload')).status, 403);
});
