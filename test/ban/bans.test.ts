import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.ts';
import { routeBuilder, routeForAttack } from '../../src/mitigation/route.ts';
import { BanManager } from '../../src/ban/bans.ts';
import type { Ban } from '../../src/ban/types.ts';
import { attack, cfg, ev, record, T0 } from './helpers.ts';

function mgr(over: Record<string, unknown> = {}) {
  const clock = new ManualClock(T0);
  const m = new BanManager(cfg(over), { clock, routes: routeBuilder(cfg(over)) });
  return { m, clock, events: record(m) };
}

/** Ticks once a second from `from` to `to` (inclusive) and returns the unban time, if any. */
function tickUntilUnban(m: BanManager, events: ReturnType<typeof record>, from: number, to: number): number | undefined {
  for (let t = from; t <= to; t += 1000) {
    m.tick(t);
    const u = events.find((e) => e.event === 'unban');
    if (u) return u.time;
  }
  return undefined;
}

test('short attack: the ban lasts its full TTL', () => {
  const { m, events } = mgr({ ban: { ttl_seconds: 300, unban_hysteresis_seconds: 60 } });
  const a = attack('198.51.100.7');
  m.onAttackEvent(ev('attack_start', T0, a));
  m.onAttackEvent(ev('attack_end', T0 + 20_000, a));
  const at = tickUntilUnban(m, events, T0, T0 + 1000_000);
  assert.equal(at, T0 + 300_000);
  const u = events.find((e) => e.event === 'unban')!;
  assert.equal(u.event === 'unban' && u.reason, 'expired');
});

test('long attack: the ban is kept past its TTL and ends hysteresis after the attack ends', () => {
  const { m, events } = mgr({ ban: { ttl_seconds: 300, unban_hysteresis_seconds: 60 } });
  const a = attack('198.51.100.7');
  m.onAttackEvent(ev('attack_start', T0, a));
  for (let t = T0; t <= T0 + 900_000; t += 1000) {
    m.tick(t);
    if (t % 10_000 === 0) m.onAttackEvent(ev('attack_update', t, a));
  }
  assert.equal(events.filter((e) => e.event === 'unban').length, 0, 'kept while the attack goes on');
  const live = m.active()[0];
  assert.equal(live.state, 'active');
  assert.ok(live.expires >= T0 + 900_000 + 59_000, 'extended');
  m.onAttackEvent(ev('attack_end', T0 + 900_500, a));
  const at = tickUntilUnban(m, events, T0 + 901_000, T0 + 2000_000);
  assert.equal(at, T0 + 961_000, 'first tick at or after end + hysteresis');
});

test('an attack that comes back while the ban is expiring keeps the same ban', () => {
  const { m, events } = mgr({ ban: { ttl_seconds: 30, unban_hysteresis_seconds: 60 } });
  const a = attack('198.51.100.7');
  m.onAttackEvent(ev('attack_start', T0, a));
  m.onAttackEvent(ev('attack_end', T0 + 10_000, a));
  m.tick(T0 + 40_000);
  const b = attack('198.51.100.7');
  m.onAttackEvent(ev('attack_start', T0 + 50_000, b));
  m.tick(T0 + 200_000);
  assert.equal(events.filter((e) => e.event === 'ban').length, 1);
  assert.deepEqual(m.active()[0].attack_ids, [a.id, b.id]);
  // two attacks linked: the ban lives until the last one ends
  const c = attack('198.51.100.7', { direction: 'outgoing' });
  m.onAttackEvent(ev('attack_start', T0 + 200_000, c));
  m.onAttackEvent(ev('attack_end', T0 + 210_000, b));
  assert.equal(m.active()[0].state, 'active');
  m.onAttackEvent(ev('attack_end', T0 + 220_000, c));
  assert.equal(m.active()[0].state, 'expiring');
  assert.equal(tickUntilUnban(m, events, T0 + 221_000, T0 + 400_000), T0 + 280_000);
});

test('manual ban: own TTL, actor, same guards; not escalated without an attack; links a waiting attack', () => {
  const { m, clock, events } = mgr({ mitigation: 'flowspec', escalation: [{ after_seconds: 1, action: 'blackhole' }], ban: { max_active_bans: 1 } });
  const r = m.manualBan({ ip: '2001:db8::5', ttlSeconds: 120, actor: 'alice', reason: 'ticket 42' });
  assert.ok(r.ok);
  const b = r.ok ? r.ban : ({} as Ban);
  assert.deepEqual([b.source, b.reason, b.ttl_seconds, b.expires - b.created, b.state, b.level], ['alice', 'ticket 42', 120, 120_000, 'expiring', 'flowspec_discard']);
  assert.equal(b.route.type === 'flowspec' && b.route.rules[0].destination, '2001:db8::5/128');
  assert.deepEqual(events.map((e) => e.event), ['ban']);
  // the cap holds for manual bans
  const r2 = m.manualBan({ ip: '198.51.100.9', actor: 'alice' });
  assert.equal(!r2.ok && r2.reason, 'max_active_bans');
  for (let t = 1; t <= 119; t++) m.tick(T0 + t * 1000);
  assert.equal(m.active().length, 1);
  assert.ok(!events.some((e) => e.event === 'escalate'));
  clock.t = T0 + 120_000;
  m.tick(clock.t);
  assert.equal(m.active().length, 0);
  // an attack refused by the cap waits; a manual ban of its target links it
  const { m: m2, clock: c2 } = mgr({ ban: { max_bans_per_window: 0 } });
  const a = attack('198.51.100.7');
  m2.onAttackEvent(ev('attack_start', T0, a));
  assert.equal(m2.active().length, 0);
  c2.t = T0 + 1000;
  const r3 = m2.manualBan({ ip: '198.51.100.7', actor: 'bob' });
  assert.equal(!r3.ok && r3.reason, 'rate_limited', 'manual bans obey the rate cap too');
});

test('manual ban of a target under attack links the attack and the ban follows it', () => {
  const { m, clock } = mgr({ ban: { max_active_bans: 1, ttl_seconds: 10, unban_hysteresis_seconds: 5 } });
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.1')));
  const a = attack('198.51.100.7');
  m.onAttackEvent(ev('attack_start', T0, a));
  assert.equal(m.active().length, 1);
  clock.t = T0 + 1000;
  assert.equal(m.manualUnban({ ip: '198.51.100.1', actor: 'op' }).ok, true);
  // the tick would ban 198.51.100.7 on its own; a manual ban first links the attack
  const r = m.manualBan({ ip: '198.51.100.7', ttlSeconds: 10, actor: 'op' });
  assert.ok(r.ok);
  const b = m.get('198.51.100.7')!;
  assert.deepEqual([b.state, b.attack_id, b.source], ['active', a.id, 'op']);
  m.tick(T0 + 60_000);
  assert.equal(m.get('198.51.100.7')?.state, 'active', 'kept past its TTL while the attack goes on');
});

test('manual unban ends at once, records the actor, and the same attack is not banned again', () => {
  const { m, clock, events } = mgr();
  const a = attack('198.51.100.7');
  m.onAttackEvent(ev('attack_start', T0, a));
  const id = m.active()[0].id;
  clock.t = T0 + 5000;
  const r = m.manualUnban({ id, actor: 'carol' });
  assert.ok(r.ok);
  assert.deepEqual(r.ok && [r.ban.state, r.ban.end_reason, r.ban.ended_by, r.ban.ended], ['ended', 'manual', 'carol', T0 + 5000]);
  m.onAttackEvent(ev('attack_update', T0 + 6000, a));
  m.tick(T0 + 7000);
  m.onAttackEvent(ev('attack_update', T0 + 7500, a));
  assert.equal(m.active().length, 0, 'not re-banned while the same attack lasts');
  assert.deepEqual(events.filter((e) => e.event === 'ban_refused').map((e) => e.event === 'ban_refused' && e.reason), ['manually_unbanned']);
  m.onAttackEvent(ev('attack_end', T0 + 8000, a));
  m.onAttackEvent(ev('attack_start', T0 + 9000, attack('198.51.100.7')));
  assert.equal(m.active().length, 1, 'a new attack is banned again');
  assert.deepEqual(events.map((e) => e.event), ['ban', 'unban', 'ban_refused', 'ban']);
  assert.equal(m.history(1)[0].id, id);
});

test('reconfigure: newly whitelisted or outside-networks bans end at once; others get new routes', () => {
  const { m, events } = mgr();
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.7')));
  m.onAttackEvent(ev('attack_start', T0, attack('203.0.113.7')));
  m.onAttackEvent(ev('attack_start', T0, attack('2001:db8::7')));
  const next = cfg({ networks: ['198.51.100.0/24', '2001:db8::/32'], protected_whitelist: ['2001:db8::/64'], bgp: { communities: ['65000:99'] } });
  const r = m.reconfigure(next, routeBuilder(next), T0 + 1000);
  assert.deepEqual(r.unbanned.map((b) => [b.target, b.end_reason]), [['203.0.113.7', 'outside_networks'], ['2001:db8::7', 'whitelisted']]);
  assert.deepEqual(r.rerouted.map((b) => b.target), ['198.51.100.7']);
  assert.deepEqual(m.active().map((b) => b.route.type === 'blackhole' && b.route.communities), [['65535:666', '65000:99']]);
  const unbans = events.filter((e) => e.event === 'unban');
  assert.deepEqual(unbans.map((e) => e.event === 'unban' && [e.time, e.reason]), [[T0 + 1000, 'outside_networks'], [T0 + 1000, 'whitelisted']]);
  // the still-running attack on the whitelisted target is refused, once
  m.tick(T0 + 2000);
  m.tick(T0 + 3000);
  const refused = events.filter((e) => e.event === 'ban_refused').map((e) => e.event === 'ban_refused' && [e.target, e.reason]);
  assert.deepEqual(refused, [['203.0.113.7', 'outside_networks'], ['2001:db8::7', 'whitelisted']]);
});

test('snapshot and restore: unexpired back, expired and now-whitelisted reported for withdrawal', () => {
  const { m, clock } = mgr({ ban: { ttl_seconds: 100, unban_hysteresis_seconds: 30 } });
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.1')));
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.2')));
  clock.t = T0 + 50_000;
  assert.ok(m.manualBan({ ip: '198.51.100.3', ttlSeconds: 10, actor: 'x' }).ok);
  assert.ok(m.manualBan({ ip: '198.51.100.4', ttlSeconds: 1000, actor: 'x' }).ok);
  m.onAttackEvent(ev('attack_end', T0 + 50_000, { ...attack('198.51.100.2'), id: m.get('198.51.100.2')!.attack_id! }));
  const snap = m.snapshot();
  assert.equal(snap.length, 4);
  const json = JSON.parse(JSON.stringify(snap)) as Ban[];

  const clock2 = new ManualClock(T0 + 95_000);
  const m2 = new BanManager(cfg({ ban: { ttl_seconds: 100, unban_hysteresis_seconds: 30 }, protected_whitelist: ['198.51.100.4/32'] }), { clock: clock2, routes: routeBuilder(cfg({ ban: { ttl_seconds: 100, unban_hysteresis_seconds: 30 }, protected_whitelist: ['198.51.100.4/32'] })) });
  const events2 = record(m2);
  const r = m2.restore(json, clock2.t);
  assert.deepEqual(r.expired.map((b) => b.target), ['198.51.100.3']);
  assert.deepEqual(r.refused.map((x) => [x.ban.target, x.reason]), [['198.51.100.4', 'whitelisted']]);
  assert.deepEqual(r.restored.map((b) => b.target), ['198.51.100.1', '198.51.100.2']);
  assert.deepEqual(events2, [], 'restore emits nothing; the caller announces');
  // the ban whose attack was going on gets at least the hysteresis to be detected again
  const b1 = m2.get('198.51.100.1')!;
  assert.deepEqual([b1.state, b1.expires], ['expiring', T0 + 125_000]);
  assert.equal(m2.get('198.51.100.2')!.expires, T0 + 100_000);
  // a new attack on a restored target links to the restored ban
  const a = attack('198.51.100.1');
  m2.onAttackEvent(ev('attack_start', T0 + 96_000, a));
  assert.equal(m2.get('198.51.100.1')!.state, 'active');
  assert.equal(m2.active().length, 2);
  // ids survive; new ids do not collide
  assert.equal(m2.get('198.51.100.1')!.id, snap[0].id);
});

test('restore re-applies the cap in creation order and ignores ended bans', () => {
  const bans: Ban[] = [1, 2, 3].map((i) => ({
    id: `b${i}`, target: `198.51.100.${i}`, family: 4, source: 'auto', reason: 'r', action: 'blackhole', escalation_step: -1,
    route: { type: 'blackhole', prefix: `10.9.9.${i}/32`, next_hop: '192.0.2.1', communities: [], large_communities: [] },
    created: T0 + i, expires: T0 + 100_000, ttl_seconds: 100, state: 'expiring',
  }));
  bans.push({ ...bans[0], id: 'old', target: '198.51.100.9', state: 'ended', ended: T0 });
  const m = new BanManager(cfg({ ban: { max_active_bans: 2 } }), { clock: new ManualClock(T0 + 10), routes: routeBuilder(cfg({ ban: { max_active_bans: 2 } })) });
  const r = m.restore(bans.reverse(), T0 + 10);
  assert.deepEqual(r.restored.map((b) => b.id), ['b1', 'b2']);
  assert.deepEqual(r.refused.map((x) => [x.ban.id, x.reason]), [['b3', 'max_active_bans']]);
  // a stored route pointing elsewhere is rebuilt inside the target
  assert.deepEqual(r.restored.map((b) => b.route.type === 'blackhole' && b.route.prefix), ['198.51.100.1/32', '198.51.100.2/32']);
});

test('listener errors are counted and do not break the manager; stats and history', () => {
  const { m } = mgr({ ban: { ttl_seconds: 1, unban_hysteresis_seconds: 0 } });
  m.on(() => { throw new Error('boom'); });
  const off = m.on(() => {});
  off();
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.7')));
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.53')));
  const a = attack('198.51.100.8');
  m.onAttackEvent(ev('attack_start', T0, a));
  m.onAttackEvent(ev('attack_end', T0, a));
  m.tick(T0 + 1000);
  const s = m.stats();
  assert.deepEqual(
    [s.active, s.created_total, s.ended_total, s.ended_by_reason, s.refused_by_reason, s.listener_errors],
    [1, 2, 1, { expired: 1 }, { whitelisted: 1 }, 4],
  );
  assert.deepEqual(s.active_by_state, { active: 1, expiring: 0 });
  assert.equal(s.pending_attacks, 1);
  assert.deepEqual(m.history().map((b) => b.target), ['198.51.100.8']);
  // routeForAttack: the ban's route, or the would-be one
  assert.equal(routeForAttack(attack('203.0.113.5'), cfg({ ban: { ttl_seconds: 1, unban_hysteresis_seconds: 0 } }), m).type, 'blackhole');
  // events from the manager are copies
  const got = m.active()[0];
  got.expires = 0;
  assert.notEqual(m.active()[0].expires, 0);
});

test('unrelated engine events are ignored; out-of-order times never move the clock back', () => {
  const { m, events } = mgr({ ban: { ttl_seconds: 10, unban_hysteresis_seconds: 0 } });
  const a = attack('198.51.100.7');
  m.onAttackEvent(ev('attack_start', T0 + 5000, a));
  m.onAttackEvent({ event: 'unban', time: T0, ban: {} as Ban, reason: 'x' });
  m.onAttackEvent(ev('attack_end', T0, a));
  const b = m.active()[0];
  assert.equal(b.created, T0 + 5000);
  assert.equal(b.quiet_since, T0 + 5000);
  m.tick(T0 + 14_999);
  assert.equal(m.active().length, 1);
  m.tick(T0 + 15_000);
  assert.equal(m.active().length, 0);
  assert.deepEqual(events.map((e) => e.event), ['ban', 'unban']);
});
