/**
 * Route leases: every route the Mitigator hands to the speaker carries the
 * expiry of the bans that claim it (plus LEASE_GRACE_MS), so the speaker can
 * withdraw it on its own when the main thread stops moving it along.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { validateConfig } from '../../src/config/load.ts';
import { routeKey } from '../../src/bgp/types.ts';
import { LEASE_GRACE_MS } from '../../src/mitigation/reconcile.ts';
import { FakeSpeaker, mitigator } from './fake-speaker.ts';
import { makeBan } from '../store/fixtures.ts';

const NB = '127.0.0.2';
const cfg = validateConfig({
  networks: ['198.51.100.0/24'],
  bgp: { local_asn: 65000, next_hop: '192.0.2.1', communities: ['65000:666'], neighbors: [{ address: NB, remote_asn: 65001 }] },
});

/** The time the Mitigator reads (the property moves it; the other tests leave it at the real time). */
const clock = { now: Date.now() };

function setup(dryRun = false) {
  clock.now = Date.now();
  const sp = new FakeSpeaker([{ id: NB }]);
  sp.now = () => clock.now;
  const m = mitigator({ port: sp, config: cfg, dryRun }, () => clock.now);
  return { sp, m };
}

const lease = (sp: FakeSpeaker, target: string) => sp.leases.get(NB)?.get(`ipv4_unicast ${target}/32`);

test('an announced route carries its ban expiry plus the grace as lease', () => {
  const { sp, m } = setup();
  const b = makeBan('198.51.100.10', { ttl_seconds: 60 });
  m.upsert(b);
  const call = sp.calls.find((c) => c.kind === 'announce');
  assert.ok(call, 'announced');
  assert.equal(call.expiresAt, b.expires + LEASE_GRACE_MS, 'lease handed over as the time left');
  assert.equal(lease(sp, '198.51.100.10'), b.expires + LEASE_GRACE_MS);
});

test('an extension without an event moves the lease on the next refresh, once, without touching the route', () => {
  const { sp, m } = setup();
  const b = makeBan('198.51.100.11', { ttl_seconds: 60 });
  m.upsert(b);
  const route = sp.rib(NB).get('ipv4_unicast 198.51.100.11/32');
  assert.equal(m.refreshLeases(), 0, 'nothing moved yet');
  b.expires += 30_000; // the ban module extends in place (hysteresis), no event
  assert.equal(m.refreshLeases(), 1);
  assert.equal(lease(sp, '198.51.100.11'), b.expires + LEASE_GRACE_MS);
  assert.equal(sp.rib(NB).get('ipv4_unicast 198.51.100.11/32'), route, 'same route, same attributes');
  assert.equal(m.refreshLeases(), 0, 'refreshed once');
});

test('a route the lease withdrew (main thread stalled) comes back when the ban was extended meanwhile', () => {
  const { sp, m } = setup();
  const b = makeBan('198.51.100.12', { ttl_seconds: 10 });
  m.upsert(b);
  assert.deepEqual(sp.expire(b.expires + LEASE_GRACE_MS), [`${NB} ipv4_unicast 198.51.100.12/32`]);
  assert.equal(sp.total(), 0);
  b.expires += 60_000;
  m.refreshLeases();
  assert.ok(sp.rib(NB).has('ipv4_unicast 198.51.100.12/32'));
});

test('a route two bans claim keeps the later lease, and the earlier one when the later ban ends', () => {
  const { sp, m } = setup();
  const now = Date.now();
  const a = makeBan('198.51.100.13', { id: 'a', created: now, ttl_seconds: 60 });
  const b = makeBan('198.51.100.13', { id: 'b', created: now, ttl_seconds: 300 });
  m.upsert(a);
  m.upsert(b);
  assert.equal(lease(sp, '198.51.100.13'), b.expires + LEASE_GRACE_MS);
  m.remove('b');
  assert.ok(sp.rib(NB).has('ipv4_unicast 198.51.100.13/32'), 'still claimed by a');
  assert.equal(lease(sp, '198.51.100.13'), a.expires + LEASE_GRACE_MS);
});

test('dry-run: no lease refresh reaches the speaker', () => {
  const { sp, m } = setup(true);
  const b = makeBan('198.51.100.14', { ttl_seconds: 60 });
  m.upsert(b);
  b.expires += 1000;
  assert.equal(m.refreshLeases(), 0);
  assert.equal(sp.announces(), 0);
});

// Any interleaving of bans, extensions, removals, refreshes and a speaker
// whose lease timer runs while the main thread does nothing: every route
// handed over has a lease, and no route outlives every ban claiming it by
// more than the grace.
test('property: every route has a lease, and none is held past its bans by more than the grace', () => {
  const op = fc.oneof(
    fc.record({ k: fc.constant('ban' as const), host: fc.integer({ min: 2, max: 6 }), ttl: fc.integer({ min: 1, max: 120 }) }),
    fc.record({ k: fc.constant('extend' as const), host: fc.integer({ min: 2, max: 6 }), by: fc.integer({ min: 1, max: 60 }) }),
    fc.record({ k: fc.constant('unban' as const), host: fc.integer({ min: 2, max: 6 }) }),
    fc.record({ k: fc.constant('refresh' as const) }),
    fc.record({ k: fc.constant('stall' as const), s: fc.integer({ min: 1, max: 200 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const { sp, m } = setup();
      let now = (clock.now = 1_800_000_000_000);
      let n = 0;
      for (const o of ops) {
        if (o.k === 'ban') m.upsert(makeBan(`198.51.100.${o.host}`, { id: `b${n++}`, created: now, ttl_seconds: o.ttl }));
        else if (o.k === 'extend') {
          const b = m.source.active().find((x) => x.target === `198.51.100.${o.host}`);
          if (b) b.expires += o.by * 1000;
        } else if (o.k === 'unban') {
          for (const b of m.source.active()) if (b.target === `198.51.100.${o.host}`) m.remove(b.id);
        } else if (o.k === 'refresh') m.refreshLeases();
        else {
          now = clock.now += o.s * 1000;
          sp.expire(now);
        }
        for (const c of sp.calls) if (c.kind === 'announce') assert.ok((c.expiresAt ?? 0) > 0, 'announced without a lease');
        for (const [k] of sp.rib(NB)) {
          const l = sp.leases.get(NB)?.get(k);
          assert.ok(l, `${k} held without a lease`);
          const latest = Math.max(...m.source.active().filter((b) => routeKey(m.routesForBan(b).routes[0]) === k).map((b) => b.expires));
          assert.ok(l <= latest + LEASE_GRACE_MS, `${k}: lease ${l} beyond its bans' ${latest} + grace`);
          assert.ok(now < l, `${k} held at ${now}, lease ended ${l}`);
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('with the leases option off (benches only), routes carry no lease, stay until withdrawn, and refresh moves nothing', () => {
  clock.now = Date.now();
  const sp = new FakeSpeaker([{ id: NB }]);
  sp.now = () => clock.now;
  const m = mitigator({ port: sp, config: cfg, dryRun: false, leases: false }, () => clock.now);
  const b = makeBan('198.51.100.14', { ttl_seconds: 10 });
  m.upsert(b);
  const call = sp.calls.find((c) => c.kind === 'announce');
  assert.ok(call, 'announced');
  assert.equal(call.expiresAt, 0, 'no lease');
  assert.equal(lease(sp, '198.51.100.14'), undefined);
  assert.deepEqual(sp.expire(b.expires + LEASE_GRACE_MS + 1), [], 'the speaker never withdraws it on its own');
  b.expires += 60_000;
  assert.equal(m.refreshLeases(), 0);
  m.remove(b.id);
  assert.equal(sp.total(), 0, 'withdrawn with its ban');
});
