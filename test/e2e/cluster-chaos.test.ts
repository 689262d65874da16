/**
 * Cluster chaos, end to end: one etcd, two Breakwater child processes both
 * peering with ONE BIRD (sessions bw1 = node a, bw2 = node b) and a webhook
 * receiver counting notifications. Each case checks its invariants: bans kept
 * by the survivors, BIRD's routes from a surviving session unchanged (same
 * route line, timestamp included), no route held past its TTL, and every
 * notification sent exactly once.
 *
 * - kill -9 of the follower during an attack;
 * - the leader's main thread frozen (V8 inspector, as in lease.test.ts)
 *   longer than its membership and election lease;
 * - all of etcd stopped for 60 s, then started again.
 *
 * Every daemon, BIRD and etcd are stopped in t.after even when a case fails.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { birdAvailable, clusterBird, type Bird } from '../helpers/bird.ts';
import { EtcdCluster, etcdAvailable } from '../helpers/etcd.ts';
import { loopbackBlock, removeDir, sleep, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, metricValue, repoRoot, startBreakwater, replayCapture, writeYaml, type Breakwater } from './helpers.ts';
import { Ledger } from '../../src/cluster/ledger.ts';
import { LEASE_GRACE_MS } from '../../src/mitigation/reconcile.ts';
import { NODE_TTL_SECONDS } from '../../src/cluster/node.ts';
import { inspector } from '../helpers/inspector.ts';

const skip = !birdAvailable() ? 'BIRD 2 not installed or not root' : !etcdAvailable() ? 'etcd not installed' : false;

/** pmacct sfprobe, sFlow v5 1:100: 20 kpps TCP SYN flood to 198.51.100.10:80 (pcaps/README.md). */
const CAPTURE = join(repoRoot, 'pcaps/pmacct-sflow5-sampled-syn-flood.pcap');
const VICTIM = '198.51.100.10';
const PREFIX = '/bw-chaos';

const replay = (port: number) => replayCapture(CAPTURE, port);

interface Note {
  event: string;
  ban_id?: string;
  target?: string;
}

interface Rig {
  etcd: EtcdCluster;
  bird: Bird;
  a: Breakwater;
  b: Breakwater;
  nodes: Breakwater[];
  notes: Note[];
  ledger: Ledger;
  /** BIRD's route line for target from one session (bw1 = a, bw2 = b), or undefined. */
  route(target: string, proto: 'bw1' | 'bw2'): Promise<string | undefined>;
  status(n: Breakwater): Promise<any>;
  activeIds(n: Breakwater, target: string): Promise<string[]>;
  /** Notifications per event and ban id; throws when one was sent twice. */
  assertOnce(): Map<string, number>;
}

async function startRig(t: TestContext, name: string, opts: { inspectA?: boolean } = {}): Promise<Rig> {
  const dir = tempDir(`bw-chaos-${name}-`);
  const L = loopbackBlock();
  const birdPort = freePort();
  const notes: Note[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      try {
        // A batched body carries its notifications in `events`.
        const j = JSON.parse(body) as Note & { events?: Note[] };
        for (const n of j.events ?? [j]) notes.push(n);
      } catch {
        /* counted as nothing */
      }
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const hookPort = (server.address() as { port: number }).port;
  const nodes: Breakwater[] = [];
  let etcd: EtcdCluster | undefined;
  let client: Etcd3 | undefined;
  const bird = clusterBird(L, birdPort, freePort());
  t.after(async () => {
    for (const n of nodes) await n.stop().catch(() => undefined);
    await bird.dispose();
    client?.close();
    await etcd?.stop();
    server.close();
    removeDir(dir);
  });
  etcd = await EtcdCluster.start(1);
  client = new Etcd3({ hosts: etcd.endpoints, dialTimeout: 2000 });
  await bird.start();
  const config = (id: string, self: string) => {
    mkdirSync(join(dir, id), { recursive: true });
    return {
      dry_run: false,
      log: { level: 'info' },
      listen: { netflow: '', sflow: `127.0.0.1:${freePort()}`, workers: 1 },
      networks: ['198.51.100.0/24'],
      detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 1 },
      thresholds: { pps: 10_000 },
      ban: { ttl_seconds: 900, unban_hysteresis_seconds: 900 },
      bgp: { local_asn: 65000, router_id: self, next_hop: '192.0.2.1', connect_retry_seconds: 1, neighbors: [{ address: L(2), port: birdPort, remote_asn: 65001, local_address: self, hold_time: 9 }] },
      notify: { webhook: { url: `http://127.0.0.1:${hookPort}/hook`, events: ['ban', 'unban'] } },
      api: { listen: `127.0.0.1:${freePort()}`, insecure_no_auth: true },
      storage: { data_dir: join(dir, id, 'data') },
      cluster: { node_id: id, etcd: { endpoints: etcd!.endpoints, prefix: PREFIX, dial_timeout_seconds: 2 } },
    };
  };
  const cfgA = config('a', L(1));
  const cfgB = config('b', L(3));
  writeYaml(join(dir, 'a.yaml'), cfgA);
  writeYaml(join(dir, 'b.yaml'), cfgB);
  const status = async (n: Breakwater) => (await n.api('GET', '/api/v1/status')).json;
  const a = await startBreakwater(join(dir, 'a.yaml'), cfgA, opts.inspectA ? { nodeArgs: ['--inspect=127.0.0.1:0'] } : {});
  nodes.push(a);
  await waitFor('a is leader', async () => (await status(a)).cluster?.role === 'leader', 20_000, 200);
  const b = await startBreakwater(join(dir, 'b.yaml'), cfgB);
  nodes.push(b);
  await waitFor('both sessions Established', async () => (await bird.state('bw1')) === 'Established' && (await bird.state('bw2')) === 'Established', 30_000, 200);
  await waitFor('both nodes see two members', async () => (await status(a)).cluster?.nodes.length === 2 && (await status(b)).cluster?.nodes.length === 2, 10_000, 200);
  const rig: Rig = {
    etcd,
    bird,
    a,
    b,
    nodes,
    notes,
    ledger: new Ledger(client, PREFIX),
    async route(target, proto) {
      return (await bird.routes('master4')).find((r) => r.net === `${target}/32` && r.head.includes(`[${proto} `))?.head;
    },
    status,
    async activeIds(n, target) {
      return ((await n.api('GET', '/api/v1/bans?active=true')).json.bans as Array<{ id: string; target: string }>).filter((x) => x.target === target).map((x) => x.id);
    },
    assertOnce() {
      const counts = new Map<string, number>();
      for (const x of notes) counts.set(`${x.event} ${x.ban_id}`, (counts.get(`${x.event} ${x.ban_id}`) ?? 0) + 1);
      for (const [k, c] of counts) assert.equal(c, 1, `notification ${k} sent ${c} times: ${JSON.stringify(notes)}`);
      return counts;
    },
  };
  return rig;
}

/**
 * A route line at BIRD now against the one seen before: the same route, and
 * not announced again. A withdraw and re-announce would stamp a later time;
 * BIRD may show the same route a millisecond earlier once the other session's
 * copy is gone, which is no flap.
 */
function sameRoute(now: string | undefined, before: string | undefined, what: string): void {
  const at = (l: string | undefined) => /\[\S+ (\d\d):(\d\d):(\d\d)\.(\d{3}) /.exec(l ?? '');
  const t = (m: RegExpExecArray | null) => (m ? ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]) : NaN);
  const bare = (l: string | undefined) => (l ?? '').replace(/ \d\d:\d\d:\d\d\.\d{3} /, ' ');
  assert.ok(now !== undefined && before !== undefined, `${what}: route missing (${now} / ${before})`);
  assert.equal(bare(now), bare(before), what);
  assert.ok(t(at(now)) <= t(at(before)), `${what}: announced again (${before} → ${now})`);
}

test('kill -9 of the follower during an attack: the leader keeps the ban, BIRD keeps its route unchanged, no duplicate notification', { skip, timeout: 180_000 }, async (t) => {
  const r = await startRig(t, 'follower');
  const { a, b } = r;
  await Promise.all([replay(a.sflowPort), replay(b.sflowPort)]);
  await waitFor('one ledger ban', async () => (await r.ledger.list()).entries.length === 1, 20_000, 200);
  const id = (await r.ledger.list()).entries[0].ban.id;
  await waitFor('BIRD holds the route from both sessions', async () => (await r.route(VICTIM, 'bw1')) && (await r.route(VICTIM, 'bw2')), 15_000, 200);
  await waitFor('ban notification', () => r.notes.some((x) => x.event === 'ban'), 15_000, 100);
  const leaderRoute = (await r.route(VICTIM, 'bw1'))!;

  // The attack goes on at the leader while the follower dies.
  const more = replay(a.sflowPort);
  await b.kill9();
  r.nodes.splice(r.nodes.indexOf(b), 1);
  await more;
  // (BIRD runs graceful restart: it may keep the dead session's copy as stale for a while.)
  await waitFor('the dead follower\'s session is down', async () => (await r.bird.state('bw2')) !== 'Established', 20_000, 200);
  await waitFor('the dead follower leaves the member list', async () => (await r.status(a)).cluster.nodes.length === 1, 15_000, 200);
  const s = await r.status(a);
  assert.equal(s.cluster.role, 'leader');
  assert.equal(s.cluster.partitioned, false);
  assert.deepEqual(await r.activeIds(a, VICTIM), [id]);
  sameRoute(await r.route(VICTIM, 'bw1'), leaderRoute, 'the leader\'s route at BIRD is untouched');
  assert.equal(await r.bird.state('bw1'), 'Established');
  const entries = (await r.ledger.list()).entries;
  assert.deepEqual(entries.map((e) => e.ban.id), [id], 'the ledger keeps the ban');
  await sleep(3_000);
  const counts = r.assertOnce();
  assert.equal(counts.get(`ban ${id}`), 1);
  assert.equal(r.notes.filter((x) => x.event === 'unban').length, 0, 'nothing unbanned');
});

test('the leader\'s main thread frozen longer than its lease: the other node takes over, no route outlives its TTL, no duplicate notification', { skip, timeout: 180_000 }, async (t) => {
  const r = await startRig(t, 'freeze', { inspectA: true });
  const { a, b } = r;
  let dbg: Awaited<ReturnType<typeof inspector>> | undefined;
  t.after(async () => {
    await dbg?.send('Debugger.resume').catch(() => undefined);
    dbg?.close();
  });
  const SHORT = '198.51.100.40';
  const LONG = '198.51.100.41';
  const SHORT_TTL = 10;
  assert.equal((await a.api('POST', '/api/v1/ban', { ip: LONG })).status, 201);
  const sb = await b.api('POST', '/api/v1/ban', { ip: SHORT, ttl_seconds: SHORT_TTL });
  assert.equal(sb.status, 201, sb.text);
  const bannedAt = Date.now();
  const shortId = sb.json.ban.id as string;
  await waitFor('BIRD holds both routes from both sessions', async () => (await r.route(SHORT, 'bw1')) && (await r.route(SHORT, 'bw2')) && (await r.route(LONG, 'bw1')) && (await r.route(LONG, 'bw2')), 10_000, 100);
  await waitFor('both ban notifications', () => r.notes.filter((x) => x.event === 'ban').length === 2, 10_000, 100).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(r.notes)}`);
  });
  const longRoute = (await r.route(LONG, 'bw2'))!;

  const ws = /Debugger listening on (ws:\/\/\S+)/.exec(a.d.output())?.[1];
  assert.ok(ws, 'the inspector URL is printed');
  dbg = await inspector(ws);
  await dbg.send('Debugger.enable');
  await dbg.send('Debugger.pause');
  const frozenAt = Date.now();
  await assert.rejects(fetch(`http://127.0.0.1:${a.apiPort}/healthz`, { signal: AbortSignal.timeout(1500) }), 'a is frozen');

  await waitFor('b takes over', async () => (await r.status(b)).cluster.role === 'leader', (NODE_TTL_SECONDS + 10) * 1000, 200);
  t.diagnostic(`takeover after the freeze: ${Date.now() - frozenAt} ms`);
  // No route outlives its TTL, from either session, although a's main thread is frozen.
  await waitFor('the short route leaves BIRD from both sessions', async () => !(await r.route(SHORT, 'bw1')) && !(await r.route(SHORT, 'bw2')), (SHORT_TTL + 20) * 1000, 200);
  const goneAfter = Date.now() - bannedAt;
  assert.ok(goneAfter <= SHORT_TTL * 1000 + LEASE_GRACE_MS + 2_000, `short route held ${goneAfter} ms: past TTL + grace`);
  await waitFor('the new leader sends the unban', () => r.notes.some((x) => x.event === 'unban' && x.ban_id === shortId), 20_000, 100);
  // Frozen for longer than the membership and election lease.
  const left = NODE_TTL_SECONDS * 1000 + 3_000 - (Date.now() - frozenAt);
  if (left > 0) await sleep(left);
  await assert.rejects(fetch(`http://127.0.0.1:${a.apiPort}/healthz`, { signal: AbortSignal.timeout(500) }), 'still frozen');
  await dbg.send('Debugger.resume');
  t.diagnostic(`frozen for ${Date.now() - frozenAt} ms`);
  await waitFor('a answers again', async () => (await a.api('GET', '/healthz')).status === 200, 10_000, 100);
  await waitFor('a is a follower now', async () => (await r.status(a)).cluster.role === 'follower', 15_000, 200);
  await sleep(4_000);
  const s = await r.status(b);
  assert.equal(s.cluster.role, 'leader', 'b keeps leading');
  assert.equal((await r.status(a)).cluster.role, 'follower');
  assert.equal(metricValue(await a.metrics(), 'breakwater_cluster_leader') + metricValue(await b.metrics(), 'breakwater_cluster_leader'), 1, 'one leader');
  // The short ban stayed gone; the long one is held from both sessions, b's copy untouched.
  assert.ok(!(await r.route(SHORT, 'bw1')) && !(await r.route(SHORT, 'bw2')), 'the expired route did not come back');
  assert.ok(await r.route(LONG, 'bw1'));
  sameRoute(await r.route(LONG, 'bw2'), longRoute, 'b\'s copy of the long route');
  const counts = r.assertOnce();
  assert.equal(counts.get(`unban ${shortId}`), 1);
  assert.equal(r.notes.filter((x) => x.event === 'ban').length, 2);
});

test('all of etcd stopped for 60 s: both nodes say partitioned, routes stay until their TTL, both reconcile after', { skip, timeout: 240_000 }, async (t) => {
  const r = await startRig(t, 'etcd-down');
  const { a, b } = r;
  const SHORT = '198.51.100.42';
  const LONG = '198.51.100.43';
  const SHORT_TTL = 20;
  const lb = await a.api('POST', '/api/v1/ban', { ip: LONG });
  assert.equal(lb.status, 201, lb.text);
  const longId = lb.json.ban.id as string;
  const sb = await a.api('POST', '/api/v1/ban', { ip: SHORT, ttl_seconds: SHORT_TTL });
  assert.equal(sb.status, 201, sb.text);
  const bannedAt = Date.now();
  await waitFor('BIRD holds both routes from both sessions', async () => (await r.route(SHORT, 'bw1')) && (await r.route(SHORT, 'bw2')) && (await r.route(LONG, 'bw1')) && (await r.route(LONG, 'bw2')), 10_000, 100);
  await waitFor('both ban notifications', () => r.notes.filter((x) => x.event === 'ban').length === 2, 10_000, 100).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(r.notes)}`);
  });
  const longRoutes = [await r.route(LONG, 'bw1'), await r.route(LONG, 'bw2')];

  const stoppedAt = Date.now();
  await r.etcd.stopMember(0);
  await waitFor('both nodes partitioned', async () => (await r.status(a)).cluster.partitioned && (await r.status(b)).cluster.partitioned, 20_000, 200);
  for (const n of [a, b]) {
    assert.equal(metricValue(await n.metrics(), 'breakwater_cluster_partitioned'), 1);
    assert.equal((await r.status(n)).cluster.role, 'follower', 'no leader without etcd');
  }
  await waitFor('the short route leaves BIRD at its TTL', async () => !(await r.route(SHORT, 'bw1')) && !(await r.route(SHORT, 'bw2')), (SHORT_TTL + 20) * 1000, 200);
  const goneAfter = Date.now() - bannedAt;
  assert.ok(goneAfter >= SHORT_TTL * 1000 - 1_000, `short route gone after ${goneAfter} ms, before its TTL`);
  assert.ok(goneAfter <= SHORT_TTL * 1000 + LEASE_GRACE_MS + 2_000, `short route held ${goneAfter} ms: past TTL + grace`);
  // The rest of the minute: the long route stays, unchanged.
  const left = 60_000 - (Date.now() - stoppedAt);
  if (left > 0) await sleep(left);
  for (const [i, p] of (['bw1', 'bw2'] as const).entries()) sameRoute(await r.route(LONG, p), longRoutes[i], `the long route from ${p} stayed, unchanged`);
  t.diagnostic(`etcd down for ${Date.now() - stoppedAt} ms`);

  await r.etcd.startMember(0);
  await waitFor('both nodes rejoin', async () => !(await r.status(a)).cluster.partitioned && !(await r.status(b)).cluster.partitioned, 30_000, 200);
  await waitFor('one leader again', async () => [(await r.status(a)).cluster.role, (await r.status(b)).cluster.role].filter((x) => x === 'leader').length === 1, 20_000, 200);
  for (const n of [a, b]) {
    assert.equal(metricValue(await n.metrics(), 'breakwater_cluster_partitioned'), 0);
    assert.deepEqual(await r.activeIds(n, LONG), [longId]);
    assert.deepEqual(await r.activeIds(n, SHORT), []);
  }
  assert.ok((await r.ledger.list()).entries.some((e) => e.ban.id === longId), 'the ledger keeps the long ban');
  await sleep(3_000);
  for (const [i, p] of (['bw1', 'bw2'] as const).entries()) sameRoute(await r.route(LONG, p), longRoutes[i], `the long route from ${p} never flapped`);
  assert.ok(!(await r.route(SHORT, 'bw1')) && !(await r.route(SHORT, 'bw2')), 'the expired route did not come back');
  r.assertOnce();
  assert.equal(r.notes.filter((x) => x.event === 'ban').length, 2);
});
