/**
 * The ledger and its sync against a real one-member etcd: two nodes' ban
 * modules racing on one target end with one ban and one id; a lease that
 * runs out ends the ban on every node; compare-and-swap conflicts merge;
 * an unban on one node ends the ban on the other with its reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import pino from 'pino';
import { EtcdCluster, etcdAvailable } from '../helpers/etcd.ts';
import { BanManager, type BanEvent } from '../../src/ban/bans.ts';
import { routeBuilder } from '../../src/mitigation/route.ts';
import { Ledger } from '../../src/cluster/ledger.ts';
import { LedgerSync } from '../../src/cluster/sync.ts';
import { waitFor } from '../helpers/netns.ts';
import { attack, cfg, ev } from '../ban/helpers.ts';

const skip = etcdAvailable() ? false : 'etcd not installed';
const log = pino({ level: 'silent' });

interface Node {
  bans: BanManager;
  sync: LedgerSync;
  events: BanEvent[];
  adopted: Array<{ id: string; replaced?: string }>;
}

async function node(t: import('node:test').TestContext, etcd: EtcdCluster, prefix: string, id: string, over: Record<string, unknown> = {}): Promise<Node> {
  const client = new Etcd3({ hosts: etcd.endpoints });
  const bans = new BanManager(cfg(over), { routes: routeBuilder(cfg(over)), idTag: id });
  const adopted: Node['adopted'] = [];
  const ledger = new Ledger(client, prefix);
  const sync = new LedgerSync({ ledger, bans, hooks: { adopted: (b, replaced) => adopted.push({ id: b.id, replaced }) }, log, nodeId: id });
  const events: BanEvent[] = [];
  bans.on((e) => {
    events.push(e);
    sync.onBanEvent(e);
  });
  const w = await client.watch().prefix(ledger.bansPrefix).withPreviousKV().create();
  w.on('data', (res) => sync.onWatch(res));
  t.after(async () => {
    await w.cancel().catch(() => undefined);
    client.close();
  });
  return { bans, sync, events, adopted };
}

let etcdP: Promise<EtcdCluster> | undefined;
function sharedEtcd(t: import('node:test').TestContext): Promise<EtcdCluster> {
  void t;
  etcdP ??= EtcdCluster.start(1);
  return etcdP;
}
test.after(async () => {
  if (etcdP) await (await etcdP).stop();
});

test('two nodes detecting the same attack at once create one ban with one id', { skip, timeout: 60_000 }, async (t) => {
  const etcd = await sharedEtcd(t);
  const prefix = '/bw-race';
  const a = await node(t, etcd, prefix, 'a');
  const b = await node(t, etcd, prefix, 'b');
  const now = Date.now();
  a.bans.onAttackEvent(ev('attack_start', now, attack('198.51.100.7', { id: 'x1' })));
  b.bans.onAttackEvent(ev('attack_start', now, attack('198.51.100.7', { id: 'y1' })));
  // Both decided locally at once (the detection path does not wait for etcd).
  assert.equal(a.bans.active().length, 1);
  assert.equal(b.bans.active().length, 1);
  assert.notEqual(a.bans.active()[0].id, b.bans.active()[0].id);
  await a.sync.settled();
  await b.sync.settled();
  const ledger = new Ledger(new Etcd3({ hosts: etcd.endpoints }), prefix);
  t.after(() => ledger.client.close());
  const { entries } = await ledger.list();
  assert.equal(entries.length, 1);
  const id = entries[0].ban.id;
  await waitFor('both nodes on the ledger id', () => a.bans.active()[0]?.id === id && b.bans.active()[0]?.id === id, 5000);
  assert.equal(a.bans.active().length, 1);
  assert.equal(b.bans.active().length, 1);
  const loser = a.adopted.length ? a : b;
  assert.equal(loser.adopted.length, 1);
  assert.ok(loser.adopted[0].replaced && loser.adopted[0].replaced !== id, 'the loser names the id it had');
  assert.equal(a.sync.stats().created + b.sync.stats().created, 1);
  assert.equal(a.sync.stats().lost_races + b.sync.stats().lost_races, 1);
  // The loser's attack stays linked to the adopted ban.
  assert.equal((loser === a ? a.bans.banOfAttack('x1') : b.bans.banOfAttack('y1'))?.id, id);
});

test('a ban created on one node is adopted by the other; an unban there ends it here with the reason', { skip, timeout: 60_000 }, async (t) => {
  const etcd = await sharedEtcd(t);
  const prefix = '/bw-adopt';
  const a = await node(t, etcd, prefix, 'a');
  const b = await node(t, etcd, prefix, 'b');
  const r = a.bans.manualBan({ ip: '198.51.100.9', actor: 'alice', ttlSeconds: 300 });
  assert.ok(r.ok);
  await waitFor('b adopts', () => b.bans.get('198.51.100.9')?.id === (r.ok && r.ban.id), 5000);
  assert.equal(b.adopted.length, 1);
  assert.equal(b.events.length, 0, 'adoption emits no ban event on the adopting node');
  const u = b.bans.manualUnban({ ip: '198.51.100.9', actor: 'bob' });
  assert.ok(u.ok);
  await waitFor('a ends it', () => a.bans.get('198.51.100.9') === undefined, 5000);
  const unban = a.events.find((e) => e.event === 'unban');
  assert.ok(unban && unban.event === 'unban');
  assert.equal(unban.reason, 'manual');
  assert.equal(unban.ban.ended_by, 'bob');
  const ledger = new Ledger(new Etcd3({ hosts: etcd.endpoints }), prefix);
  t.after(() => ledger.client.close());
  assert.equal((await ledger.list()).entries.length, 0);
});

test('the etcd lease is the ban TTL: when it runs out the ban ends on every node', { skip, timeout: 60_000 }, async (t) => {
  const etcd = await sharedEtcd(t);
  const prefix = '/bw-lease';
  const a = await node(t, etcd, prefix, 'a');
  const b = await node(t, etcd, prefix, 'b');
  const ledger = new Ledger(new Etcd3({ hosts: etcd.endpoints }), prefix);
  t.after(() => ledger.client.close());
  // A ledger ban with 1 s left: its lease ends LEDGER_GRACE_MS later, and the key goes with it.
  const now = Date.now();
  const c = await ledger.create({ id: 'ban-x', target: '198.51.100.20', family: 4, source: 'c', reason: 'test', action: 'blackhole', escalation_step: -1, route: { type: 'blackhole', prefix: '198.51.100.20/32', next_hop: '192.0.2.1', communities: [], large_communities: [] }, created: now, expires: now + 1000, ttl_seconds: 1, state: 'expiring', level: 'blackhole' });
  assert.ok(c.created);
  const lease = await ledger.client.leaseClient.leaseTimeToLive({ ID: c.entry.lease });
  assert.ok(Number(lease.TTL) >= 5 && Number(lease.TTL) <= 7, `lease TTL ${lease.TTL}`);
  await waitFor('both adopt', () => a.bans.get('ban-x') && b.bans.get('ban-x'), 5000);
  // Keep the ban modules from ending it on their own clock first.
  await waitFor('the lease ends it everywhere', () => !a.bans.get('ban-x') && !b.bans.get('ban-x'), 15_000, 200);
  const un = a.events.find((e) => e.event === 'unban');
  assert.ok(un && un.event === 'unban' && un.reason === 'expired');
  assert.equal((await ledger.list()).entries.length, 0);
});

test('compare-and-swap: an update on a stale revision conflicts, is merged, and the later expiry wins', { skip, timeout: 60_000 }, async (t) => {
  const etcd = await sharedEtcd(t);
  const prefix = '/bw-cas';
  const ledger = new Ledger(new Etcd3({ hosts: etcd.endpoints }), prefix);
  t.after(() => ledger.client.close());
  const now = Date.now();
  const ban = { id: 'ban-c', target: '198.51.100.30', family: 4 as const, source: 'c', reason: 'test', action: 'blackhole' as const, escalation_step: -1, route: { type: 'blackhole' as const, prefix: '198.51.100.30/32', next_hop: '192.0.2.1', communities: [], large_communities: [] }, created: now, expires: now + 60_000, ttl_seconds: 60, state: 'expiring' as const, level: 'blackhole' as const };
  const c = await ledger.create(ban);
  assert.ok(c.created);
  const again = await ledger.create({ ...ban, id: 'ban-d' });
  assert.equal(again.created, false);
  assert.equal(again.entry?.ban.id, 'ban-c');
  const u1 = await ledger.update(c.entry, { ...ban, expires: now + 120_000 });
  assert.ok(u1.ok);
  const stale = await ledger.update(c.entry, { ...ban, expires: now + 90_000 });
  assert.equal(stale.ok, false);
  assert.ok(!stale.ok && stale.current?.ban.expires === now + 120_000);
  const del = await ledger.remove(c.entry, 'manual', 'x');
  assert.equal(del.ok, false, 'a delete on a stale revision is refused');
  // Through the sync: node a holds the ban; the ledger copy is moved on behind its back; a's extension merges and retries.
  const a = await node(t, etcd, prefix, 'a');
  await a.sync.reconcile();
  assert.equal(a.bans.get('198.51.100.30')?.id, 'ban-c');
  assert.ok(u1.ok);
  const u2 = await ledger.update(u1.entry, { ...ban, expires: now + 150_000 });
  assert.ok(u2.ok);
  await waitFor('a sees the later expiry', () => a.bans.get('ban-c')?.expires === now + 150_000, 5000);
  assert.equal((await ledger.get('198.51.100.30'))?.ban.expires, now + 150_000);
});

test('reconcile after a partition: bans the ledger lost end here, bans it gained are adopted, unconfirmed ones are proposed', { skip, timeout: 60_000 }, async (t) => {
  const etcd = await sharedEtcd(t);
  const prefix = '/bw-reconcile';
  const client = new Etcd3({ hosts: etcd.endpoints });
  t.after(() => client.close());
  const ledger = new Ledger(client, prefix);
  const bans = new BanManager(cfg(), { routes: routeBuilder(cfg()) });
  const sync = new LedgerSync({ ledger, bans, hooks: { adopted: () => undefined }, log, nodeId: 'n' });
  bans.on((e) => sync.onBanEvent(e));
  const kept = bans.manualBan({ ip: '198.51.100.40', actor: 'x', ttlSeconds: 300 });
  const lost = bans.manualBan({ ip: '198.51.100.41', actor: 'x', ttlSeconds: 300 });
  assert.ok(kept.ok && lost.ok);
  await sync.settled();
  assert.equal((await ledger.list()).entries.length, 2);
  // While "away": the ledger loses one ban and gains another.
  const l = await ledger.get('198.51.100.41');
  assert.ok(l);
  await ledger.remove(l, 'manual', 'other');
  const now = Date.now();
  await ledger.create({ ...kept.ban, id: 'ban-new', target: '198.51.100.42', route: { type: 'blackhole', prefix: '198.51.100.42/32', next_hop: '192.0.2.1', communities: [], large_communities: [] }, created: now, expires: now + 60_000 });
  await sync.reconcile();
  assert.deepEqual(bans.active().map((b) => b.target).sort(), ['198.51.100.40', '198.51.100.42']);
  assert.equal(bans.history(5).find((b) => b.target === '198.51.100.41')?.end_reason, 'ledger_lost');
});
