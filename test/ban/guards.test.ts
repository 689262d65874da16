import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.ts';
import { parsePrefix, type Prefix } from '../../src/core/ip.ts';
import { routeBuilder } from '../../src/mitigation/route.ts';
import { BanManager } from '../../src/ban/bans.ts';
import { ActiveIndex, REFUSAL_REASONS, unionSize } from '../../src/ban/guards.ts';
import fc from 'fast-check';
import { attack, cfg, ev, record, T0 } from './helpers.ts';

const P = (s: string) => parsePrefix(s) as Prefix;

function mgr(over: Record<string, unknown> = {}) {
  const clock = new ManualClock(T0);
  const m = new BanManager(cfg(over), { clock, routes: routeBuilder(cfg(over)) });
  return { m, clock, events: record(m) };
}

function refusals(events: ReturnType<typeof record>) {
  return events.filter((e) => e.event === 'ban_refused').map((e) => (e as { reason: string }).reason);
}

test('unionSize counts nested prefixes once and families apart', () => {
  assert.equal(unionSize(4, [P('10.0.0.0/24'), P('10.0.0.5/32'), P('10.0.0.0/25'), P('10.0.1.0/31')]), 258);
  assert.equal(unionSize(4, [P('2001:db8::/64')]), 0);
  assert.equal(unionSize(6, [P('2001:db8::/64'), P('2001:db8::1/128'), P('2001:db9::/127')]), 2 ** 64 + 2);
});

test('outside_networks: v4, v6 and a carpet prefix sticking out of networks', () => {
  const { m, events } = mgr();
  m.onAttackEvent(ev('attack_start', T0, attack('192.0.2.10')));
  m.onAttackEvent(ev('attack_start', T0, attack('2001:db9::1')));
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.0/23', { vector: 'carpet_bomb' })));
  assert.deepEqual(refusals(events), ['outside_networks', 'outside_networks', 'outside_networks']);
  assert.equal(m.active().length, 0);
  const r = m.manualBan({ ip: '8.8.8.8', actor: 'alice' });
  assert.deepEqual([r.ok, !r.ok && r.reason], [false, 'outside_networks']);
  // inside networks is fine, v6 too
  m.onAttackEvent(ev('attack_start', T0, attack('2001:db8::1')));
  assert.equal(m.active().length, 1);
});

test('whitelisted: absolute, a carpet prefix holding a whitelisted address is refused, not trimmed', () => {
  const { m, events } = mgr({ protected_whitelist: ['198.51.100.53/32', '2001:db8:1::/48'] });
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.53')));
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.0/24', { vector: 'carpet_bomb' })));
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.0/26', { vector: 'carpet_bomb' })));
  m.onAttackEvent(ev('attack_start', T0, attack('2001:db8:1:2::7')));
  assert.deepEqual(refusals(events), ['whitelisted', 'whitelisted', 'whitelisted', 'whitelisted']);
  assert.equal(m.active().length, 0);
  const r = m.manualBan({ prefix: '198.51.100.48/28', actor: 'alice' });
  assert.equal(!r.ok && r.reason, 'whitelisted');
  // the neighbouring /28 does not hold the whitelisted address
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.64/28', { vector: 'carpet_bomb' })));
  assert.deepEqual(m.active().map((b) => b.target), ['198.51.100.64/28']);
  const refused = events.find((e) => e.event === 'ban_refused' && e.target === '198.51.100.0/24');
  assert.match((refused as { detail: string }).detail, /198\.51\.100\.53\/32/);
});

test('already_banned: manual ban of a banned target, attack inside a carpet ban (retried after it ends)', () => {
  const { m, clock, events } = mgr({ ban: { ttl_seconds: 60, unban_hysteresis_seconds: 0 } });
  const carpet = attack('203.0.113.0/24', { vector: 'carpet_bomb' });
  m.onAttackEvent(ev('attack_start', T0, carpet));
  const r = m.manualBan({ prefix: '203.0.113.0/24', actor: 'bob' });
  assert.equal(!r.ok && r.reason, 'already_banned');
  const host = attack('203.0.113.9');
  m.onAttackEvent(ev('attack_start', T0 + 1000, host));
  m.onAttackEvent(ev('attack_update', T0 + 2000, host));
  assert.deepEqual(refusals(events), ['already_banned', 'already_banned'], 'refusal for the attack emitted once');
  m.onAttackEvent(ev('attack_end', T0 + 5000, carpet));
  clock.t = T0 + 60_000;
  m.tick(clock.t);
  assert.deepEqual(m.active().map((b) => b.target), ['203.0.113.9'], 'host banned once the carpet ban ended');
});

test('max_active_bans is a hard cap; 0 allows no ban at all', () => {
  const { m, events } = mgr({ ban: { max_active_bans: 2 } });
  for (const t of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) m.onAttackEvent(ev('attack_start', T0, attack(t)));
  assert.equal(m.active().length, 2);
  assert.deepEqual(refusals(events), ['max_active_bans']);
  const r = m.manualBan({ ip: '198.51.100.4', actor: 'x' });
  assert.equal(!r.ok && r.reason, 'max_active_bans');
  const z = mgr({ ban: { max_active_bans: 0 } });
  z.m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.1')));
  assert.deepEqual(refusals(z.events), ['max_active_bans']);
});

test('max_banned_fraction is per family, of the union of networks', () => {
  // v4 space: two /24 = 512 addresses; 0.05 → 25.6 addresses
  const { m, events } = mgr({ ban: { max_banned_fraction: 0.05 } });
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.0/28', { vector: 'carpet_bomb' }))); // 16
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.16/29', { vector: 'carpet_bomb' }))); // 24
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.24/30', { vector: 'carpet_bomb' }))); // 28 > 25.6
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.200'))); // 25
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.201'))); // 26 > 25.6
  assert.deepEqual(refusals(events), ['max_banned_fraction', 'max_banned_fraction']);
  // the v6 family has its own budget
  m.onAttackEvent(ev('attack_start', T0, attack('2001:db8::1')));
  assert.equal(m.active().filter((b) => b.family === 6).length, 1);
  const s = m.stats();
  assert.equal(s.banned_addresses[4], 25);
  assert.ok(Math.abs(s.banned_fraction[4] - 25 / 512) < 1e-12);
  assert.ok(s.banned_fraction[6] > 0 && s.banned_fraction[6] < 1e-20);
});

test('rate_limited: max_bans_per_window per ban_window_seconds; retried when the window moves on', () => {
  const { m, clock, events } = mgr({ ban: { max_bans_per_window: 2, ban_window_seconds: 10 } });
  const a3 = attack('198.51.100.3');
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.1')));
  m.onAttackEvent(ev('attack_start', T0 + 1000, attack('198.51.100.2')));
  m.onAttackEvent(ev('attack_start', T0 + 2000, a3));
  assert.deepEqual(refusals(events), ['rate_limited']);
  const r = m.manualBan({ ip: '198.51.100.4', actor: 'x' });
  assert.equal(!r.ok && r.reason, 'rate_limited', 'manual bans count against the same window');
  clock.t = T0 + 9999;
  m.tick(clock.t);
  assert.equal(m.active().length, 2);
  clock.t = T0 + 10_000;
  m.tick(clock.t);
  assert.deepEqual(m.active().map((b) => b.target).sort(), ['198.51.100.1', '198.51.100.2', '198.51.100.3']);
  assert.equal(m.active().find((b) => b.target === '198.51.100.3')!.attack_id, a3.id);
});

test('hostgroup caps apply on top of the global ones', () => {
  const { m, events } = mgr({
    hostgroups: [{ name: 'web', networks: ['198.51.100.0/25'], ban: { max_active_bans: 1, ttl_seconds: 30 } }],
  });
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.1')));
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.2')));
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.200')));
  assert.deepEqual(refusals(events), ['max_active_bans']);
  const refused = events.find((e) => e.event === 'ban_refused')!;
  assert.match((refused as { detail: string }).detail, /hostgroup web/);
  const bans = m.active();
  assert.deepEqual(bans.map((b) => [b.target, b.hostgroup, b.ttl_seconds]), [['198.51.100.1', 'web', 30], ['198.51.100.200', undefined, 600]]);
});

test('invalid targets, invalid TTL, not_banned and the reason codes are stable', () => {
  const { m } = mgr();
  const r1 = m.manualBan({ ip: 'not-an-ip', actor: 'x' });
  assert.equal(!r1.ok && r1.reason, 'invalid_target');
  const r2 = m.manualBan({ prefix: '198.51.100.1/24', actor: 'x' });
  assert.equal(!r2.ok && r2.reason, 'invalid_target', 'host bits set');
  for (const ttl of [0, -5, Infinity, NaN, 400 * 86400]) {
    const r = m.manualBan({ ip: '198.51.100.1', ttlSeconds: ttl, actor: 'x' });
    assert.equal(!r.ok && r.reason, 'invalid_ttl', String(ttl));
  }
  const r3 = m.manualUnban({ ip: '198.51.100.1', actor: 'x' });
  assert.equal(!r3.ok && r3.reason, 'not_banned');
  const r4 = m.manualUnban({ id: 'nope', actor: 'x' });
  assert.equal(!r4.ok && r4.reason, 'not_banned');
  assert.deepEqual([...REFUSAL_REASONS], ['invalid_target', 'outside_networks', 'whitelisted', 'already_banned', 'max_active_bans', 'max_banned_fraction', 'rate_limited', 'manually_unbanned', 'not_banned', 'invalid_ttl']);
  const s = m.stats();
  assert.equal(s.refused_by_reason.invalid_target, 2);
  assert.equal(s.refused_by_reason.invalid_ttl, 5);
});

test('guard order: whitelist wins over caps, networks over whitelist', () => {
  const { m, events } = mgr({ ban: { max_active_bans: 0 }, protected_whitelist: ['198.51.100.53/32', '192.0.2.0/24'] });
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.53')));
  m.onAttackEvent(ev('attack_start', T0, attack('192.0.2.1')));
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.54')));
  assert.deepEqual(refusals(events), ['whitelisted', 'outside_networks', 'max_active_bans']);
});

test('ActiveIndex: covering lookups and the cached union agree with a plain recomputation', () => {
  const pfx = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 24, max: 32 })).map(([o, l]) => {
    const masked = l === 32 ? o : o & ((0xff << (32 - l)) & 0xff);
    return P(`10.0.0.${masked}/${l}`);
  });
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), pfx), { maxLength: 40 }), pfx, (ops, probe) => {
      const idx = new ActiveIndex();
      const live: Prefix[] = [];
      const same = (a: Prefix, b: Prefix) => a.len === b.len && a.bytes.every((x, i) => x === b.bytes[i]);
      for (const [add, p] of ops) {
        if (add) {
          if (!live.some((q) => same(q, p))) live.push(p);
          idx.add({ prefix: p });
        } else {
          const i = live.findIndex((q) => same(q, p));
          if (i >= 0) live.splice(i, 1);
          idx.remove(p);
        }
        assert.equal(idx.size, live.length);
        assert.equal(idx.bannedUnion(4), unionSize(4, live));
      }
      const cov = idx.covering(probe);
      assert.equal(cov !== undefined, live.some((q) => q.len <= probe.len && unionSize(4, [q, probe]) === unionSize(4, [q])));
      assert.equal(idx.added(probe), unionSize(4, [...live, probe]) - unionSize(4, live));
    }),
    { numRuns: 300 },
  );
});
