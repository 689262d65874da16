/**
 * Partitions end to end, on a three-member etcd: node A talks only to
 * member 0, node B to members 1 and 2. Member 0 stops: A is partitioned
 * (status, log line, breakwater_cluster_partitioned), creates no new ban
 * (partition_policy hold: a manual ban is refused with cluster_partitioned),
 * and keeps announcing the ban it knows (BIRD keeps the route). Meanwhile B,
 * which still has a quorum, lifts that ban and creates another. Member 0
 * comes back: A reconciles (the lifted ban is withdrawn at BIRD, the new
 * one adopted and announced), and is no longer partitioned.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Bird, birdAvailable, birdConfig } from '../helpers/bird.ts';
import { EtcdCluster, etcdAvailable } from '../helpers/etcd.ts';
import { loopbackBlock, removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, metricValue, startBreakwater, writeYaml, type Breakwater } from './helpers.ts';

const skip = !birdAvailable() ? 'BIRD 2 not installed or not root' : !etcdAvailable() ? 'etcd not installed' : false;

const KEPT = '198.51.100.50';
const LIFTED = '198.51.100.51';
const GAINED = '198.51.100.52';
const REFUSED = '198.51.100.53';

test('a node that loses etcd holds its bans, creates none, and reconciles on return', { skip, timeout: 240_000 }, async (t) => {
  const dir = tempDir('bw-cluster-part-');
  const L = loopbackBlock();
  const birdPort = freePort();
  const etcd = await EtcdCluster.start(3);
  const bird = new Bird(birdConfig({ routerId: L(2), localAddress: L(2), localPort: birdPort, localAsn: 65001, peerAddress: L(1), peerPort: freePort(), peerAsn: 65000, holdTime: 9, passive: true, families: ['ipv4'] }));
  const nodes: Breakwater[] = [];
  t.after(async () => {
    for (const n of nodes) await n.stop().catch(() => undefined);
    await bird.dispose();
    await etcd.stop();
    removeDir(dir);
  });
  await bird.start();
  const config = (id: string, endpoints: string[], bgp: unknown) => {
    mkdirSync(join(dir, id), { recursive: true });
    return {
      dry_run: false,
      log: { level: 'info' },
      listen: { netflow: '', sflow: `127.0.0.1:${freePort()}`, workers: 1 },
      networks: ['198.51.100.0/24'],
      ban: { ttl_seconds: 900 },
      ...(bgp ? { bgp } : {}),
      api: { listen: `127.0.0.1:${freePort()}`, insecure_no_auth: true },
      storage: { data_dir: join(dir, id, 'data') },
      cluster: { node_id: id, etcd: { endpoints, prefix: '/bw-part', dial_timeout_seconds: 2 } },
    };
  };
  const cfgA = config('a', [etcd.endpoints[0]], { local_asn: 65000, router_id: L(1), next_hop: '192.0.2.1', connect_retry_seconds: 1, neighbors: [{ address: L(2), port: birdPort, remote_asn: 65001, local_address: L(1), hold_time: 9 }] });
  const cfgB = config('b', etcd.endpoints.slice(1), undefined);
  writeYaml(join(dir, 'a.yaml'), cfgA);
  writeYaml(join(dir, 'b.yaml'), cfgB);
  const a = await startBreakwater(join(dir, 'a.yaml'), cfgA);
  nodes.push(a);
  const b = await startBreakwater(join(dir, 'b.yaml'), cfgB);
  nodes.push(b);
  await waitFor('BIRD session Established', async () => (await bird.state()) === 'Established', 30_000, 200);
  const held = async () => new Set((await bird.routes('master4')).filter((r) => r.head.includes('bw')).map((r) => r.net));
  const targets = async (n: Breakwater) => new Set(((await n.api('GET', '/api/v1/bans?active=true')).json.bans as Array<{ target: string }>).map((x) => x.target));
  const status = async (n: Breakwater) => (await n.api('GET', '/api/v1/status')).json;

  assert.equal((await a.api('POST', '/api/v1/ban', { ip: KEPT })).status, 201);
  assert.equal((await b.api('POST', '/api/v1/ban', { ip: LIFTED })).status, 201);
  await waitFor('A announces both', async () => (await held()).has(`${KEPT}/32`) && (await held()).has(`${LIFTED}/32`), 15_000, 200);
  assert.equal((await status(a)).cluster.partitioned, false);
  assert.equal(metricValue(await a.metrics(), 'breakwater_cluster_partitioned'), 0);

  // ---- member 0 goes away: A is partitioned
  await etcd.stopMember(0);
  await waitFor('A partitioned', async () => (await status(a)).cluster.partitioned === true, 20_000, 200);
  assert.equal(metricValue(await a.metrics(), 'breakwater_cluster_partitioned'), 1);
  assert.ok(a.logLines().some((l) => l.event === 'cluster partitioned'), 'a log line says so');
  assert.equal((await status(b)).cluster.partitioned, false, 'B keeps a quorum');
  const refused = await a.api('POST', '/api/v1/ban', { ip: REFUSED });
  assert.equal(refused.status, 503, refused.text);
  assert.equal(refused.json.reason, 'cluster_partitioned');
  // B changes the ledger behind A's back.
  assert.equal((await b.api('POST', '/api/v1/unban', { ip: LIFTED })).status, 200);
  assert.equal((await b.api('POST', '/api/v1/ban', { ip: GAINED })).status, 201);
  // A keeps announcing what it knows.
  const during = await held();
  assert.ok(during.has(`${KEPT}/32`) && during.has(`${LIFTED}/32`), 'the partitioned node keeps its routes');
  assert.ok(!during.has(`${GAINED}/32`));
  assert.ok(!(await targets(a)).has(REFUSED));

  // ---- member 0 returns: A reconciles
  await etcd.startMember(0);
  await waitFor('A rejoined', async () => (await status(a)).cluster.partitioned === false, 30_000, 200);
  await waitFor('A follows the ledger', async () => {
    const s = await targets(a);
    return s.has(KEPT) && s.has(GAINED) && !s.has(LIFTED);
  }, 15_000, 200);
  await waitFor('BIRD follows A', async () => {
    const h = await held();
    return h.has(`${KEPT}/32`) && h.has(`${GAINED}/32`) && !h.has(`${LIFTED}/32`);
  }, 15_000, 200);
  assert.equal(metricValue(await a.metrics(), 'breakwater_cluster_partitioned'), 0);
  assert.ok(a.logLines().some((l) => l.event === 'cluster rejoined'));
  // Creation works again.
  assert.equal((await a.api('POST', '/api/v1/ban', { ip: REFUSED })).status, 201);
  await waitFor('B adopts it', async () => (await targets(b)).has(REFUSED), 10_000, 200);
});
