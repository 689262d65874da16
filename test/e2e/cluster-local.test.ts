/**
 * `partition_policy: local` end to end, on a three-member etcd: node A
 * talks only to member 0 and has `local`, node B talks to members 1 and 2.
 * Member 0 stops: A is partitioned (status, metric) but still bans on its
 * own decisions — its manual ban is announced to BIRD — while the guards
 * still refuse a whitelisted target and one outside `networks`. Meanwhile A
 * and B both ban one target (two ids). Member 0 returns: A proposes its own
 * ban to the ledger (B adopts it with A's id), the target both banned ends
 * with one ban and one id on both nodes, and BIRD keeps both routes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { Bird, birdAvailable, birdConfig } from '../helpers/bird.ts';
import { EtcdCluster, etcdAvailable } from '../helpers/etcd.ts';
import { loopbackBlock, removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, metricValue, startBreakwater, writeYaml, type Breakwater } from './helpers.ts';
import { Ledger } from '../../src/cluster/ledger.ts';

const skip = !birdAvailable() ? 'BIRD 2 not installed or not root' : !etcdAvailable() ? 'etcd not installed' : false;

const OWN = '198.51.100.60';
const BOTH = '198.51.100.61';
const WHITELISTED = '198.51.100.53';
const OUTSIDE = '203.0.113.9';
const PREFIX = '/bw-local';

test('partition_policy local: a partitioned node bans on its own under the guards and reconciles into the ledger, one ban per target', { skip, timeout: 240_000 }, async (t) => {
  const dir = tempDir('bw-cluster-local-');
  const L = loopbackBlock();
  const birdPort = freePort();
  const etcd = await EtcdCluster.start(3);
  const bird = new Bird(birdConfig({ routerId: L(2), localAddress: L(2), localPort: birdPort, localAsn: 65001, peerAddress: L(1), peerPort: freePort(), peerAsn: 65000, holdTime: 9, passive: true, families: ['ipv4'] }));
  const nodes: Breakwater[] = [];
  const client = new Etcd3({ hosts: etcd.endpoints.slice(1), dialTimeout: 2000 });
  t.after(async () => {
    for (const n of nodes) await n.stop().catch(() => undefined);
    client.close();
    await bird.dispose();
    await etcd.stop();
    removeDir(dir);
  });
  await bird.start();
  const config = (id: string, endpoints: string[], policy: 'hold' | 'local', bgp: unknown) => {
    mkdirSync(join(dir, id), { recursive: true });
    return {
      dry_run: false,
      log: { level: 'info' },
      listen: { netflow: '', sflow: `127.0.0.1:${freePort()}`, workers: 1 },
      networks: ['198.51.100.0/24'],
      protected_whitelist: [`${WHITELISTED}/32`],
      ban: { ttl_seconds: 900 },
      ...(bgp ? { bgp } : {}),
      api: { listen: `127.0.0.1:${freePort()}`, insecure_no_auth: true },
      storage: { data_dir: join(dir, id, 'data') },
      cluster: { node_id: id, partition_policy: policy, etcd: { endpoints, prefix: PREFIX, dial_timeout_seconds: 2 } },
    };
  };
  const cfgA = config('a', [etcd.endpoints[0]], 'local', { local_asn: 65000, router_id: L(1), next_hop: '192.0.2.1', connect_retry_seconds: 1, neighbors: [{ address: L(2), port: birdPort, remote_asn: 65001, local_address: L(1), hold_time: 9 }] });
  const cfgB = config('b', etcd.endpoints.slice(1), 'hold', undefined);
  writeYaml(join(dir, 'a.yaml'), cfgA);
  writeYaml(join(dir, 'b.yaml'), cfgB);
  const a = await startBreakwater(join(dir, 'a.yaml'), cfgA);
  nodes.push(a);
  const b = await startBreakwater(join(dir, 'b.yaml'), cfgB);
  nodes.push(b);
  await waitFor('BIRD session Established', async () => (await bird.state()) === 'Established', 30_000, 200);
  const held = async () => new Set((await bird.routes('master4')).filter((r) => r.head.includes('bw')).map((r) => r.net));
  const active = async (n: Breakwater) => (await n.api('GET', '/api/v1/bans?active=true')).json.bans as Array<{ id: string; target: string }>;
  const status = async (n: Breakwater) => (await n.api('GET', '/api/v1/status')).json;
  assert.equal((await status(a)).cluster.partition_policy, 'local');

  // ---- member 0 goes away: A is partitioned but keeps banning
  await etcd.stopMember(0);
  await waitFor('A partitioned', async () => (await status(a)).cluster.partitioned === true, 20_000, 200);
  assert.equal(metricValue(await a.metrics(), 'breakwater_cluster_partitioned'), 1);
  const line = a.logLines().find((l) => l.event === 'cluster partitioned');
  assert.equal(line?.policy, 'local', JSON.stringify(line));
  const own = await a.api('POST', '/api/v1/ban', { ip: OWN });
  assert.equal(own.status, 201, own.text);
  const ownId = own.json.ban.id as string;
  assert.ok(ownId, own.text);
  // The guards still apply.
  const wl = await a.api('POST', '/api/v1/ban', { ip: WHITELISTED });
  assert.equal(wl.status, 409, wl.text);
  assert.equal(wl.json.reason, 'whitelisted');
  const out = await a.api('POST', '/api/v1/ban', { ip: OUTSIDE });
  assert.notEqual(out.status, 201, out.text);
  assert.equal(out.json.reason, 'outside_networks', out.text);
  await waitFor('BIRD holds the partitioned node\'s own ban', async () => (await held()).has(`${OWN}/32`), 15_000, 200);
  // Both sides ban the same target.
  assert.equal((await b.api('POST', '/api/v1/ban', { ip: BOTH })).status, 201);
  assert.equal((await a.api('POST', '/api/v1/ban', { ip: BOTH })).status, 201);
  const idsA = (await active(a)).filter((x) => x.target === BOTH).map((x) => x.id);
  const idsB = (await active(b)).filter((x) => x.target === BOTH).map((x) => x.id);
  assert.equal(idsA.length, 1);
  assert.equal(idsB.length, 1);
  assert.notEqual(idsA[0], idsB[0], 'two decisions while apart');
  const ledger = new Ledger(client, PREFIX);
  assert.ok(!(await ledger.list()).entries.some((e) => e.ban.target === OWN), 'not in the ledger while partitioned');

  // ---- member 0 returns: A reconciles
  await etcd.startMember(0);
  await waitFor('A rejoined', async () => (await status(a)).cluster.partitioned === false, 30_000, 200);
  assert.equal(metricValue(await a.metrics(), 'breakwater_cluster_partitioned'), 0);
  await waitFor('the ledger holds both targets once', async () => {
    const e = (await ledger.list()).entries;
    return e.filter((x) => x.ban.target === OWN).length === 1 && e.filter((x) => x.ban.target === BOTH).length === 1;
  }, 20_000, 200);
  const entries = (await ledger.list()).entries;
  assert.equal(entries.find((x) => x.ban.target === OWN)!.ban.id, ownId, 'the partitioned node\'s ban went into the ledger under its id');
  const bothId = entries.find((x) => x.ban.target === BOTH)!.ban.id;
  for (const [name, n] of [['a', a], ['b', b]] as const) {
    await waitFor(`${name} follows the ledger, one ban per target`, async () => {
      const bans = await active(n);
      const own = bans.filter((x) => x.target === OWN);
      const both = bans.filter((x) => x.target === BOTH);
      return own.length === 1 && own[0].id === ownId && both.length === 1 && both[0].id === bothId;
    }, 15_000, 200);
    const targets = (await active(n)).map((x) => x.target);
    assert.equal(new Set(targets).size, targets.length, `${name}: one ban per target`);
  }
  const h = await held();
  assert.ok(h.has(`${OWN}/32`) && h.has(`${BOTH}/32`), 'BIRD keeps both routes');
  assert.ok(!h.has(`${WHITELISTED}/32`));
});
