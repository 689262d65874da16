/**
 * The ban module ALONE: no engine, no mitigation, no BGP. Attack events are
 * built by hand and routes come from a stub builder that records what the
 * module asks for, so these tests pin what the module itself decides:
 * guards, TTL, hysteresis, caps, whitelist, escalation that never steps
 * down, manual ban/unban, restore, reload and its side-effect-free preview.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.ts';
import { BreakwaterError, ERRORS, httpStatus } from '../../src/core/errors.ts';
import { BanManager } from '../../src/ban/bans.ts';
import { REFUSAL_REASONS } from '../../src/ban/guards.ts';
import { LEVELS } from '../../src/ban/escalation.ts';
import type { RouteBuilder, RouteSubject } from '../../src/ban/types.ts';
import { attack, cfg, ev, record, T0 } from './helpers.ts';

/** A route builder that knows nothing of BGP: one "blackhole" whose prefix is the target, tagged with the level. */
function stubRoutes(): RouteBuilder & { calls: RouteSubject[] } {
  const calls: RouteSubject[] = [];
  const fn: RouteBuilder = (s) => {
    calls.push(s);
    const len = s.target.includes('/') ? '' : s.family === 4 ? '/32' : '/128';
    return { type: 'blackhole', prefix: s.target + len, next_hop: `level:${s.level}`, communities: [], large_communities: [] };
  };
  return Object.assign(fn, { calls });
}

function mgr(over: Record<string, unknown> = {}) {
  const clock = new ManualClock(T0);
  const routes = stubRoutes();
  const m = new BanManager(cfg(over), { clock, routes });
  return { m, clock, routes, events: record(m) };
}

test('lifecycle through the guards: ban, kept while the attack lasts, unban after TTL and hysteresis', () => {
  const { m, events, routes } = mgr({ ban: { ttl_seconds: 100, unban_hysteresis_seconds: 30 } });
  const a = attack('198.51.100.7');
  m.onAttackEvent(ev('attack_start', T0, a));
  assert.deepEqual(events.map((e) => e.event), ['ban']);
  const b = m.active()[0];
  assert.equal(b.state, 'active');
  assert.equal(b.expires, T0 + 100_000);
  assert.equal(routes.calls.at(-1)?.target, '198.51.100.7', 'the module asks mitigation for the route of the canonical target');
  assert.equal(b.route.type === 'blackhole' && b.route.prefix, '198.51.100.7/32');
  // TTL runs out while the attack goes on: extended by the hysteresis
  m.onAttackEvent(ev('attack_update', T0 + 99_000, a));
  m.tick(T0 + 100_000);
  assert.equal(m.active().length, 1);
  assert.equal(m.active()[0].expires, T0 + 130_000);
  // the attack ends: unban at end + hysteresis (after the TTL)
  m.onAttackEvent(ev('attack_end', T0 + 120_000, a));
  assert.equal(m.active()[0].state, 'expiring');
  m.tick(T0 + 149_999);
  assert.equal(m.active().length, 1);
  m.tick(T0 + 150_000);
  assert.equal(m.active().length, 0);
  const u = events.at(-1)!;
  assert.ok(u.event === 'unban' && u.reason === 'expired');
  assert.equal(m.history()[0].id, b.id);
});

test('whitelist and networks are absolute; the refusal is reported once per attack and reason', () => {
  const { m, events } = mgr();
  const w = attack('198.51.100.53');
  m.onAttackEvent(ev('attack_start', T0, w));
  m.onAttackEvent(ev('attack_update', T0 + 1000, w));
  m.tick(T0 + 2000);
  const out = attack('192.0.2.1');
  m.onAttackEvent(ev('attack_start', T0 + 3000, out));
  const carpet = attack('198.51.100.0/24');
  m.onAttackEvent(ev('attack_start', T0 + 4000, carpet));
  assert.deepEqual(events.map((e) => e.event === 'ban_refused' && [e.target, e.reason]), [
    ['198.51.100.53', 'whitelisted'],
    ['192.0.2.1', 'outside_networks'],
    ['198.51.100.0/24', 'whitelisted'],
  ]);
  assert.equal(m.active().length, 0);
});

test('caps: max_active_bans is hard; the refused attack is banned once a ban ends', () => {
  const { m, events } = mgr({ ban: { max_active_bans: 2, ttl_seconds: 10, unban_hysteresis_seconds: 0 } });
  const [a, b, c] = ['198.51.100.1', '198.51.100.2', '198.51.100.3'].map((t) => attack(t));
  m.onAttackEvent(ev('attack_start', T0, a));
  m.onAttackEvent(ev('attack_start', T0, b));
  m.onAttackEvent(ev('attack_start', T0, c));
  assert.equal(m.active().length, 2);
  assert.deepEqual(events.filter((e) => e.event === 'ban_refused').map((e) => e.event === 'ban_refused' && e.reason), ['max_active_bans']);
  m.onAttackEvent(ev('attack_end', T0 + 1000, a));
  m.tick(T0 + 10_000);
  assert.deepEqual(m.active().map((x) => x.target).sort(), ['198.51.100.2', '198.51.100.3']);
});

test('caps: the rate cap counts bans in the window and lets the attack through when the window moves on', () => {
  const { m } = mgr({ ban: { max_bans_per_window: 1, ban_window_seconds: 60 } });
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.1')));
  const late = attack('198.51.100.2');
  m.onAttackEvent(ev('attack_start', T0 + 1000, late));
  assert.equal(m.active().length, 1);
  m.tick(T0 + 59_000);
  assert.equal(m.active().length, 1);
  m.tick(T0 + 61_000);
  assert.equal(m.active().length, 2);
});

test('escalation steps up on schedule and never down, even when the ladder says weaker', () => {
  const { m, events, routes } = mgr({
    mitigation: 'flowspec',
    flowspec: { action: 'rate_limit', rate_mbps: 10 },
    escalation: [{ after_seconds: 10, action: 'blackhole' }, { after_seconds: 20, action: 'flowspec_rate_limit' }],
  });
  const a = attack('198.51.100.7');
  m.onAttackEvent(ev('attack_start', T0, a));
  assert.equal(m.active()[0].level, 'flowspec_rate_limit');
  for (let t = T0; t <= T0 + 30_000; t += 1000) {
    m.tick(t);
    m.onAttackEvent(ev('attack_update', t, a));
  }
  const esc = events.filter((e) => e.event === 'escalate');
  assert.deepEqual(esc.map((e) => e.event === 'escalate' && [e.from, e.to]), [['flowspec_rate_limit', 'blackhole']]);
  assert.equal(m.active()[0].level, 'blackhole');
  assert.equal(routes.calls.at(-1)?.level, 'blackhole', 'the route is rebuilt at the new level');
  const ranks = esc.map((e) => e.event === 'escalate' && LEVELS.indexOf(e.to as (typeof LEVELS)[number]));
  assert.ok(ranks.every((r, i) => i === 0 || (r as number) >= (ranks[i - 1] as number)));
});

test('manual ban and unban: same guards, coded refusals with their HTTP status; a lifted attack is not banned again', () => {
  const { m, events } = mgr();
  const bad = m.manualBan({ ip: 'not-an-ip', actor: 'alice' });
  assert.ok(!bad.ok && bad.reason === 'invalid_target' && httpStatus(bad.reason) === 400);
  const wl = m.manualBan({ ip: '198.51.100.53', actor: 'alice' });
  assert.ok(!wl.ok && wl.reason === 'whitelisted' && httpStatus(wl.reason) === 409);
  const ttl = m.manualBan({ ip: '198.51.100.9', actor: 'alice', ttlSeconds: 0 });
  assert.ok(!ttl.ok && ttl.reason === 'invalid_ttl' && httpStatus(ttl.reason) === 400);
  const ok = m.manualBan({ ip: '198.51.100.9', actor: 'alice', ttlSeconds: 60 });
  assert.ok(ok.ok && ok.ban.source === 'alice' && ok.ban.ttl_seconds === 60);
  const again = m.manualBan({ prefix: '198.51.100.9/32', actor: 'bob' });
  assert.ok(!again.ok && again.reason === 'already_banned');
  const a = attack('198.51.100.9');
  m.onAttackEvent(ev('attack_start', T0, a));
  assert.equal(m.banOfAttack(a.id)?.id, ok.ban.id, 'the attack is linked to the manual ban');
  const un = m.manualUnban({ ip: '198.51.100.9', actor: 'bob' });
  assert.ok(un.ok && un.ban.end_reason === 'manual' && un.ban.ended_by === 'bob');
  const none = m.manualUnban({ ip: '198.51.100.9', actor: 'bob' });
  assert.ok(!none.ok && none.reason === 'not_banned' && httpStatus(none.reason) === 404);
  m.onAttackEvent(ev('attack_update', T0 + 1000, a));
  assert.equal(m.active().length, 0);
  assert.ok(events.some((e) => e.event === 'ban_refused' && e.reason === 'manually_unbanned'));
});

test('every refusal reason is a code of the error catalogue', () => {
  for (const r of REFUSAL_REASONS) assert.ok(r in ERRORS, r);
  const e = new BreakwaterError('max_active_bans');
  assert.equal(e.status, 409);
  assert.equal(e.code, 'max_active_bans');
  assert.equal(httpStatus('no_such_code'), 500);
});

test('restore: unexpired bans come back (re-checked), expired ones are returned for withdrawal; no events', () => {
  const first = mgr({ ban: { ttl_seconds: 100, unban_hysteresis_seconds: 10 } });
  first.m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.1')));
  first.m.manualBan({ ip: '198.51.100.2', actor: 'alice', ttlSeconds: 5 });
  first.m.manualBan({ ip: '198.51.100.3', actor: 'alice' });
  const snap = JSON.parse(JSON.stringify(first.m.snapshot()));
  const clock = new ManualClock(T0 + 50_000);
  const routes = stubRoutes();
  const m = new BanManager(cfg({ ban: { ttl_seconds: 100, unban_hysteresis_seconds: 10 }, protected_whitelist: ['198.51.100.3/32'] }), { clock, routes });
  const events = record(m);
  const r = m.restore(snap, clock.t);
  assert.deepEqual(r.restored.map((b) => b.target), ['198.51.100.1']);
  assert.deepEqual(r.expired.map((b) => b.target), ['198.51.100.2']);
  assert.deepEqual(r.refused.map((x) => [x.ban.target, x.reason]), [['198.51.100.3', 'whitelisted']]);
  assert.equal(events.length, 0);
  assert.equal(m.active()[0].state, 'expiring', 'its attack is not known after a restart');
  assert.equal(routes.calls.length, 0, 'a stored route that fits is kept, not rebuilt');
});

test('previewReconfigure says what a reload would lift or reroute and changes nothing; reconfigure then does exactly that', () => {
  const { m, events } = mgr();
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.1')));
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.2')));
  m.onAttackEvent(ev('attack_start', T0, attack('203.0.113.7')));
  const before = JSON.stringify(m.active());
  const n = events.length;
  const next = cfg({
    networks: ['198.51.100.0/24', '2001:db8::/32'],
    protected_whitelist: ['198.51.100.53/32', '198.51.100.2/32'],
    mitigation: 'flowspec',
  });
  const p = m.previewReconfigure(next, stubRoutes());
  assert.deepEqual(p.unbanned.map((b) => [b.target, b.end_reason]).sort(), [['198.51.100.2', 'whitelisted'], ['203.0.113.7', 'outside_networks']]);
  assert.deepEqual(p.rerouted.map((b) => b.target), [], 'levels do not change on reload, so neither do these routes');
  assert.equal(JSON.stringify(m.active()), before, 'no state changed');
  assert.equal(events.length, n, 'no event');
  const r = m.reconfigure(next, stubRoutes(), T0 + 1000);
  assert.deepEqual(r.unbanned.map((b) => [b.target, b.end_reason]).sort(), p.unbanned.map((b) => [b.target, b.end_reason]).sort());
  assert.deepEqual(r.rerouted.map((b) => b.target), p.rerouted.map((b) => b.target));
  assert.deepEqual(m.active().map((b) => b.target), ['198.51.100.1']);
});

test('previewReconfigure reports a reroute when the new route policy\'s builder gives a different route', () => {
  const clock = new ManualClock(T0);
  const routes = (nextHop: string): RouteBuilder => (s) => ({ type: 'blackhole', prefix: `${s.target}/32`, next_hop: nextHop, communities: [], large_communities: [] });
  const m = new BanManager(cfg(), { clock, routes: routes('192.0.2.1') });
  m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.1')));
  const next = cfg();
  const p = m.previewReconfigure(next, routes('192.0.2.99'));
  assert.deepEqual(p.rerouted.map((b) => (b.route.type === 'blackhole' ? b.route.next_hop : '')), ['192.0.2.99']);
  const cur = m.active()[0].route;
  assert.equal(cur.type === 'blackhole' ? cur.next_hop : '', '192.0.2.1', 'unchanged until reconfigure');
  assert.deepEqual(m.previewReconfigure(cfg(), routes('192.0.2.1')), { unbanned: [], rerouted: [] });
  const r = m.reconfigure(next, routes('192.0.2.99'), T0 + 1);
  assert.deepEqual(r.rerouted.map((b) => b.id), p.rerouted.map((b) => b.id));
});
