/**
 * Reload at the daemon level: thresholds and hostgroups take effect on the
 * running engine (in-process, real engine, FakeSpeaker), and against BIRD a
 * neighbor added by reload gets its session while the existing one stays up
 * and a lowered threshold detects an attack it did not before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Daemon } from '../../src/daemon/daemon.ts';
import { createLogger } from '../../src/core/log.ts';
import { Bird, birdAvailable, birdConfig } from '../helpers/bird.ts';
import { loopbackBlock, removeDir, sleep, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, SflowSender } from '../e2e/helpers.ts';
import { baseConfig, startHarness, type Harness } from './harness.ts';

const V = '198.51.100.7';

/** 1 s of 50 records x 100 packets per 100 ms tick toward `dst`: 50 kpps. */
function flood50k(h: Harness, dst = V): void {
  for (let i = 0; i < 10; i++) {
    h.flood(dst, 50, 100, { srcPort: 123, bytes: 468 });
    h.advance(100);
  }
}

async function attacksOn(h: Harness, target: string): Promise<any[]> {
  return (await h.req('GET', '/api/v1/attacks')).json.attacks.filter((a: any) => a.target === target && a.active);
}

test('reload: a lowered threshold detects what the old one let through; a raised one lets it through again', async (t) => {
  const h = await startHarness(t, { thresholds: { pps: 100_000 } });
  const dataDir = join(h.dir, 'data');
  h.advance(200);
  flood50k(h);
  assert.equal((await attacksOn(h, V)).length, 0, '50 kpps is below 100 kpps');

  h.writeConfig(baseConfig(dataDir, { thresholds: { pps: 20_000 } }));
  const r = await h.req('POST', '/api/v1/config/reload');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.changed, ['thresholds.pps']);
  flood50k(h);
  const a = await attacksOn(h, V);
  assert.equal(a.length, 1, 'detected after the reload');
  assert.ok(a[0].triggers.some((x: string) => /pps/.test(x)), JSON.stringify(a[0].triggers));

  // Raised again: the attack ends (after its hysteresis) and a new flood at 50 kpps is not one.
  h.writeConfig(baseConfig(dataDir, { thresholds: { pps: 100_000 } }));
  assert.equal((await h.req('POST', '/api/v1/config/reload')).status, 200);
  h.advance(3000);
  flood50k(h);
  assert.equal((await attacksOn(h, V)).length, 0, 'not an attack under the raised threshold');
});

test('reload: a hostgroup added with its own lower threshold applies to its hosts only', async (t) => {
  const h = await startHarness(t, { thresholds: { pps: 100_000 } });
  const dataDir = join(h.dir, 'data');
  const OTHER = '198.51.100.200'; // outside the hostgroup
  h.advance(200);
  flood50k(h, V);
  flood50k(h, OTHER);
  assert.equal((await attacksOn(h, V)).length + (await attacksOn(h, OTHER)).length, 0);

  const hostgroups = [{ name: 'web', networks: ['198.51.100.0/25'], thresholds: { pps: 20_000 } }];
  h.writeConfig(baseConfig(dataDir, { thresholds: { pps: 100_000 }, hostgroups }));
  const r = await h.req('POST', '/api/v1/config/reload');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.changed, ['hostgroups']);
  for (let i = 0; i < 10; i++) {
    h.flood(V, 50, 100, { srcPort: 123, bytes: 468 });
    h.flood(OTHER, 50, 100, { srcPort: 123, bytes: 468 });
    h.advance(100);
  }
  const a = await attacksOn(h, V);
  assert.equal(a.length, 1, 'the hostgroup host is detected');
  assert.equal(a[0].hostgroup, 'web');
  assert.equal((await attacksOn(h, OTHER)).length, 0, 'a host outside the group keeps the global threshold');
});

const skipBird = birdAvailable() ? false : 'BIRD 2 (bird, birdc) not installed or not root';

test('reload against BIRD (in-process daemon, real engine, collector and speaker): a neighbor added gets a session, the existing one stays up; a lowered threshold detects the attack the old one let through; a new community re-announces the active ban', { skip: skipBird, timeout: 120_000 }, async (t) => {
  const dir = tempDir('bw-reload-');
  mkdirSync(join(dir, 'data'));
  const L = loopbackBlock();
  const p1 = freePort();
  const p2 = freePort();
  const peer = (name: string, host: number, port: number) =>
    birdConfig({ name, routerId: L(2), localAddress: L(host), localPort: port, localAsn: 65001, peerAddress: L(1), peerPort: freePort(), peerAsn: 65000, holdTime: 9, passive: true, families: ['ipv4', 'ipv6'] });
  const second = peer('bw2', 3, p2);
  const bird = new Bird(peer('bw', 2, p1) + '\n' + second.slice(second.indexOf('protocol bgp bw2 {')));
  const sender = new SflowSender();
  const lines: string[] = [];
  const log = createLogger({ format: 'json', level: 'info', destination: { write: (x: string) => lines.push(...x.split('\n').filter(Boolean)) } });
  const configFile = join(dir, 'breakwater.yaml');
  const nb = (host: number, port: number) => ({ address: L(host), port, remote_asn: 65001, local_address: L(1), hold_time: 9 });
  const cfg = (pps: number, neighbors: unknown[]) => ({
    dry_run: false,
    listen: { netflow: '', sflow: '127.0.0.1:0', workers: 1 },
    networks: ['198.51.100.0/24'],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 1 },
    thresholds: { pps },
    ban: { ttl_seconds: 120, unban_hysteresis_seconds: 1 },
    bgp: { local_asn: 65000, router_id: L(1), next_hop: '192.0.2.1', connect_retry_seconds: 1, neighbors },
    api: { listen: '127.0.0.1:0' },
    storage: { data_dir: join(dir, 'data') },
  });
  let d: Daemon | undefined;
  t.after(async () => {
    sender.close();
    await d?.stop('test end').catch(() => undefined);
    await bird.dispose();
    removeDir(dir);
  });
  await bird.start();
  writeFileSync(configFile, stringify(cfg(50_000, [nb(2, p1)])));
  d = new Daemon({ configFile, log });
  await d.start();
  const api = async (method: string, path: string) => {
    const res = await fetch(`http://127.0.0.1:${d!.apiAddress!.port}${path}`, { method, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, json: (await res.json()) as any };
  };
  const sflowPort = d.collector.addresses().sflow!.port;
  await waitFor('bw Established', async () => (await bird.state('bw')) === 'Established', 30_000, 200);
  assert.notEqual(await bird.state('bw2'), 'Established', 'no session to a neighbor not in the config');

  // 20 kpps is below the 50 kpps threshold: no attack.
  const VICTIM = '198.51.100.9';
  await sender.start(sflowPort, { victim: VICTIM, pps: 20_000, samplingRate: 100 }, 2000);
  await sleep(500);
  const host = await api('GET', `/api/v1/hosts?ip=${VICTIM}`);
  assert.equal(host.status, 200, 'the traffic was counted');
  assert.ok(host.json.directions[0].pps > 10_000, JSON.stringify(host.json));
  assert.equal((await api('GET', '/api/v1/attacks')).json.total, 0, 'below the old threshold');

  const since = (await bird.protocol('bw')).summary?.split(/\s+/)[4];
  writeFileSync(configFile, stringify(cfg(10_000, [nb(2, p1), nb(3, p2)])));
  const r = await api('POST', '/api/v1/config/reload');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual([...r.json.changed].sort(), ['thresholds.pps', `bgp.neighbors[${L(3)}:${p2}] added`].sort());
  const logged = lines.map((l) => JSON.parse(l)).find((o) => o.event === 'config reload' && o.changed?.length);
  assert.deepEqual(logged?.neighbors?.added, [L(3)], 'the reload log names the added neighbor');
  await waitFor('bw2 Established after the reload', async () => (await bird.state('bw2')) === 'Established', 30_000, 200);
  assert.equal(await bird.state('bw'), 'Established');
  // BIRD prints a monotonic timestamp converted to wall time at each call, so the same instant can read 1 ms apart;
  // a restarted session would show the time of its new Established, after the reload (seconds later).
  const ms = (t: string | undefined) => (t ? t.split(':').reduce((a, x) => a * 60 + Number(x), 0) * 1000 : NaN);
  const after = (await bird.protocol('bw')).summary?.split(/\s+/)[4];
  assert.ok(Math.abs(ms(after) - ms(since)) <= 5, `the existing session was not restarted: since ${since}, now ${after}`);
  const nbs = (await api('GET', '/api/v1/status')).json.neighbors;
  assert.equal(nbs.length, 2);
  assert.equal(nbs.find((n: any) => n.address === L(2)).flaps, 0, 'no flap of the existing session');

  // The same 20 kpps is now an attack, and its ban reaches both neighbors.
  await sender.start(sflowPort, { victim: VICTIM, pps: 20_000, samplingRate: 100 }, 2500);
  const a = await waitFor('attack after the reload', async () => (await api('GET', '/api/v1/attacks?active=true')).json.attacks.find((x: any) => x.target === VICTIM), 10_000, 200);
  assert.ok(a.triggers.some((x: string) => /pps/.test(x)), JSON.stringify(a.triggers));
  await waitFor('BIRD holds the ban from both sessions', async () => (await bird.count('master4', 'bw')) >= 1 && (await bird.count('master4', 'bw2')) >= 1, 15_000, 200);

  // Neighbor removed: its session ends, the other stays.
  writeFileSync(configFile, stringify(cfg(10_000, [nb(3, p2)])));
  const rm = await api('POST', '/api/v1/config/reload');
  assert.equal(rm.status, 200);
  assert.deepEqual(rm.json.changed, [`bgp.neighbors[${L(2)}:${p1}] removed`]);
  await waitFor('bw down after removal', async () => (await bird.state('bw')) !== 'Established', 20_000, 200);
  assert.equal(await bird.state('bw2'), 'Established');
  assert.equal((await api('GET', '/api/v1/status')).json.neighbors.length, 1);

  // A route key alone (bgp.communities): the ban module gets the new route policy's builder and the active ban reaches BIRD again with it.
  const withCommunity = cfg(10_000, [nb(3, p2)]);
  withCommunity.bgp = { ...withCommunity.bgp, communities: ['65000:777'] } as typeof withCommunity.bgp;
  writeFileSync(configFile, stringify(withCommunity));
  const rc = await api('POST', '/api/v1/config/reload');
  assert.equal(rc.status, 200, JSON.stringify(rc.json));
  assert.deepEqual(rc.json.changed, ['bgp.communities']);
  await waitFor('BIRD holds the ban with the new community', async () => (await bird.routes('master4')).some((x) => x.net === `${VICTIM}/32` && /\(65000,777\)/.test(x.attrs['BGP.community'] ?? '')), 15_000, 200);
});
