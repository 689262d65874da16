/**
 * The leader's ledger feed against a real etcd: ledger changes become ban,
 * escalate and unban events (reasons from the ended marker, `expired` for a
 * lease that ran out); a second feed started after the first stops
 * continues at the durable cursor: no event skipped, none repeated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import pino from 'pino';
import { EtcdCluster, etcdAvailable } from '../helpers/etcd.ts';
import { waitFor } from '../helpers/netns.ts';
import { Ledger } from '../../src/cluster/ledger.ts';
import { LeaderFeed } from '../../src/cluster/leader-feed.ts';
import type { Ban, BanEvent } from '../../src/ban/types.ts';

const skip = etcdAvailable() ? false : 'etcd not installed';
const log = pino({ level: 'silent' });

function ban(id: string, target: string, expiresIn = 300_000): Ban {
  const now = Date.now();
  return { id, target, family: 4, source: 'test', reason: 'test', action: 'blackhole', escalation_step: -1, route: { type: 'blackhole', prefix: `${target}/32`, next_hop: '192.0.2.1', communities: [], large_communities: [] }, created: now, expires: now + expiresIn, ttl_seconds: Math.ceil(expiresIn / 1000), state: 'expiring', level: 'flowspec_discard' };
}

test('a new leader continues at the cursor: every ledger event once, in order', { skip, timeout: 60_000 }, async (t) => {
  const etcd = await EtcdCluster.start(1);
  const client = new Etcd3({ hosts: etcd.endpoints });
  t.after(async () => {
    client.close();
    await etcd.stop();
  });
  const ledger = new Ledger(client, '/bw-feed');
  const got: Array<{ by: string; e: BanEvent }> = [];
  const feed = (by: string) => new LeaderFeed({ client, ledger, sink: (evs) => evs.forEach((e) => got.push({ by, e })), log });
  const one = feed('one');
  await one.start();
  const c1 = await ledger.create(ban('ban-1', '198.51.100.1'));
  assert.ok(c1.created);
  const u1 = await ledger.update(c1.entry, { ...c1.entry.ban, level: 'blackhole', action: 'blackhole' });
  assert.ok(u1.ok);
  await waitFor('two events', () => got.length === 2, 5000);
  await one.stop();
  // No leader for a while: the changes wait in etcd.
  const c2 = await ledger.create(ban('ban-2', '198.51.100.2'));
  assert.ok(c2.created && u1.ok);
  await ledger.remove(u1.entry, 'manual', 'alice');
  const c3 = await ledger.create(ban('ban-3', '198.51.100.3', 500));
  assert.ok(c3.created);
  const two = feed('two');
  await two.start();
  t.after(() => two.stop());
  // ban-3's lease ends ~5.5 s later: an unban with reason expired.
  await waitFor('all events', () => got.length === 6, 20_000, 100);
  const seq = got.map(({ by, e }) => `${by}:${e.event}:${'ban' in e ? e.ban.id : ''}:${e.event === 'unban' ? e.reason : e.event === 'escalate' ? e.to : ''}`);
  assert.deepEqual(seq, [
    'one:ban:ban-1:',
    'one:escalate:ban-1:blackhole',
    'two:ban:ban-2:',
    'two:unban:ban-1:manual',
    'two:ban:ban-3:',
    'two:unban:ban-3:expired',
  ]);
  const un = got[3].e;
  assert.ok(un.event === 'unban' && un.ban.ended_by === 'alice');
  // An extension (expiry moved, same level) is no event.
  assert.ok(c2.created);
  await ledger.update(c2.entry, { ...c2.entry.ban, expires: c2.entry.ban.expires + 60_000 });
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(got.length, 6);
  assert.equal(await client.get('/bw-feed/cursor').string(), two.cursor);
});

test('a fenced feed delivers nothing: a stalled leader whose election lease ran out leaves the events to its successor', { skip, timeout: 60_000 }, async (t) => {
  const etcd = await EtcdCluster.start(1);
  const client = new Etcd3({ hosts: etcd.endpoints });
  t.after(async () => {
    client.close();
    await etcd.stop();
  });
  const ledger = new Ledger(client, '/bw-fence');
  let holds = true;
  let lost = 0;
  const got: BanEvent[] = [];
  const feed = new LeaderFeed({ client, ledger, sink: (evs) => got.push(...evs), log, fence: async () => holds, lost: () => lost++ });
  t.after(() => feed.stop());
  await feed.start();
  await ledger.create(ban('ban-f1', '198.51.100.11'));
  await waitFor('delivered while leading', () => got.length === 1, 5000);
  const cursor = feed.cursor;
  holds = false;
  await ledger.create(ban('ban-f2', '198.51.100.12'));
  await waitFor('told it lost leadership', () => lost === 1, 5000);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(got.map((e) => ('ban' in e ? e.ban.id : '')), ['ban-f1']);
  assert.equal(await client.get('/bw-fence/cursor').string(), cursor, 'the cursor stays for the successor');
  // The successor delivers what the fenced feed left.
  const next: BanEvent[] = [];
  const two = new LeaderFeed({ client, ledger, sink: (evs) => next.push(...evs), log, fence: async () => true });
  t.after(() => two.stop());
  await two.start();
  await waitFor('the successor delivers ban-f2', () => next.length === 1, 5000);
  assert.equal(next[0].event === 'ban' && next[0].ban.id, 'ban-f2');
});
