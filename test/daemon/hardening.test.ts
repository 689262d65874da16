/**
 * A careless or cut-short config file cannot disarm or open a running
 * daemon: an empty file or a non-mapping is rejected (400) and the old config
 * keeps running with its bans; a plan that would lift bans, turn
 * authentication off or widen a listener is refused (409) with the list of
 * what it would do, in the response, the log and the audit log, until it is
 * confirmed with ?force=true by an admin. The response and the log say what
 * each module did.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createLogger } from '../../src/core/log.ts';
import { baseConfig, startHarness, type Harness } from './harness.ts';

const V = '198.51.100.7';
const KEY = `ipv4_unicast ${V}/32`;
const ADMIN = 'admin-token-hardening';
const OPS = 'operator-token-hardening';
process.env.BW_TEST_ADMIN = ADMIN;
process.env.BW_TEST_OPS = OPS;
const TOKENS = { listen: '127.0.0.1:0', tokens: [{ name: 'root', token_env: 'BW_TEST_ADMIN', role: 'admin' }, { name: 'noc', token_env: 'BW_TEST_OPS', role: 'operator' }] };
const admin = { authorization: `Bearer ${ADMIN}` };
const ops = { authorization: `Bearer ${OPS}` };

function logLines() {
  const lines: any[] = [];
  const log = createLogger({ format: 'json', level: 'info', destination: { write: (x: string) => { for (const l of x.split('\n')) if (l) lines.push(JSON.parse(l)); } } });
  return { lines, log };
}

async function withBan(t: Parameters<typeof startHarness>[0], extra: Record<string, unknown> = {}) {
  const { lines, log } = logLines();
  const h = await startHarness(t, { dry_run: false, api: TOKENS, ...extra }, log);
  const b = await h.req('POST', '/api/v1/ban', { ip: V, ttl_seconds: 600 }, ops);
  assert.equal(b.status, 201, b.text);
  assert.ok(h.speaker.rib('127.0.0.2').has(KEY));
  return { h, lines };
}

async function stillArmed(h: Harness) {
  const bans = await h.req('GET', '/api/v1/bans?active=true', undefined, ops);
  assert.equal(bans.status, 200, 'tokens still required and accepted');
  assert.deepEqual(bans.json.bans.map((b: any) => b.target), [V], 'the ban is still active');
  assert.ok(h.speaker.rib('127.0.0.2').has(KEY), 'the route is still announced');
  assert.equal((await h.req('GET', '/api/v1/bans')).status, 401, 'still no reads without a token');
  assert.equal(h.d.cfg.dry_run, false);
}

test('an empty file or a non-mapping: 400, the old config keeps running, bans stay', async (t) => {
  const { h, lines } = await withBan(t);
  for (const text of ['', '\n# only a comment\n', '- a\n- b\n', 'just a string\n']) {
    writeFileSync(h.configFile, text);
    const r = await h.req('POST', '/api/v1/config/reload?force=true', undefined, admin);
    assert.equal(r.status, 400, `${JSON.stringify(text)}: ${r.text}`);
    assert.equal(r.json.code, 'invalid_config');
    assert.match(r.json.issues[0].message, text.includes('-') || text.includes('string') ? /mapping/ : /empty/);
    await stillArmed(h);
  }
  assert.ok(lines.some((l) => l.event === 'config reload failed'));
});

test('a config without networks is refused: the error says the daemon needs them', async (t) => {
  const { h } = await withBan(t);
  writeFileSync(h.configFile, stringify({ ...baseConfig(join(h.dir, 'data'), { dry_run: false, api: TOKENS }), networks: [] }));
  const r = await h.req('POST', '/api/v1/config/reload?force=true', undefined, admin);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.issues[0].path, 'networks');
  assert.match(r.json.issues[0].message, /needs at least one protected prefix/);
  await stillArmed(h);
});

test('a file cut before api: is a dangerous change (auth off): 409 listing it, in the log and the audit; force by an admin applies it', async (t) => {
  const { h, lines } = await withBan(t);
  const full = stringify(baseConfig(join(h.dir, 'data'), { dry_run: false, api: TOKENS }));
  const cut = full.slice(0, full.indexOf('\napi:') + 1);
  assert.ok(cut.length > 100 && !cut.includes('tokens'), cut);
  writeFileSync(h.configFile, cut);

  const r = await h.req('POST', '/api/v1/config/reload', undefined, admin);
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.code, 'dangerous_change');
  assert.deepEqual(r.json.dangers.map((d: any) => d.kind), ['auth_off']);
  assert.ok(r.json.plan.some((l: string) => /DANGER auth_off/.test(l)), r.json.plan);
  await stillArmed(h);
  const logged = lines.find((l) => l.event === 'config reload refused');
  assert.deepEqual(logged?.dangers.map((d: any) => d.kind), ['auth_off']);
  const audit = await h.req('GET', '/api/v1/audit?action=reload_refused', undefined, ops);
  assert.equal(audit.status, 200, audit.text);
  assert.equal(audit.json.audit[0].actor, 'root');
  assert.deepEqual(audit.json.audit[0].detail.dangers.map((d: any) => d.kind), ['auth_off']);

  // force needs admin: an operator may not reload at all.
  assert.equal((await h.req('POST', '/api/v1/config/reload?force=true', undefined, ops)).status, 403);
  const forced = await h.req('POST', '/api/v1/config/reload?force=true', undefined, admin);
  assert.equal(forced.status, 200, forced.text);
  assert.deepEqual(forced.json.applied.find((a: any) => a.module === 'api')?.did, ['0 token(s)']);
  assert.equal((await h.req('GET', '/api/v1/bans?active=true')).status, 200, 'confirmed: the API is open now');
  const entry = (await h.req('GET', '/api/v1/audit?action=reload')).json.audit[0];
  assert.equal(entry.detail.forced, true);
});

test('a reload that would lift an active ban (whitelist, networks) is refused until forced; then the ban ends and its route is withdrawn', async (t) => {
  const { h, lines } = await withBan(t);
  const dataDir = join(h.dir, 'data');
  h.writeConfig(baseConfig(dataDir, { dry_run: false, api: TOKENS, networks: ['203.0.113.0/24', '2001:db8::/32'], protected_whitelist: [] }));
  const r = await h.req('POST', '/api/v1/config/reload', undefined, admin);
  assert.equal(r.status, 409, r.text);
  assert.deepEqual(r.json.dangers.map((d: any) => d.kind), ['bans_lifted']);
  assert.match(r.json.dangers[0].detail, /198\.51\.100\.7 \(outside_networks\)/);
  await stillArmed(h);

  h.writeConfig(baseConfig(dataDir, { dry_run: false, api: TOKENS, protected_whitelist: ['198.51.100.1/32', `${V}/32`] }));
  const w = await h.req('POST', '/api/v1/config/reload', undefined, admin);
  assert.equal(w.status, 409);
  assert.match(w.json.dangers[0].detail, /whitelisted/);
  const f = await h.req('POST', '/api/v1/config/reload?force=true', undefined, admin);
  assert.equal(f.status, 200, f.text);
  assert.deepEqual(f.json.changed, ['protected_whitelist']);
  assert.deepEqual(f.json.plan, ['bans: protected_whitelist', `DANGER bans_lifted: 1 active ban(s) would be lifted: ${V} (whitelisted)`]);
  assert.deepEqual(f.json.applied, [{ module: 'engine', did: [`lifted ban ${V} (whitelisted)`] }]);
  assert.ok(!h.speaker.rib('127.0.0.2').has(KEY), 'withdrawn');
  const logged = lines.filter((l) => l.event === 'config reload' && l.changed?.length).at(-1);
  assert.deepEqual(logged.applied, f.json.applied, 'the log line lists what each module did');
  assert.equal(logged.forced, true);
});

test('a listener widened from loopback to any address is refused until forced', async (t) => {
  const { h } = await withBan(t, { listen: { netflow: '', sflow: '127.0.0.1:0' } });
  h.writeConfig(baseConfig(join(h.dir, 'data'), { dry_run: false, api: TOKENS, listen: { netflow: '', sflow: ':0' } }));
  const r = await h.req('POST', '/api/v1/config/reload', undefined, admin);
  assert.equal(r.status, 409, r.text);
  assert.deepEqual(r.json.dangers, [{ kind: 'listener_widened', detail: 'listen.sflow widened from "127.0.0.1:0" to ":0"' }]);
  await stillArmed(h);
});

test('a reload into an API beyond loopback without tokens is refused as invalid', async (t) => {
  const { h } = await withBan(t);
  h.writeConfig(baseConfig(join(h.dir, 'data'), { dry_run: false, api: { listen: '0.0.0.0:0' } }));
  const r = await h.req('POST', '/api/v1/config/reload?force=true', undefined, admin);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.issues[0].path, 'api.listen');
  assert.match(r.json.issues[0].message, /insecure_no_auth/);
  await stillArmed(h);
});

test('a safe reload answers with the plan and what each module did; GET /api/v1/config (admin) hides secrets', async (t) => {
  const { h } = await withBan(t);
  const slack = 'https://hooks.slack.example/services/T000/B000/XXXXSECRET';
  h.writeConfig(baseConfig(join(h.dir, 'data'), { dry_run: false, api: TOKENS, thresholds: { pps: 2000 }, notify: { slack: { webhook_url: slack } } }));
  const r = await h.req('POST', '/api/v1/config/reload', undefined, admin);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.changed, ['thresholds.pps', 'notify.slack']);
  assert.deepEqual(r.json.plan, ['engine: thresholds.pps', 'other: notify.slack']);
  assert.deepEqual(r.json.applied, [{ module: 'engine', did: ['detection rules: thresholds.pps'] }]);
  await stillArmed(h);

  assert.equal((await h.req('GET', '/api/v1/config', undefined, ops)).status, 403, 'config view is admin only');
  const c = await h.req('GET', '/api/v1/config', undefined, admin);
  assert.equal(c.status, 200);
  assert.equal(c.json.thresholds.pps, 2000);
  assert.equal(c.json.notify.slack.webhook_url, '(hidden)');
  assert.ok(!c.text.includes('XXXXSECRET') && !c.text.includes(ADMIN));
  assert.equal(c.json.api.tokens[0].token_env, 'BW_TEST_ADMIN', 'variable names are shown, values never');
});
