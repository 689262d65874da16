/**
 * Breakwater as a real child process with BIRD 2 as its BGP neighbor on
 * loopback, flows sent over UDP. Walks the going-live procedure: dry-run
 * (attack and route visible, BIRD holds nothing) → dry_run: false + SIGHUP
 * (BIRD holds the blackhole with its communities and next hop, metric under
 * mode="real") → whitelist guard (409) → a bundled SYN-flood capture from
 * pcaps/ replayed over UDP with `breakwater replay` (BIRD holds the ban of its
 * victim, the ban names the attack) → TTL + hysteresis expiry (BIRD loses
 * the route) → kill -9 and restart (the ban stays on BIRD throughout) → back
 * to dry-run by the API (BIRD holds nothing, the session stays up) → SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bird, birdAvailable, birdConfig } from '../helpers/bird.ts';
import { loopbackBlock, removeDir, sleep, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, metricValue, repoRoot, SflowSender, startBreakwater, writeYaml, type Breakwater } from './helpers.ts';

const skip = birdAvailable() ? false : 'BIRD 2 (bird, birdc) not installed or not root';

const ATTACKED = '198.51.100.7';
const MANUAL = '198.51.100.20';
/** pmacct sfprobe, sFlow v5 1:100: 20 kpps TCP SYN flood to 198.51.100.10:80 (pcaps/README.md). */
const CAPTURE = join(repoRoot, 'pcaps/pmacct-sflow5-sampled-syn-flood.pcap');
const CAPTURE_VICTIM = '198.51.100.10';
const CAPTURE_DATAGRAMS = 197;
const PKG_VERSION = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;

function config(dir: string, L: (h: number) => string, birdPort: number, dryRun: boolean, ports: { sflow: number; api: number }): any {
  return {
    dry_run: dryRun,
    log: { level: 'info' },
    listen: { netflow: '', sflow: `127.0.0.1:${ports.sflow}`, workers: 1 },
    networks: ['198.51.100.0/24'],
    protected_whitelist: ['198.51.100.1/32'],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 1 },
    thresholds: { pps: 10_000 },
    ban: { ttl_seconds: 6, unban_hysteresis_seconds: 2 },
    bgp: {
      local_asn: 65000,
      router_id: L(1),
      next_hop: '192.0.2.1',
      communities: ['65000:666'],
      large_communities: ['65000:0:666'],
      graceful_restart: { enabled: true, restart_seconds: 60 },
      connect_retry_seconds: 1,
      neighbors: [{ address: L(2), port: birdPort, remote_asn: 65001, local_address: L(1), hold_time: 9 }],
    },
    api: { listen: `127.0.0.1:${ports.api}` },
    storage: { data_dir: join(dir, 'data') },
  };
}

async function birdRoutes(b: Bird): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  for (const r of await b.routes('master4')) if (r.head.includes('bw')) out.set(r.net, { ...r.attrs, head: r.head });
  return out;
}

test('going live against BIRD: dry-run, SIGHUP live, whitelist 409, replayed pcaps/ SYN flood banned, TTL expiry, kill -9 restart, back to dry-run', { skip, timeout: 180_000 }, async (t) => {
  const dir = tempDir('bw-e2e-');
  mkdirSync(join(dir, 'data'));
  const L = loopbackBlock();
  const birdPort = freePort();
  const ports = { sflow: freePort(), api: freePort() };
  const bird = new Bird(
    birdConfig({ routerId: L(2), localAddress: L(2), localPort: birdPort, localAsn: 65001, peerAddress: L(1), peerPort: freePort(), peerAsn: 65000, holdTime: 9, passive: true, families: ['ipv4', 'ipv6', 'flow4', 'flow6'] }),
  );
  const sender = new SflowSender();
  let bw: Breakwater | undefined;
  t.after(async () => {
    sender.close();
    await bw?.stop().catch(() => undefined);
    await bird.dispose();
    removeDir(dir);
  });
  await bird.start();
  const cfgFile = join(dir, 'breakwater.yaml');
  let cfg = config(dir, L, birdPort, true, ports);
  writeYaml(cfgFile, cfg);
  bw = await startBreakwater(cfgFile, cfg);
  await waitFor('BGP Established with BIRD', async () => (await bird.state()) === 'Established', 30_000, 200);
  assert.ok(bw.logLines().some((l) => l.event === 'bgp peer state' && /established/i.test(String(l.to ?? l.state ?? l.new ?? JSON.stringify(l)))), 'bgp peer state events logged');

  // ---- 1. dry-run: the attack and its would-be route are visible; BIRD holds nothing.
  await sender.start(bw.sflowPort, { victim: ATTACKED, pps: 30_000, samplingRate: 100 }, 2500);
  const attack = await waitFor('attack in the API', async () => (await bw!.api('GET', '/api/v1/attacks')).json.attacks.find((a: any) => a.target === ATTACKED), 10_000, 200);
  assert.equal(attack.route.type, 'blackhole');
  assert.equal(attack.route.prefix, `${ATTACKED}/32`);
  assert.equal(attack.route.next_hop, '192.0.2.1');
  assert.ok(attack.route.communities.includes('65535:666'));
  assert.equal(attack.mode, 'dry_run');
  const manual = await bw.api('POST', '/api/v1/ban', { ip: MANUAL, ttl_seconds: 600 });
  assert.equal(manual.status, 201);
  assert.ok(manual.json.ban.ttl_left_seconds <= 600 && manual.json.ban.ttl_left_seconds >= 595, `ttl_left_seconds ${manual.json.ban.ttl_left_seconds}`);
  const manualAt = Date.now();
  const st1 = (await bw.api('GET', '/api/v1/status')).json;
  assert.equal(st1.version, PKG_VERSION);
  assert.ok(Number.isInteger(st1.uptime_seconds) && st1.uptime_seconds >= 0 && st1.uptime_seconds < 60, `uptime ${st1.uptime_seconds}`);
  const ingest1 = st1.ingest.find((e: any) => e.exporter === '127.0.0.1');
  assert.ok(ingest1 && ingest1.datagrams >= 1 && ingest1.records >= ingest1.datagrams, `ingest per exporter: ${JSON.stringify(st1.ingest)}`);
  assert.equal(typeof ingest1.datagrams_per_s, 'number');
  assert.equal(typeof ingest1.records_per_s, 'number');
  await sleep(1000);
  assert.equal((await birdRoutes(bird)).size, 0, 'BIRD holds no Breakwater route in dry-run');
  assert.equal(metricValue(await bw.metrics(), 'breakwater_mitigate_announced_routes', 'mode="real"'), 0);
  assert.ok(metricValue(await bw.metrics(), 'breakwater_mitigate_announced_routes', 'mode="dry_run"') >= 1);
  assert.equal((await bw.api('GET', '/api/v1/status')).json.mode, 'dry_run');

  // ---- 2. dry_run: false + SIGHUP: active bans are announced at once, session not dropped.
  const established = (await bird.protocol()).summary;
  cfg = config(dir, L, birdPort, false, ports);
  writeYaml(cfgFile, cfg);
  bw.signal('SIGHUP');
  const live = await waitFor('BIRD holds the manual ban', async () => {
    const r = await birdRoutes(bird);
    return r.get(`${MANUAL}/32`) ? r : undefined;
  }, 10_000, 100);
  const route = live!.get(`${MANUAL}/32`)!;
  assert.match(route['BGP.next_hop'] ?? '', /192\.0\.2\.1/, JSON.stringify(route));
  assert.match(route['BGP.community'] ?? '', /\(65535,\s*666\)/);
  assert.match(route['BGP.community'] ?? '', /\(65000,\s*666\)/);
  assert.match(route['BGP.large_community'] ?? '', /\(65000,\s*0,\s*666\)/);
  assert.equal((await bw.api('GET', '/api/v1/status')).json.mode, 'live');
  assert.ok(metricValue(await bw.metrics(), 'breakwater_mitigate_announced_routes', 'mode="real"') >= 1);
  assert.equal(metricValue(await bw.metrics(), 'breakwater_mitigate_announced_routes', 'mode="dry_run"'), 0);
  assert.equal((await bird.protocol()).summary?.split(/\s+/)[4], established?.split(/\s+/)[4], 'session not restarted by the reload');

  // ---- 3. whitelist guard
  const wl = await bw.api('POST', '/api/v1/ban', { ip: '198.51.100.1' });
  assert.equal(wl.status, 409);
  assert.ok(wl.json.reason);

  // ---- 3b. a capture from pcaps/ replayed over UDP: its victim's ban reaches BIRD.
  assert.ok(existsSync(CAPTURE), `${CAPTURE} is bundled`);
  const before = (await bw.api('GET', '/api/v1/status')).json.ingest.find((e: any) => e.exporter === '127.0.0.1')?.datagrams ?? 0;
  const replayOut = execFileSync(process.execPath, [join(repoRoot, 'src/main.ts'), 'replay', CAPTURE, '--to', `127.0.0.1:${bw.sflowPort}`, '--speed', '0'], { encoding: 'utf8', timeout: 30_000 });
  const replayed = await waitFor('BIRD holds the replayed victim', async () => (await birdRoutes(bird)).get(`${CAPTURE_VICTIM}/32`), 15_000, 100);
  assert.match(replayed['BGP.next_hop'] ?? '', /192\.0\.2\.1/, JSON.stringify(replayed));
  assert.match(replayed['BGP.community'] ?? '', /\(65535,\s*666\)/);
  const synAttack = (await bw.api('GET', '/api/v1/attacks')).json.attacks.find((a: any) => a.target === CAPTURE_VICTIM);
  assert.ok(synAttack, `attack on ${CAPTURE_VICTIM} from the capture (replay: ${replayOut.trim()})`);
  assert.equal(synAttack.vector, 'syn_flood');
  assert.equal(synAttack.mode, 'live');
  const synBan = (await bw.api('GET', '/api/v1/bans?active=true')).json.bans.find((b: any) => b.target === CAPTURE_VICTIM);
  assert.ok(synBan, 'the replayed attack is banned');
  assert.equal(synBan.attack_id, synAttack.id, 'the ban comes from the replayed attack');
  assert.deepEqual(synBan.announced_to, [cfg.bgp.neighbors[0].address]);
  // Collector workers report their counters about once a second: wait for the report.
  let counted = 0;
  await waitFor('the capture\'s datagrams in the ingest status', async () => {
    const e = (await bw!.api('GET', '/api/v1/status')).json.ingest.find((x: any) => x.exporter === '127.0.0.1');
    counted = (e?.datagrams ?? 0) - before;
    return counted >= CAPTURE_DATAGRAMS * 0.95 ? true : undefined;
  }, 5_000, 100).catch(() => undefined);
  assert.ok(counted >= CAPTURE_DATAGRAMS * 0.95, `the capture's ${CAPTURE_DATAGRAMS} datagrams counted: ${counted}`);
  assert.ok(metricValue(await bw.metrics(), 'breakwater_engine_attacks_total', 'vector="syn_flood"') >= 1);

  // ---- 4. an attack ban in live mode ends after TTL + hysteresis and BIRD loses it.
  await sender.start(bw.sflowPort, { victim: ATTACKED, pps: 30_000, samplingRate: 100 }, 1500);
  await waitFor('BIRD holds the attack ban', async () => (await birdRoutes(bird)).has(`${ATTACKED}/32`), 10_000, 100);
  const bans = (await bw.api('GET', '/api/v1/bans?active=true')).json.bans;
  const ab = bans.find((b: any) => b.target === ATTACKED);
  assert.ok(ab, 'attack ban listed');
  assert.deepEqual(ab.announced_to, [cfg.bgp.neighbors[0].address]);
  const floodEnd = Date.now();
  await waitFor('BIRD loses the expired ban', async () => !(await birdRoutes(bird)).has(`${ATTACKED}/32`), 30_000, 200);
  const goneAt = Date.now();
  if (process.env.BW_E2E_DEBUG) for (const l of bw.logLines()) if (/attack|ban|unban|reload|mode|flow/.test((l.event ?? '') + (l.msg ?? ''))) console.error(new Date(l.time).toISOString(), l.event, l.msg, l.target, l.reason ?? '', l.ban ?? '');
  if (process.env.BW_E2E_DEBUG) console.error('floodEnd', new Date(floodEnd).toISOString(), 'goneAt', new Date(goneAt).toISOString(), 'created', new Date(ab.created).toISOString());
  // Ends at max(created + TTL, attack end + unban hysteresis); the attack ends attack_hysteresis after the flood.
  assert.ok(goneAt >= ab.created + cfg.ban.ttl_seconds * 1000 - 100, `withdrawn ${(ab.created + cfg.ban.ttl_seconds * 1000 - goneAt) / 1000} s before the TTL`);
  assert.ok(goneAt >= floodEnd + cfg.ban.unban_hysteresis_seconds * 1000, 'withdrawn before the unban hysteresis after the attack');
  assert.ok(goneAt <= Math.max(ab.created + cfg.ban.ttl_seconds * 1000, floodEnd + 5000) + 4000, 'withdrawn late');
  const hist = (await bw.api('GET', '/api/v1/bans?active=false')).json.bans;
  assert.ok(hist.some((b: any) => b.target === ATTACKED && b.end_reason), 'ended ban in history');
  // TTL left counts down with the wall clock; uptime grows.
  const mb = (await bw.api('GET', '/api/v1/bans?active=true')).json.bans.find((b: any) => b.target === MANUAL);
  const elapsed = (Date.now() - manualAt) / 1000;
  assert.ok(Math.abs(mb.ttl_left_seconds - (600 - elapsed)) <= 2, `ttl_left_seconds ${mb.ttl_left_seconds} after ${elapsed.toFixed(1)} s`);
  const st4 = (await bw.api('GET', '/api/v1/status')).json;
  assert.ok(st4.uptime_seconds >= st1.uptime_seconds + Math.floor(elapsed) - 1, `uptime ${st1.uptime_seconds} -> ${st4.uptime_seconds} after ${elapsed.toFixed(1)} s`);

  // ---- 5. kill -9 and restart: the manual ban stays on BIRD the whole time.
  await bw.kill9();
  let missing = 0;
  let stopWatch = false;
  const watching = (async () => {
    for (let i = 0; i < 400; i++) {
      if (!(await birdRoutes(bird).catch(() => new Map())).has(`${MANUAL}/32`)) missing++;
      if (stopWatch) return;
      await sleep(50);
    }
  })();
  bw = await startBreakwater(cfgFile, cfg);
  await waitFor('BGP Established again', async () => (await bird.state()) === 'Established', 30_000, 200);
  await sleep(1500);
  stopWatch = true;
  await watching;
  assert.equal(missing, 0, 'the ban route disappeared from BIRD during the restart');
  assert.ok((await bw.api('GET', '/api/v1/status')).json.uptime_seconds < st4.uptime_seconds, 'uptime starts again with the new process');
  const restored = (await bw.api('GET', '/api/v1/bans?active=true')).json.bans;
  assert.ok(restored.some((b: any) => b.target === MANUAL && b.announced_to.length === 1), 'restored ban announced');
  assert.ok((await birdRoutes(bird)).has(`${MANUAL}/32`));

  // ---- 6. back to dry-run through the API: everything withdrawn at once, session stays.
  cfg = config(dir, L, birdPort, true, ports);
  writeYaml(cfgFile, cfg);
  const r = await bw.api('POST', '/api/v1/config/reload');
  assert.equal(r.status, 200);
  assert.equal(r.json.mode, 'dry_run');
  await waitFor('BIRD holds nothing', async () => (await birdRoutes(bird)).size === 0, 10_000, 100);
  assert.equal(await bird.state(), 'Established');
  assert.equal(metricValue(await bw.metrics(), 'breakwater_mitigate_announced_routes', 'mode="real"'), 0);

  // ---- 7. SIGTERM: clean exit, pid file removed.
  const code = await bw.stop();
  assert.equal(code, 0);
  assert.ok(!existsSync(join(dir, 'data', 'breakwater.pid')));
  bw = undefined;
});
