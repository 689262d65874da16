/**
 * The command pipe end to end: Breakwater as a real child process with
 * `api.command_pipe`, BIRD 2 as its BGP neighbor on loopback, shell writers
 * that open, write and close the FIFO (one by one and at the same time), as
 * FastNetMon's `exabgp_command_pipe` and the RTBH guide's scripts do.
 * Live: an announce → BIRD holds the blackhole; a whitelisted target is
 * refused and never reaches BIRD; withdraw-all empties BIRD. Dry-run: a
 * command makes a ban, nothing reaches BIRD. SIGTERM removes the FIFO.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { birdAvailable } from '../helpers/bird.ts';
import { sleep, waitFor } from '../helpers/netns.ts';
import { freePort, metricValue, withBirdAndBreakwater, writeYaml } from './helpers.ts';

const skip = birdAvailable() ? false : 'BIRD 2 (bird, birdc) not installed or not root';
const run = promisify(execFile);
const write = (pipe: string, line: string) => run('sh', ['-c', 'echo "$1" > "$2"', 'sh', line, pipe], { timeout: 10_000 });

function config(dir: string, L: (h: number) => string, birdPort: number, dryRun: boolean, ports: { sflow: number; api: number }, pipe: string): any {
  return {
    dry_run: dryRun,
    log: { level: 'info' },
    listen: { netflow: '', sflow: `127.0.0.1:${ports.sflow}`, workers: 1 },
    networks: ['198.51.100.0/24'],
    protected_whitelist: ['198.51.100.1/32'],
    ban: { ttl_seconds: 600, unban_hysteresis_seconds: 2, max_banned_fraction: 0.5 },
    bgp: {
      local_asn: 65000,
      router_id: L(1),
      next_hop: '192.0.2.1',
      communities: ['65000:666'],
      connect_retry_seconds: 1,
      neighbors: [{ address: L(2), port: birdPort, remote_asn: 65001, local_address: L(1), hold_time: 9 }],
    },
    api: { listen: `127.0.0.1:${ports.api}`, command_pipe: pipe },
    storage: { data_dir: join(dir, 'data') },
  };
}

test('command pipe against BIRD: FastNetMon line held by BIRD, whitelist refused, concurrent writers, withdraw-all empties BIRD, dry-run sends nothing', { skip, timeout: 180_000 }, async (t) => {
  const ports = { sflow: freePort(), api: freePort() };
  const pipeIn = (dir: string) => join(dir, 'run', 'exabgp.pipe');
  const { L, dir, file: cfgFile, birds, birdPorts, bw } = await withBirdAndBreakwater(t, {
    dirPrefix: 'bw-e2e-pipe-',
    peers: [{ host: 2, asn: 65001, families: ['ipv4'] }],
    config: ({ L, dir, birdPorts }) => config(dir, L, birdPorts[0], false, ports, pipeIn(dir)),
    established: { label: 'BGP Established with BIRD', timeoutMs: 30_000, intervalMs: 200 },
  });
  const bird = birds[0];
  const birdPort = birdPorts[0];
  const pipe = pipeIn(dir);
  assert.ok(lstatSync(pipe).isFIFO(), 'the daemon made the FIFO');
  const held = async () => {
    const out = new Map<string, Record<string, string>>();
    for (const r of await bird.routes('master4')) if (r.head.includes('bw')) out.set(r.net, r.attrs);
    return out;
  };

  // ---- 1. FastNetMon's exabgp_command_pipe line, unchanged: BIRD holds the blackhole.
  await write(pipe, 'announce route 198.51.100.10/32 next-hop 192.0.2.1 community [65535:666]');
  const r10 = await waitFor('BIRD holds 198.51.100.10/32', async () => (await held()).get('198.51.100.10/32'), 15_000, 100);
  assert.match(r10['BGP.next_hop'] ?? '', /192\.0\.2\.1/);
  assert.match(r10['BGP.community'] ?? '', /\(65535,\s*666\)/);
  const ban10 = (await bw.api('GET', '/api/v1/bans?active=true')).json.bans.find((b: any) => b.target === '198.51.100.10');
  assert.equal(ban10.source, 'pipe');
  assert.equal(ban10.ttl_seconds, 600, 'TTL from ban.ttl_seconds');

  // ---- 2. whitelisted target: refused, logged with its code, never in BIRD.
  await write(pipe, 'announce route 198.51.100.1/32 next-hop self community [65535:666]');
  await write(pipe, 'announce 198.51.100.1');
  await waitFor('refusal logged', () => bw.logLines().filter((l) => l.event === 'command refused' && l.code === 'whitelisted').length >= 2, 10_000, 100);
  await sleep(1000);
  assert.ok(!(await held()).has('198.51.100.1/32'), 'a whitelisted target never reaches BIRD');
  const audit = (await bw.api('GET', '/api/v1/audit?action=ban_refused')).json.audit;
  assert.ok(audit.some((a: any) => a.actor === 'pipe' && a.target === '198.51.100.1' && a.detail.reason === 'whitelisted'));

  // ---- 3. the guide's language from 10 concurrent writers, each opening, writing and closing several times.
  await Promise.all(
    Array.from({ length: 10 }, (_, w) => run('sh', ['-c', Array.from({ length: 3 }, (_, j) => `echo "announce 198.51.100.${100 + w * 3 + j}/32" > "${pipe}"`).join('; ')], { timeout: 20_000 })),
  );
  const want = Array.from({ length: 30 }, (_, i) => `198.51.100.${100 + i}/32`);
  await waitFor('BIRD holds the 30 routes', async () => {
    const h = await held();
    return want.every((p) => h.has(p));
  }, 20_000, 200);
  assert.equal((await held()).size, 31);
  assert.equal(metricValue(await bw.metrics(), 'breakwater_commands_total', 'source="pipe",result="accepted"'), 31);

  // ---- 4. withdraw-all: BIRD holds nothing of ours; the session stays up.
  await write(pipe, 'withdraw-all');
  await waitFor('BIRD holds no Breakwater route', async () => (await held()).size === 0, 20_000, 200);
  assert.equal((await bw.api('GET', '/api/v1/bans?active=true')).json.total, 0);
  assert.equal(await bird.state(), 'Established');

  // ---- 5. back to dry-run (SIGHUP): a command makes a ban, nothing reaches BIRD.
  writeYaml(cfgFile, config(dir, L, birdPort, true, ports, pipe));
  bw.signal('SIGHUP');
  await waitFor('dry-run', async () => (await bw.api('GET', '/api/v1/status')).json.mode === 'dry_run', 10_000, 100);
  await write(pipe, 'announce route 198.51.100.50/32 next-hop 192.0.2.1 community [65535:666]');
  const dry = await waitFor('dry-run ban', async () => (await bw.api('GET', '/api/v1/bans?active=true')).json.bans.find((b: any) => b.target === '198.51.100.50'), 10_000, 100);
  assert.equal(dry.announced, false);
  await sleep(1500);
  assert.equal((await held()).size, 0, 'dry-run: BIRD holds nothing');

  // ---- 6. SIGTERM removes the FIFO.
  await bw.stop();
  assert.ok(!existsSync(pipe), 'FIFO removed at stop');
});
