/**
 * Route leases against a real BIRD: Breakwater runs live as a child process,
 * and its main thread is frozen from outside through the V8 inspector
 * (Debugger.pause: the speaker's own thread keeps running, as it would when
 * the main thread hangs). The short ban's route leaves BIRD at its TTL plus
 * the lease grace although nothing on the main thread runs; the long ban's
 * route and the BGP session stay. After resuming, the short ban ends without
 * the route coming back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { birdAvailable } from '../helpers/bird.ts';
import { sleep, waitFor } from '../helpers/netns.ts';
import { LEASE_GRACE_MS } from '../../src/mitigation/reconcile.ts';
import { freePort, withBirdAndBreakwater } from './helpers.ts';
import { inspector } from '../helpers/inspector.ts';

const skip = birdAvailable() ? false : 'BIRD 2 (bird, birdc) not installed or not root';

const SHORT = '198.51.100.30';
const LONG = '198.51.100.31';
const SHORT_TTL = 4;

test('a frozen main thread cannot hold a route past its ban TTL: the speaker lease withdraws it at BIRD', { skip, timeout: 120_000 }, async (t) => {
  const apiPort = freePort();
  let dbg: Awaited<ReturnType<typeof inspector>> | undefined;
  const { birds, bw } = await withBirdAndBreakwater(t, {
    dirPrefix: 'bw-lease-',
    peers: [{ host: 2, asn: 65001, families: ['ipv4'] }],
    config: ({ L, dir, birdPorts }) => ({
      dry_run: false,
      log: { level: 'info' },
      listen: { netflow: '', sflow: '' },
      networks: ['198.51.100.0/24'],
      ban: { ttl_seconds: 60, unban_hysteresis_seconds: 1 },
      bgp: {
        local_asn: 65000,
        router_id: L(1),
        next_hop: '192.0.2.1',
        communities: ['65000:666'],
        connect_retry_seconds: 1,
        neighbors: [{ address: L(2), port: birdPorts[0], remote_asn: 65001, local_address: L(1), hold_time: 9 }],
      },
      api: { listen: `127.0.0.1:${apiPort}` },
      storage: { data_dir: join(dir, 'data') },
    }),
    nodeArgs: ['--inspect=127.0.0.1:0'],
    established: { label: 'BIRD session Established', timeoutMs: 20_000 },
    beforeStop: async () => {
      await dbg?.send('Debugger.resume').catch(() => undefined);
      dbg?.close();
    },
  });
  const bird = birds[0];

  const held = async () => new Set((await bird.routes('master4')).filter((r) => r.head.includes('bw')).map((r) => r.net));
  assert.equal((await bw.api('POST', '/api/v1/ban', { ip: LONG })).status, 201);
  const r = await bw.api('POST', '/api/v1/ban', { ip: SHORT, ttl_seconds: SHORT_TTL });
  assert.equal(r.status, 201, r.text);
  const bannedAt = Date.now();
  await waitFor('BIRD holds both routes', async () => (await held()).has(`${SHORT}/32`) && (await held()).has(`${LONG}/32`), 10_000);

  const ws = /Debugger listening on (ws:\/\/\S+)/.exec(bw.d.output())?.[1];
  assert.ok(ws, 'the inspector URL is printed');
  dbg = await inspector(ws);
  await dbg.send('Debugger.enable');
  await dbg.send('Debugger.pause');
  // Proof the main thread is frozen: the API (main thread) stops answering.
  await assert.rejects(fetch(`http://127.0.0.1:${apiPort}/healthz`, { signal: AbortSignal.timeout(1500) }));

  await waitFor('the short route leaves BIRD while the main thread is frozen', async () => !(await held()).has(`${SHORT}/32`), (SHORT_TTL + 15) * 1000, 200);
  const goneAfter = Date.now() - bannedAt;
  assert.ok(goneAfter >= SHORT_TTL * 1000, `withdrawn after ${goneAfter} ms, before the ${SHORT_TTL} s TTL`);
  assert.ok(goneAfter <= SHORT_TTL * 1000 + LEASE_GRACE_MS + 2_000, `withdrawn after ${goneAfter} ms: later than TTL + grace`);
  assert.ok((await held()).has(`${LONG}/32`), 'the long ban keeps its route');
  assert.equal(await bird.state(), 'Established', 'the speaker thread kept the session up');
  await assert.rejects(fetch(`http://127.0.0.1:${apiPort}/healthz`, { signal: AbortSignal.timeout(500) }), 'still frozen when the route left');

  await dbg.send('Debugger.resume');
  await waitFor('API answers again', async () => (await bw.api('GET', '/healthz')).status === 200, 10_000);
  await waitFor('the short ban ended', async () => {
    const bans = (await bw.api('GET', '/api/v1/bans?active=true')).json.bans as Array<{ target: string }>;
    return !bans.some((b) => b.target === SHORT);
  }, 10_000);
  await sleep(2_000);
  const after = await held();
  assert.ok(!after.has(`${SHORT}/32`), 'the expired route did not come back');
  assert.ok(after.has(`${LONG}/32`), 'the long ban is still held');
  const lines = bw.logLines();
  assert.ok(lines.some((l) => /lease expired/.test(l.msg ?? '')), 'the speaker logged the lease expiry');
});
