/**
 * Breakwater as a real child process with BIRD 2 as its BGP neighbor on
 * loopback, driven only by signals over HTTP with an operator token:
 * dry-run — a FastNetMon ban payload makes a ban that BIRD never sees;
 * live (SIGHUP) — it is announced and BIRD holds the blackhole; FastNetMon's
 * unban withdraws it; the RTBH webhook (X-Auth-Token) announces, refuses a
 * whitelisted target with 403 and the rate cap with 429, and withdraws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { birdAvailable, type Bird } from '../helpers/bird.ts';
import { sleep, waitFor } from '../helpers/netns.ts';
import { freePort, withBirdAndBreakwater, writeYaml } from './helpers.ts';
import { fastnetmonBan } from '../signals/payloads.ts';

const skip = birdAvailable() ? false : 'BIRD 2 (bird, birdc) not installed or not root';
const TOKEN = 'signals-e2e-operator';
process.env.BW_SIG_E2E = TOKEN;

function config(dir: string, L: (h: number) => string, birdPort: number, dryRun: boolean, ports: { sflow: number; api: number }): any {
  return {
    dry_run: dryRun,
    log: { level: 'info' },
    listen: { netflow: '', sflow: `127.0.0.1:${ports.sflow}`, workers: 1 },
    networks: ['198.51.100.0/24'],
    protected_whitelist: ['198.51.100.1/32'],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 1 },
    thresholds: { pps: 10_000 },
    ban: { ttl_seconds: 600, unban_hysteresis_seconds: 2, max_bans_per_window: 3, ban_window_seconds: 60 },
    bgp: {
      local_asn: 65000,
      router_id: L(1),
      next_hop: '192.0.2.1',
      communities: ['65000:666'],
      connect_retry_seconds: 1,
      neighbors: [{ address: L(2), port: birdPort, remote_asn: 65001, local_address: L(1), hold_time: 9 }],
    },
    api: { listen: `127.0.0.1:${ports.api}`, tokens: [{ name: 'fastnetmon', token_env: 'BW_SIG_E2E', role: 'operator' }] },
    storage: { data_dir: join(dir, 'data') },
  };
}

async function birdNets(b: Bird): Promise<Set<string>> {
  return new Set((await b.routes('master4')).filter((r) => r.head.includes('bw')).map((r) => r.net));
}

test('signals against BIRD: FastNetMon ban not announced in dry-run, held by BIRD live, unban withdraws; RTBH webhook 403/429/withdraw', { skip, timeout: 120_000 }, async (t) => {
  const ports = { sflow: freePort(), api: freePort() };
  const { L, dir, file: cfgFile, birds, birdPorts, bw } = await withBirdAndBreakwater(t, {
    dirPrefix: 'bw-sig-e2e-',
    peers: [{ host: 2, asn: 65001, families: ['ipv4', 'ipv6'] }],
    config: ({ L, dir, birdPorts }) => config(dir, L, birdPorts[0], true, ports),
    established: { label: 'BGP Established with BIRD', timeoutMs: 30_000, intervalMs: 200 },
  });
  const bird = birds[0];
  const birdPort = birdPorts[0];
  const auth = { authorization: `Bearer ${TOKEN}` };

  // ---- dry-run: the ban exists, BIRD holds nothing.
  const d1 = await bw.api('POST', '/api/v1/signals/fastnetmon', fastnetmonBan('198.51.100.70'), auth);
  assert.equal(d1.status, 201, d1.text);
  assert.equal(d1.json.mode, 'dry_run');
  const ban1 = (await bw.api('GET', '/api/v1/bans?active=true', undefined, auth)).json.bans.find((b: any) => b.target === '198.51.100.70');
  assert.equal(ban1.source, 'signal:fastnetmon');
  assert.deepEqual(ban1.announced_to, []);
  await sleep(1500);
  assert.equal((await birdNets(bird)).size, 0, 'BIRD holds nothing in dry-run');

  // ---- live: the same ban reaches BIRD; a new FastNetMon ban too; unban withdraws it.
  writeYaml(cfgFile, config(dir, L, birdPort, false, ports));
  bw.signal('SIGHUP');
  await waitFor('BIRD holds the dry-run ban once live', async () => (await birdNets(bird)).has('198.51.100.70/32'), 15_000, 100);
  const l1 = await bw.api('POST', '/api/v1/signals/fastnetmon', fastnetmonBan('198.51.100.71'), auth);
  assert.equal(l1.status, 201, l1.text);
  assert.equal(l1.json.mode, 'live');
  await waitFor('BIRD holds the FastNetMon ban', async () => (await birdNets(bird)).has('198.51.100.71/32'), 10_000, 100);
  const u1 = await bw.api('POST', '/api/v1/signals/fastnetmon', fastnetmonBan('198.51.100.71', 'unban'), auth);
  assert.equal(u1.status, 200, u1.text);
  await waitFor('BIRD loses the unbanned route', async () => !(await birdNets(bird)).has('198.51.100.71/32'), 10_000, 100);

  // ---- RTBH webhook with X-Auth-Token.
  const x = { 'x-auth-token': TOKEN };
  assert.equal((await bw.api('POST', '/api/v1/signals/rtbh', { action: 'announce', target_ip: '198.51.100.72' }, { 'x-auth-token': 'wrong' })).status, 403);
  const wl = await bw.api('POST', '/api/v1/signals/rtbh', { action: 'announce', target_ip: '198.51.100.1' }, x);
  assert.equal(wl.status, 403, wl.text);
  assert.equal(wl.json.reason, 'whitelisted');
  const r1 = await bw.api('POST', '/api/v1/signals/rtbh', { action: 'announce', target_ip: '198.51.100.72', withdraw_after: 3600 }, x);
  assert.equal(r1.status, 201, r1.text);
  await waitFor('BIRD holds the RTBH route', async () => (await birdNets(bird)).has('198.51.100.72/32'), 10_000, 100);
  // Three bans in the window already (70, 71, 72): the fourth is 429 and never reaches BIRD.
  const rl = await bw.api('POST', '/api/v1/signals/rtbh', { action: 'announce', target_ip: '198.51.100.73' }, x);
  assert.equal(rl.status, 429, rl.text);
  assert.equal(rl.json.reason, 'rate_limited');
  const w = await bw.api('POST', '/api/v1/signals/rtbh', { action: 'withdraw', target_ip: '198.51.100.72' }, x);
  assert.equal(w.status, 200, w.text);
  await waitFor('BIRD loses the withdrawn RTBH route', async () => !(await birdNets(bird)).has('198.51.100.72/32'), 10_000, 100);
  await sleep(500);
  const nets = await birdNets(bird);
  assert.ok(!nets.has('198.51.100.73/32') && !nets.has('198.51.100.1/32'), `refused targets never announced: ${[...nets].join(' ')}`);
  // The attacks are listed with their source; the log has each signal.
  const attacks = (await bw.api('GET', '/api/v1/attacks?limit=1000', undefined, auth)).json.attacks;
  assert.ok(attacks.some((a: any) => a.target === '198.51.100.72' && a.source === 'signal:rtbh'));
  assert.ok(bw.logLines().some((l) => l.event === 'signal' && l.source === 'signal:fastnetmon' && l.outcome === 'banned'));
});
