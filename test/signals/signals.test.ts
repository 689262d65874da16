/**
 * Signals through the in-process daemon (real engine, ban manager, store,
 * API over HTTP on loopback; fake speaker): each adapter's payload becomes an
 * attack with source signal:<name> and a ban through the guards; refusals
 * answer with the guard's reason; the RTBH webhook's token header, 403 and
 * 429; corroboration by a second source and by a flow-detected attack.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { baseConfig, startHarness, type Harness } from '../daemon/harness.ts';
import { fastnetmonBan } from './payloads.ts';

const OP = 'op-token-1';
const VIEW = 'view-token-1';
process.env.BW_SIG_OP = OP;
process.env.BW_SIG_VIEW = VIEW;
const ADMIN = 'admin-token-1';
process.env.BW_SIG_ADMIN = ADMIN;
const tokens = { listen: '127.0.0.1:0', tokens: [{ name: 'ops', token_env: 'BW_SIG_OP', role: 'operator' }, { name: 'view', token_env: 'BW_SIG_VIEW', role: 'viewer' }] };
const auth = { authorization: `Bearer ${OP}` };

function alert(status: 'firing' | 'resolved', labels: Record<string, string>, annotations: Record<string, string> = {}) {
  return { version: '4', status, receiver: 'breakwater', groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://am', groupKey: 'k', truncatedAlerts: 0, alerts: [{ status, labels, annotations, startsAt: new Date().toISOString(), endsAt: '0001-01-01T00:00:00Z', generatorURL: 'http://prom', fingerprint: 'abc' }] };
}

async function activeBan(h: Harness, target: string): Promise<any> {
  return (await h.req('GET', '/api/v1/bans?active=true', undefined, auth)).json.bans.find((b: any) => b.target === target);
}

test('generic event: 201 with a ban of source signal:<source>, its TTL, the attack listed; dry-run announces nothing; bad input 400', async (t) => {
  const h = await startHarness(t, { api: tokens });
  const r = await h.req('POST', '/api/v1/events', { victim_ip: '198.51.100.20', vector: 'udp_flood', pps: 500000, bps: 4e9, source: 'ids', confidence: 0.9, ttl_seconds: 120 }, auth);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.status, 'banned');
  assert.equal(r.json.source, 'signal:ids');
  assert.equal(r.json.mode, 'dry_run');
  assert.equal(r.json.ban.ttl_seconds, 120);
  const ban = await activeBan(h, '198.51.100.20');
  assert.equal(ban.source, 'signal:ids');
  assert.equal(ban.vector, 'udp_flood');
  assert.deepEqual(ban.announced_to, []);
  const attacks = (await h.req('GET', '/api/v1/attacks', undefined, auth)).json.attacks;
  const a = attacks.find((x: any) => x.target === '198.51.100.20');
  assert.equal(a.source, 'signal:ids');
  assert.equal(a.id, r.json.attack_id);
  assert.equal(a.pps, 500000);
  assert.equal(a.mbps, 4000);
  assert.equal(a.route.prefix, '198.51.100.20/32');
  assert.equal(a.ban.id, ban.id);
  // Dry-run: nothing reaches a router.
  for (const nb of ['127.0.0.2', '127.0.0.3']) assert.equal(h.speaker.rib(nb).size, 0);
  // The same signal again: linked to the same ban (200).
  const again = await h.req('POST', '/api/v1/events', { victim_ip: '198.51.100.20', vector: 'udp_flood', pps: 600000, source: 'ids' }, auth);
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.ban.id, ban.id);
  assert.equal(again.json.attack_id, r.json.attack_id);

  // Bad input: 400 naming the key.
  for (const [body, path] of [
    [{ vector: 'udp_flood' }, 'victim_ip'],
    [{ victim_ip: 'nope' }, 'victim_ip'],
    [{ victim_ip: '198.51.100.21', vector: 'teapot' }, 'vector'],
    [{ victim_ip: '198.51.100.21', pps: -1 }, 'pps'],
    [{ victim_ip: '198.51.100.21', ttl_seconds: 0 }, 'ttl_seconds'],
    [{ victim_ip: '198.51.100.21', confidence: 2 }, 'confidence'],
    [{ victim_ip: '198.51.100.21', source: 'a b' }, 'source'],
  ] as const) {
    const bad = await h.req('POST', '/api/v1/events', body, auth);
    assert.equal(bad.status, 400, `${JSON.stringify(body)}: ${bad.text}`);
    assert.equal(bad.json.code, 'bad_request');
    assert.ok(bad.json.issues.some((i: any) => i.path === path), `${path} in ${bad.text}`);
  }
  const notJson = await fetch(h.base + '/api/v1/events', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{' });
  assert.equal(notJson.status, 400);
  // Refusals carry the guard's reason: outside networks (no attack recorded), whitelisted (attack recorded, refused).
  const out = await h.req('POST', '/api/v1/events', { victim_ip: '192.0.2.55' }, auth);
  assert.equal(out.status, 409, out.text);
  assert.equal(out.json.reason, 'outside_networks');
  const wl = await h.req('POST', '/api/v1/events', { victim_ip: '198.51.100.1', source: 'ids' }, auth);
  assert.equal(wl.status, 409, wl.text);
  assert.equal(wl.json.reason, 'whitelisted');
  assert.match(wl.json.error, /whitelisted/);
  const audit = (await h.req('GET', '/api/v1/audit?action=ban_refused', undefined, auth)).json;
  assert.ok(audit.audit.some((e: any) => e.target === '198.51.100.1' && e.actor === 'signal:ids'), JSON.stringify(audit));
  // Metrics count the signals by sender and outcome.
  const m = (await h.req('GET', '/metrics', undefined, auth)).text;
  assert.match(m, /^breakwater_signals_received_total\{source="ids"\} [3-9]$/m);
  assert.match(m, /^breakwater_signals_outcomes_total\{outcome="banned"\} 2$/m);
  assert.match(m, /^breakwater_signals_open [1-9]$/m);
  // Roles: a viewer may not send signals; no token is 401.
  assert.equal((await h.req('POST', '/api/v1/events', { victim_ip: '198.51.100.22' }, { authorization: `Bearer ${VIEW}` })).status, 403);
  assert.equal((await h.req('POST', '/api/v1/events', { victim_ip: '198.51.100.22' })).status, 401);
});

test('FastNetMon: ban → ban held, attack_details → recorded only, unban → ban lifted at once', async (t) => {
  const h = await startHarness(t, { api: tokens });
  const r = await h.req('POST', '/api/v1/signals/fastnetmon', fastnetmonBan('198.51.100.30'), auth);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.source, 'signal:fastnetmon');
  const ban = await activeBan(h, '198.51.100.30');
  assert.equal(ban.source, 'signal:fastnetmon');
  assert.equal(ban.vector, 'udp_flood');
  const a = (await h.req('GET', '/api/v1/attacks', undefined, auth)).json.attacks.find((x: any) => x.target === '198.51.100.30');
  assert.equal(a.pps, 282472);
  assert.equal(a.mbps, (15253500 * 8) / 1e6);
  const details = await h.req('POST', '/api/v1/signals/fastnetmon', fastnetmonBan('198.51.100.31', 'attack_details'), auth);
  assert.equal(details.status, 202, details.text);
  assert.equal(details.json.status, 'recorded');
  assert.equal(await activeBan(h, '198.51.100.31'), undefined);
  const un = await h.req('POST', '/api/v1/signals/fastnetmon', fastnetmonBan('198.51.100.30', 'unban'), auth);
  assert.equal(un.status, 200, un.text);
  assert.equal(un.json.lifted, ban.id);
  assert.equal(await activeBan(h, '198.51.100.30'), undefined);
  const hist = (await h.req('GET', '/api/v1/bans?active=false', undefined, auth)).json.bans.find((b: any) => b.id === ban.id);
  assert.equal(hist.end_reason, 'manual');
  const ended = (await h.req('GET', '/api/v1/attacks?active=false', undefined, auth)).json.attacks.find((x: any) => x.id === r.json.attack_id);
  assert.ok(ended && ended.end, 'the attack ended and is in the history');
  assert.equal(ended.source, 'signal:fastnetmon');
  // A document with FastNetMon's packet dump (beyond the 64 KiB of other routes) is taken.
  const big = { ...fastnetmonBan('198.51.100.32'), packet_dump: Array.from({ length: 1500 }, (_, i) => `2026-12-07 10:00:00.${i} 203.0.113.${i % 250}:40000 > 198.51.100.32:80 protocol: udp frag: 0 packets: 1 size: 1500 bytes ttl: 64 sample ratio: 1`) };
  assert.ok(JSON.stringify(big).length > 64 * 1024);
  const bigR = await h.req('POST', '/api/v1/signals/fastnetmon', big, auth);
  assert.equal(bigR.status, 201, bigR.text);
  // A payload without an address is a 400.
  const bad = await h.req('POST', '/api/v1/signals/fastnetmon', { action: 'ban' }, auth);
  assert.equal(bad.status, 400);
  assert.ok(bad.json.issues.some((i: any) => i.path === 'ip'));
});

test('Alertmanager: labels map to victim and vector; resolved ends the signal (ban ends after hysteresis); unmappable alerts are skipped', async (t) => {
  const h = await startHarness(t, { api: tokens });
  const r = await h.req('POST', '/api/v1/signals/alertmanager', alert('firing', { alertname: 'DDoS', instance: '198.51.100.40:9100', vector: 'ntp' }, { pps: '123456' }), auth);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.results.length, 1);
  assert.equal(r.json.results[0].status_code, 201);
  assert.equal(r.json.results[0].target, '198.51.100.40');
  const ban = await activeBan(h, '198.51.100.40');
  assert.equal(ban.vector, 'ntp_amplification');
  assert.equal(ban.source, 'signal:alertmanager');
  const skipped = await h.req('POST', '/api/v1/signals/alertmanager', alert('firing', { alertname: 'HighCPU', instance: 'web-1:9100' }), auth);
  assert.equal(skipped.status, 200);
  assert.equal(skipped.json.results.length, 0);
  assert.equal(skipped.json.skipped.length, 1);
  const res = await h.req('POST', '/api/v1/signals/alertmanager', alert('resolved', { alertname: 'DDoS', victim_ip: '198.51.100.40' }), auth);
  assert.equal(res.json.results[0].status, 'ended');
  const b2 = await activeBan(h, '198.51.100.40');
  assert.equal(b2.state, 'expiring', 'resolved leaves the ban to its TTL and hysteresis');
  h.advance(6000);
  assert.equal(await activeBan(h, '198.51.100.40'), undefined);
  const bad = await h.req('POST', '/api/v1/signals/alertmanager', { alerts: [{ status: 'burning' }] }, auth);
  assert.equal(bad.status, 400);
});

test('RTBH webhook: X-Auth-Token of an operator, 403 for a bad token or a whitelisted target, 429 at the rate cap, withdraw lifts', async (t) => {
  const h = await startHarness(t, { api: tokens, ban: { ttl_seconds: 5, unban_hysteresis_seconds: 1, max_bans_per_window: 2, ban_window_seconds: 60 } });
  const x = { 'x-auth-token': OP };
  const a1 = await h.req('POST', '/api/v1/signals/rtbh', { action: 'announce', target_ip: '198.51.100.50', withdraw_after: 3600 }, x);
  assert.equal(a1.status, 201, a1.text);
  assert.equal(a1.json.ban.ttl_seconds, 3600);
  assert.equal((await activeBan(h, '198.51.100.50')).source, 'signal:rtbh');
  assert.equal((await h.req('POST', '/api/v1/signals/rtbh', { action: 'announce', target_ip: '198.51.100.51' }, { authorization: `Bearer ${OP}` })).status, 201);
  // Bad token, viewer token, no token: 403.
  for (const hd of [{ 'x-auth-token': 'wrong' }, { 'x-auth-token': VIEW }, {}] as Array<Record<string, string>>) {
    const r = await h.req('POST', '/api/v1/signals/rtbh', { action: 'announce', target_ip: '198.51.100.52' }, hd);
    assert.equal(r.status, 403, `${JSON.stringify(hd)}: ${r.text}`);
  }
  const wl = await h.req('POST', '/api/v1/signals/rtbh', { action: 'announce', target_ip: '198.51.100.1' }, x);
  assert.equal(wl.status, 403, wl.text);
  assert.equal(wl.json.reason, 'whitelisted');
  // Third ban in the window: 429 with Retry-After; nothing is banned later by itself.
  const res = await fetch(h.base + '/api/v1/signals/rtbh', { method: 'POST', headers: { ...x, 'content-type': 'application/json' }, body: JSON.stringify({ action: 'announce', target_ip: '198.51.100.53' }) });
  assert.equal(res.status, 429);
  assert.equal(res.headers.get('retry-after'), '60');
  const body = (await res.json()) as any;
  assert.equal(body.reason, 'rate_limited');
  h.clock.advance(61_000);
  h.advance(200);
  assert.equal(await activeBan(h, '198.51.100.53'), undefined, 'a refused RTBH announcement is not retried');
  // Withdraw lifts at once; withdrawing again is a 404.
  const w = await h.req('POST', '/api/v1/signals/rtbh', { action: 'withdraw', target_ip: '198.51.100.50' }, x);
  assert.equal(w.status, 200, w.text);
  assert.equal(await activeBan(h, '198.51.100.50'), undefined);
  assert.equal((await h.req('POST', '/api/v1/signals/rtbh', { action: 'withdraw', target_ip: '198.51.100.50' }, x)).status, 404);
  // withdraw_after runs out: the signal ends and its ban is lifted.
  const a3 = await h.req('POST', '/api/v1/signals/rtbh', { action: 'announce', target_ip: '198.51.100.54', withdraw_after: 2 }, x);
  assert.equal(a3.status, 201, a3.text);
  h.clock.advance(2500);
  h.d.signalHub!.tick(h.clock.now());
  assert.equal(await activeBan(h, '198.51.100.54'), undefined);
});

test('corroboration: a single source is recorded without a ban (202, why); a second source or a flow-detected attack bans', async (t) => {
  const h = await startHarness(t, { api: { ...tokens, token_env: 'BW_SIG_ADMIN' }, signals: { require_corroboration: 2, corroboration_window_seconds: 60 } });
  const one = await h.req('POST', '/api/v1/events', { victim_ip: '198.51.100.60', vector: 'syn', source: 'ids' }, auth);
  assert.equal(one.status, 202, one.text);
  assert.equal(one.json.status, 'pending_corroboration');
  assert.match(one.json.detail, /1 of 2 distinct sources/);
  assert.deepEqual(one.json.sources, ['signal:ids']);
  assert.equal(await activeBan(h, '198.51.100.60'), undefined);
  assert.ok((await h.req('GET', '/api/v1/attacks', undefined, auth)).json.attacks.some((a: any) => a.target === '198.51.100.60' && a.source === 'signal:ids'), 'attack recorded');
  // The same source again does not corroborate.
  assert.equal((await h.req('POST', '/api/v1/events', { victim_ip: '198.51.100.60', source: 'ids' }, auth)).status, 202);
  const two = await h.req('POST', '/api/v1/signals/fastnetmon', fastnetmonBan('198.51.100.60'), auth);
  assert.equal(two.status, 201, two.text);
  const ban = await activeBan(h, '198.51.100.60');
  assert.ok(ban);
  assert.deepEqual([...ban.attack_ids].sort(), [one.json.attack_id, two.json.attack_id].sort(), 'both signals hold the ban');
  // Outside the window the first report no longer counts.
  assert.equal((await h.req('POST', '/api/v1/events', { victim_ip: '198.51.100.61', source: 'ids' }, auth)).status, 202);
  h.clock.advance(61_000);
  assert.equal((await h.req('POST', '/api/v1/events', { victim_ip: '198.51.100.61', source: 'other' }, auth)).status, 202);
  // A flow-detected attack on the target corroborates the open signal.
  assert.equal((await h.req('POST', '/api/v1/events', { victim_ip: '198.51.100.7', source: 'ids' }, auth)).status, 202);
  h.advance(200);
  for (let i = 0; i < 10 && !(await activeBan(h, '198.51.100.7')); i++) {
    h.flood('198.51.100.7', 50, 10);
    h.advance(100);
  }
  const fb = await activeBan(h, '198.51.100.7');
  assert.ok(fb, 'banned once detection saw it');
  const sigAttack = (await h.req('GET', '/api/v1/attacks', undefined, auth)).json.attacks.find((a: any) => a.target === '198.51.100.7' && a.source === 'signal:ids');
  assert.ok(fb.attack_ids.includes(sigAttack.id), 'the signal attack is linked to the ban');
  assert.equal(fb.source, 'auto', 'detection made the ban; the signal joined it');
  // A whitelisted target answers with the guard at once, corroborated or not.
  const wl = await h.req('POST', '/api/v1/events', { victim_ip: '198.51.100.1', source: 'ids' }, auth);
  assert.equal(wl.json.reason, 'whitelisted');
  // A reload applies the signals keys at once: one source is enough now.
  h.writeConfig(baseConfig(join(h.dir, 'data'), { api: { ...tokens, token_env: 'BW_SIG_ADMIN' }, signals: { require_corroboration: 1 } }));
  const rl = await h.req('POST', '/api/v1/config/reload', undefined, { authorization: `Bearer ${ADMIN}` });
  assert.equal(rl.status, 200, rl.text);
  assert.ok(rl.json.changed.includes('signals.require_corroboration'), rl.text);
  assert.equal((await h.req('POST', '/api/v1/events', { victim_ip: '198.51.100.62', source: 'ids' }, auth)).status, 201);
});

test('notifications: a signal\'s attack_start and ban reach a webhook receiver with who signal:<name>; the start announced its mode', async (t) => {
  const { startHttpReceiver } = await import('../notify/receivers.ts');
  const wh = await startHttpReceiver();
  t.after(() => wh.close());
  const h = await startHarness(t, { api: tokens, notify: { group_seconds: 0, outbox: { retry_initial_seconds: 0.05, retry_max_seconds: 0.2 }, webhook: { url: wh.url } } });
  const r = await h.req('POST', '/api/v1/signals/fastnetmon', fastnetmonBan('198.51.100.80'), auth);
  assert.equal(r.status, 201, r.text);
  const events = () => wh.received.flatMap((x) => JSON.parse(x.body).events as any[]);
  const end = Date.now() + 10_000;
  while (!(events().some((e) => e.event === 'ban') && events().some((e) => e.event === 'attack_start')) && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
  const start = events().find((e) => e.event === 'attack_start');
  const ban = events().find((e) => e.event === 'ban');
  assert.ok(start && ban, JSON.stringify(events()));
  assert.equal(start.target, '198.51.100.80');
  assert.equal(start.who, 'signal:fastnetmon');
  assert.equal(start.attack_id, r.json.attack_id);
  assert.equal(ban.who, 'signal:fastnetmon');
  assert.equal(ban.mode, 'dry_run');
  const mc = events().find((e) => e.event === 'mode_change');
  assert.deepEqual([mc?.who, mc?.from, mc?.to], ['start', undefined, 'dry_run']);
  // A restart that goes live says so, with the previous run's mode.
  h.writeConfig(baseConfig(join(h.dir, 'data'), { api: tokens, dry_run: false, notify: { group_seconds: 0, webhook: { url: wh.url } } }));
  await h.restart();
  const end2 = Date.now() + 10_000;
  while (events().filter((e) => e.event === 'mode_change').length < 2 && Date.now() < end2) await new Promise((res) => setTimeout(res, 20));
  const modes = events().filter((e) => e.event === 'mode_change').map((e) => [e.who, e.from, e.to, e.mode]);
  assert.deepEqual(modes, [['start', undefined, 'dry_run', 'dry_run'], ['start', 'dry_run', 'live', 'live']]);
});
