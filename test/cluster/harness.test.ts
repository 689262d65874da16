/** The etcd test harness itself: one member and three members start, answer, survive a member restart, and stop. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EtcdCluster, etcdAvailable } from '../helpers/etcd.ts';

const skip = etcdAvailable() ? false : 'etcd not installed';

test('one etcd member: put and get', { skip, timeout: 60_000 }, async (t) => {
  const etcd = await EtcdCluster.start(1);
  t.after(() => etcd.stop());
  const c = new Etcd3({ hosts: etcd.endpoints });
  t.after(() => c.close());
  await c.put('/t/a').value('1');
  assert.equal(await c.get('/t/a').string(), '1');
});

test('three etcd members: a stopped member leaves a quorum; started again it rejoins', { skip, timeout: 90_000 }, async (t) => {
  const etcd = await EtcdCluster.start(3);
  t.after(() => etcd.stop());
  const c = new Etcd3({ hosts: etcd.endpoints, dialTimeout: 2000 });
  t.after(() => c.close());
  await c.put('/t/b').value('1');
  await etcd.stopMember(2);
  await c.put('/t/b').value('2');
  assert.equal(await c.get('/t/b').string(), '2');
  await etcd.startMember(2);
  const m2 = new Etcd3({ hosts: [etcd.endpoints[2]] });
  t.after(() => m2.close());
  assert.equal(await m2.get('/t/b').string(), '2');
});

test('cluster config: absent means one node; present gets its defaults; a change waits for a restart', async () => {
  const { ConfigSchema } = await import('../../src/config/schema.ts');
  const { planReload } = await import('../../src/config/diff.ts');
  const v = await import('valibot');
  const base = v.parse(ConfigSchema, {});
  assert.equal(base.cluster, undefined);
  const c = v.parse(ConfigSchema, { cluster: { node_id: 'a', etcd: { endpoints: ['http://127.0.0.1:2379'] } } });
  assert.deepEqual(c.cluster, { node_id: 'a', etcd: { endpoints: ['http://127.0.0.1:2379'], prefix: '/breakwater', dial_timeout_seconds: 5 }, partition_policy: 'hold' });
  assert.throws(() => v.parse(ConfigSchema, { cluster: { node_id: 'a b', etcd: { endpoints: ['http://x:1'] } } }));
  assert.throws(() => v.parse(ConfigSchema, { cluster: { node_id: 'a', etcd: { endpoints: ['http://x:1'], prefix: '/x/' } } }));
  const p = planReload(c, base);
  assert.ok(p.restartOnly.some((k) => k.startsWith('cluster')), JSON.stringify(p.restartOnly));
  assert.deepEqual(p.config.cluster, c.cluster);
});
