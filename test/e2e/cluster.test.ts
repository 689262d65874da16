/**
 * Cluster mode end to end: one etcd, two Breakwater child processes
 * (different API and flow ports, different router ids) both peering with
 * ONE BIRD, and a webhook receiver (a real HTTP server). The same sFlow
 * attack is replayed to both nodes: exactly one ban in the ledger, both
 * nodes list it with the same id, BIRD holds its route from both sessions,
 * and the ban notification arrives once. Then the leader is killed with
 * SIGKILL: the follower becomes leader within seconds, BIRD's route from
 * the surviving session is untouched (same route line, timestamp included),
 * and the unban notification still arrives exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { birdAvailable, clusterBird } from '../helpers/bird.ts';
import { EtcdCluster, etcdAvailable } from '../helpers/etcd.ts';
import { loopbackBlock, removeDir, sleep, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, repoRoot, startBreakwater, replayCapture, writeYaml, type Breakwater } from './helpers.ts';
import { Ledger } from '../../src/cluster/ledger.ts';

const skip = !birdAvailable() ? 'BIRD 2 not installed or not root' : !etcdAvailable() ? 'etcd not installed' : false;

/** pmacct sfprobe, sFlow v5 1:100: 20 kpps TCP SYN flood to 198.51.100.10:80 (pcaps/README.md). */
const CAPTURE = join(repoRoot, 'pcaps/pmacct-sflow5-sampled-syn-flood.pcap');
const VICTIM = '198.51.100.10';
const PREFIX = '/bw-e2e';

const replay = (port: number) => replayCapture(CAPTURE, port);

interface Hook {
  server: Server;
  port: number;
  bodies: Array<{ event: string; ban_id?: string; target?: string }>;
}

async function webhook(): Promise<Hook> {
  const bodies: Hook['bodies'] = [];
  const server = createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      try {
        bodies.push(JSON.parse(b));
      } catch {
        /* counted as nothing */
      }
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, bodies };
}

test('two nodes on one etcd: one ban, one id, routes from both sessions, notifications once, leader failover without a flap', { skip, timeout: 240_000 }, async (t) => {
  const dir = tempDir('bw-cluster-');
  const L = loopbackBlock();
  const birdPort = freePort();
  const etcd = await EtcdCluster.start(1);
  const hook = await webhook();
  const bird = clusterBird(L, birdPort, freePort());
  const nodes: Breakwater[] = [];
  const client = new Etcd3({ hosts: etcd.endpoints });
  t.after(async () => {
    for (const n of nodes) await n.stop().catch(() => undefined);
    await bird.dispose();
    client.close();
    await etcd.stop();
    hook.server.close();
    removeDir(dir);
  });
  await bird.start();
  const ledger = new Ledger(client, PREFIX);

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
      notify: { webhook: { url: `http://127.0.0.1:${hook.port}/hook`, events: ['ban', 'unban'] } },
      api: { listen: `127.0.0.1:${freePort()}`, insecure_no_auth: true },
      storage: { data_dir: join(dir, id, 'data') },
      cluster: { node_id: id, etcd: { endpoints: etcd.endpoints, prefix: PREFIX, dial_timeout_seconds: 2 } },
    };
  };
  const cfgA = config('a', L(1));
  const cfgB = config('b', L(3));
  writeYaml(join(dir, 'a.yaml'), cfgA);
  writeYaml(join(dir, 'b.yaml'), cfgB);
  const a = await startBreakwater(join(dir, 'a.yaml'), cfgA);
  nodes.push(a);
  const status = async (n: Breakwater) => (await n.api('GET', '/api/v1/status')).json;
  await waitFor('a is leader', async () => (await status(a)).cluster?.role === 'leader', 20_000, 200);
  const b = await startBreakwater(join(dir, 'b.yaml'), cfgB);
  nodes.push(b);
  await waitFor('both sessions Established', async () => (await bird.state('bw1')) === 'Established' && (await bird.state('bw2')) === 'Established', 30_000, 200);
  await waitFor('both nodes see two members', async () => (await status(a)).cluster?.nodes.length === 2 && (await status(b)).cluster?.nodes.length === 2, 10_000, 200);
  const sb = await status(b);
  assert.equal(sb.cluster.node_id, 'b');
  assert.equal(sb.cluster.role, 'follower');
  assert.equal(sb.cluster.partitioned, false);
  assert.deepEqual(sb.cluster.nodes.map((n: { node_id: string }) => n.node_id), ['a', 'b']);
  assert.equal(sb.cluster.nodes[0].config_checksum, sb.cluster.nodes[1].config_checksum);

  // ---- the same attack to both nodes
  await Promise.all([replay(a.sflowPort), replay(b.sflowPort)]);
  const activeIds = async (n: Breakwater) => ((await n.api('GET', '/api/v1/bans?active=true')).json.bans as Array<{ id: string; target: string }>).filter((x) => x.target === VICTIM).map((x) => x.id);
  await waitFor('one ledger ban', async () => (await ledger.list()).entries.length === 1, 20_000, 200);
  const id = (await ledger.list()).entries[0].ban.id;
  await waitFor('both nodes list the ledger ban', async () => JSON.stringify(await activeIds(a)) === JSON.stringify([id]) && JSON.stringify(await activeIds(b)) === JSON.stringify([id]), 10_000, 200);
  const fromSession = async (proto: string) => (await bird.routes('master4')).find((r) => r.net === `${VICTIM}/32` && r.head.includes(`[${proto} `));
  await waitFor('BIRD holds the route from both sessions', async () => (await fromSession('bw1')) && (await fromSession('bw2')), 15_000, 200);
  await waitFor('ban notification', () => hook.bodies.some((x) => x.event === 'ban'), 15_000, 100);
  await sleep(3_000);
  const bans = hook.bodies.filter((x) => x.event === 'ban');
  assert.equal(bans.length, 1, JSON.stringify(hook.bodies));
  assert.equal(bans[0].ban_id, id);

  // ---- kill -9 the leader; the follower takes over
  const survivorRoute = (await fromSession('bw2'))!.head;
  const killedAt = Date.now();
  await a.kill9();
  nodes.shift();
  await waitFor('b becomes leader', async () => (await status(b)).cluster?.role === 'leader', 20_000, 100);
  const failoverMs = Date.now() - killedAt;
  assert.ok(failoverMs < 15_000, `failover took ${failoverMs} ms`);
  t.diagnostic(`leader failover: ${failoverMs} ms`);
  assert.equal((await fromSession('bw2'))?.head, survivorRoute, 'the surviving session\'s route is untouched');
  assert.deepEqual(await activeIds(b), [id]);

  // ---- unban through the survivor: one unban notification
  const u = await b.api('POST', '/api/v1/unban', { ip: VICTIM });
  assert.equal(u.status, 200, u.text);
  await waitFor('unban notification', () => hook.bodies.some((x) => x.event === 'unban'), 15_000, 100);
  await waitFor('route gone from bw2', async () => !(await fromSession('bw2')), 10_000, 200);
  await sleep(3_000);
  const unbans = hook.bodies.filter((x) => x.event === 'unban');
  assert.equal(unbans.length, 1, JSON.stringify(hook.bodies));
  assert.equal(unbans[0].ban_id, id);
  assert.equal(hook.bodies.filter((x) => x.event === 'ban').length, 1, 'no ban notification repeated by the new leader');
  assert.equal((await ledger.list()).entries.length, 0);
  const sb2 = await status(b);
  assert.equal(sb2.cluster.role, 'leader');
  await waitFor('the dead node leaves the member list', async () => (await status(b)).cluster.nodes.length === 1, 15_000, 200);
});
