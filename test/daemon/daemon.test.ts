import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../src/store/sqlite.ts';
import { baseConfig, startHarness } from './harness.ts';

const V = '198.51.100.7';
const KEY = `ipv4_unicast ${V}/32`;

function metric(text: string, re: RegExp): number {
  const m = re.exec(text);
  return m ? Number(m[1]) : NaN;
}

test('dry-run: a detected attack shows its would-be route, the ban is kept but nothing reaches the speaker', async (t) => {
  const h = await startHarness(t);
  assert.equal((await h.req('GET', '/healthz')).status, 200);
  assert.ok(existsSync(join(h.dir, 'data', 'breakwater.pid')));
  assert.equal(readFileSync(join(h.dir, 'data', 'breakwater.pid'), 'utf8').trim(), String(process.pid));

  h.advance(200);
  for (let i = 0; i < 10; i++) {
    h.flood(V, 50, 10, { srcPort: 123, bytes: 468 }); // 500 packets per 100 ms = 5 kpps, threshold 1 kpps
    h.advance(100);
  }
  const att = await h.req('GET', '/api/v1/attacks');
  assert.equal(att.status, 200);
  const a = att.json.attacks.find((x: any) => x.target === V);
  assert.ok(a, `attack on ${V} listed: ${JSON.stringify(att.json)}`);
  assert.equal(a.active, true);
  assert.equal(a.mode, 'dry_run');
  assert.equal(a.route.type, 'blackhole');
  assert.equal(a.route.prefix, `${V}/32`);
  assert.ok(a.route.communities.includes('65535:666'));

  const bans = await h.req('GET', '/api/v1/bans?active=true');
  assert.equal(bans.json.bans.length, 1);
  assert.equal(bans.json.bans[0].target, V);
  assert.deepEqual(bans.json.bans[0].announced_to, []);
  assert.equal(h.speaker.announces(), 0, 'no announcement in dry-run');
  assert.equal(h.speaker.total(), 0);

  const m = (await h.req('GET', '/metrics')).text;
  assert.equal(metric(m, /breakwater_mitigate_announced_routes\{mode="dry_run"\} (\d+)/), 1);
  assert.equal(metric(m, /breakwater_mitigate_announced_routes\{mode="real"\} (\d+)/), 0);
  const st = await h.req('GET', '/api/v1/status');
  assert.equal(st.json.mode, 'dry_run');
  assert.equal(st.json.active_bans, 1);
  assert.equal(st.json.neighbors.length, 2);
  const host = await h.req('GET', `/api/v1/hosts?ip=${V}`);
  assert.equal(host.status, 200);
  assert.ok(host.json.directions[0].pps > 1000);
  assert.ok(host.json.ban);
});

test('going live by reload announces active bans at once; invalid reload keeps the running config; dry-run again withdraws everything', async (t) => {
  const h = await startHarness(t);
  const dataDir = join(h.dir, 'data');
  const ban = await h.req('POST', '/api/v1/ban', { ip: V, ttl_seconds: 600 });
  assert.equal(ban.status, 201, JSON.stringify(ban.json));
  assert.equal(h.speaker.total(), 0);

  h.writeConfig(baseConfig(dataDir, { dry_run: false }));
  const r = await h.req('POST', '/api/v1/config/reload');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json.changed, ['dry_run']);
  assert.equal(r.json.mode, 'live');
  assert.ok(h.speaker.rib('127.0.0.2').has(KEY), 'announced to the first neighbor');
  assert.ok(h.speaker.rib('127.0.0.3').has(KEY), 'and to the second');
  const route = h.speaker.rib('127.0.0.2').get(KEY) as any;
  assert.equal(route.attrs.nextHop, '192.0.2.1');
  assert.deepEqual(route.attrs.communities, [0xffff029a, 65000 * 65536 + 666]);
  const m = (await h.req('GET', '/metrics')).text;
  assert.equal(metric(m, /breakwater_mitigate_announced_routes\{mode="real"\} (\d+)/), 1);
  assert.equal((await h.req('GET', '/api/v1/status')).json.mode, 'live');
  const listed = (await h.req('GET', '/api/v1/bans')).json.bans[0];
  assert.deepEqual(listed.announced_to, ['127.0.0.2', '127.0.0.3']);

  // An invalid file: rejected with its keys, nothing changes.
  h.writeConfig({ ...baseConfig(dataDir, { dry_run: true }), ban: { tll_seconds: 5 }, thresholds: { pps: 'lots' } });
  const bad = await h.req('POST', '/api/v1/config/reload');
  assert.equal(bad.status, 400);
  const paths = bad.json.issues.map((i: any) => i.path).sort();
  assert.deepEqual(paths, ['ban.tll_seconds', 'thresholds.pps']);
  assert.equal(h.d.cfg.dry_run, false, 'the old config keeps running');
  assert.ok(h.speaker.rib('127.0.0.2').has(KEY));

  h.writeConfig(baseConfig(dataDir, { dry_run: true }));
  const back = await h.req('POST', '/api/v1/config/reload');
  assert.equal(back.status, 200);
  assert.equal(h.speaker.total(), 0, 'every real route withdrawn');
  assert.equal((await h.req('GET', '/api/v1/bans?active=true')).json.bans.length, 1, 'the ban itself stays');

  const s = new Store(join(dataDir, 'breakwater.db'));
  const actions = s.listAudit({ limit: 50 }).items.map((e) => e.action);
  s.close();
  for (const a of ['ban', 'mode', 'reload', 'reload_failed']) assert.ok(actions.includes(a), `audit has ${a}: ${actions}`);
});

test('reload of a route key alone (bgp.communities): the ban module gets the new route policy, the active ban is rerouted, saved and re-announced, and the reply says so', async (t) => {
  const h = await startHarness(t, { dry_run: false });
  const dataDir = join(h.dir, 'data');
  assert.equal((await h.req('POST', '/api/v1/ban', { ip: V, ttl_seconds: 600 })).status, 201);
  assert.deepEqual((h.speaker.rib('127.0.0.2').get(KEY) as any).attrs.communities, [0xffff029a, 65000 * 65536 + 666]);

  const next = baseConfig(dataDir, { dry_run: false });
  (next.bgp as Record<string, unknown>).communities = ['65000:777'];
  h.writeConfig(next);
  const r = await h.req('POST', '/api/v1/config/reload');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json.changed, ['bgp.communities']);
  const did = r.json.applied.flatMap((a: any) => a.did);
  assert.ok(did.includes(`new route for ban ${V}`), JSON.stringify(r.json.applied));
  assert.deepEqual((h.speaker.rib('127.0.0.2').get(KEY) as any).attrs.communities, [0xffff029a, 65000 * 65536 + 777], 're-announced with the new community');
  const listed = (await h.req('GET', '/api/v1/bans?active=true')).json.bans[0];
  assert.ok(listed.route.communities.includes('65000:777'), JSON.stringify(listed.route));
  const s = new Store(join(dataDir, 'breakwater.db'));
  const stored = s.activeBans()[0];
  s.close();
  assert.ok(stored.route.type === 'blackhole' && stored.route.communities.includes('65000:777'), 'the new route is saved');
});

test('whitelist: a manual ban of a whitelisted address is a 409; whitelisting a banned address by reload unbans it at once', async (t) => {
  const h = await startHarness(t, { dry_run: false });
  const dataDir = join(h.dir, 'data');
  const w = await h.req('POST', '/api/v1/ban', { ip: '198.51.100.1' });
  assert.equal(w.status, 409);
  assert.match(w.json.reason, /whitelist/);
  const out = await h.req('POST', '/api/v1/ban', { ip: '192.0.2.50' });
  assert.equal(out.status, 409, 'outside networks');

  assert.equal((await h.req('POST', '/api/v1/ban', { ip: V })).status, 201);
  assert.ok(h.speaker.rib('127.0.0.2').has(KEY));
  h.writeConfig(baseConfig(dataDir, { dry_run: false, protected_whitelist: ['198.51.100.1/32', `${V}/32`] }));
  // Lifting an active ban is a dangerous change: refused until confirmed with force.
  const refused = await h.req('POST', '/api/v1/config/reload');
  assert.equal(refused.status, 409, refused.text);
  assert.ok(h.speaker.rib('127.0.0.2').has(KEY), 'still announced after the refused reload');
  const r = await h.req('POST', '/api/v1/config/reload?force=true');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.changed, ['protected_whitelist']);
  assert.ok(!h.speaker.rib('127.0.0.2').has(KEY), 'withdrawn at once');
  assert.equal((await h.req('GET', '/api/v1/bans?active=true')).json.total, 0);
  const hist = (await h.req('GET', '/api/v1/bans?active=false')).json.bans;
  assert.equal(hist[0].target, V);
  assert.match(hist[0].end_reason, /whitelist/);
});

test('manual unban, TTL expiry after hysteresis, and FlowSpec fallback per neighbor', async (t) => {
  const h = await startHarness(t, { dry_run: false, mitigation: 'flowspec', ban: { ttl_seconds: 2, unban_hysteresis_seconds: 1, fallback: 'blackhole' } });
  assert.equal((await h.req('POST', '/api/v1/ban', { ip: V, ttl_seconds: 2 })).status, 201);
  const fsNb = [...h.speaker.rib('127.0.0.2').keys()];
  assert.ok(fsNb.length >= 1 && fsNb.every((k) => k.startsWith('ipv4_flowspec')), `FlowSpec neighbor: ${fsNb}`);
  assert.deepEqual([...h.speaker.rib('127.0.0.3').keys()], [KEY], 'neighbor without FlowSpec gets the blackhole fallback');
  assert.equal(metric((await h.req('GET', '/metrics')).text, /breakwater_mitigate_fallback_total (\d+)/), 1);

  h.advance(1500);
  assert.equal(h.speaker.total() > 0, true, 'not before the TTL');
  h.advance(2000);
  assert.equal(h.speaker.total(), 0, 'withdrawn after TTL');

  assert.equal((await h.req('POST', '/api/v1/ban', { ip: '198.51.100.9' })).status, 201);
  assert.equal(h.speaker.total() > 0, true);
  const un = await h.req('POST', '/api/v1/unban', { ip: '198.51.100.9' });
  assert.equal(un.status, 200);
  assert.equal(h.speaker.total(), 0);
  assert.equal((await h.req('POST', '/api/v1/unban', { ip: '198.51.100.9' })).status, 404);
});

test('restart: unexpired bans are back in the Adj-RIB-Out before the sessions start; expired ones are closed', async (t) => {
  const h = await startHarness(t, { dry_run: false, ban: { ttl_seconds: 600, unban_hysteresis_seconds: 1 } });
  assert.equal((await h.req('POST', '/api/v1/ban', { ip: V, ttl_seconds: 600 })).status, 201);
  assert.equal((await h.req('POST', '/api/v1/ban', { ip: '198.51.100.8', ttl_seconds: 30 })).status, 201);
  await h.restart();
  assert.equal(h.ribAtStart.get('127.0.0.2'), 2, 'both bans restored before bgp.start()');
  h.clock.advance(60_000);
  await h.restart();
  assert.equal(h.ribAtStart.get('127.0.0.2'), 1, 'the 30 s ban expired while down');
  assert.ok(h.speaker.rib('127.0.0.2').has(KEY));
  const hist = (await h.req('GET', '/api/v1/bans?active=false')).json.bans;
  assert.equal(hist[0].target, '198.51.100.8');
  assert.equal(hist[0].end_reason, 'expired_while_down');
});

test('healthz is 503 while the daemon starts (API up before BGP, listeners and restore), 200 once everything is up', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let bgpStarting = false;
  t.after(() => release()); // before the harness's own cleanup, which waits for start()
  const h = await startHarness(t, {}, undefined, {
    wait: false,
    bgpStart: async () => {
      bgpStarting = true;
      await gate;
    },
  });
  // The API is listening while the (held) BGP start has not returned.
  const t0 = Date.now();
  while (!(h.d.apiAddress && bgpStarting) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
  assert.ok(h.d.apiAddress, 'API bound during startup');
  assert.ok(bgpStarting, 'BGP start reached');
  const base = `http://127.0.0.1:${h.d.apiAddress.port}`;
  const get = async (p: string) => {
    const res = await fetch(base + p);
    return { status: res.status, json: (await res.json().catch(() => undefined)) as any };
  };
  const seen: number[] = [];
  for (let i = 0; i < 3; i++) {
    const hz = await get('/healthz');
    seen.push(hz.status);
    assert.equal(hz.status, 503);
    assert.equal(hz.json.status, 'starting');
    await new Promise((r) => setTimeout(r, 50));
  }
  const st = await get('/api/v1/status');
  assert.equal(st.status, 200);
  assert.equal(st.json.ready, false);
  assert.equal(st.json.phase, 'starting');
  assert.equal(st.json.mode, 'dry_run');
  assert.equal(typeof st.json.version, 'string');
  assert.equal((await get('/metrics')).status, 200, 'metrics are served while starting');
  const ban = await fetch(base + '/api/v1/ban', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ip: V }) });
  assert.equal(ban.status, 503, 'no mutation before ready');
  assert.equal(((await ban.json()) as any).ready, false);
  assert.equal((await get('/api/v1/bans')).status, 200, 'lists are served once the components exist');

  release();
  // Poll: the first 200 comes only after start() completed.
  let ok = false;
  for (let i = 0; i < 200 && !ok; i++) {
    const hz = await get('/healthz');
    seen.push(hz.status);
    ok = hz.status === 200;
    if (!ok) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(ok, `healthz became 200: ${seen}`);
  await h.started;
  assert.equal((await get('/api/v1/status')).json.phase, 'running');
  assert.equal(seen[0], 503);
  assert.equal(seen.at(-1), 200);
  assert.equal((await get('/api/v1/status')).json.ready, true);
});
