/**
 * Faults against a live daemon (child process, BIRD as neighbor, live mode):
 * an exporter flooding garbage, slow API clients, a full disk under the
 * SQLite file, and a peer that flaps. After each, an attack is still detected
 * and its route reaches BIRD; the session is not reset by our side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Bird, birdAvailable, birdConfig } from '../helpers/bird.ts';
import { loopbackBlock, removeDir, sleep, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, metricValue, SflowSender, startBreakwater, writeYaml, type Breakwater } from './helpers.ts';

const skip = birdAvailable() ? false : 'BIRD 2 (bird, birdc) not installed or not root';

async function birdHas(b: Bird, prefix: string): Promise<boolean> {
  return (await b.routes('master4')).some((r) => r.net === prefix && r.head.includes('bw'));
}

test('faults: garbage flood, slow API clients, full disk, peer flap — detection and BGP go on', { skip, timeout: 240_000 }, async (t) => {
  const dir = tempDir('bw-faults-');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dataDir], { stdio: 'ignore' }).status === 0;
  const L = loopbackBlock();
  const birdPort = freePort();
  const birdCfg = birdConfig({ routerId: L(2), localAddress: L(2), localPort: birdPort, localAsn: 65001, peerAddress: L(1), peerPort: freePort(), peerAsn: 65000, holdTime: 9, passive: true, gracefulRestart: false });
  let bird = new Bird(birdCfg);
  const sender = new SflowSender();
  const garbage = createSocket('udp4');
  const slow: Socket[] = [];
  let bw: Breakwater | undefined;
  t.after(async () => {
    sender.close();
    garbage.close();
    for (const s of slow) s.destroy();
    await bw?.stop().catch(() => undefined);
    await bird.dispose();
    if (mounted) spawnSync('umount', ['-l', dataDir], { stdio: 'ignore' });
    removeDir(dir);
  });
  await bird.start();
  const cfg = {
    dry_run: false,
    listen: { netflow: '', sflow: `127.0.0.1:${freePort()}`, workers: 1 },
    networks: ['198.51.100.0/24'],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 1 },
    thresholds: { pps: 10_000 },
    ban: { ttl_seconds: 300, unban_hysteresis_seconds: 1, max_bans_per_window: 100 },
    bgp: {
      local_asn: 65000,
      router_id: L(1),
      next_hop: '192.0.2.1',
      connect_retry_seconds: 1,
      neighbors: [{ address: L(2), port: birdPort, remote_asn: 65001, local_address: L(1), hold_time: 9 }],
    },
    api: { listen: `127.0.0.1:${freePort()}` },
    storage: { data_dir: dataDir },
  };
  const cfgFile = join(dir, 'breakwater.yaml');
  writeYaml(cfgFile, cfg);
  bw = await startBreakwater(cfgFile, cfg);
  await waitFor('Established', async () => (await bird.state()) === 'Established', 30_000, 200);
  const flapsAtStart = async () => metricValue(await bw!.metrics(), 'breakwater_bgp_flaps_total', `neighbor="${L(2)}"`) || 0;

  const attackAndExpect = async (victim: string, what: string) => {
    await sender.start(bw!.sflowPort, { victim, pps: 30_000, samplingRate: 100 }, 1500);
    await waitFor(`${what}: BIRD holds ${victim}/32`, () => birdHas(bird, `${victim}/32`), 15_000, 100);
  };

  // ---- 1. an exporter (127.0.0.2) floods garbage while an attack goes on
  const port = bw.sflowPort;
  await new Promise<void>((r) => garbage.bind({ address: '127.0.0.2', port: 0 }, () => r()));
  let garbageSent = 0;
  const g = setInterval(() => {
    for (let i = 0; i < 50; i++) {
      const b = randomBytes(40 + Math.floor(Math.random() * 1200));
      if (i % 3 === 0) b.writeUInt32BE(5, 0); // looks like sFlow v5, then garbage
      garbage.send(b, port, '127.0.0.1');
      garbageSent++;
    }
  }, 5);
  t.after(() => clearInterval(g));
  await attackAndExpect('198.51.100.31', 'garbage flood');
  clearInterval(g);
  await sleep(1500);
  const m1 = await bw.metrics();
  const errs = [...m1.matchAll(/^breakwater_flow_decode_errors_total\{exporter="127\.0\.0\.2",proto="[^"]+",reason="[^"]+"\} (\d+)/gm)].reduce((a, x) => a + Number(x[1]), 0);
  const flowLines = m1.split('\n').filter((l) => /flow_/.test(l) && !l.startsWith('#')).join('\n');
  assert.ok(errs > 0, `garbage counted as decode errors (sent ${garbageSent}): ${flowLines}`);
  // Random bytes match no decoder: counted under proto="unknown", reason bad_version.
  assert.ok(metricValue(m1, 'breakwater_flow_decode_errors_total', 'exporter="127.0.0.2",proto="unknown",reason="bad_version"') > 0, flowLines);
  assert.ok(metricValue(m1, 'breakwater_flow_datagrams_total', 'exporter="127.0.0.2",proto="unknown"') > 0, flowLines);
  assert.ok(metricValue(m1, 'breakwater_flow_records_total', 'exporter="127.0.0.1",proto="sflow5"') > 0, 'the attack exporter\'s records under sflow5');
  assert.equal(await bird.state(), 'Established');

  // ---- 2. slow API clients: sockets dripping headers
  for (let i = 0; i < 30; i++) {
    const s = connect(bw.apiPort, '127.0.0.1');
    s.on('error', () => {});
    s.write('GET /api/v1/status HTTP/1.1\r\nHost: x\r\n');
    slow.push(s);
  }
  const drip = setInterval(() => {
    for (const s of slow) if (!s.destroyed) s.write('X-A: b\r\n');
  }, 200);
  t.after(() => clearInterval(drip));
  await attackAndExpect('198.51.100.32', 'slow clients');
  assert.equal((await bw.api('GET', '/healthz')).status, 200);
  clearInterval(drip);
  for (const s of slow) s.destroy();

  // ---- 3. full disk under SQLite (a 3 MiB tmpfs filled by the test)
  if (mounted) {
    const filler = join(dataDir, 'filler');
    const fd = openSync(filler, 'w');
    const chunk = Buffer.alloc(64 * 1024, 7);
    try {
      for (let i = 0; i < 1000; i++) writeSync(fd, chunk);
    } catch {
      /* ENOSPC */
    }
    try {
      for (let i = 0; i < 100_000; i++) writeSync(fd, chunk, 0, 256);
    } catch {
      /* ENOSPC */
    }
    closeSync(fd);
    await attackAndExpect('198.51.100.33', 'full disk');
    const st = await waitFor('store degraded reported', async () => {
      const s = (await bw!.api('GET', '/api/v1/status')).json;
      return s.store.degraded ? s : undefined;
    }, 10_000, 200);
    assert.ok(st.store.pending_writes > 0);
    assert.ok(metricValue(await bw.metrics(), 'breakwater_store_write_errors_total') > 0);
    assert.ok((await bw.api('GET', '/api/v1/bans?active=true')).json.bans.some((b: any) => b.target === '198.51.100.33'), 'the ban is served from memory');
    rmSync(filler);
    await waitFor('store recovered', async () => !(await bw!.api('GET', '/api/v1/status')).json.store.degraded, 15_000, 200);
  } else {
    t.diagnostic('full disk phase skipped: cannot mount a tmpfs here');
  }

  // ---- 4. the peer flaps (BIRD restarted): routes come back, detection went on while it was down
  const before = await flapsAtStart();
  await bird.stop();
  await waitFor('session down', async () => !/established/i.test((await bw!.api('GET', '/api/v1/status')).json.neighbors[0].state), 20_000, 200);
  await sender.start(bw.sflowPort, { victim: '198.51.100.34', pps: 30_000, samplingRate: 100 }, 1500);
  await waitFor('ban while the peer is down', async () => (await bw!.api('GET', '/api/v1/bans?active=true')).json.bans.some((b: any) => b.target === '198.51.100.34'), 10_000, 200);
  bird = new Bird(birdCfg);
  await bird.start();
  await waitFor('Established again', async () => (await bird.state()) === 'Established', 30_000, 200);
  for (const v of ['198.51.100.31', '198.51.100.32', '198.51.100.34', ...(mounted ? ['198.51.100.33'] : [])]) {
    await waitFor(`BIRD holds ${v} after the flap`, () => birdHas(bird, `${v}/32`), 10_000, 100);
  }
  await waitFor('the flap is counted', async () => (await flapsAtStart()) > before, 5000, 200);

  // ---- the bans written during the faults survive a restart
  await bw.kill9();
  bw = await startBreakwater(cfgFile, cfg);
  const active = (await bw.api('GET', '/api/v1/bans?active=true')).json.bans.map((b: any) => b.target).sort();
  for (const v of ['198.51.100.31', '198.51.100.32', '198.51.100.34', ...(mounted ? ['198.51.100.33'] : [])]) assert.ok(active.includes(v), `${v} restored (${active})`);
});
